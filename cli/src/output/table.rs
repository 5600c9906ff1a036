//! --format table: live events, then a summary people read (strace -c style for syscalls).

use std::io::{BufWriter, Stdout, Write};

use tracejob_engine::records::EventLine;
use tracejob_engine::summary::{SyscallRow, ToolSummary};

use super::shown::shown;
use super::{FinalSummary, Output, event_lines, histogram};

/// Rows of a per-key summary shown before pointing at the JSON output for the rest.
const TOP_ROWS: usize = 20;

#[derive(Debug)]
pub struct TableOutput {
    out: BufWriter<Stdout>,
    header_printed: bool,
}

impl TableOutput {
    pub fn new() -> Self {
        TableOutput {
            out: BufWriter::new(std::io::stdout()),
            header_printed: false,
        }
    }
}

impl Output for TableOutput {
    fn event(&mut self, line: &EventLine) -> std::io::Result<()> {
        if !self.header_printed {
            writeln!(self.out, "{}", event_lines::header(&line.event))?;
            self.header_printed = true;
        }
        writeln!(self.out, "{}", event_lines::line(&line.event))?;
        self.out.flush()
    }

    fn summary(&mut self, final_summary: &FinalSummary<'_>) -> std::io::Result<()> {
        let summary = final_summary.summary;
        let out = &mut self.out;
        writeln!(out)?;
        writeln!(
            out,
            "{} via {} for {:.2} s: {} events, {} lost{}",
            summary.tool,
            summary.probe,
            summary.duration_ms as f64 / 1000.0,
            summary.events,
            summary.lost,
            if summary.lost > 0 {
                format!(
                    " ({} dropped by the kernel's full ring buffer, {} by a slow consumer)",
                    summary.lost_kernel, summary.lost_user
                )
            } else {
                String::new()
            }
        )?;
        if final_summary.events_not_kept > 0 {
            writeln!(
                out,
                "{} events counted but not shown: spec.output.maxEvents reached",
                final_summary.events_not_kept
            )?;
        }
        match &summary.details {
            ToolSummary::Syscalls { syscalls } => syscalls_table(out, syscalls)?,
            ToolSummary::Exec { execs } => keyed_table(
                out,
                "FILENAME",
                execs
                    .iter()
                    .map(|r| (r.count, r.errors, r.filename.as_str())),
            )?,
            ToolSummary::Open { opens } => keyed_table(
                out,
                "PATH",
                opens.iter().map(|r| (r.count, r.errors, r.path.as_str())),
            )?,
            ToolSummary::Runqlat { runqueue } => {
                histogram::print(out, "run-queue latency", runqueue)?
            }
            ToolSummary::Tcp { connections, peers } => {
                writeln!(out, "{connections} connections closed")?;
                writeln!(
                    out,
                    "{:<8} {:<40} {:>8} {:>8} {:>12} {:>12}",
                    "DIR", "PEER", "CONNS", "FAILED", "RX_BYTES", "TX_BYTES"
                )?;
                for row in peers.iter().take(TOP_ROWS) {
                    writeln!(
                        out,
                        "{:<8} {:<40} {:>8} {:>8} {:>12} {:>12}",
                        row.direction,
                        shown(&row.peer),
                        row.connections,
                        row.failed,
                        row.rx_bytes,
                        row.tx_bytes
                    )?;
                }
            }
            ToolSummary::Blockio { devices } => {
                for device in devices {
                    let title = format!(
                        "{} ({}), {} errors",
                        shown(&device.device),
                        device.major_minor,
                        device.errors
                    );
                    histogram::print(out, &title, &device.latency)?;
                }
            }
            ToolSummary::Profile {
                samples,
                frequency_hz,
                functions,
                ..
            } => super::table_profile::write(out, *samples, *frequency_hz, functions)?,
            ToolSummary::Calls { functions } => {
                for function in functions {
                    let title = format!(
                        "{} in {}",
                        shown(&function.function),
                        shown(&function.binary)
                    );
                    histogram::print(out, &title, &function.latency)?;
                }
            }
        }
        out.flush()
    }
}

fn syscalls_table(out: &mut impl Write, rows: &[SyscallRow]) -> std::io::Result<()> {
    let total_ns: u64 = rows.iter().map(|r| r.latency.total_ns).sum();
    writeln!(
        out,
        "{:>6} {:>11} {:>11} {:>10} {:>8} {:>9} {:>9}  syscall",
        "% time", "seconds", "usecs/call", "calls", "errors", "p50 us<", "p99 us<"
    )?;
    writeln!(out, "{}", "-".repeat(6 + 12 + 12 + 11 + 9 + 10 + 10 + 10))?;
    for row in rows {
        let share = if total_ns == 0 {
            0.0
        } else {
            100.0 * row.latency.total_ns as f64 / total_ns as f64
        };
        writeln!(
            out,
            "{:>6.2} {:>11.6} {:>11} {:>10} {:>8} {:>9} {:>9}  {}",
            share,
            row.latency.total_ns as f64 / 1e9,
            row.latency.avg_ns / 1000,
            row.latency.count,
            if row.errors > 0 {
                row.errors.to_string()
            } else {
                String::new()
            },
            micros(row.latency.p50_ns),
            micros(row.latency.p99_ns),
            row.name
        )?;
    }
    let calls: u64 = rows.iter().map(|r| r.latency.count).sum();
    let errors: u64 = rows.iter().map(|r| r.errors).sum();
    writeln!(out, "{}", "-".repeat(6 + 12 + 12 + 11 + 9 + 10 + 10 + 10))?;
    writeln!(
        out,
        "{:>6} {:>11.6} {:>11} {:>10} {:>8} {:>9} {:>9}  total",
        "100.00",
        total_ns as f64 / 1e9,
        "",
        calls,
        errors,
        "",
        ""
    )
}

fn keyed_table<'a>(
    out: &mut impl Write,
    key: &str,
    rows: impl ExactSizeIterator<Item = (u64, u64, &'a str)>,
) -> std::io::Result<()> {
    let total = rows.len();
    writeln!(out, "{:>10} {:>8}  {key}", "COUNT", "ERRORS")?;
    for (count, errors, name) in rows.take(TOP_ROWS) {
        writeln!(out, "{count:>10} {errors:>8}  {}", shown(name))?;
    }
    if total > TOP_ROWS {
        writeln!(
            out,
            "... {} more (all of them with --format json or --output DIR)",
            total - TOP_ROWS
        )?;
    }
    Ok(())
}

fn micros(ns: u64) -> String {
    if ns == 0 {
        String::new()
    } else {
        format!("{:.1}", ns as f64 / 1000.0)
    }
}
