//! A workload whose syscalls are known exactly, for tests and benchmarks:
//!   workload getppid N         N getppid(2) calls
//!   workload open PATH N       N open(2)+close(2) of PATH
//!   workload exec BINARY N     N fork+execve(2)+wait of BINARY

use std::ffi::CString;

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
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: workload getppid N | open PATH N | exec BINARY N");
    std::process::exit(2);
}
