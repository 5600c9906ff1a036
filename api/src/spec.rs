//! The `TraceJob` spec: what to trace, where, for how long, and where results go.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::TraceJobStatus;

/// A declarative trace of the pods a selector names, run by eBPF on every node hosting them.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tracejob.io",
    version = "v1alpha1",
    kind = "TraceJob",
    namespaced,
    shortname = "tj",
    doc = "A declarative eBPF trace of the pods a selector names, with a bounded summary in its status.",
    status = "TraceJobStatus",
    printcolumn = r#"{"name":"Tool","type":"string","jsonPath":".spec.tool"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Pods","type":"integer","jsonPath":".status.matchedPods"}"#,
    printcolumn = r#"{"name":"Nodes","type":"integer","jsonPath":".status.matchedNodes"}"#,
    printcolumn = r#"{"name":"Events","type":"integer","jsonPath":".status.events"}"#,
    printcolumn = r#"{"name":"Lost","type":"integer","jsonPath":".status.lost"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TraceJobSpec {
    /// Pods of this TraceJob's namespace to trace. Ignored by `tracejob run`, which traces
    /// the local targets named on its command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Container names to trace within each pod; empty means every container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
    /// Only pods on nodes with these labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// The tracing tool to run.
    pub tool: Tool,
    /// Tool-specific arguments.
    #[serde(default)]
    pub args: ToolArgs,
    /// How long to trace, e.g. `30s` or `1m30s`, at most `720h` (30 days). Absent: until the
    /// TraceJob is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(crate::duration::DURATION_PATTERN))]
    pub duration: Option<String>,
    /// What to keep of the results.
    #[serde(default)]
    pub output: OutputSpec,
    /// Delete the TraceJob this many seconds after it finished (at most a year, 31536000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 31_536_000))]
    pub ttl_seconds_after_finished: Option<i64>,
}

/// The tools tracejob ships, each a pre-compiled eBPF program.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    /// Every exec: pid, parent, uid, filename, arguments, result (BCC execsnoop).
    Exec,
    /// Every file open: pid, path, flags, result (BCC opensnoop).
    Open,
    /// Per-syscall counts, errors and latency histograms, aggregated in the kernel
    /// (`strace -c`, `perf trace -s`).
    #[default]
    Syscalls,
    /// On-CPU stack samples, symbolised, as folded stacks and a flame graph (perf record, BCC profile).
    Profile,
    /// TCP connection lifecycles: peers, ports, duration, bytes (BCC tcplife).
    Tcp,
    /// Block I/O latency histogram per device, per-request events on demand (BCC biolatency, biosnoop).
    Blockio,
    /// Scheduler run-queue latency histogram (BCC runqlat).
    Runqlat,
    /// Latency histogram of a kernel function (BCC funclatency; fentry/fexit or kprobes).
    Funclatency,
    /// Call count of a kernel function (BCC funccount; fentry or kprobes).
    Funccount,
    /// Calls of a function in a user binary or library: count, latency, arguments, return value
    /// (perf probe -x, BCC trace).
    Uprobe,
}

impl Tool {
    pub const ALL: [Tool; 10] = [
        Tool::Exec,
        Tool::Open,
        Tool::Syscalls,
        Tool::Profile,
        Tool::Tcp,
        Tool::Blockio,
        Tool::Runqlat,
        Tool::Funclatency,
        Tool::Funccount,
        Tool::Uprobe,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Exec => "exec",
            Tool::Open => "open",
            Tool::Syscalls => "syscalls",
            Tool::Profile => "profile",
            Tool::Tcp => "tcp",
            Tool::Blockio => "blockio",
            Tool::Runqlat => "runqlat",
            Tool::Funclatency => "funclatency",
            Tool::Funccount => "funccount",
            Tool::Uprobe => "uprobe",
        }
    }
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Arguments of the tools. Each tool accepts only the fields that concern it
/// (checked by [`crate::validate`]).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolArgs {
    /// `syscalls`: count only these syscalls (names as in `man 2 syscalls`, e.g. `openat`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub syscalls: Vec<String>,
    /// `syscalls`: count calls and errors only, without latency: one hook instead of two,
    /// about a third of the cost per syscall (calls that never return, like exit, are not counted).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub count_only: bool,
    /// `open`: report only opens that failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed_only: bool,
    /// `profile`: samples per second per CPU (default 99, from 1 to 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub frequency: Option<u32>,
    /// `blockio`: also report every request as an event.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub per_request: bool,
    /// `funclatency`, `funccount`: the kernel function; `uprobe`: the function's symbol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// `uprobe`: the binary or library, as a path inside the target's filesystem
    /// (e.g. `/usr/lib/x86_64-linux-gnu/libc.so.6`) or a bare library name (`libc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    /// `uprobe`: how to record the first arguments, in order (at most 4).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4))]
    pub arg_types: Vec<ValueType>,
    /// `uprobe`: how to record the return value (default `int`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_type: Option<ValueType>,
}

/// How a `uprobe` records an argument or return value.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// A C `int`: 32-bit signed.
    Int,
    /// A C `long` or `ssize_t`: 64-bit signed.
    Long,
    /// A pointer, shown in hex.
    Pointer,
    /// A NUL-terminated string the value points to (up to 128 bytes kept).
    String,
    /// Not recorded.
    None,
}

/// What to keep of a job's results.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputSpec {
    /// Keep individual events (event tools), not just the summary.
    #[serde(default = "default_true")]
    pub events: bool,
    /// At most this many events are kept (at most 100000000); the rest are counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100_000_000))]
    pub max_events: Option<u64>,
    /// Where full results are written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,
}

impl Default for OutputSpec {
    fn default() -> Self {
        OutputSpec {
            events: true,
            max_events: None,
            storage: None,
        }
    }
}

fn default_true() -> bool {
    true
}

/// An object-storage location for artifacts.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageSpec {
    /// `s3://bucket/prefix`, `gs://...`, `az://...` or `file:///path`.
    #[schemars(regex(pattern = r"^(s3|gs|az|file)://.+"))]
    pub url: String,
    /// A Secret in the TraceJob's namespace holding the credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
}

/// A reference to a Secret in the same namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub name: String,
}
