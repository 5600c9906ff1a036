//! Running the real `tracejob` binary as a user would.

#![allow(dead_code, reason = "each test target uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn tracejob() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tracejob"))
}

/// The `workload` example, built by `cargo test` next to the test binaries.
pub fn workload() -> PathBuf {
    let deps = std::env::current_exe().expect("test binary path");
    let path = deps
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir")
        .join("examples/workload");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test` (it builds the examples)",
        path.display()
    );
    path
}

pub fn manifest(tool: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(format!("{tool}.yaml"))
}

#[allow(unused_imports, reason = "not every test target traces")]
pub use tracejob_testkit::can_trace;

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parses JSON Lines output and checks its shape: events first, exactly one summary last.
pub fn json_lines(output: &Output) -> (Vec<serde_json::Value>, serde_json::Value) {
    let lines: Vec<serde_json::Value> = stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let (last, events) = lines.split_last().expect("at least the summary line");
    assert_eq!(last["type"], "summary", "the last line is the summary");
    assert!(
        events.iter().all(|e| e["type"] == "event"),
        "only events before the summary"
    );
    (events.to_vec(), last.clone())
}

pub fn unique_path(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "/tmp/tracejob-cli-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The v2 hierarchy's mount point, for checking what a run left behind.
pub fn cgroup_root() -> PathBuf {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    mountinfo
        .lines()
        .find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split_whitespace().nth(4)?;
            (right.split_whitespace().next()? == "cgroup2").then(|| PathBuf::from(mount_point))
        })
        .expect("a cgroup2 mount")
}

/// The events of an --output DIR (`events.jsonl.gz`), checked against its `manifest.json`:
/// the line count and the file's size and SHA-256 are what the manifest says.
pub fn output_events(dir: &Path) -> String {
    use sha2::Digest;
    use std::io::Read;
    let compressed = std::fs::read(dir.join("events.jsonl.gz")).expect("events.jsonl.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .read_to_string(&mut text)
        .expect("events.jsonl.gz is gzip");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest.json"))
            .expect("manifest.json is JSON");
    let entry = manifest["artifacts"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["name"] == "events.jsonl.gz"))
        .expect("the manifest lists events.jsonl.gz");
    assert_eq!(entry["counts"]["events"], text.lines().count() as u64);
    assert_eq!(entry["bytes"], compressed.len() as u64);
    let sha: String = sha2::Sha256::digest(&compressed)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(entry["sha256"], sha);
    text
}
