//! A job's summary on one node or host: what `tracejob run` prints (table or JSON), what
//! the node agent sends the operator (typed, in `tracejob.agent.v1`) and what the operator
//! writes into `summary.json`. The engine fills it; these types carry no logic beyond
//! keeping a summary within a size.
//!
//! As JSON a summary is flat: the counters, then the tool's own fields, e.g.
//! `{"tool":"exec","probe":"tp_btf","events":3,...,"execs":[{"filename":"/bin/sh",...}]}`.

use serde::{Deserialize, Serialize};

use crate::event::PodEvents;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub tool: String,
    /// The attach type the programs used: tp_btf, raw_tracepoint or tracepoint.
    pub probe: String,
    /// Events the kernel handed to user space (for `syscalls`: syscalls counted).
    pub events: u64,
    /// Events lost anywhere: `lost_kernel + lost_user`. Never silently zero.
    pub lost: u64,
    /// Events the kernel dropped because the ring buffer was full.
    pub lost_kernel: u64,
    /// Events read but not delivered individually because the consumer fell behind
    /// (they are still counted in the per-key rows).
    pub lost_user: u64,
    pub duration_ms: u64,
    /// Event tools: events per cgroup id read from the ring buffer, most first (the node
    /// agent names each cgroup's pod in `pods` and drops these). Empty for tools that
    /// aggregate in the kernel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroups: Vec<CgroupEvents>,
    /// In a cluster, event tools: events per pod and container, most first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<PodEvents>,
    /// Rows left out to keep the summary within the node agent's message limit: the
    /// longest lists lose their last rows (the smallest counts) first. 0: nothing left out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rows_omitted: u64,
    #[serde(flatten)]
    pub details: ToolSummary,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// How many events one cgroup produced (id 0: cgroups beyond the job's key bound).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupEvents {
    pub cgroup_id: u64,
    pub events: u64,
}

/// What each tool adds to a summary. Every variant's fields have their own names, so the
/// flat JSON reads back into the right one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolSummary {
    Syscalls {
        syscalls: Vec<SyscallRow>,
    },
    Exec {
        execs: Vec<ExecRow>,
    },
    Open {
        opens: Vec<OpenRow>,
    },
    /// Waits from runnable to running.
    Runqlat {
        runqueue: Latency,
    },
    /// Requests from issue to completion, per device.
    Blockio {
        devices: Vec<DeviceRow>,
    },
    /// Closed connections, by peer.
    Tcp {
        connections: u64,
        peers: Vec<PeerRow>,
    },
    // Before `Calls`, whose one field `functions` a profile also has.
    Profile {
        samples: u64,
        frequency_hz: u32,
        /// The most sampled functions, by self samples.
        functions: Vec<FunctionRow>,
        /// Every distinct stack, most sampled first (also the `profile.folded` artifact).
        stacks: Vec<FoldedStack>,
    },
    /// Calls of a probed function (uprobe; funclatency and funccount where the kernel allows).
    Calls {
        functions: Vec<CallRow>,
    },
}

impl ToolSummary {
    /// The summary of a one-function tool (uprobe, funclatency, funccount), with the
    /// number of calls it stands for.
    pub fn single_function(function: &str, binary: &str, latency: Latency) -> (u64, ToolSummary) {
        let calls = latency.count;
        let row = CallRow {
            function: function.to_owned(),
            binary: binary.to_owned(),
            latency,
        };
        (
            calls,
            ToolSummary::Calls {
                functions: vec![row],
            },
        )
    }

    /// Drops the second half of the longest row list (rows are sorted most first, so the
    /// smallest counts go) and returns how many rows went; 0 when every list is empty.
    pub fn halve_longest_list(&mut self) -> u64 {
        fn halve<T>(rows: &mut Vec<T>) -> u64 {
            let before = rows.len();
            rows.truncate(before / 2);
            (before - rows.len()) as u64
        }
        match self {
            ToolSummary::Syscalls { syscalls } => halve(syscalls),
            ToolSummary::Exec { execs } => halve(execs),
            ToolSummary::Open { opens } => halve(opens),
            ToolSummary::Runqlat { .. } => 0,
            ToolSummary::Blockio { devices } => halve(devices),
            ToolSummary::Tcp { peers, .. } => halve(peers),
            ToolSummary::Profile {
                functions, stacks, ..
            } => {
                if stacks.len() >= functions.len() {
                    halve(stacks)
                } else {
                    halve(functions)
                }
            }
            ToolSummary::Calls { functions } => halve(functions),
        }
    }
}

/// One syscall (`syscalls`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyscallRow {
    pub name: String,
    pub nr: u32,
    pub errors: u64,
    /// Calls, and the latency of those that returned.
    #[serde(flatten)]
    pub latency: Latency,
}

/// One executable (`exec`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRow {
    pub filename: String,
    pub count: u64,
    /// Execs that returned an error.
    pub errors: u64,
}

/// One path (`open`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRow {
    pub path: String,
    pub count: u64,
    pub errors: u64,
}

/// One device (`blockio`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRow {
    pub device: String,
    pub major_minor: String,
    /// Requests that completed with an error.
    pub errors: u64,
    #[serde(flatten)]
    pub latency: Latency,
}

/// One direction and peer (`tcp`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRow {
    /// `connect` (to the peer) or `accept` (from it).
    pub direction: String,
    /// `address:port` for connect, `address` for accept.
    pub peer: String,
    pub connections: u64,
    /// Connections whose handshake never completed.
    pub failed: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// One sampled function (`profile`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionRow {
    pub function: String,
    pub kernel: bool,
    /// Samples taken while this function was running.
    pub self_samples: u64,
    /// Samples with this function anywhere on the stack.
    pub total_samples: u64,
}

/// `comm;outermost;...;sampled` (kernel frames end in `_[k]`) and its sample count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldedStack {
    pub stack: String,
    pub count: u64,
}

/// One probed function (uprobe, funclatency, funccount).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRow {
    pub function: String,
    /// The binary or library (uprobe), or `kernel`.
    pub binary: String,
    #[serde(flatten)]
    pub latency: Latency,
}

/// A latency distribution as every summary reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub total_ns: u64,
    /// Mean over the calls that were timed.
    pub avg_ns: u64,
    pub max_ns: u64,
    /// Upper bounds of the log2 buckets holding the 50th and 99th percentiles.
    pub p50_ns: u64,
    pub p99_ns: u64,
    /// The non-empty log2 buckets, ascending.
    pub histogram: Vec<Bucket>,
}

/// One log2 bucket: bucket i of the kernel's histogram holds latencies in [2^(i-1), 2^i) ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Latencies in this bucket are below this bound.
    pub lt_ns: u64,
    pub count: u64,
}

#[cfg(any(test, feature = "samples"))]
pub mod samples {
    //! One summary per tool, each field set, for the tests here and of the crates that
    //! convert summaries (feature `samples`).

    use super::*;

    pub fn latency() -> Latency {
        Latency {
            count: 3,
            total_ns: 3000,
            avg_ns: 1000,
            max_ns: 1500,
            p50_ns: 1024,
            p99_ns: 2048,
            histogram: vec![
                Bucket {
                    lt_ns: 1024,
                    count: 2,
                },
                Bucket {
                    lt_ns: 2048,
                    count: 1,
                },
            ],
        }
    }

    pub fn every_tool() -> Vec<ToolSummary> {
        vec![
            ToolSummary::Syscalls {
                syscalls: vec![SyscallRow {
                    name: "read".into(),
                    nr: 0,
                    errors: 1,
                    latency: latency(),
                }],
            },
            ToolSummary::Exec {
                execs: vec![ExecRow {
                    filename: "/bin/sh".into(),
                    count: 2,
                    errors: 1,
                }],
            },
            ToolSummary::Open {
                opens: vec![OpenRow {
                    path: "/etc/hosts".into(),
                    count: 2,
                    errors: 0,
                }],
            },
            ToolSummary::Runqlat {
                runqueue: latency(),
            },
            ToolSummary::Blockio {
                devices: vec![DeviceRow {
                    device: "vda".into(),
                    major_minor: "254:0".into(),
                    errors: 0,
                    latency: latency(),
                }],
            },
            ToolSummary::Tcp {
                connections: 2,
                peers: vec![PeerRow {
                    direction: "connect".into(),
                    peer: "10.0.0.1:80".into(),
                    connections: 2,
                    failed: 1,
                    rx_bytes: 10,
                    tx_bytes: 20,
                }],
            },
            ToolSummary::Profile {
                samples: 9,
                frequency_hz: 99,
                functions: vec![FunctionRow {
                    function: "main".into(),
                    kernel: false,
                    self_samples: 5,
                    total_samples: 9,
                }],
                stacks: vec![FoldedStack {
                    stack: "app;main".into(),
                    count: 9,
                }],
            },
            ToolSummary::Calls {
                functions: vec![CallRow {
                    function: "readline".into(),
                    binary: "/bin/bash".into(),
                    latency: latency(),
                }],
            },
        ]
    }

    pub fn summary(details: ToolSummary) -> Summary {
        Summary {
            tool: "t".into(),
            probe: "tp_btf".into(),
            events: 3,
            lost: 1,
            lost_kernel: 1,
            lost_user: 0,
            duration_ms: 10,
            cgroups: Vec::new(),
            pods: Vec::new(),
            rows_omitted: 0,
            details,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::samples::{every_tool, summary};
    use super::*;

    const COUNTERS: &str = r#"{"tool":"t","probe":"tp_btf","events":3,"lost":1,"lost_kernel":1,"lost_user":0,"duration_ms":10"#;
    const LATENCY: &str = r#""count":3,"total_ns":3000,"avg_ns":1000,"max_ns":1500,"p50_ns":1024,"p99_ns":2048,"histogram":[{"lt_ns":1024,"count":2},{"lt_ns":2048,"count":1}]"#;

    /// The JSON the engine's own summary types wrote before they moved here, byte for
    /// byte: `tracejob run --format json` and `summary.json` must not change.
    fn before(tool_fields: &str) -> String {
        format!("{COUNTERS},{tool_fields}}}")
    }

    #[test]
    fn every_tool_s_summary_keeps_its_json_shape_and_reads_back() {
        let expected = [
            before(&format!(
                r#""syscalls":[{{"name":"read","nr":0,"errors":1,{LATENCY}}}]"#
            )),
            before(r#""execs":[{"filename":"/bin/sh","count":2,"errors":1}]"#),
            before(r#""opens":[{"path":"/etc/hosts","count":2,"errors":0}]"#),
            before(&format!(r#""runqueue":{{{LATENCY}}}"#)),
            before(&format!(
                r#""devices":[{{"device":"vda","major_minor":"254:0","errors":0,{LATENCY}}}]"#
            )),
            before(
                r#""connections":2,"peers":[{"direction":"connect","peer":"10.0.0.1:80","connections":2,"failed":1,"rx_bytes":10,"tx_bytes":20}]"#,
            ),
            before(
                r#""samples":9,"frequency_hz":99,"functions":[{"function":"main","kernel":false,"self_samples":5,"total_samples":9}],"stacks":[{"stack":"app;main","count":9}]"#,
            ),
            before(&format!(
                r#""functions":[{{"function":"readline","binary":"/bin/bash",{LATENCY}}}]"#
            )),
        ];
        for (details, expected) in every_tool().into_iter().zip(expected) {
            let summary = summary(details);
            let json = serde_json::to_string(&summary).expect("serialises");
            assert_eq!(json, expected);
            let back: Summary = serde_json::from_str(&json).expect("reads back");
            assert_eq!(back, summary);
        }
    }

    #[test]
    fn cgroups_pods_and_omitted_rows_appear_only_when_there_are_some() {
        let mut summary = summary(every_tool().swap_remove(1));
        summary.cgroups = vec![CgroupEvents {
            cgroup_id: 7,
            events: 3,
        }];
        summary.pods = vec![PodEvents {
            namespace: "shop".into(),
            pod: Some("web-0".into()),
            container: Some("app".into()),
            events: 3,
        }];
        summary.rows_omitted = 4;
        let json = serde_json::to_string(&summary).expect("serialises");
        assert!(
            json.contains(
                r#""duration_ms":10,"cgroups":[{"cgroup_id":7,"events":3}],"pods":[{"namespace":"shop","pod":"web-0","container":"app","events":3}],"rows_omitted":4,"execs""#
            ),
            "{json}"
        );
        let back: Summary = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, summary);
    }

    #[test]
    fn halving_cuts_the_longest_list_from_its_smallest_rows() {
        let stack = |n: u64| FoldedStack {
            stack: format!("s{n}"),
            count: 100 - n,
        };
        let mut profile = ToolSummary::Profile {
            samples: 1,
            frequency_hz: 99,
            functions: Vec::new(),
            stacks: (0..5).map(stack).collect(),
        };
        assert_eq!(profile.halve_longest_list(), 3);
        let ToolSummary::Profile { stacks, .. } = &profile else {
            unreachable!()
        };
        assert_eq!(stacks, &[stack(0), stack(1)], "the largest counts stay");
        assert_eq!(profile.halve_longest_list(), 1);
        assert_eq!(profile.halve_longest_list(), 1);
        assert_eq!(profile.halve_longest_list(), 0, "nothing left to cut");
        let mut runqlat = ToolSummary::Runqlat {
            runqueue: samples::latency(),
        };
        assert_eq!(runqlat.halve_longest_list(), 0, "no list");
    }
}
