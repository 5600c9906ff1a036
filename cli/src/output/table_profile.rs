//! The profile summary as a table: the top functions by self samples (perf report's
//! "Self" and "Children" columns).

use std::io::Write;

use tracejob_engine::summary::FunctionRow;

use super::shown::shown;

/// Rows shown; the JSON output and the folded stacks have every function and stack.
const TOP_FUNCTIONS: usize = 20;

pub fn write(
    out: &mut impl Write,
    samples: u64,
    frequency_hz: u32,
    functions: &[FunctionRow],
) -> std::io::Result<()> {
    writeln!(out, "{samples} on-CPU samples at {frequency_hz} Hz")?;
    if samples == 0 {
        return Ok(());
    }
    writeln!(
        out,
        "{:>8} {:>7} {:>8} {:>7}  FUNCTION",
        "SELF", "%SELF", "TOTAL", "%TOTAL"
    )?;
    let share = |n: u64| 100.0 * n as f64 / samples as f64;
    for row in functions.iter().take(TOP_FUNCTIONS) {
        writeln!(
            out,
            "{:>8} {:>6.1}% {:>8} {:>6.1}%  {}{}",
            row.self_samples,
            share(row.self_samples),
            row.total_samples,
            share(row.total_samples),
            shown(&row.function),
            if row.kernel { " [kernel]" } else { "" }
        )?;
    }
    writeln!(
        out,
        "every stack: --format json, or --output DIR for profile.folded and the flame graph profile.svg"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_are_listed_with_their_share_of_the_samples() {
        let rows = [FunctionRow {
            function: "spin".into(),
            kernel: false,
            self_samples: 3,
            total_samples: 4,
        }];
        let mut out = Vec::new();
        write(&mut out, 4, 99, &rows).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("4 on-CPU samples at 99 Hz\n"), "{text}");
        assert!(
            text.contains("       3   75.0%        4  100.0%  spin\n"),
            "{text}"
        );
    }
}
