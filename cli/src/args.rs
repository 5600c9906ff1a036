//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "tracejob",
    version,
    about = "Declarative eBPF tracing for pods and processes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub verb: Verb,
}

#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Run a TraceJob on this host, without a cluster.
    Run(RunArgs),
    /// Show a TraceJob's results from the cluster, and download its artifacts.
    Results(ResultsArgs),
    /// List TraceJobs of the cluster: phase, matched pods and nodes, events, lost.
    Get(GetArgs),
    /// Show one TraceJob: counts, top keys, nodes, conditions and artifacts.
    Describe(DescribeArgs),
    /// Print a running TraceJob's events, merged across nodes; -f follows them live.
    Logs(LogsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion(CompletionArgs),
}

#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// One TraceJob's name (default: every TraceJob of the namespace).
    pub name: Option<String>,
    /// The namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long, conflicts_with = "name")]
    pub all_namespaces: bool,
}

#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// The TraceJob's name.
    pub name: String,
    /// Its namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Served by the operator through the Kubernetes API server (the aggregated API \
live.tracejob.io): whoever may `get` the TraceJob sees its events. Without -f, the events the \
operator still keeps (the last 256 KiB of each job); object storage has every event (tracejob \
results NAME --dir DIR). What is not shown (events dropped on a node, no longer kept, or \
skipped by a slow reader) is said and counted, on standard error in table format."
)]
pub struct LogsArgs {
    /// The TraceJob's name.
    pub name: String,
    /// Its namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Keep printing events as they arrive, until the job stops.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only events the operator received this recently (e.g. 30s, 5m).
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// How to print events: the table of `tracejob run`, or JSON Lines.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The cluster is the one kubectl would use: KUBECONFIG, ~/.kube/config or \
the in-cluster service account; the namespace defaults to the context's. \
Downloading (--dir) needs credentials for the job's object storage: from the Secret named by \
spec.output.storage.secretRef when it is readable, otherwise from this process's environment, \
as object_store reads it (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT, \
AWS_ALLOW_HTTP, GOOGLE_SERVICE_ACCOUNT_KEY, AZURE_STORAGE_ACCOUNT_NAME, AZURE_STORAGE_ACCOUNT_KEY). \
Each file's SHA-256 is checked against manifest.json."
)]
pub struct ResultsArgs {
    /// The TraceJob's name.
    pub name: String,
    /// Its namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Download every artifact into this directory instead of only listing them.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Targets: `-- COMMAND ARGS...` starts and traces a command (and its children); \
--cgroup PATH traces an existing cgroup v2 directory and everything below it; --pid PID traces that \
process's cgroup; --all traces the whole host. --cgroup, --pid and a command can be combined."
)]
pub struct RunArgs {
    /// A TraceJob manifest (YAML, as for kubectl apply); `-` reads standard input.
    pub file: PathBuf,
    /// Trace this cgroup v2 directory (repeatable).
    #[arg(long = "cgroup", value_name = "PATH")]
    pub cgroups: Vec<PathBuf>,
    /// Trace the cgroup of this process (repeatable).
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// Trace every process of the host.
    #[arg(long)]
    pub all: bool,
    /// How long to trace (e.g. 10s, 1m30s); overrides the manifest's spec.duration.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub duration: Option<String>,
    /// How to print results.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write events.jsonl.gz, summary.json, the tool's artifacts and manifest.json
    /// into this directory (the layout the operator writes to object storage).
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Attach only with this flavour instead of the first the kernel accepts: a tracepoint
    /// flavour, or for funccount/funclatency fentry or kprobe.
    #[arg(
        long,
        value_name = "KIND",
        value_parser = ["tp_btf", "raw_tracepoint", "tracepoint", "fentry", "kprobe"]
    )]
    pub probe: Option<String>,
    /// Keep a thread's syscall in flight (open, syscalls with latency) only in this map
    /// instead of the first the kernel accepts: task-local storage (faster; Linux 6.1
    /// has it, 5.10 not) or a hash by thread id.
    #[arg(long, value_name = "MAP", value_parser = ["task_storage", "hash"])]
    pub thread_map: Option<String>,
    /// The command to start and trace, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Live events, then a readable summary.
    Table,
    /// JSON Lines: one {"type":"event"} per event, then one {"type":"summary"}.
    Json,
}
