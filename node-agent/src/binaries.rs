//! Finding the file a uprobe names, inside the target's filesystem: an absolute path is
//! taken as it is (under the target's root), a bare name like `libc` or `bash` is looked
//! up in the usual library and program directories.

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

/// The path of `binary` as seen from this process, given the target's root directory
/// (`/` for the host, `/proc/PID/root` for a container).
pub fn resolve(root: &Path, binary: &str) -> Option<PathBuf> {
    if binary.starts_with('/') {
        let path = root.join(binary.trim_start_matches('/'));
        return path.is_file().then_some(path);
    }
    for dir in LIBRARY_DIRS {
        if let Some(path) = library_in(&root.join(dir.trim_start_matches('/')), binary) {
            return Some(path);
        }
    }
    PROGRAM_DIRS
        .iter()
        .map(|dir| root.join(dir.trim_start_matches('/')).join(binary))
        .find(|path| path.is_file())
}

/// `libNAME.so.N`, `NAME.so.N`, `libNAME.so` or `NAME.so` in `dir`, preferring the
/// versioned file the dynamic loader would map.
fn library_in(dir: &Path, name: &str) -> Option<PathBuf> {
    let stem = name.strip_prefix("lib").unwrap_or(name);
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            file == format!("lib{stem}.so") || file.starts_with(&format!("lib{stem}.so."))
        })
        .filter(|path| path.is_file())
        .collect();
    candidates.sort_by_key(|path| std::cmp::Reverse(path.as_os_str().len()));
    candidates.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_library_name_finds_the_versioned_library() {
        let libc = resolve(Path::new("/"), "libc").expect("libc on every Debian system");
        assert!(
            libc.to_string_lossy().contains("libc.so"),
            "{}",
            libc.display()
        );
        assert_eq!(resolve(Path::new("/"), "c"), Some(libc));
    }

    #[test]
    fn programs_and_absolute_paths_resolve_and_missing_ones_do_not() {
        assert!(resolve(Path::new("/"), "sh").is_some());
        assert_eq!(
            resolve(Path::new("/"), "/bin/sh"),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(resolve(Path::new("/"), "/nonexistent/binary"), None);
        assert_eq!(resolve(Path::new("/"), "no-such-library-anywhere"), None);
    }
}
