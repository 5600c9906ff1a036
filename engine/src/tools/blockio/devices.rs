//! Block device names from the numbers the kernel reports.

use std::cell::RefCell;
use std::collections::HashMap;

/// `dev` as the kernel encodes it in BPF programs: major << 20 | minor.
pub fn major_minor(dev: u32) -> (u32, u32) {
    (dev >> 20, dev & 0xfffff)
}

/// The device's name (`vda`, `nvme0n1`) through /sys/dev/block, else `major:minor`.
/// Remembered per thread: names do not change while a device exists.
pub fn name(dev: u32) -> String {
    thread_local! {
        static NAMES: RefCell<HashMap<u32, String>> = RefCell::new(HashMap::new());
    }
    NAMES.with(|names| {
        names
            .borrow_mut()
            .entry(dev)
            .or_insert_with(|| look_up(dev))
            .clone()
    })
}

fn look_up(dev: u32) -> String {
    let (major, minor) = major_minor(dev);
    std::fs::read_link(format!("/sys/dev/block/{major}:{minor}"))
        .ok()
        .and_then(|target| {
            target
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| format!("{major}:{minor}"))
}

/// REQ_OP_* names.
pub fn op_name(op: u32) -> &'static str {
    match op {
        0 => "read",
        1 => "write",
        2 => "flush",
        3 => "discard",
        5 => "secure_erase",
        9 => "write_zeroes",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_encoding_splits_into_major_and_minor() {
        assert_eq!(major_minor((254 << 20) | 16), (254, 16));
    }

    #[test]
    fn an_unknown_device_is_named_by_its_numbers() {
        assert_eq!(name((4000 << 20) | 7), "4000:7");
    }
}
