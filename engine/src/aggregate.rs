//! Per-key counts of events (execs by filename, opens by path), bounded in memory:
//! past `max_keys` distinct keys, new keys are folded into one overflow row.

use std::collections::HashMap;

use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub count: u64,
    pub errors: u64,
    /// Bytes the counted events carried in and out (tcp), else 0.
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Clone, Debug)]
pub struct KeyedCounts {
    rows: HashMap<String, Counts>,
    max_keys: usize,
    overflow: Counts,
}

impl KeyedCounts {
    pub fn new(max_keys: usize) -> Self {
        KeyedCounts {
            rows: HashMap::new(),
            max_keys,
            overflow: Counts::default(),
        }
    }

    pub fn add(&mut self, key: &str, failed: bool, (bytes_in, bytes_out): (u64, u64)) {
        let room = self.rows.len() < self.max_keys;
        let counts = if let Some(counts) = self.rows.get_mut(key) {
            counts
        } else if room {
            self.rows.entry(key.to_owned()).or_default()
        } else {
            &mut self.overflow
        };
        counts.count += 1;
        counts.errors += u64::from(failed);
        counts.bytes_in += bytes_in;
        counts.bytes_out += bytes_out;
    }

    /// Rows by descending count (ties by key), then the overflow row if any.
    pub fn sorted(&self) -> Vec<(String, Counts)> {
        let mut rows: Vec<(String, Counts)> =
            self.rows.iter().map(|(k, v)| (k.clone(), *v)).collect();
        rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
        if self.overflow.count > 0 {
            rows.push((
                format!("(other: more than {} distinct)", self.max_keys),
                self.overflow,
            ));
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_sorted_by_frequency_then_name() {
        let mut counts = KeyedCounts::new(10);
        for key in ["b", "a", "b", "c", "a", "b"] {
            counts.add(key, key == "c", (0, 0));
        }
        let rows = counts.sorted();
        let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        assert_eq!(
            rows[2].1,
            Counts {
                count: 1,
                errors: 1,
                ..Counts::default()
            }
        );
    }

    #[test]
    fn keys_past_the_bound_are_counted_in_one_overflow_row() {
        let mut counts = KeyedCounts::new(2);
        for key in ["a", "b", "c", "d", "a"] {
            counts.add(key, false, (0, 0));
        }
        let rows = counts.sorted();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2].1.count, 2, "c and d are folded together");
        assert_eq!(
            rows.iter().map(|(_, c)| c.count).sum::<u64>(),
            5,
            "nothing is dropped"
        );
    }
}
