//! Loaders kept for the process's life. aya 0.14's `EbpfLoader::new()` parses the kernel's
//! BTF every time (8-20 ms, and megabytes of heap churn); a long-lived agent starting job
//! after job should pay that once. One loader per program object and set of global names:
//! each job then overwrites every global the loader holds, so no value leaks from one job
//! into the next.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use aya::{Ebpf, EbpfError, EbpfLoader};

type Key = (usize, Vec<&'static str>);
type Shared = Arc<Mutex<EbpfLoader<'static>>>;

/// Loads `object` with `globals` set and the `events` ring buffer sized `ring_bytes`.
pub fn load(
    object: &'static [u8],
    globals: &[(&'static str, u32)],
    ring_bytes: u32,
) -> Result<Ebpf, EbpfError> {
    let loader = shared(object, globals);
    let mut loader = loader.lock().unwrap_or_else(PoisonError::into_inner);
    loader.map_max_entries("events", ring_bytes);
    for &(name, value) in globals {
        loader.override_global(name, interned(value), true);
    }
    loader.load(object)
}

fn shared(object: &'static [u8], globals: &[(&'static str, u32)]) -> Shared {
    static LOADERS: OnceLock<Mutex<HashMap<Key, Shared>>> = OnceLock::new();
    let mut names: Vec<&'static str> = globals.iter().map(|&(name, _)| name).collect();
    names.sort_unstable();
    let key = (object.as_ptr() as usize, names);
    let mut loaders = LOADERS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    loaders
        .entry(key)
        .or_insert_with(|| {
            let mut loader = EbpfLoader::new();
            // The parse `new()` just did is dropped; loads relocate against the one kept.
            loader.btf(crate::btf::kernel().ok());
            Arc::new(Mutex::new(loader))
        })
        .clone()
}

/// A global's bytes for the 'static loaders: one small allocation per distinct value,
/// kept (globals are flags and small settings, so the set stays small).
fn interned(value: u32) -> &'static [u8] {
    static VALUES: OnceLock<Mutex<HashMap<u32, &'static [u8]>>> = OnceLock::new();
    let mut values = VALUES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    values
        .entry(value)
        .or_insert_with(|| Box::leak(Box::new(value.to_ne_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_bytes_and_keep_their_value() {
        let one = interned(1);
        assert_eq!(one, 1u32.to_ne_bytes());
        assert!(std::ptr::eq(one, interned(1)));
        assert_eq!(interned(7), 7u32.to_ne_bytes());
    }
}
