//! The floor: attaches empty programs to tp_btf sys_enter and sys_exit (the hooks
//! tracejob's syscall tools use) for every process of the host, then
//!   floor -- COMMAND ARGS...   runs COMMAND, detaches when it exits, exits with its status;
//!   floor                      waits for SIGINT or SIGTERM;
//!   floor --exit-only ...      attaches only the sys_exit program (what one hook costs).
//! Prints `floor: attached` on stderr once both programs are attached.

use anyhow::{Context, bail};
use aya::programs::BtfTracePoint;
use aya::{Btf, Ebpf, include_bytes_aligned};

static OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/floor.bpf.o"));

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let exit_only = args.first().is_some_and(|a| a == "--exit-only");
    if exit_only {
        args.remove(0);
    }
    let command = match args.first().map(String::as_str) {
        None => None,
        Some("--") if args.len() > 1 => Some(&args[1..]),
        Some(_) => bail!("usage: floor [--exit-only] [-- COMMAND ARGS...]"),
    };
    // Blocked before any thread exists, so sigwait below receives them.
    let signals = block_stop_signals();
    let mut ebpf = Ebpf::load(OBJECT).context("failed to load the floor object")?;
    let btf = Btf::from_sys_fs().context("failed to read the kernel's BTF")?;
    let hooks: &[(&str, &str)] = if exit_only {
        &[("floor_exit", "sys_exit")]
    } else {
        &[("floor_enter", "sys_enter"), ("floor_exit", "sys_exit")]
    };
    for &(program, tracepoint) in hooks {
        let program: &mut BtfTracePoint = ebpf
            .program_mut(program)
            .with_context(|| format!("no program {program}"))?
            .try_into()?;
        program.load(tracepoint, &btf)?;
        program
            .attach()
            .with_context(|| format!("failed to attach tp_btf/{tracepoint}"))?;
    }
    eprintln!("floor: attached");
    let code = match command {
        Some(command) => {
            let status = std::process::Command::new(&command[0])
                .args(&command[1..])
                .status()
                .with_context(|| format!("failed to start {}", command[0]))?;
            status.code().unwrap_or(1)
        }
        None => {
            let mut signal = 0;
            // SAFETY: a valid, initialised signal set and an out-pointer to a c_int.
            unsafe { libc::sigwait(&signals, &mut signal) };
            0
        }
    };
    drop(ebpf);
    std::process::exit(code);
}

fn block_stop_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set before it is read; the calls have no
    // other preconditions.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}
