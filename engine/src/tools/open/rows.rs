//! The `open` summary's rows: one per path.

use crate::aggregate::Counts;
use crate::summary::OpenRow;

pub fn from_counts((path, counts): (String, Counts)) -> OpenRow {
    OpenRow {
        path,
        count: counts.count,
        errors: counts.errors,
    }
}
