//! Nodes that went away: when a node whose agent cannot be reached counts as lost, so that
//! a job still completes and a deletion still ends.
//!
//! Observe (the Node object, when its agent first failed) → decide ([`lost`], pure) → act
//! (the row becomes `Lost` with its counts at last contact; the caller stops waiting).

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::nodes::NodeCache;

/// What the API server says of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// The Node object is gone.
    Missing,
    /// Its `Ready` condition is False or Unknown.
    NotReady,
    Ready,
    /// It could not be read (the API server did not answer, or no permission).
    Unknown,
}

/// Why a node counts as lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostBecause {
    Deleted,
    NotReady,
    /// Its agent did not answer for longer than the grace period.
    Unreachable,
}

impl LostBecause {
    pub fn as_str(self) -> &'static str {
        match self {
            LostBecause::Deleted => "the node was deleted",
            LostBecause::NotReady => "the node is NotReady",
            LostBecause::Unreachable => "its agent did not answer within the grace period",
        }
    }
}

/// Whether a node whose agent just failed to answer counts as lost: at once if its Node is
/// deleted or NotReady, else once its agent has not answered since `unreachable_since` for
/// `grace`.
pub fn lost(
    state: NodeState,
    unreachable_since: Timestamp,
    now: Timestamp,
    grace: Duration,
) -> Option<LostBecause> {
    match state {
        NodeState::Missing => Some(LostBecause::Deleted),
        NodeState::NotReady => Some(LostBecause::NotReady),
        NodeState::Ready | NodeState::Unknown => {
            let grace = SignedDuration::try_from(grace).unwrap_or(SignedDuration::MAX);
            let deadline = unreachable_since
                .checked_add(grace)
                .unwrap_or(Timestamp::MAX);
            (now >= deadline).then_some(LostBecause::Unreachable)
        }
    }
}

/// Reads the Node object's state from the controller's Node cache; before the cache holds
/// a full list, the state is unknown (the grace period applies).
pub async fn observe(nodes: &NodeCache, node: &str) -> NodeState {
    if !nodes.synced(Duration::ZERO).await {
        tracing::info!(node, "the Node cache has no full list yet");
        return NodeState::Unknown;
    }
    match nodes.get(node) {
        None => NodeState::Missing,
        Some(found) => {
            let ready = found
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default()
                .into_iter()
                .find(|c| c.type_ == "Ready")
                .map(|c| c.status);
            match ready.as_deref() {
                // A Node without conditions has never reported (in tests, or just joined).
                None | Some("True") => NodeState::Ready,
                Some(_) => NodeState::NotReady,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).expect("a valid time")
    }

    #[test]
    fn which_nodes_are_lost_given_what_was_observed() {
        let grace = Duration::from_secs(120);
        let cases = [
            // (node state, agent failing since, now, expected)
            (NodeState::Missing, 100, 100, Some(LostBecause::Deleted)),
            (NodeState::NotReady, 100, 100, Some(LostBecause::NotReady)),
            (NodeState::Ready, 100, 219, None),
            (NodeState::Ready, 100, 220, Some(LostBecause::Unreachable)),
            (NodeState::Unknown, 100, 150, None),
            (NodeState::Unknown, 100, 400, Some(LostBecause::Unreachable)),
        ];
        for (state, since, now, expected) in cases {
            assert_eq!(
                lost(state, at(since), at(now), grace),
                expected,
                "{state:?}, failing since {since}, now {now}"
            );
        }
    }

    #[tokio::test]
    async fn a_node_cache_without_a_full_list_says_unknown_never_missing() {
        let cache = NodeCache::default();
        assert_eq!(observe(&cache, "n1").await, NodeState::Unknown);
        let ready: k8s_openapi::api::core::v1::Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n2"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .expect("a node");
        cache.replace(vec![ready]);
        assert_eq!(observe(&cache, "n1").await, NodeState::Missing);
        assert_eq!(observe(&cache, "n2").await, NodeState::Ready);
    }

    #[test]
    fn a_huge_grace_period_never_overflows() {
        assert_eq!(lost(NodeState::Ready, at(0), at(10), Duration::MAX), None);
    }
}
