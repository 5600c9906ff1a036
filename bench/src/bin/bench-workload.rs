//! The benchmark workload: like `cli/examples/workload.rs`, but it times its own loop,
//! so a tracer's start and stop are never part of the figure, and it can pace itself.
//!
//!   bench-workload getppid N | open PATH N | exec BINARY N  [OPTIONS]
//!     --rate OPS       pace to OPS operations per second in total (default: as fast as it can)
//!     --threads T      split the work over T threads (default 1)
//!     --cgroup DIR     move into this cgroup v2 directory first
//!     --go FIFO        wait for one byte on FIFO before starting (a tracer attaches by pid meanwhile)
//!     --report FILE    write {"ops","seconds","ns_per_op",...} as JSON to FILE
//!
//! N = 0 runs until killed. An operation is one getppid(2), one open(2)+close(2), or
//! one fork+execve(2)+wait.

use std::ffi::CString;
use std::io::Read;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

#[derive(Clone)]
enum Op {
    Getppid,
    Open(CString),
    Exec(String),
}

#[derive(Serialize)]
struct Report {
    mode: &'static str,
    ops: u64,
    threads: u64,
    seconds: f64,
    ns_per_op: f64,
    ops_per_second: f64,
    /// The CPU the first thread last ran on.
    cpu: i32,
    /// CPU time of the workload and its children, BPF programs run on its behalf included.
    user_seconds: f64,
    system_seconds: f64,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (op, count, rest) = match args.first().map(String::as_str) {
        Some("getppid") => (Op::Getppid, number(args.get(1))?, &args[2..]),
        Some("open") if args.len() >= 3 => (
            Op::Open(CString::new(args[1].clone())?),
            number(args.get(2))?,
            &args[3..],
        ),
        Some("exec") if args.len() >= 3 => {
            (Op::Exec(args[1].clone()), number(args.get(2))?, &args[3..])
        }
        _ => bail!(
            "usage: bench-workload getppid N | open PATH N | exec BINARY N [--rate OPS] [--threads T] [--cgroup DIR] [--go FIFO] [--report FILE]"
        ),
    };
    let mut rate = 0.0_f64;
    let mut threads = 1_u64;
    let mut report = None;
    let mut options = rest.iter();
    while let Some(option) = options.next() {
        let value = options
            .next()
            .with_context(|| format!("{option} needs a value"))?;
        match option.as_str() {
            "--rate" => rate = value.parse().context("--rate")?,
            "--threads" => threads = value.parse::<u64>().context("--threads")?.max(1),
            "--cgroup" => std::fs::write(
                format!("{value}/cgroup.procs"),
                std::process::id().to_string(),
            )
            .with_context(|| format!("failed to move into cgroup {value}"))?,
            "--go" => {
                let mut byte = [0u8];
                std::fs::File::open(value)
                    .and_then(|mut fifo| fifo.read_exact(&mut byte))
                    .with_context(|| format!("failed to read the go signal from {value}"))?;
            }
            "--report" => report = Some(value.clone()),
            other => bail!("unknown option {other}"),
        }
    }

    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    let workers: Vec<_> = (0..threads)
        .map(|index| {
            // Thread i does its share of the count; the first takes the remainder.
            let share = count / threads + if index == 0 { count % threads } else { 0 };
            let op = op.clone();
            let barrier = Arc::clone(&barrier);
            let period = (rate > 0.0).then(|| Duration::from_secs_f64(threads as f64 / rate));
            std::thread::spawn(move || {
                barrier.wait();
                run(&op, share, period);
                // SAFETY: no preconditions.
                unsafe { libc::sched_getcpu() }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let mut cpu = -1;
    for (index, worker) in workers.into_iter().enumerate() {
        let last_cpu = worker
            .join()
            .map_err(|_| anyhow::anyhow!("a worker panicked"))?;
        if index == 0 {
            cpu = last_cpu;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let (user_seconds, system_seconds) = cpu_times();
    let result = Report {
        mode: match op {
            Op::Getppid => "getppid",
            Op::Open(_) => "open",
            Op::Exec(_) => "exec",
        },
        ops: count,
        threads,
        seconds,
        ns_per_op: seconds * 1e9 / count.max(1) as f64,
        ops_per_second: count as f64 / seconds,
        cpu,
        user_seconds,
        system_seconds,
    };
    if let Some(path) = report {
        std::fs::write(&path, serde_json::to_string(&result)?)
            .with_context(|| format!("failed to write {path}"))?;
    }
    Ok(())
}

/// Gaps longer than this are slept through rather than spun.
const SLEEP_SLACK: Duration = Duration::from_micros(100);

fn run(op: &Op, count: u64, period: Option<Duration>) {
    let start = Instant::now();
    let mut done = 0_u64;
    while count == 0 || done < count {
        if let Some(period) = period {
            let due = start + period.mul_f64(done as f64);
            // Sleep through long gaps (slow paces leave the CPU to others), spin through short ones.
            let now = Instant::now();
            if due > now + SLEEP_SLACK {
                std::thread::sleep(due - now - SLEEP_SLACK);
            }
            while Instant::now() < due {
                std::hint::spin_loop();
            }
        }
        match op {
            // SAFETY: no arguments, no side effects.
            Op::Getppid => unsafe {
                libc::getppid();
            },
            // SAFETY: a valid NUL-terminated path; the fd is closed right away.
            Op::Open(path) => unsafe {
                let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
                if fd >= 0 {
                    libc::close(fd);
                }
            },
            Op::Exec(binary) => {
                if std::process::Command::new(binary).status().is_err() {
                    eprintln!("bench-workload: cannot run {binary}");
                    std::process::exit(1);
                }
            }
        }
        done += 1;
    }
}

fn number(arg: Option<&String>) -> anyhow::Result<u64> {
    arg.context("a count is missing")?
        .parse()
        .context("the count is not a number")
}

/// CPU time of this process and of the children it waited for (the exec mode's).
fn cpu_times() -> (f64, f64) {
    let usage = |who| {
        // SAFETY: getrusage fills the zeroed struct it is given.
        unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(who, &mut usage);
            usage
        }
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let (own, children) = (usage(libc::RUSAGE_SELF), usage(libc::RUSAGE_CHILDREN));
    (
        seconds(own.ru_utime) + seconds(children.ru_utime),
        seconds(own.ru_stime) + seconds(children.ru_stime),
    )
}
