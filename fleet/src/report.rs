//! `bench/results/fleet.md`: the figures of every fleet size, and each goal of issue #14
//! marked met or not, by how much.

use std::fmt::Write as _;
use std::time::Duration;

use crate::scenarios::{Churn, Events, Level, Soak, Window};

/// Everything measured at one fleet size.
#[derive(Clone, Debug, Default)]
pub struct SizeRun {
    pub nodes: usize,
    pub pods_per_node: usize,
    pub setup_seconds: f64,
    pub idle: Option<Window>,
    pub events: Option<Events>,
    pub churn: Option<Churn>,
    pub levels: Vec<Level>,
    pub soak: Option<Soak>,
    /// Why the operator exited, each time it did (the harness started it again).
    pub operator_restarts: Vec<String>,
    /// Scenarios that failed, with why.
    pub errors: Vec<String>,
}

/// How the run was made, for the header.
#[derive(Clone, Debug, Default)]
pub struct Header {
    pub command: String,
    pub date: String,
    pub machine: String,
    pub soak_seconds: u64,
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("–".to_owned(), |d| format!("{} ms", d.as_millis()))
}

/// Status writes per job per second in a busy window.
fn writes_per_job(level: &Level) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "a job count")]
    let jobs = level.jobs.max(1) as f64;
    level.busy.per_second("PATCH", "tracejobs/status") / jobs
}

fn verdict(met: bool, how: String) -> String {
    if met {
        format!("**met** ({how})")
    } else {
        format!("**not met** ({how})")
    }
}

fn goals(out: &mut String, runs: &[SizeRun]) {
    let Some(largest) = runs.iter().max_by_key(|r| r.nodes) else {
        return;
    };
    let n = largest.nodes;
    let _ = writeln!(out, "## Goals (largest fleet measured: {n} nodes)\n");
    let _ = writeln!(out, "| goal | target | measured | verdict |");
    let _ = writeln!(out, "| --- | --- | --- | --- |");
    let first = largest.levels.iter().find(|l| l.jobs == 1);
    if let Some(p99) = first.and_then(|l| l.start_p99) {
        let target = Duration::from_secs(2);
        let _ = writeln!(
            out,
            "| apply → all {n} nodes started, p99 | ≤ 2 s | {} | {} |",
            ms(Some(p99)),
            verdict(
                p99 <= target,
                format!("{:.2}× the target", p99.as_secs_f64() / 2.0)
            )
        );
    }
    let pod = largest.levels.iter().filter_map(|l| l.pod_p99).max();
    if let Some(p99) = pod {
        let _ = writeln!(
            out,
            "| new pod → traced, p99 (worst level) | ≤ 1 s | {} | {} |",
            ms(Some(p99)),
            verdict(
                p99 <= Duration::from_secs(1),
                format!("{:.2}× the target", p99.as_secs_f64())
            )
        );
    }
    if let Some(level) = largest.levels.iter().max_by_key(|l| l.jobs) {
        let rss = level
            .busy
            .rss_mib
            .max(largest.soak.as_ref().map_or(0.0, |s| s.max_mib));
        let _ = writeln!(
            out,
            "| operator memory at {n} nodes × {} jobs | ≤ 256 MiB | {rss:.0} MiB | {} |",
            level.jobs,
            verdict(
                rss <= 256.0,
                format!("{:.0} % of the bound", rss / 256.0 * 100.0)
            )
        );
    }
    let writes = largest
        .levels
        .iter()
        .map(writes_per_job)
        .fold(0.0, f64::max);
    if !largest.levels.is_empty() {
        let _ = writeln!(
            out,
            "| status writes per job per second (worst level) | ≤ 1 | {writes:.2} | {} |",
            verdict(
                writes <= 1.0,
                format!("{:.0} % of the bound", writes * 100.0)
            )
        );
    }
    if let Some(events) = runs
        .iter()
        .filter_map(|r| r.events.as_ref())
        .max_by(|a, b| a.merged_per_second.total_cmp(&b.merged_per_second))
    {
        let lost = loss(events);
        let _ = writeln!(
            out,
            "| events merged into storage (best size), zero loss | ≥ 200,000/s | {:.0}/s merged ({:.0}/s read off the streams), {lost} lost | {} |",
            events.merged_per_second,
            events.read_per_second,
            verdict(
                events.merged_per_second >= 200_000.0 && lost == 0,
                format!("{:.1} % of the rate", events.merged_per_second / 2000.0)
            )
        );
    }
    out.push('\n');
}

/// Events produced but not stored once, or reported lost, or stored twice.
fn loss(events: &Events) -> u64 {
    events.produced.saturating_sub(events.stored_distinct) + events.status_lost + events.duplicates
}

fn window_table(out: &mut String, label: &str, window: &Window) {
    let mut rows: Vec<(&(String, String), &f64)> = window.requests.iter().collect();
    rows.sort_by(|a, b| b.1.total_cmp(a.1));
    let line = rows
        .iter()
        .take(8)
        .map(|((verb, resource), n)| {
            format!("{verb} {resource} {:.1}/s", *n / window.seconds.max(1e-9))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "- {label} ({:.0} s): operator RSS {:.0} MiB, CPU {:.2} cores; API requests: {}",
        window.seconds,
        window.rss_mib,
        window.cpu_cores,
        if line.is_empty() {
            "none".to_owned()
        } else {
            line
        }
    );
}

fn size(out: &mut String, run: &SizeRun) {
    let _ = writeln!(
        out,
        "## {} nodes × {} pods ({} pods)\n",
        run.nodes,
        run.pods_per_node,
        run.nodes * run.pods_per_node
    );
    let _ = writeln!(
        out,
        "Fleet created (Nodes, Pods, agents, operator leading) in {:.0} s.\n",
        run.setup_seconds
    );
    if let Some(idle) = &run.idle {
        window_table(out, "idle, no job", idle);
    }
    if let Some(e) = &run.events {
        let _ = writeln!(
            out,
            "- events (1 job with a duration, every node): {} produced, {} stored once, {} stored twice, status events {} / lost {}; {:.0} events/s read off the streams, {:.0}/s apply → artifacts written ({:.1} s, {})",
            e.produced,
            e.stored_distinct,
            e.duplicates,
            e.status_events,
            e.status_lost,
            e.read_per_second,
            e.merged_per_second,
            e.seconds_to_succeeded,
            if e.succeeded {
                "Succeeded"
            } else {
                "did not succeed"
            }
        );
    }
    if let Some(c) = &run.churn {
        let _ = writeln!(
            out,
            "- churn ({} nodes deleted, {} pods replaced mid-job): job {} after {:.1} s; lost nodes named in NodeLost {}/{}, recorded Lost {}/{}; survivors with exact counts {}/{}, stored exactly once {}/{}; replacement pods traced {}/{}",
            c.nodes_lost,
            c.pods_replaced,
            if c.ended { "ended" } else { "did NOT end" },
            c.seconds_to_end,
            c.named,
            c.nodes_lost,
            c.recorded_lost,
            c.nodes_lost,
            c.survivors_exact,
            c.survivors,
            c.survivors_stored_once,
            c.survivors,
            c.replacements_traced,
            c.pods_replaced
        );
    }
    if !run.levels.is_empty() {
        let _ = writeln!(
            out,
            "\nStanding jobs (no duration, counts only), added level by level:\n"
        );
        let _ = writeln!(
            out,
            "| jobs | apply → node started p50 / p99 | jobs on every node | new pod → traced p50 / p99 | status writes/job/s | API requests/s (busy) | operator RSS | operator CPU |"
        );
        let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --- | --- |");
        for l in &run.levels {
            let total: f64 = l.busy.requests.values().sum::<f64>() / l.busy.seconds.max(1e-9);
            let _ = writeln!(
                out,
                "| {} | {} / {} | {}/{} | {} / {} ({}/{}) | {:.2} | {total:.0} | {:.0} MiB | {:.2} cores |",
                l.jobs,
                ms(l.start_p50),
                ms(l.start_p99),
                l.jobs_everywhere,
                l.jobs_applied,
                ms(l.pod_p50),
                ms(l.pod_p99),
                l.pods_traced,
                l.pods_added,
                writes_per_job(l),
                l.busy.rss_mib,
                l.busy.cpu_cores
            );
        }
        out.push('\n');
        for l in &run.levels {
            window_table(out, &format!("busy, {} standing jobs", l.jobs), &l.busy);
        }
    }
    if let Some(s) = &run.soak {
        let _ = writeln!(
            out,
            "- soak ({:.0} s with the standing jobs): RSS {:.0} → {:.0} MiB (max {:.0}), slope {} MiB/min",
            s.seconds,
            s.first_mib,
            s.last_mib,
            s.max_mib,
            s.slope_mib_per_minute
                .map_or("–".to_owned(), |v| format!("{v:+.2}"))
        );
    }
    if !run.operator_restarts.is_empty() {
        let _ = writeln!(
            out,
            "- **the operator exited {} times** (started again each time, as its Deployment would); last words: {}",
            run.operator_restarts.len(),
            run.operator_restarts
                .iter()
                .take(3)
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    for error in &run.errors {
        let _ = writeln!(out, "- **failed**: {error}");
    }
    out.push('\n');
}

pub fn render(header: &Header, runs: &[SizeRun]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Fleet simulation: the real operator driving simulated nodes (issue #14)\n"
    );
    let _ = writeln!(
        out,
        "Written by `{}` on {} ({}). The real `tracejob-operator` binary (default flags but \
         its agents at `https://{{node_ip}}:<port>` over mutual TLS, storage on a Garage S3 \
         server) against the real local kube-apiserver 1.20 with etcd, and one process \
         serving a simulated agent per node on the node's own loopback address. Everything \
         — API server, etcd, Garage, the operator and the simulated agents — shares the same \
         2 cores, so every rate here is a floor. API requests are the API server's own \
         `apiserver_request_total` (1.20 has no per-client label): Node and Pod writes and \
         TraceJob creates are the fleet's, everything else the operator's. Soak length: {} s.\n",
        header.command, header.date, header.machine, header.soak_seconds
    );
    goals(&mut out, runs);
    for run in runs {
        size(&mut out, run);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_start_and_a_write_storm_are_marked_not_met() {
        let busy = Window {
            seconds: 10.0,
            requests: [(("PATCH".to_owned(), "tracejobs/status".to_owned()), 300.0)].into(),
            rss_mib: 100.0,
            cpu_cores: 0.5,
        };
        let run = SizeRun {
            nodes: 50,
            pods_per_node: 20,
            levels: vec![Level {
                jobs: 1,
                start_p99: Some(Duration::from_secs(3)),
                busy,
                ..Level::default()
            }],
            ..SizeRun::default()
        };
        let text = render(&Header::default(), &[run]);
        assert!(
            text.contains("| ≤ 2 s | 3000 ms | **not met** (1.50× the target)"),
            "{text}"
        );
        assert!(text.contains("| ≤ 1 | 30.00 | **not met**"), "{text}");
        assert!(text.contains("| ≤ 256 MiB | 100 MiB | **met**"), "{text}");
    }
}
