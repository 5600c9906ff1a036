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
    /// Also write events.jsonl and summary.json into this directory.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Attach only with this flavour instead of the first the kernel accepts.
    #[arg(long, value_name = "KIND", value_parser = ["tp_btf", "raw_tracepoint", "tracepoint"])]
    pub probe: Option<String>,
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
