//! The Helm chart runs the agent as root with only the capabilities its values list
//! (`agent.capabilities`, plus SYS_ADMIN while `agent.uprobes` is true). This runs the same
//! engine, through `tracejob run --cgroup`, with exactly that set as its bounding set and
//! no new privileges, as the container gets it, and checks each tool still delivers
//! what needs the capability: a capability dropped from the chart, or a kernel that
//! demands one more, fails here rather than on a user's node.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use support::*;
use tracejob_testkit::can_run;

/// The capabilities the chart's default values give the agent container.
fn chart_capabilities() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/tracejob/values.yaml");
    let values: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let agent = &values["agent"];
    let mut caps: Vec<String> = agent["capabilities"]
        .as_sequence()
        .expect("agent.capabilities is a list")
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    if agent["uprobes"].as_bool() == Some(true) && !caps.iter().any(|c| c == "SYS_ADMIN") {
        caps.push("SYS_ADMIN".into());
    }
    caps
}

/// A cgroup v2 directory with a shell loop in it that opens a file, execs, resolves a
/// host name through libc and spins in user space and in the kernel; removed on drop.
struct Workload {
    cgroup: PathBuf,
    marker: String,
    child: Child,
}

impl Workload {
    fn start() -> Workload {
        let marker = unique_path("chart-caps");
        let cgroup = cgroup_root().join(Path::new(&marker).file_name().unwrap());
        std::fs::create_dir(&cgroup).unwrap();
        std::fs::write(&marker, "x").unwrap();
        let script = format!(
            "echo $$ > {procs}; trap 'exit 0' TERM; while :; do cat {marker} > /dev/null; \
             /bin/true; getent ahosts localhost > /dev/null; head -c 100000 /proc/kallsyms > /dev/null; \
             i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; done",
            procs = cgroup.join("cgroup.procs").display()
        );
        let child = Command::new("sh").args(["-c", &script]).spawn().unwrap();
        // The loop is in the cgroup once cgroup.procs lists it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !std::fs::read_to_string(cgroup.join("cgroup.procs"))
            .unwrap()
            .contains(&child.id().to_string())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the workload never joined its cgroup"
            );
            std::thread::yield_now();
        }
        Workload {
            cgroup,
            marker,
            child,
        }
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir(&self.cgroup);
        let _ = std::fs::remove_file(&self.marker);
    }
}

/// `tracejob run examples/<name>.yaml --cgroup <workload>` as root holding only `caps`.
fn run_with(caps: &[String], name: &str, workload: &Workload) -> Output {
    let bounding = std::iter::once("-all".to_owned())
        .chain(caps.iter().map(|c| format!("+{}", c.to_lowercase())))
        .collect::<Vec<_>>()
        .join(",");
    Command::new("setpriv")
        .args([
            "--bounding-set",
            &bounding,
            "--inh-caps=-all",
            "--no-new-privs",
            "--",
        ])
        .arg(env!("CARGO_BIN_EXE_tracejob"))
        .args(["run", manifest(name).to_str().unwrap()])
        .args(["--cgroup", workload.cgroup.to_str().unwrap()])
        .args(["--duration", "2s", "--format", "json"])
        .output()
        .expect("run setpriv (util-linux)")
}

fn summary(caps: &[String], name: &str, workload: &Workload) -> serde_json::Value {
    let output = run_with(caps, name, workload);
    assert!(
        output.status.success(),
        "{name} with only {caps:?}: {}",
        stderr(&output)
    );
    json_lines(&output).1
}

fn count_where(rows: &serde_json::Value, field: &str, value: &str) -> u64 {
    rows.as_array()
        .unwrap()
        .iter()
        .filter(|row| row[field].as_str().is_some_and(|v| v.ends_with(value)))
        .map(|row| row["count"].as_u64().unwrap())
        .sum()
}

#[test]
fn every_tool_works_with_only_the_capabilities_the_chart_grants_the_agent() {
    if !can_trace("chart capabilities")
        || !can_run(
            "chart capabilities",
            Command::new("setpriv")
                .arg("--version")
                .output()
                .is_err()
                .then_some("needs setpriv (util-linux)"),
        )
    {
        return;
    }
    let caps = chart_capabilities();
    let workload = Workload::start();

    let syscalls = summary(&caps, "syscalls", &workload);
    assert!(
        count_where(&syscalls["syscalls"], "name", "openat") > 0,
        "syscalls: {syscalls:#}"
    );
    let opens = summary(&caps, "open", &workload);
    assert!(
        count_where(&opens["opens"], "path", &workload.marker) > 0,
        "open: {opens:#}"
    );
    let execs = summary(&caps, "exec", &workload);
    assert!(
        count_where(&execs["execs"], "filename", "/true") > 0,
        "exec: {execs:#}"
    );
    let runqlat = summary(&caps, "runqlat", &workload);
    assert!(
        runqlat["runqueue"]["count"].as_u64().unwrap() > 0,
        "runqlat: {runqlat:#}"
    );
    // uprobe needs SYS_PTRACE (the target's /proc/<pid>/root) and, on 6.x kernels,
    // SYS_ADMIN for the uprobe perf event.
    let uprobe = summary(&caps, "uprobe-getaddrinfo", &workload);
    assert!(
        count_where(&uprobe["functions"], "function", "getaddrinfo") > 0,
        "uprobe: {uprobe:#}"
    );
    // Kernel frames carry names only with SYSLOG (kallsyms addresses).
    let profile = summary(&caps, "profile", &workload);
    let kernel: Vec<&str> = profile["functions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kernel"] == true)
        .map(|f| f["function"].as_str().unwrap())
        .collect();
    assert!(
        !kernel.is_empty(),
        "profile saw no kernel frames: {profile:#}"
    );
    assert!(
        kernel.iter().all(|f| !f.starts_with("0x")),
        "kernel frames without names (kallsyms hidden): {kernel:?}"
    );
}
