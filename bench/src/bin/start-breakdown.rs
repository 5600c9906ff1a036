//! Where tracejob's start-up time goes: loads a tool's object (aya's `EbpfLoader::new`
//! parses the kernel's BTF itself, then maps are created and CO-RE relocated), parses
//! the BTF again for attaching, loads (verifier) and attaches the tp_btf programs,
//! timing each step the way the engine does them; then the same job started by a
//! long-lived process that keeps one loader and one parsed BTF (what an agent can do).
//!
//!   start-breakdown [syscalls|open|exec|OBJECT.bpf.o] [REPEATS]
//!
//! Prints one JSON line per repeat.

use std::time::Instant;

use anyhow::Context;
use aya::programs::BtfTracePoint;
use aya::{Btf, EbpfLoader};
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tool = args.first().map_or("syscalls", String::as_str);
    let repeats: usize = args.get(1).map_or(Ok(5), |n| n.parse())?;
    let file;
    let object = match tool {
        "open" => tracejob_ebpf::objects::OPEN,
        "exec" => tracejob_ebpf::objects::EXEC,
        "syscalls" => tracejob_ebpf::objects::SYSCALLS,
        // A variant built for an experiment (aya copies unaligned input).
        path => {
            file = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
            &file[..]
        }
    };
    let mut reused = EbpfLoader::new();
    for _ in 0..repeats {
        let ms = |since: Instant| (since.elapsed().as_secs_f64() * 1e4).round() / 10.0;
        // As the engine does it: the loader parses BTF, then attaching parses it again.
        let start = Instant::now();
        let mut ebpf = EbpfLoader::new()
            .load(object)
            .context("failed to load the object")?;
        let load_ms = ms(start);
        let start = Instant::now();
        let btf = Btf::from_sys_fs()?;
        let parse_ms = ms(start);
        let mut prog_load_ms = 0.0;
        let mut attach_ms = 0.0;
        for (name, tracepoint) in [("enter_tp_btf", "sys_enter"), ("exit_tp_btf", "sys_exit")] {
            let program: &mut BtfTracePoint = ebpf
                .program_mut(name)
                .context("no such program")?
                .try_into()?;
            let start = Instant::now();
            program.load(tracepoint, &btf)?;
            prog_load_ms += ms(start);
            let start = Instant::now();
            program.attach()?;
            attach_ms += ms(start);
        }
        drop(ebpf);
        // A long-lived process: the loader (and its BTF) and the attach BTF are reused.
        let start = Instant::now();
        let mut ebpf = reused.load(object)?;
        for (name, tracepoint) in [("enter_tp_btf", "sys_enter"), ("exit_tp_btf", "sys_exit")] {
            let program: &mut BtfTracePoint = ebpf
                .program_mut(name)
                .context("no such program")?
                .try_into()?;
            program.load(tracepoint, &btf)?;
            program.attach()?;
        }
        let reused_ms = ms(start);
        drop(ebpf);
        println!(
            "{}",
            json!({"tool": tool, "loader_with_its_own_btf_parse_ms": load_ms,
                   "btf_parse_ms": parse_ms, "tp_btf_program_loads_ms": prog_load_ms,
                   "attach_ms": attach_ms, "job_start_with_reused_loader_and_btf_ms": reused_ms})
        );
    }
    Ok(())
}
