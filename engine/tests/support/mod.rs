//! Helpers for tests that load real eBPF programs: a privilege check that skips on a
//! laptop but fails in CI (TRACEJOB_REQUIRE_ALL=1), scratch cgroups, and workloads
//! whose every syscall is known, run in a forked child placed in a cgroup first.

#![allow(dead_code, reason = "each test target uses a different subset")]

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use tracejob_engine::cgroup::{CgroupTarget, Hierarchy, ScratchCgroup};

/// True when this test can load BPF programs here (see tracejob-testkit).
pub fn kernel_tests_can_run(test: &str) -> bool {
    tracejob_testkit::can_trace(test)
}

/// A fresh cgroup v2 directory for one test, removed afterwards.
pub struct TestCgroup {
    scratch: ScratchCgroup,
    pub target: CgroupTarget,
}

impl TestCgroup {
    pub fn new() -> Self {
        let hierarchy = Hierarchy::discover().expect("cgroup v2 hierarchy");
        Self::under(&hierarchy.mount_point)
    }

    pub fn under(parent: &Path) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "tracejob-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let scratch = ScratchCgroup::create(parent, &name).expect("create a test cgroup");
        let hierarchy = Hierarchy::discover().expect("cgroup v2 hierarchy");
        let target = hierarchy
            .target(scratch.path())
            .expect("resolve the test cgroup");
        TestCgroup { scratch, target }
    }

    pub fn path(&self) -> &Path {
        self.scratch.path()
    }
}

/// What a workload child does, with every syscall it makes known in advance.
pub enum Work {
    /// getppid(2) this many times.
    Getppid(u32),
    /// open(path, O_RDONLY) and close, this many times.
    Open { path: CString, times: u32 },
    /// fork, execve(binary) and wait, this many times.
    Exec { binary: CString, times: u32 },
    /// pread(2) `times` blocks of 4 KiB from `fd` (opened with O_DIRECT) into `buffer`
    /// (4 KiB-aligned), one after another.
    DirectReads { fd: i32, buffer: usize, times: u32 },
    /// `times` TCP connections to `addr`, each sending `send` bytes, then reading until EOF.
    TcpClients {
        addr: libc::sockaddr_in,
        times: u32,
        send: u32,
    },
    /// Sleep this many times for `micros`, pinned to `cpu` at a low priority (nice 5).
    Sleeps { times: u32, micros: u32, cpu: usize },
    /// Call this function (it must stay async-signal-safe).
    Call(fn()),
}

impl Work {
    pub fn open(path: &str, times: u32) -> Self {
        Work::Open {
            path: CString::new(path).expect("path without NUL"),
            times,
        }
    }

    pub fn exec(binary: &str, times: u32) -> Self {
        Work::Exec {
            binary: CString::new(binary).expect("path without NUL"),
            times,
        }
    }
}

/// Runs `work` in a forked child, inside `cgroup` when given, and waits for it.
/// The child only makes async-signal-safe calls: the parent is multi-threaded.
pub fn run(cgroup: Option<&TestCgroup>, work: &Work) {
    let procs = cgroup.map(|c| {
        File::options()
            .write(true)
            .open(c.path().join("cgroup.procs"))
            .expect("open cgroup.procs")
    });
    let procs_fd = procs.as_ref().map(|f| f.as_raw_fd());
    // SAFETY: the child calls only async-signal-safe functions and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: see above; every pointer used is prepared before the fork.
        unsafe { libc::_exit(child(procs_fd, work)) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "workload failed: status {status:#x}"
    );
}

unsafe fn child(procs_fd: Option<i32>, work: &Work) -> i32 {
    if let Some(fd) = procs_fd {
        // SAFETY: a valid fd and a static buffer.
        if unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } != 1 {
            return 10;
        }
    }
    match work {
        Work::Getppid(times) => {
            for _ in 0..*times {
                // SAFETY: no arguments.
                unsafe { libc::getppid() };
            }
        }
        Work::Open { path, times } => {
            for _ in 0..*times {
                // SAFETY: a valid NUL-terminated path.
                let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
                if fd >= 0 {
                    // SAFETY: our own fd.
                    unsafe { libc::close(fd) };
                }
            }
        }
        Work::DirectReads { fd, buffer, times } => {
            for block in 0..*times {
                let offset = i64::from(block) * 4096;
                // SAFETY: the buffer is 4 KiB, aligned, and outlives the child.
                if unsafe { libc::pread(*fd, *buffer as *mut libc::c_void, 4096, offset) } != 4096 {
                    return 11;
                }
            }
        }
        Work::TcpClients { addr, times, send } => {
            let payload = [b'x'; 1024];
            let mut sink = [0u8; 1024];
            for _ in 0..*times {
                // SAFETY: socket calls on our own descriptors and stack buffers.
                unsafe {
                    let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                    if fd < 0
                        || libc::connect(fd, (addr as *const libc::sockaddr_in).cast(), len) != 0
                    {
                        return 12;
                    }
                    let mut left = *send as usize;
                    while left > 0 {
                        let written =
                            libc::write(fd, payload.as_ptr().cast(), left.min(payload.len()));
                        if written <= 0 {
                            return 13;
                        }
                        left -= written as usize;
                    }
                    libc::shutdown(fd, libc::SHUT_WR);
                    while libc::read(fd, sink.as_mut_ptr().cast(), sink.len()) > 0 {}
                    libc::close(fd);
                }
            }
        }
        Work::Sleeps { times, micros, cpu } => {
            // SAFETY: affinity and priority of ourselves; nanosleep is async-signal-safe.
            // The lowest priority: many wake-ups then wait for a busy process's slice to end
            // (milliseconds); with nice 5 EEVDF let nearly all run within 50 µs, and the
            // runqlat test's "some waits are long" failed now and then.
            unsafe {
                pin_to_cpu(*cpu);
                libc::setpriority(libc::PRIO_PROCESS, 0, 19);
                let pause = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: i64::from(*micros) * 1000,
                };
                for _ in 0..*times {
                    libc::nanosleep(&pause, std::ptr::null_mut());
                }
            }
        }
        Work::Exec { binary, times } => {
            let argv = [binary.as_ptr(), std::ptr::null()];
            let envp = [std::ptr::null::<libc::c_char>()];
            for _ in 0..*times {
                // SAFETY: fork/execve/_exit/waitpid are async-signal-safe; argv/envp outlive them.
                unsafe {
                    let pid = libc::fork();
                    if pid == 0 {
                        libc::execve(binary.as_ptr(), argv.as_ptr(), envp.as_ptr());
                        libc::_exit(127);
                    }
                    let mut status = 0;
                    libc::waitpid(pid, &mut status, 0);
                }
            }
        }
        Work::Call(function) => function(),
    }
    0
}

/// A path no other test or process uses.
pub fn unique_path(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "/tmp/tracejob-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

unsafe fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; the calls only touch our own affinity.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// A process spinning at a raised priority (nice -5) on `cpu`, killed when dropped.
pub struct Hog(libc::pid_t);

impl Hog {
    pub fn on_cpu(cpu: usize) -> Self {
        // SAFETY: the child only pins itself, raises its priority and spins.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: as above.
            unsafe {
                pin_to_cpu(cpu);
                libc::setpriority(libc::PRIO_PROCESS, 0, -5);
            }
            loop {
                std::hint::spin_loop();
            }
        }
        Hog(pid)
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        // SAFETY: our own child.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
            libc::waitpid(self.0, std::ptr::null_mut(), 0);
        }
    }
}
