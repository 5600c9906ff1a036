//! `funclatency` and `funccount`: a kernel function's calls and latency, through
//! fentry/fexit where the kernel allows them, else kprobe/kretprobe. A kernel that
//! allows neither gets an error that says so and names the nearest tools that work.

use aya::Ebpf;
use aya::programs::{FEntry, FExit, KProbe, ProgramError};

use super::ToolDriver;
use crate::aggregate::KeyedCounts;
use crate::error::EngineError;
use crate::latency::{self};
use crate::probe::{self, ProbeKind};
use crate::summary::ToolSummary;

#[derive(Debug)]
pub struct Funclatency {
    tool: &'static str,
    function: String,
    count_only: bool,
}

impl Funclatency {
    pub fn new(
        tool: &'static str,
        function: Option<&str>,
        count_only: bool,
    ) -> Result<Self, EngineError> {
        let function = function.unwrap_or_default().to_owned();
        if !is_kernel_function(&function) {
            return Err(EngineError::BadArgument {
                field: "function",
                reason: format!("{function} is not a kernel function (not in /proc/kallsyms)"),
            });
        }
        Ok(Funclatency {
            tool,
            function,
            count_only,
        })
    }

    fn attach_fentry(&self, ebpf: &mut Ebpf) -> Result<(), ProgramError> {
        let entry: &mut FEntry = program(ebpf, "entry_fentry")?.try_into()?;
        crate::btf::with_kernel(|btf| entry.load(&self.function, btf))??;
        entry.attach()?;
        if !self.count_only {
            let exit: &mut FExit = program(ebpf, "return_fexit")?.try_into()?;
            crate::btf::with_kernel(|btf| exit.load(&self.function, btf))??;
            exit.attach()?;
        }
        Ok(())
    }

    fn attach_kprobe(&self, ebpf: &mut Ebpf) -> Result<(), ProgramError> {
        let programs: &[&str] = if self.count_only {
            &["entry_kprobe"]
        } else {
            &["entry_kprobe", "return_kretprobe"]
        };
        for name in programs {
            let kprobe: &mut KProbe = program(ebpf, name)?.try_into()?;
            kprobe.load()?;
            kprobe.attach(&self.function, 0)?;
        }
        Ok(())
    }
}

fn program<'a>(
    ebpf: &'a mut Ebpf,
    name: &str,
) -> Result<&'a mut aya::programs::Program, ProgramError> {
    ebpf.program_mut(name)
        .ok_or_else(|| ProgramError::InvalidName {
            name: name.to_owned(),
        })
}

fn is_kernel_function(name: &str) -> bool {
    !name.is_empty()
        && std::fs::read_to_string("/proc/kallsyms").is_ok_and(|symbols| {
            symbols
                .lines()
                .any(|line| line.split_whitespace().nth(2) == Some(name))
        })
}

impl ToolDriver for Funclatency {
    fn object(&self) -> &'static [u8] {
        tracejob_ebpf::objects::FUNCLATENCY
    }

    fn globals(&self) -> Vec<(&'static str, u32)> {
        vec![("count_only", u32::from(self.count_only))]
    }

    fn attach(
        &mut self,
        ebpf: &mut Ebpf,
        forced: Option<ProbeKind>,
    ) -> Result<String, EngineError> {
        let candidates = match forced {
            None => ProbeKind::FUNCTION_PREFERENCE.to_vec(),
            Some(kind) if ProbeKind::FUNCTION_PREFERENCE.contains(&kind) => vec![kind],
            Some(kind) => {
                let failures = vec![(
                    kind.name().to_owned(),
                    format!("the {} tool attaches with fentry or kprobe", self.tool),
                )];
                return Err(EngineError::NoAttachPoint {
                    tool: self.tool,
                    failures,
                });
            }
        };
        let mut failures = Vec::new();
        for kind in candidates {
            let attached = match kind {
                ProbeKind::Fentry => self.attach_fentry(ebpf),
                _ => self.attach_kprobe(ebpf),
            };
            match attached {
                Ok(()) => return Ok(kind.name().to_owned()),
                Err(error) => failures.push((kind.name().to_owned(), probe::describe(&error))),
            }
            probe::unload_all(ebpf);
        }
        if forced.is_some() {
            return Err(EngineError::NoAttachPoint {
                tool: self.tool,
                failures,
            });
        }
        let reasons: Vec<String> = failures
            .iter()
            .map(|(kind, reason)| format!("{kind}: {reason}"))
            .collect();
        Err(EngineError::ToolUnavailable {
            tool: self.tool,
            reason: format!(
                "this kernel allows neither fentry/fexit nor kprobes on kernel functions ({}); \
                 for syscall counts and latency use the syscalls tool, for user-space functions the uprobe tool",
                reasons.join("; ")
            ),
        })
    }

    fn summarise(
        &self,
        ebpf: &Ebpf,
        _: &KeyedCounts,
        _: u64,
    ) -> Result<(u64, ToolSummary), EngineError> {
        let latency = latency::read_single(ebpf, "func_latency")?;
        Ok(ToolSummary::single_function(
            &self.function,
            "kernel",
            latency,
        ))
    }
}
