//! How one `open` ring-buffer record decodes into the API's `OpenRecord`.

use tracejob_ebpf::layout::{OpenEvent, c_string};

use crate::records::{Clock, OpenRecord};

pub fn decode(raw: &OpenEvent, clock: Clock) -> OpenRecord {
    OpenRecord {
        timestamp_ns: clock.wall_ns(raw.timestamp_ns),
        cgroup_id: raw.cgroup_id,
        pid: raw.pid,
        tid: raw.tid,
        uid: raw.uid,
        comm: c_string(&raw.comm),
        path: c_string(&raw.path),
        flags: open_flags(raw.flags),
        ret: raw.ret,
    }
}

/// `O_WRONLY|O_CREAT|O_CLOEXEC` style names for open(2) flags.
pub fn open_flags(flags: i32) -> String {
    let access = match flags & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        _ => "O_RDWR",
    };
    const NAMED: [(i32, &str); 12] = [
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_NOCTTY, "O_NOCTTY"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
        (libc::O_NONBLOCK, "O_NONBLOCK"),
        (libc::O_DSYNC, "O_DSYNC"),
        (libc::O_DIRECTORY, "O_DIRECTORY"),
        (libc::O_NOFOLLOW, "O_NOFOLLOW"),
        (libc::O_CLOEXEC, "O_CLOEXEC"),
        (libc::O_PATH, "O_PATH"),
        (libc::O_TMPFILE & !libc::O_DIRECTORY, "O_TMPFILE"),
    ];
    let mut names = vec![access.to_owned()];
    let mut rest = flags & !libc::O_ACCMODE;
    for (bit, name) in NAMED {
        if rest & bit == bit && bit != 0 {
            names.push(name.to_owned());
            rest &= !bit;
        }
    }
    // O_LARGEFILE is implied on 64-bit; other bits are shown raw.
    rest &= !0o100000;
    if rest != 0 {
        names.push(format!("{rest:#o}"));
    }
    names.join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_are_named_like_strace_does() {
        assert_eq!(open_flags(libc::O_RDONLY), "O_RDONLY");
        assert_eq!(
            open_flags(libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC),
            "O_WRONLY|O_CREAT|O_CLOEXEC"
        );
        assert_eq!(open_flags(libc::O_RDWR | libc::O_TRUNC), "O_RDWR|O_TRUNC");
    }
}
