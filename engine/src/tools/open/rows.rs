//! The `open` summary's rows: one per path.

use serde::Serialize;

use crate::aggregate::Counts;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpenRow {
    pub path: String,
    pub count: u64,
    pub errors: u64,
}

impl OpenRow {
    pub fn from_counts((path, counts): (String, Counts)) -> Self {
        OpenRow {
            path,
            count: counts.count,
            errors: counts.errors,
        }
    }
}
