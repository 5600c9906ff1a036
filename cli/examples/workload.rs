//! A workload whose syscalls are known exactly, for tests and benchmarks:
//!   workload getppid N         N getppid(2) calls
//!   workload open PATH N       N open(2)+close(2) of PATH
//!   workload exec BINARY N     N fork+execve(2)+wait of BINARY
//!   workload spin FUNCTION S   S seconds on the CPU inside the function named
//!                              FUNCTION (spin_alpha or spin_beta), for profiles

use std::ffi::CString;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = |index: usize| -> u64 {
        args.get(index)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| usage())
    };
    match args.first().map(String::as_str) {
        Some("getppid") => {
            for _ in 0..count(1) {
                // SAFETY: no arguments, no side effects.
                unsafe { libc::getppid() };
            }
        }
        Some("open") => {
            let path = CString::new(args.get(1).cloned().unwrap_or_else(|| usage()))
                .unwrap_or_else(|_| usage());
            for _ in 0..count(2) {
                // SAFETY: a valid NUL-terminated path; the fd is closed right away.
                unsafe {
                    let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
                    if fd >= 0 {
                        libc::close(fd);
                    }
                }
            }
        }
        Some("exec") => {
            let binary = args.get(1).cloned().unwrap_or_else(|| usage());
            for _ in 0..count(2) {
                let status = std::process::Command::new(&binary).status();
                if status.is_err() {
                    std::process::exit(1);
                }
            }
        }
        Some("spin") => {
            let seconds: f64 = args
                .get(2)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| usage());
            let until = Instant::now() + Duration::from_secs_f64(seconds);
            match args.get(1).map(String::as_str) {
                Some("spin_alpha") => spin_alpha(until),
                Some("spin_beta") => spin_beta(until),
                _ => usage(),
            }
        }
        _ => usage(),
    }
}

/// Burns CPU in the function that expands it: nothing is called in the inner loop,
/// so nearly every profile sample lands in that function itself.
macro_rules! spin_until {
    ($until:expr) => {
        while Instant::now() < $until {
            let mut i = 0u32;
            while i < 200_000 {
                i += 1;
                // SAFETY: an empty asm block; it only keeps the loop from being removed.
                unsafe { std::arch::asm!("", options(nomem, nostack)) };
            }
        }
    };
}

#[inline(never)]
fn spin_alpha(until: Instant) {
    spin_until!(until);
}

#[inline(never)]
fn spin_beta(until: Instant) {
    spin_until!(until);
}

fn usage() -> ! {
    eprintln!(
        "usage: workload getppid N | open PATH N | exec BINARY N | spin spin_alpha|spin_beta SECONDS"
    );
    std::process::exit(2);
}
