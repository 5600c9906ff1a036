//! Attaching programs to tracepoints. A tool's hooks come in up to three flavours
//! (programs named `<hook>_tp_btf`, `<hook>_raw_tp`, `<hook>_tracepoint`); the first
//! flavour the running kernel accepts for every hook is used, and reported. The kernel
//! function tools (funccount, funclatency) have two flavours of their own: fentry, kprobe.

use std::fmt;

use aya::Ebpf;
use aya::programs::{BtfTracePoint, Program, ProgramError, RawTracePoint, TracePoint};
use serde::Serialize;

use crate::error::EngineError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ProbeKind {
    /// BTF-typed raw tracepoint: cheapest, needs BTF and a kernel that allows tracing programs.
    #[serde(rename = "tp_btf")]
    TpBtf,
    /// Raw tracepoint: no BTF typing, available since 4.17.
    #[serde(rename = "raw_tracepoint")]
    RawTracepoint,
    /// Classic tracepoint through tracefs: works almost everywhere.
    #[serde(rename = "tracepoint")]
    Tracepoint,
    /// fentry/fexit on a kernel function: BTF trampolines, the cheaper function flavour.
    #[serde(rename = "fentry")]
    Fentry,
    /// kprobe/kretprobe on a kernel function: needs no BTF, refused where kprobes are off.
    #[serde(rename = "kprobe")]
    Kprobe,
}

impl ProbeKind {
    /// The order they are tried in.
    pub const PREFERENCE: [ProbeKind; 3] = [
        ProbeKind::TpBtf,
        ProbeKind::RawTracepoint,
        ProbeKind::Tracepoint,
    ];

    /// The kernel function flavours, in the order they are tried.
    pub const FUNCTION_PREFERENCE: [ProbeKind; 2] = [ProbeKind::Fentry, ProbeKind::Kprobe];

    /// Every flavour a user can force (`--probe`).
    pub const ALL: [ProbeKind; 5] = [
        ProbeKind::TpBtf,
        ProbeKind::RawTracepoint,
        ProbeKind::Tracepoint,
        ProbeKind::Fentry,
        ProbeKind::Kprobe,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::TpBtf => "tp_btf",
            ProbeKind::RawTracepoint => "raw_tracepoint",
            ProbeKind::Tracepoint => "tracepoint",
            ProbeKind::Fentry => "fentry",
            ProbeKind::Kprobe => "kprobe",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The ending of a tracepoint hook's program name; kernel function flavours have no
    /// hooks (no tool lists them among its tracepoint flavours).
    fn suffix(self) -> &'static str {
        match self {
            ProbeKind::TpBtf => "tp_btf",
            ProbeKind::RawTracepoint => "raw_tp",
            ProbeKind::Tracepoint => "tracepoint",
            ProbeKind::Fentry => "fentry",
            ProbeKind::Kprobe => "kprobe",
        }
    }
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One tracepoint a tool hooks: programs `<program>_<flavour>` attach to `category:name`.
#[derive(Clone, Copy, Debug)]
pub struct Hook {
    pub program: &'static str,
    pub category: &'static str,
    pub name: &'static str,
}

/// The raw syscall hooks every syscall tool (exec, open, syscalls) uses.
pub const SYSCALL_HOOKS: [Hook; 2] = [
    Hook {
        program: "enter",
        category: "raw_syscalls",
        name: "sys_enter",
    },
    Hook {
        program: "exit",
        category: "raw_syscalls",
        name: "sys_exit",
    },
];

/// Attaches every hook with the first flavour of `flavours` that works for all of them
/// (or only `forced`), and reports which. Flavours that fail are unloaded again.
pub fn attach_hooks(
    ebpf: &mut Ebpf,
    tool: &'static str,
    hooks: &[Hook],
    flavours: &[ProbeKind],
    forced: Option<ProbeKind>,
) -> Result<ProbeKind, EngineError> {
    let candidates = match forced {
        Some(kind) if flavours.contains(&kind) => vec![kind],
        Some(kind) => {
            let failures = vec![(
                kind.name().to_owned(),
                format!("the {tool} tool has no {kind} programs"),
            )];
            return Err(EngineError::NoAttachPoint { tool, failures });
        }
        None => flavours.to_vec(),
    };
    let mut failures = Vec::new();
    for kind in candidates {
        match hooks.iter().try_for_each(|hook| attach(ebpf, kind, hook)) {
            Ok(()) => return Ok(kind),
            Err(error) => {
                for hook in hooks {
                    unload(ebpf, &format!("{}_{}", hook.program, kind.suffix()));
                }
                if is_permission_error(&error) {
                    return Err(EngineError::NotPermitted {
                        during: format!("loading the {kind} programs"),
                    });
                }
                failures.push((kind.name().to_owned(), describe(&error)));
            }
        }
    }
    Err(EngineError::NoAttachPoint { tool, failures })
}

/// The syscall tools' hooks, in every flavour.
pub fn attach_syscall_hooks(
    ebpf: &mut Ebpf,
    tool: &'static str,
    forced: Option<ProbeKind>,
) -> Result<ProbeKind, EngineError> {
    attach_hooks(ebpf, tool, &SYSCALL_HOOKS, &ProbeKind::PREFERENCE, forced)
}

fn attach(ebpf: &mut Ebpf, kind: ProbeKind, hook: &Hook) -> Result<(), ProgramError> {
    let name = format!("{}_{}", hook.program, kind.suffix());
    let program = ebpf
        .program_mut(&name)
        .ok_or(ProgramError::InvalidName { name })?;
    match kind {
        ProbeKind::TpBtf => {
            let program: &mut BtfTracePoint = program.try_into()?;
            crate::btf::with_kernel(|btf| program.load(hook.name, btf))??;
            program.attach()?;
        }
        ProbeKind::RawTracepoint => {
            let program: &mut RawTracePoint = program.try_into()?;
            program.load()?;
            program.attach(hook.name)?;
        }
        ProbeKind::Tracepoint => {
            let program: &mut TracePoint = program.try_into()?;
            program.load()?;
            program.attach(hook.category, hook.name)?;
        }
        // attach_hooks refuses a flavour the tool does not list before it gets here.
        ProbeKind::Fentry | ProbeKind::Kprobe => {
            return Err(ProgramError::InvalidName {
                name: format!("{}_{}", hook.program, kind.suffix()),
            });
        }
    }
    Ok(())
}

/// Detaches and unloads every program of the object.
pub fn unload_all(ebpf: &mut Ebpf) {
    let names: Vec<String> = ebpf.programs().map(|(name, _)| name.to_owned()).collect();
    for name in names {
        unload(ebpf, &name);
    }
}

/// Unloading detaches the program's links; a program never loaded has nothing to undo.
fn unload(ebpf: &mut Ebpf, name: &str) {
    let Some(program) = ebpf.program_mut(name) else {
        return;
    };
    let _ = match program {
        Program::BtfTracePoint(p) => p.unload(),
        Program::RawTracePoint(p) => p.unload(),
        Program::TracePoint(p) => p.unload(),
        Program::PerfEvent(p) => p.unload(),
        Program::UProbe(p) => p.unload(),
        Program::KProbe(p) => p.unload(),
        Program::FEntry(p) => p.unload(),
        Program::FExit(p) => p.unload(),
        _ => Ok(()),
    };
}

pub fn is_permission_error(error: &ProgramError) -> bool {
    let io = match error {
        ProgramError::LoadError { io_error, .. } => Some(io_error),
        ProgramError::SyscallError(syscall) => Some(&syscall.io_error),
        _ => None,
    };
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    io.is_some_and(|io| io.raw_os_error() == Some(libc::EPERM) && !root)
}

/// One line: the error and its causes, and for a verifier rejection the verifier's reason.
pub fn describe(error: &ProgramError) -> String {
    match error {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let reason = verifier_reason(&verifier_log.to_string());
            if reason.is_empty() {
                format!("the kernel refused to load the program: {io_error}")
            } else {
                format!("the verifier rejected the program: {io_error}: {reason}")
            }
        }
        other => {
            let mut message = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            message
        }
    }
}

/// The verifier's explanation: the last lines of its log before the statistics it
/// appends ("processed N insns", "verification time", "stack depth").
fn verifier_reason(log: &str) -> String {
    const STATISTICS: [&str; 3] = ["processed ", "verification time", "stack depth"];
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|line| {
            !line.is_empty() && !STATISTICS.iter().any(|prefix| line.starts_with(prefix))
        })
        .collect();
    lines[lines.len().saturating_sub(2)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_kinds_parse_their_own_names() {
        for kind in ProbeKind::PREFERENCE {
            assert_eq!(ProbeKind::parse(kind.name()), Some(kind));
        }
        for kind in ProbeKind::FUNCTION_PREFERENCE {
            assert_eq!(ProbeKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(ProbeKind::parse("kretprobe"), None);
    }

    #[test]
    fn the_verifier_reason_skips_the_statistics_lines() {
        let log = "0: R1=ctx() R10=fp0\n3: (71) r0 = *(u8 *)(r0 +0)\nR0 invalid mem access 'map_value_or_null'\n\
                   verification time 196 usec\nstack depth 8\nprocessed 7 insns (limit 1000000)\n";
        assert_eq!(
            verifier_reason(log),
            "3: (71) r0 = *(u8 *)(r0 +0) | R0 invalid mem access 'map_value_or_null'"
        );
        assert_eq!(verifier_reason(""), "");
    }
}
