//! The kernel's BTF and the loaders that relocate against it, kept between job starts.
//!
//! Parsing /sys/kernel/btf/vmlinux costs 8-20 ms and about 20 MiB of heap, and aya 0.14's
//! `EbpfLoader::new()` parses it again every time. A long-lived agent starting job after
//! job keeps one parse and one loader per program object; a process that has started
//! what it needs (the CLI), or an agent that has gone idle, calls [`release`] to give the
//! memory back.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use aya::programs::ProgramError;
use aya::{Btf, BtfError, Ebpf, EbpfError, EbpfLoader};

/// One loader per program object and set of global names: each job overwrites every
/// global its loader holds, so no value carries over from one job to the next.
type Key = (usize, Vec<&'static str>);

struct Kept {
    // Declared before `btf`, so dropped first: they borrow it.
    loaders: HashMap<Key, EbpfLoader<'static>>,
    /// A loader made while `btf` was parsed, for the first object loaded.
    spare: Option<EbpfLoader<'static>>,
    btf: Box<Btf>,
}

fn kept() -> MutexGuard<'static, Option<Kept>> {
    static KEPT: OnceLock<Mutex<Option<Kept>>> = OnceLock::new();
    KEPT.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

fn parsed(kept: &mut Option<Kept>) -> Result<&mut Kept, BtfError> {
    if kept.is_none() {
        // `EbpfLoader::new()` parses the BTF too: on another thread, at the same time as
        // the kept parse, so that a first start waits for one parse instead of two.
        let spare = std::thread::spawn(EbpfLoader::new);
        let btf = Btf::from_sys_fs();
        let spare = spare.join().ok();
        *kept = Some(Kept {
            loaders: HashMap::new(),
            spare,
            btf: Box::new(btf?),
        });
    }
    Ok(kept.as_mut().expect("just filled"))
}

/// Parses the kernel BTF now (on the caller's thread) so that the first [`load`] does not
/// wait for it: a one-shot process calls it on a thread of its own while it does its other
/// set-up.
pub fn prepare() {
    let _ = parsed(&mut kept());
}

/// Runs `f` with the running kernel's BTF (parsed on first use, kept until [`release`]).
pub fn with_kernel<R>(f: impl FnOnce(&Btf) -> R) -> Result<R, ProgramError> {
    let mut kept = kept();
    let kept = parsed(&mut kept).map_err(ProgramError::Btf)?;
    Ok(f(&kept.btf))
}

/// Loads `object` with `globals` (and `cgroup_walk`) set and the `events` ring buffer
/// sized `ring_bytes`, relocated against the kept BTF.
pub fn load(
    object: &'static [u8],
    globals: &[(&'static str, u32)],
    ring_bytes: u32,
) -> Result<Ebpf, EbpfError> {
    let globals = &[
        globals,
        &[(crate::cgroup_walk::GLOBAL, crate::cgroup_walk::value())],
    ]
    .concat();
    let mut kept = kept();
    let Ok(kept) = parsed(&mut kept) else {
        // No usable BTF: aya's own loader reports what that means for this object.
        return configure(&mut EbpfLoader::new(), globals, ring_bytes).load(object);
    };
    // SAFETY: the loaders borrowing the BTF live in the same `Kept`, are dropped before
    // it (field order), never leave it, and the boxed BTF does not move while they live.
    let btf: &'static Btf = unsafe { &*std::ptr::from_ref::<Btf>(&kept.btf) };
    let mut names: Vec<&'static str> = globals.iter().map(|&(name, _)| name).collect();
    names.sort_unstable();
    let spare = &mut kept.spare;
    let loader = kept
        .loaders
        .entry((object.as_ptr() as usize, names))
        .or_insert_with(|| {
            let mut loader = spare.take().unwrap_or_default();
            // The parse `new()` just did is dropped: loads relocate against the kept one.
            loader.btf(Some(btf));
            loader
        });
    configure(loader, globals, ring_bytes).load(object)
}

/// Gives the kept BTF and loaders back; the next job start parses again.
pub fn release() {
    *kept() = None;
    crate::heap::give_back();
}

fn configure<'l>(
    loader: &'l mut EbpfLoader<'static>,
    globals: &[(&'static str, u32)],
    ring_bytes: u32,
) -> &'l mut EbpfLoader<'static> {
    loader.map_max_entries("events", ring_bytes);
    // aya 0.14 has no type of its own for task storage maps (ebpf/include/task_storage.bpf.h);
    // only the programs use them, so they need none.
    loader.allow_unsupported_maps();
    for &(name, value) in globals {
        loader.override_global(name, interned(value), true);
    }
    loader
}

/// A global's bytes for the kept loaders: one small allocation per distinct value, kept
/// for the process's life (globals are flags and small settings, so the set stays small).
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
