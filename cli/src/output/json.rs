//! --format json: JSON Lines on standard output.

use std::io::{BufWriter, Stdout, Write};

use tracejob_engine::records::EventLine;

use super::{FinalSummary, Output, event_line, summary_line};

#[derive(Debug)]
pub struct JsonOutput {
    out: BufWriter<Stdout>,
}

impl JsonOutput {
    pub fn new() -> Self {
        JsonOutput {
            out: BufWriter::new(std::io::stdout()),
        }
    }
}

impl Output for JsonOutput {
    fn event(&mut self, event: &EventLine) -> std::io::Result<()> {
        writeln!(self.out, "{}", event_line(event)?)
    }

    fn summary(&mut self, summary: &FinalSummary<'_>) -> std::io::Result<()> {
        writeln!(self.out, "{}", summary_line(summary)?)?;
        self.out.flush()
    }
}
