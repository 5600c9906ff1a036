//! The uprobe tool on the real kernel: each line typed into an interactive bash (on a
//! pseudo-terminal) is seen as readline's return value, and each getaddrinfo call of a
//! program with its host name argument; calls outside the cgroup are not.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{TestCgroup, kernel_tests_can_run};
use tracejob_api::{Tool, ToolArgs, ValueType};
use tracejob_engine::records::{CallRecord, Event, Value};
use tracejob_engine::summary::ToolSummary;
use tracejob_engine::{Job, JobConfig};

fn uprobe_job(
    cgroup: &TestCgroup,
    binary: &str,
    function: &str,
    args: Vec<ValueType>,
    ret: ValueType,
) -> Job {
    let args = ToolArgs {
        binary: Some(binary.into()),
        function: Some(function.into()),
        arg_types: args,
        return_type: Some(ret),
        ..ToolArgs::default()
    };
    Job::start(&on_this_host(args), std::slice::from_ref(&cgroup.target)).unwrap()
}

/// As `tracejob run` configures a job: the cgroup is empty until the workload starts, so
/// the binary is looked up on this host.
fn on_this_host(args: ToolArgs) -> JobConfig {
    let mut config = JobConfig::new(Tool::Uprobe, args);
    config.host_files = true;
    config
}

/// Makes `command` start inside `cgroup` (None: where the test runs).
fn in_cgroup(command: &mut Command, cgroup: Option<&TestCgroup>) {
    let Some(cgroup) = cgroup else { return };
    let mut procs = std::fs::File::options()
        .write(true)
        .open(cgroup.path().join("cgroup.procs"))
        .unwrap();
    // SAFETY: only write(2) on an fd opened before the fork.
    unsafe { command.pre_exec(move || procs.write_all(b"0")) };
}

fn calls(events: &std::sync::mpsc::Receiver<Event>) -> Vec<CallRecord> {
    events
        .try_iter()
        .filter_map(|e| match e {
            Event::Call(call) => Some(call),
            _ => None,
        })
        .collect()
}

#[test]
fn each_line_typed_into_an_interactive_bash_is_seen_as_readlines_result() {
    if !kernel_tests_can_run("uprobe readline") {
        return;
    }
    let cgroup = TestCgroup::new();
    let mut job = uprobe_job(&cgroup, "/bin/bash", "readline", vec![], ValueType::String);
    let events = job.take_events().unwrap();

    let (mut master, slave) = {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty fills two fds; the other arguments may be null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty failed");
        // SAFETY: fresh fds we own.
        unsafe {
            (
                std::fs::File::from_raw_fd(master),
                OwnedFd::from_raw_fd(slave),
            )
        }
    };
    let mut bash = Command::new("/bin/bash");
    bash.args(["--norc", "--noprofile", "-i"])
        .env("TERM", "dumb")
        .env("PS1", "$ ")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    in_cgroup(&mut bash, Some(&cgroup));
    // SAFETY: setsid and ioctl on the inherited terminal, between fork and exec.
    unsafe {
        bash.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = bash.spawn().unwrap();
    // Our copies of the terminal's slave side must go, or the master never sees EOF.
    drop(bash);
    let reader = {
        let mut master = master.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut screen = Vec::new();
            let _ = master.read_to_end(&mut screen); // EIO once bash is gone
            screen
        })
    };
    master.write_all(b"echo one\necho two\nexit\n").unwrap();
    let (exited, bash_exit) = std::sync::mpsc::channel();
    std::thread::spawn(move || exited.send(child.wait()));
    bash_exit
        .recv_timeout(Duration::from_secs(10))
        .expect("bash exits after `exit`")
        .unwrap();
    drop(master);
    let summary = job.stop().unwrap();
    let screen = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();

    let lines: Vec<Value> = calls(&events)
        .into_iter()
        .filter_map(|call| call.ret)
        .collect();
    let expected = ["echo one", "echo two", "exit"].map(|line| Value::Text(line.to_owned()));
    assert_eq!(lines, expected, "terminal showed: {screen}");
    let ToolSummary::Calls { functions } = &summary.details else {
        panic!("not a calls summary")
    };
    assert_eq!(functions[0].function, "readline");
    assert_eq!(functions[0].latency.count, 3);
}

#[test]
fn every_getaddrinfo_call_is_counted_with_its_host_name_and_outside_calls_are_not() {
    if !kernel_tests_can_run("uprobe getaddrinfo") {
        return;
    }
    const LOOKUPS: usize = 4;
    let cgroup = TestCgroup::new();
    let mut job = uprobe_job(
        &cgroup,
        "libc",
        "getaddrinfo",
        vec![ValueType::String],
        ValueType::Int,
    );
    let events = job.take_events().unwrap();
    let lookup = |cgroup: Option<&TestCgroup>, host: &str| {
        let mut getent = Command::new("getent");
        getent.args(["ahosts", host]).stdout(Stdio::null());
        in_cgroup(&mut getent, cgroup);
        assert!(getent.status().unwrap().success());
    };
    for _ in 0..LOOKUPS {
        lookup(Some(&cgroup), "localhost");
    }
    lookup(None, "localhost");
    let summary = job.stop().unwrap();

    let seen = calls(&events);
    assert_eq!(seen.len(), LOOKUPS, "{seen:#?}");
    assert!(
        seen.iter()
            .all(|c| c.args == [Value::Text("localhost".into())] && c.ret == Some(Value::Int(0)))
    );
    assert!(seen.iter().all(|c| c.comm == "getent" && c.latency_ns > 0));
    let ToolSummary::Calls { functions } = &summary.details else {
        panic!("not a calls summary")
    };
    assert_eq!(functions[0].latency.count, LOOKUPS as u64);
    assert_eq!(summary.events, LOOKUPS as u64);
}

#[test]
fn a_symbol_the_binary_lacks_is_refused_naming_function_and_binary() {
    if !kernel_tests_can_run("uprobe missing symbol") {
        return;
    }
    let cgroup = TestCgroup::new();
    let args = ToolArgs {
        binary: Some("/bin/bash".into()),
        function: Some("no_such_function_here".into()),
        ..ToolArgs::default()
    };
    let error = Job::start(&on_this_host(args), std::slice::from_ref(&cgroup.target)).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("spec.args.function: cannot probe no_such_function_here in /bin/bash"),
        "{message}"
    );
    let args = ToolArgs {
        binary: Some("libnothing".into()),
        function: Some("f".into()),
        ..ToolArgs::default()
    };
    let error = Job::start(&on_this_host(args), &[]).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("spec.args.binary: libnothing not found"),
        "{error}"
    );
}

/// A process whose root directory is `root`, in `cgroup`: a container's view of files.
struct Chrooted {
    pid: libc::pid_t,
}

impl Chrooted {
    fn start(cgroup: &TestCgroup, root: &std::path::Path) -> Self {
        let procs = std::fs::File::options()
            .write(true)
            .open(cgroup.path().join("cgroup.procs"))
            .unwrap();
        let root_c = std::ffi::CString::new(root.as_os_str().as_encoded_bytes()).unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&procs);
        // SAFETY: the child makes only async-signal-safe calls and never returns.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: raw syscalls on values prepared before the fork.
            unsafe {
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1
                    || libc::chroot(root_c.as_ptr()) != 0
                    || libc::chdir(c"/".as_ptr()) != 0
                {
                    libc::_exit(10);
                }
                loop {
                    libc::pause();
                }
            }
        }
        let chrooted = Chrooted { pid };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read_link(format!("/proc/{pid}/root"))
            .ok()
            .as_deref()
            != Some(root)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the child did not enter its root"
            );
            std::thread::yield_now();
        }
        chrooted
    }
}

impl Drop for Chrooted {
    fn drop(&mut self) {
        // SAFETY: our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

fn in_containers(binary: &str) -> JobConfig {
    JobConfig::new(
        Tool::Uprobe,
        ToolArgs {
            binary: Some(binary.into()),
            function: Some("readline".into()),
            ..ToolArgs::default()
        },
    )
}

#[test]
fn a_uprobe_binary_resolves_inside_the_targets_root_only_and_the_refusal_says_nothing_of_the_host()
{
    if !kernel_tests_can_run("uprobe root") {
        return;
    }
    let root = std::env::temp_dir().join(format!("tracejob-uprobe-root-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/bash", root.join("bin/bash")).unwrap();
    // The host has /usr/bin/bash; the image has none. A link to the host's through
    // /proc/1/root, an absolute link, and a `..` walk must all stay inside the image.
    std::os::unix::fs::symlink("/proc/1/root/usr/bin/bash", root.join("bin/pid1")).unwrap();
    std::os::unix::fs::symlink("/usr/bin/bash", root.join("bin/absolute")).unwrap();
    std::os::unix::fs::symlink("../../../../../usr/bin/bash", root.join("bin/up")).unwrap();
    assert!(std::path::Path::new("/usr/bin/bash").is_file());

    let cgroup = TestCgroup::new();
    let _container = Chrooted::start(&cgroup, &root);
    let targets = std::slice::from_ref(&cgroup.target);
    let refusal = |binary: &str| match Job::start(&in_containers(binary), targets) {
        Ok(_) => panic!("{binary} was opened outside the target's root"),
        Err(error) => error.to_string().replace(binary, "BINARY"),
    };
    let generic = refusal("/bin/nothing-here");
    assert_eq!(
        generic,
        "spec.args.binary: BINARY not found in the target's filesystem"
    );
    for escape in [
        "/bin/pid1",
        "/bin/absolute",
        "/bin/up",
        "/usr/bin/bash",
        "/../usr/bin/bash",
    ] {
        assert_eq!(refusal(escape), generic, "{escape}");
    }
    let inside = Job::start(&in_containers("/bin/bash"), targets).expect("the image's own bash");
    inside.stop().unwrap();

    let empty = TestCgroup::new();
    let error = Job::start(
        &in_containers("/bin/bash"),
        std::slice::from_ref(&empty.target),
    )
    .expect_err("no process: no root to look in")
    .to_string();
    assert!(error.contains("no process runs"), "{error}");
    drop(_container);
    let _ = std::fs::remove_dir_all(&root);
}
