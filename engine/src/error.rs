//! The engine's errors. Each says what went wrong and, where a person can act on it,
//! what to do.

use crate::cgroup::CgroupError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing): tracejob's CO-RE programs \
         need a kernel built with CONFIG_DEBUG_INFO_BTF=y"
    )]
    NoBtf,
    #[error(
        "permission denied while {during}: tracing needs root, or CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE"
    )]
    NotPermitted { during: String },
    #[error("failed to load the {tool} programs: {source}")]
    Load {
        tool: &'static str,
        source: aya::EbpfError,
    },
    #[error("no way to attach the {tool} programs on this kernel: {}", describe_failures(.failures))]
    NoAttachPoint {
        tool: &'static str,
        failures: Vec<(String, String)>,
    },
    #[error("unknown syscall {name:?}{}", did_you_mean(.suggestions))]
    UnknownSyscall {
        name: String,
        suggestions: Vec<&'static str>,
    },
    #[error("failed to {action}: {source}")]
    Map {
        action: &'static str,
        source: aya::maps::MapError,
    },
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("spec.args.{field}: {reason}")]
    BadArgument { field: &'static str, reason: String },
    #[error("the {tool} tool cannot run here: {reason}")]
    ToolUnavailable { tool: &'static str, reason: String },
    #[error("the ring-buffer reader thread failed: {0}")]
    Reader(String),
}

fn describe_failures(failures: &[(String, String)]) -> String {
    failures
        .iter()
        .map(|(kind, reason)| format!("{kind}: {reason}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn did_you_mean(suggestions: &[&str]) -> String {
    if suggestions.is_empty() {
        " (names as in `man 2 syscalls`, e.g. openat, read, getppid)".to_owned()
    } else {
        format!(" (did you mean {}?)", suggestions.join(", "))
    }
}

impl EngineError {
    /// True when the job cannot run because of the kernel or the privileges it was given,
    /// rather than because of its spec (the agent's FailedPrecondition, not InvalidArgument).
    pub fn is_environment(&self) -> bool {
        matches!(
            self,
            EngineError::NoBtf
                | EngineError::NotPermitted { .. }
                | EngineError::NoAttachPoint { .. }
                | EngineError::ToolUnavailable { .. }
        )
    }
}
