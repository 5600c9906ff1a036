//! A container as kubelet lays it out in cgroup v2 (cgroupfs driver:
//! `kubepods/besteffort/pod<uid>/<container id>`), and a workload making an exact number of
//! getppid(2) calls inside it.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use tracejob_engine::cgroup::Hierarchy;

pub struct FakeContainer {
    pub pod_uid: String,
    pub container_id: String,
    dirs: Vec<PathBuf>,
}

impl FakeContainer {
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let pod_uid = format!("{pid:08x}-0000-4000-8000-{n:012x}");
        let id = format!("{:064x}", u128::from(pid) << 32 | u128::from(n));
        let mount = Hierarchy::discover()
            .expect("cgroup v2 hierarchy")
            .mount_point;
        let kubepods = mount.join("kubepods");
        let qos = kubepods.join("besteffort");
        let pod = qos.join(format!("pod{pod_uid}"));
        let container = pod.join(&id);
        std::fs::create_dir_all(&container).expect("create the container's cgroup");
        FakeContainer {
            pod_uid,
            container_id: format!("containerd://{id}"),
            dirs: vec![container, pod, qos, kubepods],
        }
    }

    /// getppid(2) `times` times in a forked child placed in this cgroup first.
    pub fn getppid(&self, times: u32) {
        self.run(|| {
            for _ in 0..times {
                // SAFETY: no arguments.
                unsafe { libc::getppid() };
            }
        });
    }

    /// open(2) and close `path` `times` times, in the cgroup.
    pub fn opens(&self, path: &std::ffi::CStr, times: u32) {
        self.run(|| {
            for _ in 0..times {
                // SAFETY: a NUL-terminated path made before the fork.
                unsafe {
                    let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
                    if fd >= 0 {
                        libc::close(fd);
                    }
                }
            }
        });
    }

    /// exec(2)s `path` (no arguments) in a forked child placed in this cgroup.
    pub fn exec(&self, path: &std::ffi::CStr) {
        self.run(|| {
            let argv = [path.as_ptr(), std::ptr::null()];
            // SAFETY: a NUL-terminated path made before the fork and a NULL-terminated argv.
            unsafe {
                libc::execv(path.as_ptr(), argv.as_ptr());
                libc::_exit(11);
            }
        });
    }

    /// Runs `work` (async-signal-safe only) in a forked child placed in this cgroup first.
    fn run(&self, work: impl Fn()) {
        let procs = File::options()
            .write(true)
            .open(self.dirs[0].join("cgroup.procs"))
            .expect("open cgroup.procs");
        let fd = procs.as_raw_fd();
        // SAFETY: the child only calls async-signal-safe functions and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: a valid fd and a static buffer.
            unsafe {
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    libc::_exit(10);
                }
            }
            work();
            // SAFETY: leaving the child without running the parent's destructors.
            unsafe {
                libc::_exit(0);
            }
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "workload failed: {status:#x}"
        );
    }
}

impl Drop for FakeContainer {
    fn drop(&mut self) {
        for dir in &self.dirs {
            // Parents shared with other tests stay until the last one leaves.
            let _ = std::fs::remove_dir(dir);
        }
    }
}
