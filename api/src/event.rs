//! One traced event as every output writes it: `tracejob run --format json`, the
//! `events.jsonl.gz` of `tracejob run --output DIR` and the operator's `events.jsonl.gz`.
//!
//! A line is flat: where the event came from (node, namespace, pod and container in a
//! cluster; the cgroup path or the command on one host), then `tool`, then the event's
//! own fields, e.g.
//! `{"node":"n1","namespace":"shop","pod":"web-0","container":"app","tool":"exec",
//! "timestamp_ns":...,"cgroup_id":...,"pid":42,...,"filename":"/bin/sh",...}`.
//! The engine decodes ring-buffer records into these types; they carry no logic.

use serde::{Deserialize, Serialize};

/// An event with where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    #[serde(flatten)]
    pub origin: Origin,
    #[serde(flatten)]
    pub event: Event,
}

impl EventLine {
    pub fn new(origin: Origin, event: Event) -> Self {
        EventLine { origin, event }
    }
}

/// Where an event came from; each part is absent when not known or not meaningful.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The Kubernetes node (filled by the operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The pod's namespace, name and container (filled by the node agent from the job's
    /// targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// On one host (`tracejob run`): the target cgroup, relative to the cgroup v2 mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// On one host: the command `tracejob run` started, when the event came from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// How many events one container produced on a node (event tools' per-pod breakdown);
/// `pod` and `container` are absent for events from cgroups that are no target's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodEvents {
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub events: u64,
}

/// One event of an event tool, tagged with the tool (`"tool": "exec"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "tool")]
pub enum Event {
    #[serde(rename = "exec")]
    Exec(ExecRecord),
    #[serde(rename = "open")]
    Open(OpenRecord),
    #[serde(rename = "blockio")]
    Block(BlockRecord),
    #[serde(rename = "tcp")]
    Tcp(TcpRecord),
    #[serde(rename = "uprobe")]
    Call(CallRecord),
}

impl Event {
    /// The cgroup id the kernel saw the event in.
    pub fn cgroup_id(&self) -> u64 {
        match self {
            Event::Exec(e) => e.cgroup_id,
            Event::Open(e) => e.cgroup_id,
            Event::Block(e) => e.cgroup_id,
            Event::Tcp(e) => e.cgroup_id,
            Event::Call(e) => e.cgroup_id,
        }
    }
}

/// A process started (`exec`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecRecord {
    /// Wall-clock time, nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    pub cgroup_id: u64,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub comm: String,
    pub filename: String,
    pub argv: Vec<String>,
    /// The command had more arguments than the first ones recorded.
    pub argv_truncated: bool,
    /// 0, or -errno when the exec failed.
    pub ret: i32,
}

/// A file opened (`open`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenRecord {
    pub timestamp_ns: u64,
    pub cgroup_id: u64,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub comm: String,
    pub path: String,
    /// `O_WRONLY|O_CREAT|O_CLOEXEC` style.
    pub flags: String,
    /// The new file descriptor, or -errno.
    pub ret: i32,
}

/// A block request completed (`blockio` with `perRequest`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockRecord {
    pub timestamp_ns: u64,
    pub cgroup_id: u64,
    /// The disk's name (`vda`), or `major:minor` when /sys does not know it.
    pub device: String,
    /// `read`, `write`, `flush`, `discard`...
    pub op: String,
    pub sector: u64,
    pub bytes: u32,
    /// From issue to the device until completion.
    pub latency_ns: u64,
    /// The process that submitted the request.
    pub pid: u32,
    pub comm: String,
    /// The block layer's status: 0 on success.
    pub error: i32,
}

/// A TCP connection closed (`tcp`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TcpRecord {
    /// When the connection closed.
    pub timestamp_ns: u64,
    pub cgroup_id: u64,
    /// `connect` (this side opened it) or `accept`.
    pub direction: String,
    /// False when the handshake never completed (refused, timed out, reset).
    pub established: bool,
    pub local: String,
    pub remote: String,
    pub duration_ns: u64,
    /// Payload bytes received, and sent and acknowledged.
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// connect: the connecting process; accept: the process that closed the socket.
    pub pid: u32,
    pub comm: String,
}

/// One call of a probed user-space function returned (`uprobe`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// When it returned.
    pub timestamp_ns: u64,
    pub cgroup_id: u64,
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    pub function: String,
    /// The first arguments, as `argTypes` says to record them.
    pub args: Vec<Value>,
    /// The return value as `returnType` says (absent for `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret: Option<Value>,
    pub latency_ns: u64,
}

/// A recorded argument or return value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Int(i64),
    Text(String),
    Null,
}

#[cfg(any(test, feature = "samples"))]
pub mod samples {
    //! Events for the tests of the crates that convert events (feature `samples`).
    use super::{Event, ExecRecord};

    /// An exec event with every field set and no two numbers alike, so a conversion that
    /// swaps or drops a field shows.
    pub fn exec() -> Event {
        Event::Exec(ExecRecord {
            timestamp_ns: 1,
            cgroup_id: 2,
            pid: 3,
            ppid: 4,
            uid: 5,
            comm: "sh".into(),
            filename: "/bin/sh".into(),
            argv: vec!["sh".into(), "-c".into()],
            argv_truncated: true,
            ret: -2,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::samples::exec;

    #[test]
    fn an_event_line_is_flat_with_its_origin_first_and_reads_back() {
        let line = EventLine::new(
            Origin {
                node: Some("n1".into()),
                namespace: Some("shop".into()),
                pod: Some("web-0".into()),
                container: Some("app".into()),
                ..Origin::default()
            },
            exec(),
        );
        let json = serde_json::to_string(&line).expect("serialises");
        assert!(
            json.starts_with(
                r#"{"node":"n1","namespace":"shop","pod":"web-0","container":"app","tool":"exec","timestamp_ns":1,"cgroup_id":2,"pid":3"#
            ),
            "{json}"
        );
        let back: EventLine = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, line);
    }

    #[test]
    fn an_unknown_origin_is_left_out_and_every_tool_reads_back() {
        let events = [
            exec(),
            Event::Call(CallRecord {
                timestamp_ns: 1,
                cgroup_id: 2,
                pid: 3,
                tid: 3,
                comm: "bash".into(),
                function: "readline".into(),
                args: vec![Value::Int(-1), Value::Text("x".into()), Value::Null],
                ret: None,
                latency_ns: 9,
            }),
            Event::Tcp(TcpRecord {
                timestamp_ns: 1,
                cgroup_id: 2,
                direction: "connect".into(),
                established: true,
                local: "10.0.0.1:5000".into(),
                remote: "10.0.0.2:80".into(),
                duration_ns: 3,
                rx_bytes: 4,
                tx_bytes: 5,
                pid: 6,
                comm: "curl".into(),
            }),
        ];
        for event in events {
            let line = EventLine::new(Origin::default(), event);
            let json = serde_json::to_string(&line).expect("serialises");
            assert!(json.starts_with(r#"{"tool":""#), "{json}");
            let back: EventLine = serde_json::from_str(&json).expect("reads back");
            assert_eq!(back, line);
        }
    }
}
