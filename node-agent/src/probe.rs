//! Choosing the attach point: the programs of every tool come in three flavours and
//! the first one the running kernel accepts is used.

use std::fmt;

use aya::Btf;
use aya::Ebpf;
use aya::programs::{BtfTracePoint, ProgramError, RawTracePoint, TracePoint};
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
    /// Classic tracepoint through tracefs (`raw_syscalls:sys_enter`): works almost everywhere.
    #[serde(rename = "tracepoint")]
    Tracepoint,
}

impl ProbeKind {
    /// The order they are tried in.
    pub const PREFERENCE: [ProbeKind; 3] = [
        ProbeKind::TpBtf,
        ProbeKind::RawTracepoint,
        ProbeKind::Tracepoint,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::TpBtf => "tp_btf",
            ProbeKind::RawTracepoint => "raw_tracepoint",
            ProbeKind::Tracepoint => "tracepoint",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::PREFERENCE
            .into_iter()
            .find(|kind| kind.name() == name)
    }

    /// The (enter, exit) program names in every tool's object.
    fn programs(self) -> [&'static str; 2] {
        match self {
            ProbeKind::TpBtf => ["enter_tp_btf", "exit_tp_btf"],
            ProbeKind::RawTracepoint => ["enter_raw_tp", "exit_raw_tp"],
            ProbeKind::Tracepoint => ["enter_tracepoint", "exit_tracepoint"],
        }
    }
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Attaches the syscall enter/exit hooks with the first flavour that works (or only
/// `forced`), and reports which one. Flavours that fail are unloaded again.
pub fn attach_syscall_hooks(
    ebpf: &mut Ebpf,
    tool: &'static str,
    forced: Option<ProbeKind>,
) -> Result<ProbeKind, EngineError> {
    let candidates = forced.map_or(ProbeKind::PREFERENCE.to_vec(), |kind| vec![kind]);
    let mut failures = Vec::new();
    for kind in candidates {
        match attach(ebpf, kind) {
            Ok(()) => return Ok(kind),
            Err(error) => {
                detach(ebpf, kind);
                if is_permission_error(&error) {
                    return Err(EngineError::NotPermitted {
                        during: format!("loading the {kind} programs"),
                    });
                }
                failures.push((kind, describe(&error)));
            }
        }
    }
    Err(EngineError::NoAttachPoint { tool, failures })
}

/// Detaches and unloads every flavour's programs.
pub fn detach_all(ebpf: &mut Ebpf) {
    for kind in ProbeKind::PREFERENCE {
        detach(ebpf, kind);
    }
}

fn attach(ebpf: &mut Ebpf, kind: ProbeKind) -> Result<(), ProgramError> {
    let [enter, exit] = kind.programs();
    let tracepoints = [(enter, "sys_enter"), (exit, "sys_exit")];
    match kind {
        ProbeKind::TpBtf => {
            let btf = Btf::from_sys_fs().map_err(ProgramError::Btf)?;
            for (program, tracepoint) in tracepoints {
                let program: &mut BtfTracePoint = program_mut(ebpf, program)?.try_into()?;
                program.load(tracepoint, &btf)?;
                program.attach()?;
            }
        }
        ProbeKind::RawTracepoint => {
            for (program, tracepoint) in tracepoints {
                let program: &mut RawTracePoint = program_mut(ebpf, program)?.try_into()?;
                program.load()?;
                program.attach(tracepoint)?;
            }
        }
        ProbeKind::Tracepoint => {
            for (program, tracepoint) in tracepoints {
                let program: &mut TracePoint = program_mut(ebpf, program)?.try_into()?;
                program.load()?;
                program.attach("raw_syscalls", tracepoint)?;
            }
        }
    }
    Ok(())
}

fn program_mut<'a>(
    ebpf: &'a mut Ebpf,
    name: &str,
) -> Result<&'a mut aya::programs::Program, ProgramError> {
    ebpf.program_mut(name)
        .ok_or_else(|| ProgramError::InvalidName {
            name: name.to_owned(),
        })
}

fn detach(ebpf: &mut Ebpf, kind: ProbeKind) {
    for name in kind.programs() {
        let Some(program) = ebpf.program_mut(name) else {
            continue;
        };
        // Unloading detaches the program's links; a program never loaded has nothing to undo.
        let _ = match program {
            aya::programs::Program::BtfTracePoint(p) => p.unload(),
            aya::programs::Program::RawTracePoint(p) => p.unload(),
            aya::programs::Program::TracePoint(p) => p.unload(),
            _ => Ok(()),
        };
    }
}

fn is_permission_error(error: &ProgramError) -> bool {
    let io = match error {
        ProgramError::LoadError { io_error, .. } => Some(io_error),
        ProgramError::SyscallError(syscall) => Some(&syscall.io_error),
        _ => None,
    };
    io.is_some_and(|io| io.raw_os_error() == Some(libc::EPERM) && !nix_is_root())
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// One line: the error, and for a verifier rejection the last lines of its log.
fn describe(error: &ProgramError) -> String {
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
        assert_eq!(ProbeKind::parse("kprobe"), None);
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
