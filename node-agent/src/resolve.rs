//! A container → its cgroup v2 directory on this node, from the pod uid and the runtime's
//! container id, in the layouts kubelet creates: cgroupfs (`kubepods/<qos>/pod<uid>/<id>`)
//! and systemd (`kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice/
//! cri-containerd-<id>.scope`), with `<qos>` absent for Guaranteed pods.

use std::path::{Path, PathBuf};

/// The runtime's id without its `containerd://` (or `cri-o://`, `docker://`) prefix.
pub fn bare_id(container_id: &str) -> &str {
    container_id
        .split_once("://")
        .map_or(container_id, |(_, id)| id)
}

/// Every directory, relative to the v2 mount, where kubelet may have put the container.
pub fn candidates(pod_uid: &str, container_id: &str) -> Vec<PathBuf> {
    let id = bare_id(container_id);
    let mut paths = Vec::new();
    for qos in ["besteffort", "burstable", ""] {
        let pod = if qos.is_empty() {
            PathBuf::from("kubepods")
        } else {
            Path::new("kubepods").join(qos)
        };
        paths.push(pod.join(format!("pod{pod_uid}")).join(id));
    }
    let uid = pod_uid.replace('-', "_");
    for qos in ["besteffort", "burstable", ""] {
        let pod = if qos.is_empty() {
            Path::new("kubepods.slice").join(format!("kubepods-pod{uid}.slice"))
        } else {
            Path::new("kubepods.slice")
                .join(format!("kubepods-{qos}.slice"))
                .join(format!("kubepods-{qos}-pod{uid}.slice"))
        };
        for scope in ["cri-containerd-", "crio-", "docker-"] {
            paths.push(pod.join(format!("{scope}{id}.scope")));
        }
    }
    paths
}

/// The container's directory under `mount`, or why it was not found. `hint`, when not
/// empty, is a path relative to the mount that the caller already knows.
pub fn container_dir(
    mount: &Path,
    pod_uid: &str,
    container_id: &str,
    hint: &str,
) -> Result<PathBuf, String> {
    if !hint.is_empty() {
        let path = mount.join(hint.trim_start_matches('/'));
        return if path.is_dir() {
            Ok(path)
        } else {
            Err(format!("cgroup {} does not exist", path.display()))
        };
    }
    if pod_uid.is_empty() || bare_id(container_id).is_empty() {
        return Err("a target needs a pod uid and a container id".to_owned());
    }
    candidates(pod_uid, container_id)
        .into_iter()
        .map(|relative| mount.join(relative))
        .find(|path| path.is_dir())
        .ok_or_else(|| {
            format!(
                "container {container_id} of pod {pod_uid} has no cgroup under {} \
                 (looked for kubelet's cgroupfs and systemd layouts): not on this node, or not started yet",
                mount.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0b6b1a5e-1111-2222-3333-444455556666";
    const ID: &str = "containerd://abc123";

    fn found_in(layout: &str) -> Result<PathBuf, String> {
        let root = std::env::temp_dir().join(format!(
            "tracejob-resolve-{}-{}",
            std::process::id(),
            layout.len()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join(layout)).expect("create layout");
        let found = container_dir(&root, UID, ID, "");
        let _ = std::fs::remove_dir_all(&root);
        found.map(|path| path.strip_prefix(&root).expect("under root").to_path_buf())
    }

    #[test]
    fn a_besteffort_container_is_found_in_the_cgroupfs_layout() {
        let layout = format!("kubepods/besteffort/pod{UID}/abc123");
        assert_eq!(found_in(&layout), Ok(PathBuf::from(layout)));
    }

    #[test]
    fn a_guaranteed_container_is_found_in_the_cgroupfs_layout() {
        let layout = format!("kubepods/pod{UID}/abc123");
        assert_eq!(found_in(&layout), Ok(PathBuf::from(layout)));
    }

    #[test]
    fn a_burstable_container_is_found_in_the_systemd_layout() {
        let uid = UID.replace('-', "_");
        let layout = format!(
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid}.slice/cri-containerd-abc123.scope"
        );
        assert_eq!(found_in(&layout), Ok(PathBuf::from(layout)));
    }

    #[test]
    fn a_missing_container_is_reported_with_where_it_was_looked_for() {
        let error = found_in("kubepods/besteffort/podother/abc123").expect_err("not found");
        assert!(error.contains("containerd://abc123"), "{error}");
        assert!(error.contains("cgroupfs and systemd"), "{error}");
    }
}
