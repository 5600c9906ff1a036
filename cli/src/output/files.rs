//! --output DIR: the layout the operator writes to object storage, locally —
//! `events.jsonl.gz` as events arrive, then `summary.json`, the tool's own artifacts (e.g.
//! profile.folded and profile.svg) and `manifest.json` with each file's size, SHA-256 and
//! counts.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use flate2::Compression;
use flate2::write::GzEncoder;
use tracejob_engine::records::EventLine;
use tracejob_storage::{HashingWriter, Manifest, ManifestEntry, layout};

use super::{FinalSummary, Output};

type EventsFile = GzEncoder<HashingWriter<BufWriter<File>>>;

#[derive(Debug)]
pub struct FilesOutput {
    tool: String,
    events: Option<EventsFile>,
    lines: u64,
    dir: PathBuf,
}

impl FilesOutput {
    pub fn create(dir: &Path, tool: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output directory {}", dir.display()))?;
        let events_path = dir.join(layout::EVENTS);
        let events = File::create(&events_path)
            .with_context(|| format!("cannot write {}", events_path.display()))?;
        Ok(FilesOutput {
            tool: tool.to_owned(),
            events: Some(GzEncoder::new(
                HashingWriter::new(BufWriter::new(events)),
                Compression::default(),
            )),
            lines: 0,
            dir: dir.to_owned(),
        })
    }

    /// Writes `bytes` to `name`, returning its manifest entry.
    fn write_file(
        &self,
        name: &str,
        bytes: &[u8],
        counts: BTreeMap<String, u64>,
    ) -> std::io::Result<ManifestEntry> {
        let mut file = HashingWriter::new(BufWriter::new(File::create(self.dir.join(name))?));
        file.write_all(bytes)?;
        let (mut inner, bytes, sha256) = file.finish();
        inner.flush()?;
        Ok(ManifestEntry {
            name: name.to_owned(),
            bytes,
            sha256,
            counts,
        })
    }
}

impl Output for FilesOutput {
    fn event(&mut self, event: &EventLine) -> std::io::Result<()> {
        if let Some(events) = &mut self.events {
            // The same line as the operator's events.jsonl.gz.
            writeln!(events, "{}", serde_json::to_string(event)?)?;
            self.lines += 1;
        }
        Ok(())
    }

    fn summary(&mut self, summary: &FinalSummary<'_>) -> std::io::Result<()> {
        let mut manifest = Manifest::new(&self.tool);
        if let Some(events) = self.events.take() {
            let (mut file, bytes, sha256) = events.finish()?.finish();
            file.flush()?;
            manifest.artifacts.push(ManifestEntry {
                name: layout::EVENTS.to_owned(),
                bytes,
                sha256,
                counts: BTreeMap::from([("events".to_owned(), self.lines)]),
            });
        }
        let mut json = serde_json::to_vec_pretty(summary)?;
        json.push(b'\n');
        let counts = BTreeMap::from([
            ("events".to_owned(), summary.summary.events),
            ("lost".to_owned(), summary.summary.lost),
        ]);
        manifest
            .artifacts
            .push(self.write_file(layout::SUMMARY, &json, counts)?);
        for artifact in tracejob_engine::artifacts::of(summary.summary) {
            manifest.artifacts.push(self.write_file(
                &artifact.name,
                &artifact.bytes,
                BTreeMap::new(),
            )?);
        }
        let mut json = serde_json::to_vec_pretty(&manifest)?;
        json.push(b'\n');
        std::fs::write(self.dir.join(layout::MANIFEST), json)
    }
}
