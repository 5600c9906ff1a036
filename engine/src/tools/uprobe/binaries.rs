//! Finding the file a uprobe names inside the target's filesystem, and only there: an
//! absolute path is taken as it is, a bare name like `libc` or `bash` is looked up in the
//! usual library and program directories. Every path is opened with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` below the target's root, so `..` and
//! absolute symlinks in the image resolve inside it and `/proc/<pid>/root` links are
//! refused; the probe then attaches through the opened file (`/proc/self/fd/N`), not a
//! path that could be swapped in between.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

const LIBRARY_DIRS: [&str; 6] = [
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
];
const PROGRAM_DIRS: [&str; 4] = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/// A binary opened inside a target's root.
#[derive(Debug)]
pub struct Binary {
    file: File,
}

impl Binary {
    /// A path to the opened file that this process can hand to the kernel and to the ELF
    /// reader; valid while `self` lives.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }
}

/// `binary` opened below `root` (`/` for the host, `/proc/PID/root` for a container), or
/// None whatever the reason (absent, not a regular file, leaving the root): callers
/// answer with one message that tells nothing about files outside the root.
pub fn open(root: &Path, binary: &str) -> Option<Binary> {
    let root = open_root(root)?;
    if binary.starts_with('/') {
        return open_file(&root, binary);
    }
    if binary.contains('/') {
        return None;
    }
    for dir in LIBRARY_DIRS {
        if let Some(found) = library_in(&root, dir, binary) {
            return Some(found);
        }
    }
    PROGRAM_DIRS
        .iter()
        .find_map(|dir| open_file(&root, &format!("{dir}/{binary}")))
}

fn open_root(root: &Path) -> Option<OwnedFd> {
    let path = CString::new(root.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: a NUL-terminated path; the fd returned is ours.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    // SAFETY: a fresh fd owned by nobody else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// openat2 below `root`: the path cannot leave it, magic links are refused.
fn open_in_root(root: &OwnedFd, path: &str, flags: libc::c_int) -> Option<OwnedFd> {
    let path = CString::new(path).ok()?;
    // SAFETY: open_how is plain integers; all-zero is its empty value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = u64::try_from(flags | libc::O_CLOEXEC).ok()?;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: valid dirfd, NUL-terminated path, and an open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &raw const how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    let fd = libc::c_int::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: a fresh fd owned by nobody else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn open_file(root: &OwnedFd, path: &str) -> Option<Binary> {
    let file = File::from(open_in_root(root, path, libc::O_RDONLY)?);
    file.metadata()
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|_| Binary { file })
}

/// `libNAME.so.N`, `NAME.so.N`, `libNAME.so` or `NAME.so` in `dir`, preferring the
/// versioned file the dynamic loader would map.
fn library_in(root: &OwnedFd, dir: &str, name: &str) -> Option<Binary> {
    let stem = name.strip_prefix("lib").unwrap_or(name);
    let dir_fd = open_in_root(root, dir, libc::O_RDONLY | libc::O_DIRECTORY)?;
    // The directory as opened (inside the root), listed through our own fd.
    let listing = PathBuf::from(format!("/proc/self/fd/{}", dir_fd.as_raw_fd()));
    let mut names: Vec<String> = std::fs::read_dir(listing)
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|file| {
            *file == format!("lib{stem}.so") || file.starts_with(&format!("lib{stem}.so."))
        })
        .collect();
    names.sort_by_key(|file| std::cmp::Reverse(file.len()));
    names
        .iter()
        .find_map(|file| open_file(root, &format!("{dir}/{file}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(root: &Path, binary: &str) -> Option<PathBuf> {
        let opened = open(root, binary)?;
        std::fs::read_link(opened.path()).ok()
    }

    #[test]
    fn a_bare_library_name_finds_the_versioned_library() {
        let libc = found(Path::new("/"), "libc").expect("libc on every Debian system");
        assert!(
            libc.to_string_lossy().contains("libc.so"),
            "{}",
            libc.display()
        );
        assert_eq!(found(Path::new("/"), "c"), Some(libc));
    }

    #[test]
    fn programs_and_absolute_paths_resolve_and_missing_ones_do_not() {
        assert!(found(Path::new("/"), "sh").is_some());
        assert!(found(Path::new("/"), "/bin/sh").is_some());
        assert_eq!(found(Path::new("/"), "/nonexistent/binary"), None);
        assert_eq!(found(Path::new("/"), "no-such-library-anywhere"), None);
        assert_eq!(found(Path::new("/"), "/etc"), None, "not a regular file");
    }

    #[test]
    fn absolute_symlinks_and_dot_dots_stay_inside_the_root() {
        let root = std::env::temp_dir().join(format!("tracejob-binaries-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("bin")).expect("a root");
        std::fs::write(root.join("bin/own"), b"inside").expect("a file");
        std::os::unix::fs::symlink("/bin/sh", root.join("bin/host-sh")).expect("a symlink");
        std::os::unix::fs::symlink("/proc/1/root/bin/sh", root.join("bin/pid1-sh"))
            .expect("a symlink");
        std::os::unix::fs::symlink("../../../../bin/sh", root.join("bin/up-sh"))
            .expect("a symlink");
        std::os::unix::fs::symlink("/bin/own", root.join("bin/own-link")).expect("a symlink");

        assert_eq!(found(&root, "/bin/own"), Some(root.join("bin/own")));
        assert_eq!(
            found(&root, "/bin/own-link"),
            Some(root.join("bin/own")),
            "resolved inside"
        );
        for escape in [
            "/bin/host-sh",
            "/bin/pid1-sh",
            "/bin/up-sh",
            "/../../bin/sh",
            "sh",
        ] {
            assert!(found(&root, escape).is_none(), "{escape} left the root");
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
