//! The `exec` summary's rows: one per executable.

use crate::aggregate::Counts;
use crate::summary::ExecRow;

pub fn from_counts((filename, counts): (String, Counts)) -> ExecRow {
    ExecRow {
        filename,
        count: counts.count,
        errors: counts.errors,
    }
}
