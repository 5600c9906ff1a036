//! Cgroup v2: finding the hierarchy, naming a directory by the id the kernel reports
//! (`bpf_get_current_cgroup_id()` is the directory's inode number), and scratch
//! directories for commands that `tracejob run` starts.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "cgroup v2 is not mounted (no cgroup2 entry in /proc/self/mountinfo): mount it with \
         `mount -t cgroup2 none /sys/fs/cgroup/unified` or boot with systemd.unified_cgroup_hierarchy=1"
    )]
    NotMounted,
    #[error("{path} is not a directory of the cgroup v2 hierarchy mounted at {mount}")]
    NotInHierarchy { path: PathBuf, mount: PathBuf },
    #[error("failed to read cgroup {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("process {pid} not found or not readable: {source}")]
    Process { pid: u32, source: io::Error },
    #[error("process {pid} has no cgroup v2 membership in /proc/{pid}/cgroup")]
    NoV2Membership { pid: u32 },
    #[error("failed to {action} cgroup {path}: {source}")]
    Write {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// Where the cgroup v2 hierarchy is mounted, and which of its directories the mount shows.
#[derive(Clone, Debug)]
pub struct Hierarchy {
    pub mount_point: PathBuf,
    /// The directory of the hierarchy at the mount point ("/" unless inside a cgroup namespace).
    root: PathBuf,
}

/// One cgroup v2 directory a job traces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupTarget {
    pub path: PathBuf,
    /// The id BPF programs see: the directory's inode number.
    pub id: u64,
    /// Depth below the hierarchy's root (the root is level 0).
    pub level: u32,
}

impl Hierarchy {
    /// Finds the cgroup v2 mount from /proc/self/mountinfo.
    pub fn discover() -> Result<Self, CgroupError> {
        let mountinfo =
            fs::read_to_string("/proc/self/mountinfo").map_err(|source| CgroupError::Read {
                path: "/proc/self/mountinfo".into(),
                source,
            })?;
        Self::from_mountinfo(&mountinfo).ok_or(CgroupError::NotMounted)
    }

    fn from_mountinfo(mountinfo: &str) -> Option<Self> {
        mountinfo.lines().find_map(|line| {
            // fields: id parent major:minor root mount-point options... - fstype source super-options
            let (left, right) = line.split_once(" - ")?;
            if right.split_whitespace().next()? != "cgroup2" {
                return None;
            }
            let fields: Vec<&str> = left.split_whitespace().collect();
            Some(Hierarchy {
                root: unescape(fields.get(3)?).into(),
                mount_point: unescape(fields.get(4)?).into(),
            })
        })
    }

    /// Resolves a directory of this hierarchy into the target the BPF programs match.
    pub fn target(&self, path: &Path) -> Result<CgroupTarget, CgroupError> {
        let path = fs::canonicalize(path).map_err(|source| CgroupError::Read {
            path: path.to_owned(),
            source,
        })?;
        let relative =
            path.strip_prefix(&self.mount_point)
                .map_err(|_| CgroupError::NotInHierarchy {
                    path: path.clone(),
                    mount: self.mount_point.clone(),
                })?;
        if !path.join("cgroup.procs").exists() {
            return Err(CgroupError::NotInHierarchy {
                path,
                mount: self.mount_point.clone(),
            });
        }
        let metadata = fs::metadata(&path).map_err(|source| CgroupError::Read {
            path: path.clone(),
            source,
        })?;
        let level = depth(&self.root) + depth(relative);
        Ok(CgroupTarget {
            id: metadata.ino(),
            level,
            path,
        })
    }

    /// The cgroup v2 directory a process belongs to.
    pub fn cgroup_of_pid(&self, pid: u32) -> Result<PathBuf, CgroupError> {
        let content = fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .map_err(|source| CgroupError::Process { pid, source })?;
        let in_hierarchy = content
            .lines()
            .find_map(|line| line.strip_prefix("0::"))
            .ok_or(CgroupError::NoV2Membership { pid })?;
        // /proc shows paths relative to our cgroup namespace root, which is the mount's root.
        let relative = Path::new(in_hierarchy)
            .strip_prefix("/")
            .unwrap_or(Path::new(in_hierarchy));
        Ok(self.mount_point.join(relative))
    }
}

fn depth(path: &Path) -> u32 {
    path.components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .count() as u32
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let octal: String = chars.by_ref().take(3).collect();
            match u8::from_str_radix(&octal, 8) {
                Ok(byte) => out.push(byte as char),
                Err(_) => {
                    out.push('\\');
                    out.push_str(&octal);
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A cgroup directory made for one traced command; removed on drop after any processes
/// still in it are moved back to the parent, so nothing is left behind.
#[derive(Debug)]
pub struct ScratchCgroup {
    path: PathBuf,
}

impl ScratchCgroup {
    pub fn create(parent: &Path, name: &str) -> Result<Self, CgroupError> {
        let path = parent.join(name);
        fs::create_dir(&path).map_err(|source| CgroupError::Write {
            action: "create",
            path: path.clone(),
            source,
        })?;
        Ok(ScratchCgroup { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `cgroup.procs` file, opened for writing: writing "0" to it moves the writer in.
    pub fn procs_file(&self) -> Result<fs::File, CgroupError> {
        let path = self.path.join("cgroup.procs");
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|source| CgroupError::Write {
                action: "open",
                path,
                source,
            })
    }

    fn evacuate(&self) -> io::Result<()> {
        let parent_procs = self
            .path
            .parent()
            .map(|p| p.join("cgroup.procs"))
            .ok_or(io::ErrorKind::NotFound)?;
        for pid in fs::read_to_string(self.path.join("cgroup.procs"))?.lines() {
            // a process that exits meanwhile is fine
            let _ = fs::write(&parent_procs, pid);
        }
        Ok(())
    }
}

impl Drop for ScratchCgroup {
    fn drop(&mut self) {
        let _ = self.evacuate();
        let _ = fs::remove_dir(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
35 24 0:30 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755
36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid,nodev - cgroup2 cgroup2 rw
37 35 0:32 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu";

    #[test]
    fn the_v2_mount_is_found_among_v1_controllers() {
        let hierarchy = Hierarchy::from_mountinfo(HYBRID).expect("cgroup2 line");
        assert_eq!(hierarchy.mount_point, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(hierarchy.root, Path::new("/"));
    }

    #[test]
    fn a_namespaced_mount_keeps_its_root_for_level_computation() {
        let info = "40 30 0:29 /kubepods/pod1/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw";
        let hierarchy = Hierarchy::from_mountinfo(info).expect("cgroup2 line");
        assert_eq!(depth(&hierarchy.root), 3);
    }

    #[test]
    fn no_cgroup2_line_means_not_mounted() {
        assert!(
            Hierarchy::from_mountinfo("37 35 0:32 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw")
                .is_none()
        );
    }

    #[test]
    fn octal_escapes_in_mount_points_are_decoded() {
        assert_eq!(unescape(r"/mnt/with\040space"), "/mnt/with space");
    }
}
