//! Where results go: the terminal (table or JSON Lines) and, with --output, files.

pub(crate) mod event_lines;
mod files;
mod histogram;
mod json;
pub(crate) mod shown;
mod table;
mod table_profile;

use serde::Serialize;
use tracejob_engine::records::EventLine;
use tracejob_engine::summary::Summary;

pub use files::FilesOutput;
pub use json::JsonOutput;
pub use table::TableOutput;

/// The summary as every output writes it: the engine's summary, plus what this run
/// chose not to keep.
#[derive(Debug, Serialize)]
pub struct FinalSummary<'a> {
    #[serde(flatten)]
    pub summary: &'a Summary,
    /// Events read but not printed or written because spec.output.maxEvents was reached.
    #[serde(skip_serializing_if = "is_zero")]
    pub events_not_kept: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

pub trait Output {
    fn event(&mut self, event: &EventLine) -> std::io::Result<()>;
    fn summary(&mut self, summary: &FinalSummary<'_>) -> std::io::Result<()>;
}

/// One JSON Lines record of standard output, where events and the summary mix:
/// `{"type": ..., ...fields}`.
#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool: Option<&'a str>,
    #[serde(flatten)]
    body: &'a T,
}

/// `{"type":"event", ...the event line}`: the event line names the tool and where the
/// event came from.
pub fn event_line(event: &EventLine) -> serde_json::Result<String> {
    serde_json::to_string(&Line {
        kind: "event",
        tool: None,
        body: event,
    })
}

pub fn summary_line(summary: &FinalSummary<'_>) -> serde_json::Result<String> {
    serde_json::to_string(&Line {
        kind: "summary",
        tool: None,
        body: summary,
    })
}
