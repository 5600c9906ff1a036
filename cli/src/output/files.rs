//! --output DIR: events.jsonl as events arrive, summary.json and the tool's artifacts
//! (e.g. profile.folded and profile.svg) at the end.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use tracejob_node_agent::records::Event;

use super::{FinalSummary, Output, event_line};

#[derive(Debug)]
pub struct FilesOutput {
    tool: String,
    events: BufWriter<File>,
    dir: std::path::PathBuf,
}

impl FilesOutput {
    pub fn create(dir: &Path, tool: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output directory {}", dir.display()))?;
        let events_path = dir.join("events.jsonl");
        let events = File::create(&events_path)
            .with_context(|| format!("cannot write {}", events_path.display()))?;
        Ok(FilesOutput {
            tool: tool.to_owned(),
            events: BufWriter::new(events),
            dir: dir.to_owned(),
        })
    }
}

impl Output for FilesOutput {
    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        writeln!(self.events, "{}", event_line(&self.tool, event)?)
    }

    fn summary(&mut self, summary: &FinalSummary<'_>) -> std::io::Result<()> {
        self.events.flush()?;
        let mut file = BufWriter::new(File::create(self.dir.join("summary.json"))?);
        serde_json::to_writer_pretty(&mut file, summary)?;
        writeln!(file)?;
        file.flush()?;
        for artifact in summary.summary.artifacts() {
            std::fs::write(self.dir.join(&artifact.name), &artifact.bytes)?;
        }
        Ok(())
    }
}
