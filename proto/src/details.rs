//! A summary's per-tool details (`tracejob_api::summary::ToolSummary`) and their messages
//! (`ToolSummary.details`, one message per tool), both ways. Round trips are tested with
//! the whole summary in `summary.rs`.

use tracejob_api::summary::{
    Bucket, CallRow, DeviceRow, ExecRow, FoldedStack, FunctionRow, Latency, OpenRow, PeerRow,
    SyscallRow, ToolSummary,
};

use crate::v1::{self, tool_summary::Details};

impl From<&ToolSummary> for Details {
    fn from(details: &ToolSummary) -> Self {
        match details {
            ToolSummary::Syscalls { syscalls } => Details::Syscalls(v1::SyscallsSummary {
                syscalls: syscalls
                    .iter()
                    .map(|s| v1::SyscallRow {
                        name: s.name.clone(),
                        nr: s.nr,
                        errors: s.errors,
                        latency: Some((&s.latency).into()),
                    })
                    .collect(),
            }),
            ToolSummary::Exec { execs } => Details::Exec(v1::ExecSummary {
                execs: execs
                    .iter()
                    .map(|e| v1::ExecRow {
                        filename: e.filename.clone(),
                        count: e.count,
                        errors: e.errors,
                    })
                    .collect(),
            }),
            ToolSummary::Open { opens } => Details::Open(v1::OpenSummary {
                opens: opens
                    .iter()
                    .map(|o| v1::OpenRow {
                        path: o.path.clone(),
                        count: o.count,
                        errors: o.errors,
                    })
                    .collect(),
            }),
            ToolSummary::Runqlat { runqueue } => Details::Runqlat(v1::RunqlatSummary {
                runqueue: Some(runqueue.into()),
            }),
            ToolSummary::Blockio { devices } => Details::Blockio(v1::BlockioSummary {
                devices: devices
                    .iter()
                    .map(|d| v1::DeviceRow {
                        device: d.device.clone(),
                        major_minor: d.major_minor.clone(),
                        errors: d.errors,
                        latency: Some((&d.latency).into()),
                    })
                    .collect(),
            }),
            ToolSummary::Tcp { connections, peers } => Details::Tcp(v1::TcpSummary {
                connections: *connections,
                peers: peers
                    .iter()
                    .map(|p| v1::PeerRow {
                        direction: p.direction.clone(),
                        peer: p.peer.clone(),
                        connections: p.connections,
                        failed: p.failed,
                        rx_bytes: p.rx_bytes,
                        tx_bytes: p.tx_bytes,
                    })
                    .collect(),
            }),
            ToolSummary::Profile {
                samples,
                frequency_hz,
                functions,
                stacks,
            } => Details::Profile(v1::ProfileSummary {
                samples: *samples,
                frequency_hz: *frequency_hz,
                functions: functions
                    .iter()
                    .map(|f| v1::FunctionRow {
                        function: f.function.clone(),
                        kernel: f.kernel,
                        self_samples: f.self_samples,
                        total_samples: f.total_samples,
                    })
                    .collect(),
                stacks: stacks
                    .iter()
                    .map(|s| v1::FoldedStack {
                        stack: s.stack.clone(),
                        count: s.count,
                    })
                    .collect(),
            }),
            ToolSummary::Calls { functions } => Details::Calls(v1::CallsSummary {
                functions: functions
                    .iter()
                    .map(|c| v1::CallRow {
                        function: c.function.clone(),
                        binary: c.binary.clone(),
                        latency: Some((&c.latency).into()),
                    })
                    .collect(),
            }),
        }
    }
}

impl From<&Details> for ToolSummary {
    /// An absent latency is an empty one (proto3 sends no empty message).
    fn from(details: &Details) -> Self {
        match details {
            Details::Syscalls(s) => ToolSummary::Syscalls {
                syscalls: s
                    .syscalls
                    .iter()
                    .map(|s| SyscallRow {
                        name: s.name.clone(),
                        nr: s.nr,
                        errors: s.errors,
                        latency: latency(s.latency.as_ref()),
                    })
                    .collect(),
            },
            Details::Exec(e) => ToolSummary::Exec {
                execs: e
                    .execs
                    .iter()
                    .map(|e| ExecRow {
                        filename: e.filename.clone(),
                        count: e.count,
                        errors: e.errors,
                    })
                    .collect(),
            },
            Details::Open(o) => ToolSummary::Open {
                opens: o
                    .opens
                    .iter()
                    .map(|o| OpenRow {
                        path: o.path.clone(),
                        count: o.count,
                        errors: o.errors,
                    })
                    .collect(),
            },
            Details::Runqlat(r) => ToolSummary::Runqlat {
                runqueue: latency(r.runqueue.as_ref()),
            },
            Details::Blockio(b) => ToolSummary::Blockio {
                devices: b
                    .devices
                    .iter()
                    .map(|d| DeviceRow {
                        device: d.device.clone(),
                        major_minor: d.major_minor.clone(),
                        errors: d.errors,
                        latency: latency(d.latency.as_ref()),
                    })
                    .collect(),
            },
            Details::Tcp(t) => ToolSummary::Tcp {
                connections: t.connections,
                peers: t
                    .peers
                    .iter()
                    .map(|p| PeerRow {
                        direction: p.direction.clone(),
                        peer: p.peer.clone(),
                        connections: p.connections,
                        failed: p.failed,
                        rx_bytes: p.rx_bytes,
                        tx_bytes: p.tx_bytes,
                    })
                    .collect(),
            },
            Details::Profile(p) => ToolSummary::Profile {
                samples: p.samples,
                frequency_hz: p.frequency_hz,
                functions: p
                    .functions
                    .iter()
                    .map(|f| FunctionRow {
                        function: f.function.clone(),
                        kernel: f.kernel,
                        self_samples: f.self_samples,
                        total_samples: f.total_samples,
                    })
                    .collect(),
                stacks: p
                    .stacks
                    .iter()
                    .map(|s| FoldedStack {
                        stack: s.stack.clone(),
                        count: s.count,
                    })
                    .collect(),
            },
            Details::Calls(c) => ToolSummary::Calls {
                functions: c
                    .functions
                    .iter()
                    .map(|c| CallRow {
                        function: c.function.clone(),
                        binary: c.binary.clone(),
                        latency: latency(c.latency.as_ref()),
                    })
                    .collect(),
            },
        }
    }
}

impl From<&Latency> for v1::Latency {
    fn from(l: &Latency) -> Self {
        v1::Latency {
            count: l.count,
            total_ns: l.total_ns,
            avg_ns: l.avg_ns,
            max_ns: l.max_ns,
            p50_ns: l.p50_ns,
            p99_ns: l.p99_ns,
            histogram: l
                .histogram
                .iter()
                .map(|b| v1::Bucket {
                    lt_ns: b.lt_ns,
                    count: b.count,
                })
                .collect(),
        }
    }
}

impl From<&v1::Latency> for Latency {
    fn from(l: &v1::Latency) -> Self {
        Latency {
            count: l.count,
            total_ns: l.total_ns,
            avg_ns: l.avg_ns,
            max_ns: l.max_ns,
            p50_ns: l.p50_ns,
            p99_ns: l.p99_ns,
            histogram: l
                .histogram
                .iter()
                .map(|b| Bucket {
                    lt_ns: b.lt_ns,
                    count: b.count,
                })
                .collect(),
        }
    }
}

fn latency(latency: Option<&v1::Latency>) -> Latency {
    latency.map(Latency::from).unwrap_or_default()
}
