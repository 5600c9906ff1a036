//! The `exec` summary's rows: one per executable.

use serde::Serialize;

use crate::aggregate::Counts;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExecRow {
    pub filename: String,
    pub count: u64,
    /// Execs that returned an error.
    pub errors: u64,
}

impl ExecRow {
    pub fn from_counts((filename, counts): (String, Counts)) -> Self {
        ExecRow {
            filename,
            count: counts.count,
            errors: counts.errors,
        }
    }
}
