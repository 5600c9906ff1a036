//! The live view of a running TraceJob (`tracejob logs`): the operator serves it through
//! the Kubernetes API server as the aggregated group [`GROUP`]/[`VERSION`], one JSON line
//! per event (an [`crate::event::EventLine`], as in `events.jsonl.gz`) or per [`Notice`]:
//! what the view could not show is said, never left out silently.

use serde::{Deserialize, Serialize};

/// The aggregated API group the operator serves (an `APIService` in the chart).
pub const GROUP: &str = "live.tracejob.io";
pub const VERSION: &str = "v1alpha1";

/// The path of a job's live events under the API server: the subresource is `log` because
/// the API server lets a `log` stream run past its request timeout, as for a pod's logs.
pub fn log_path(namespace: &str, name: &str) -> String {
    format!("/apis/{GROUP}/{VERSION}/namespaces/{namespace}/tracejobs/{name}/log")
}

/// A line of the live view that is not an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub notice: NoticeKind,
    /// How many events the notice is about (0 for [`NoticeKind::End`]).
    #[serde(default)]
    pub events: u64,
    /// The node, when the notice is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// For a person: what happened and where the events are.
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NoticeKind {
    /// The node's agent dropped these events before the operator read them (they count in
    /// the job's `lost` too).
    Lost,
    /// Older events the operator no longer keeps for the live view (object storage has
    /// every event the job streamed).
    NotKept,
    /// This reader fell behind the job and skipped these events (they still go to storage).
    Skipped,
    /// The job stopped: nothing follows.
    End,
}

/// One line of the live view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LiveLine {
    Notice(Notice),
    Event(Box<crate::event::EventLine>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_and_events_read_back_as_what_they_are() {
        let notice = Notice {
            notice: NoticeKind::Lost,
            events: 3,
            node: Some("n1".into()),
            message: "dropped".into(),
        };
        let line = serde_json::to_string(&notice).unwrap();
        assert_eq!(
            serde_json::from_str::<LiveLine>(&line).unwrap(),
            LiveLine::Notice(notice)
        );
        let event = crate::event::EventLine::new(
            crate::event::Origin {
                node: Some("n1".into()),
                ..crate::event::Origin::default()
            },
            crate::event::samples::exec(),
        );
        let line = serde_json::to_string(&event).unwrap();
        assert_eq!(
            serde_json::from_str::<LiveLine>(&line).unwrap(),
            LiveLine::Event(Box::new(event))
        );
    }
}
