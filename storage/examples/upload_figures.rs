//! Figures for the artifact writer: streams N synthetic event lines (about 120 bytes each,
//! varied so gzip cannot cheat) into `events.jsonl.gz` on a Garage S3 server it starts, and
//! prints time, sizes and the process's peak resident memory before and after — which should
//! not grow with N.
//!
//! `cargo run -p tracejob-storage --example upload_figures -- 2000000`

use std::collections::BTreeMap;
use std::time::Instant;

use tracejob_storage::{Credentials, Location, Store};
use tracejob_testkit::garage::{BUCKET, Garage};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let lines: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let garage = Garage::start();
    let store = Store::open(
        &Location::parse(&format!("s3://{BUCKET}/figures")).expect("url"),
        &Credentials::new(garage.credentials()),
    )
    .expect("open");
    let before = peak_rss_kib();
    let started = Instant::now();
    let mut writer = store.writer("events.jsonl.gz", true);
    let mut seed = 1u64;
    let mut raw = 0u64;
    for i in 0..lines {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let line = format!(
            r#"{{"node":"node-a","pid":{},"comm":"worker","path":"/var/lib/app/{:08x}.dat","flags":"O_RDONLY","ret":{}}}"#,
            seed % 32768,
            seed >> 32,
            i % 64
        );
        raw += line.len() as u64 + 1;
        writer.write_line(line.as_bytes()).await.expect("write");
    }
    let entry = writer
        .finish(BTreeMap::from([("events".to_owned(), lines)]))
        .await
        .expect("finish");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{lines} events, {:.1} MiB raw, {:.1} MiB gzip, {seconds:.1} s ({:.0} events/s), peak RSS {} MiB before, {} MiB after",
        raw as f64 / 1048576.0,
        entry.bytes as f64 / 1048576.0,
        lines as f64 / seconds,
        before / 1024,
        peak_rss_kib() / 1024
    );
}
