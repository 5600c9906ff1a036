//! `uprobe`: calls of a function in a user binary or library: count and latency, and
//! each call's first arguments and return value.

mod binaries;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aya::Ebpf;
use aya::programs::{UProbe, uprobe::UProbeScope};
use tracejob_api::{ToolArgs, ValueType};
use tracejob_ebpf::layout::{
    CallEvent, UPROBE_ARGS, VALUE_INT, VALUE_LONG, VALUE_NONE, VALUE_POINTER, VALUE_STRING,
    c_string,
};

use super::{Decoded, Decoder, ToolDriver};
use crate::aggregate::KeyedCounts;
use crate::cgroup::CgroupTarget;
use crate::error::EngineError;
use crate::latency::{self};
use crate::probe::{self, ProbeKind};
use crate::records::{CallRecord, Value};
use crate::records::{Clock, Event};
use crate::summary::ToolSummary;
use binaries::Binary;

#[derive(Debug)]
pub struct Uprobe {
    function: String,
    /// The file as given in the spec, and as opened inside the target's root.
    binary: String,
    file: Binary,
    arg_types: [ValueType; UPROBE_ARGS],
    return_type: ValueType,
}

impl Uprobe {
    /// `host_files`: with no process in the targets, look the binary up in this host's
    /// filesystem (`tracejob run` on one's own machine); else such a job is refused.
    pub fn new(
        args: &ToolArgs,
        targets: &[CgroupTarget],
        host_files: bool,
    ) -> Result<Self, EngineError> {
        let function = args.function.clone().unwrap_or_default();
        let binary = args.binary.clone().unwrap_or_default();
        let root = match target_root(targets) {
            Some(root) => root,
            None if host_files => PathBuf::from("/"),
            None => {
                return Err(EngineError::BadArgument {
                    field: "binary",
                    reason: format!(
                        "{binary} cannot be looked up: no process runs in the target containers yet \
                         (the binary is opened in a target's own filesystem)"
                    ),
                });
            }
        };
        // One answer whatever the reason, so a job cannot probe the host's files.
        let file = binaries::open(&root, &binary).ok_or_else(|| EngineError::BadArgument {
            field: "binary",
            reason: format!("{binary} not found in the target's filesystem"),
        })?;
        let mut arg_types = [ValueType::None; UPROBE_ARGS];
        for (slot, value_type) in arg_types.iter_mut().zip(&args.arg_types) {
            *slot = *value_type;
        }
        Ok(Uprobe {
            function,
            binary,
            file,
            arg_types,
            return_type: args.return_type.unwrap_or(ValueType::Int),
        })
    }
}

/// Where the targets' files are: the root of the first process found in a target cgroup
/// (a container's own filesystem).
fn target_root(targets: &[CgroupTarget]) -> Option<PathBuf> {
    targets
        .iter()
        .find_map(|target| first_pid(&target.path, 3))
        .map(|pid| PathBuf::from(format!("/proc/{pid}/root")))
}

fn first_pid(cgroup: &Path, depth: u32) -> Option<u32> {
    let procs = std::fs::read_to_string(cgroup.join("cgroup.procs")).ok()?;
    if let Some(pid) = procs.lines().find_map(|line| line.trim().parse().ok()) {
        return Some(pid);
    }
    if depth == 0 {
        return None;
    }
    std::fs::read_dir(cgroup)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_dir())
        .find_map(|entry| first_pid(&entry.path(), depth - 1))
}

fn code(value_type: ValueType) -> u32 {
    match value_type {
        ValueType::None => VALUE_NONE,
        ValueType::Int => VALUE_INT,
        ValueType::Long => VALUE_LONG,
        ValueType::Pointer => VALUE_POINTER,
        ValueType::String => VALUE_STRING,
    }
}

impl ToolDriver for Uprobe {
    fn object(&self) -> &'static [u8] {
        tracejob_ebpf::objects::UPROBE
    }

    fn globals(&self) -> Vec<(&'static str, u32)> {
        let [a0, a1, a2, a3] = self.arg_types.map(code);
        vec![
            ("arg0_type", a0),
            ("arg1_type", a1),
            ("arg2_type", a2),
            ("arg3_type", a3),
            ("return_type", code(self.return_type)),
        ]
    }

    fn attach(
        &mut self,
        ebpf: &mut Ebpf,
        forced: Option<ProbeKind>,
    ) -> Result<String, EngineError> {
        if let Some(kind) = forced {
            let failures = vec![(
                kind.name().to_owned(),
                "the uprobe tool attaches only with uprobes".to_owned(),
            )];
            return Err(EngineError::NoAttachPoint {
                tool: "uprobe",
                failures,
            });
        }
        for program in ["call_entry", "call_return"] {
            let program: &mut UProbe = ebpf
                .program_mut(program)
                .ok_or_else(|| EngineError::Reader(format!("the {program} program is missing")))?
                .try_into()
                .map_err(|error| EngineError::NoAttachPoint {
                    tool: "uprobe",
                    failures: vec![("uprobe".into(), probe::describe(&error))],
                })?;
            let failed = |error: aya::programs::ProgramError| EngineError::NoAttachPoint {
                tool: "uprobe",
                failures: vec![("uprobe".into(), probe::describe(&error))],
            };
            program.load().map_err(failed)?;
            program
                .attach(
                    self.function.as_str(),
                    self.file.path(),
                    UProbeScope::AllProcesses,
                )
                .map_err(|error| EngineError::BadArgument {
                    field: "function",
                    reason: format!(
                        "cannot probe {} in {}: {}",
                        self.function,
                        self.binary,
                        probe::describe(&error)
                    ),
                })?;
        }
        Ok("uprobe".to_owned())
    }

    fn decoder(&self) -> Option<Decoder> {
        let function = self.function.clone();
        let arg_types = self.arg_types;
        let return_type = self.return_type;
        Some(Arc::new(move |bytes: &[u8], clock: Clock| {
            decode(bytes, clock, &function, &arg_types, return_type)
        }))
    }

    fn summarise(
        &self,
        ebpf: &Ebpf,
        _: &KeyedCounts,
        _: u64,
    ) -> Result<(u64, ToolSummary), EngineError> {
        let latency = latency::read_single(ebpf, "call_latency")?;
        Ok(ToolSummary::single_function(
            &self.function,
            &self.binary,
            latency,
        ))
    }
}

fn decode(
    bytes: &[u8],
    clock: Clock,
    function: &str,
    arg_types: &[ValueType; UPROBE_ARGS],
    return_type: ValueType,
) -> Option<Decoded> {
    let raw = CallEvent::from_bytes(bytes)?;
    let args = arg_types
        .iter()
        .enumerate()
        .take_while(|(_, t)| **t != ValueType::None)
        .map(|(i, t)| value(*t, raw.args[i] as i64, &raw.arg_strings[i]))
        .collect();
    let record = CallRecord {
        timestamp_ns: clock.wall_ns(raw.timestamp_ns),
        cgroup_id: raw.cgroup_id,
        pid: raw.pid,
        tid: raw.tid,
        comm: c_string(&raw.comm),
        function: function.to_owned(),
        args,
        ret: (return_type != ValueType::None).then(|| value(return_type, raw.ret, &raw.ret_string)),
        latency_ns: raw.latency_ns,
    };
    Some(Decoded {
        key: function.to_owned(),
        failed: false,
        bytes: (0, 0),
        event: Event::Call(record),
    })
}

fn value(value_type: ValueType, raw: i64, text: &[u8]) -> Value {
    match value_type {
        // the register holds 64 bits; an int is the low 32, sign-extended
        ValueType::Int => Value::Int(i64::from(raw as i32)),
        ValueType::Long => Value::Int(raw),
        ValueType::Pointer => Value::Text(format!("{raw:#x}")),
        ValueType::String if raw == 0 => Value::Null,
        ValueType::String => Value::Text(c_string(text)),
        ValueType::None => Value::Null,
    }
}
