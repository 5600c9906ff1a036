//! Nodes that went away: when a node whose agent cannot be reached counts as lost, so that
//! a job still completes and a deletion still ends.
//!
//! Observe (the Node object, when its agent first failed) → decide ([`lost`], pure) → act
//! (the row becomes `Lost` with its counts at last contact; the caller stops waiting).

use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::Api;

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

/// Reads the Node object's state.
pub async fn observe(client: &kube::Client, node: &str) -> NodeState {
    let api: Api<Node> = Api::all(client.clone());
    match api.get_opt(node).await {
        Ok(None) => NodeState::Missing,
        Ok(Some(found)) => {
            let ready = found
                .status
                .and_then(|s| s.conditions)
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
        Err(error) => {
            tracing::info!(node, %error, "cannot read the Node");
            NodeState::Unknown
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

    #[test]
    fn a_huge_grace_period_never_overflows() {
        assert_eq!(lost(NodeState::Ready, at(0), at(10), Duration::MAX), None);
    }
}
