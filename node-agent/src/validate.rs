//! Every field a caller sends that names something on this node is checked before it is
//! used: a pod uid, a container id or a cgroup path chosen by the caller must never reach
//! the cgroup root, a top-level cgroup or another hierarchy. Refusals are InvalidArgument
//! naming the field.

use std::path::{Component, Path};

use tonic::Status;
use tracejob_proto::v1::Target;

/// The top-level cgroups kubelet creates for pods (cgroupfs and systemd drivers).
const POD_ROOTS: [&str; 2] = ["kubepods", "kubepods.slice"];
/// A cgroup path names at least `kubepods/<qos or pod>/<pod or container>`: never the
/// root, `kubepods` itself or a whole QoS class.
const MIN_CGROUP_DEPTH: usize = 3;
const MAX_FIELD: usize = 512;

fn invalid(field: &str, value: &str, why: &str) -> Status {
    let shown: String = value.chars().take(80).collect();
    Status::invalid_argument(format!("{field} {shown:?} {why}"))
}

/// `8-4-4-4-12` hexadecimal digits, as Kubernetes writes object uids.
pub fn pod_uid(field: &str, uid: &str) -> Result<(), Status> {
    let groups: Vec<&str> = uid.split('-').collect();
    let lengths = groups.iter().map(|g| g.len()).collect::<Vec<_>>();
    let hex = groups
        .iter()
        .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
    if lengths == [8, 4, 4, 4, 12] && hex {
        Ok(())
    } else {
        Err(invalid(field, uid, "is not a UUID"))
    }
}

/// `<runtime>://<hex id>`, as in `status.containerStatuses[].containerID`.
pub fn container_id(field: &str, id: &str) -> Result<(), Status> {
    let well_formed = id.split_once("://").is_some_and(|(runtime, hex)| {
        !runtime.is_empty()
            && runtime.len() <= 32
            && runtime
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !hex.is_empty()
            && hex.len() <= 128
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
    });
    if well_formed {
        Ok(())
    } else {
        Err(invalid(field, id, "is not <runtime>://<hex id>"))
    }
}

/// A path relative to the cgroup v2 mount, inside the pods' hierarchy and at least one
/// level below a QoS class; no `.`, `..` or empty components.
pub fn cgroup_path(field: &str, path: &str) -> Result<(), Status> {
    if path.len() > MAX_FIELD {
        return Err(invalid(field, path, "is too long"));
    }
    let relative = path.trim_start_matches('/');
    if relative
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(invalid(
            field,
            path,
            "has an empty, `.` or `..` component: cgroup paths are plain paths below the pods' cgroups",
        ));
    }
    let components: Vec<Component<'_>> = Path::new(relative).components().collect();
    let all_normal = components.iter().all(|c| matches!(c, Component::Normal(_)));
    let under_pods = components
        .first()
        .is_some_and(|c| POD_ROOTS.iter().any(|root| c.as_os_str() == *root));
    if !all_normal || !under_pods || components.len() < MIN_CGROUP_DEPTH {
        return Err(invalid(
            field,
            path,
            "is not a pod's or container's cgroup (below kubepods/<qos>/ or kubepods.slice/...)",
        ));
    }
    Ok(())
}

/// A job uid: present and short.
pub fn job_uid(field: &str, uid: &str) -> Result<(), Status> {
    if uid.is_empty() {
        return Err(Status::invalid_argument(format!("{field} is required")));
    }
    if uid.len() > 128 || uid.chars().any(char::is_control) {
        return Err(invalid(field, uid, "is not a job uid"));
    }
    Ok(())
}

/// Each target's fields, named by their index.
pub fn targets(targets: &[Target]) -> Result<(), Status> {
    for (i, target) in targets.iter().enumerate() {
        pod_uid(&format!("targets[{i}].pod_uid"), &target.pod_uid)?;
        container_id(&format!("targets[{i}].container_id"), &target.container_id)?;
        if !target.cgroup_path.is_empty() {
            cgroup_path(&format!("targets[{i}].cgroup_path"), &target.cgroup_path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0b6b1a5e-1111-2222-3333-444455556666";

    #[test]
    fn a_kubernetes_uid_is_a_pod_uid_and_anything_else_is_not() {
        assert!(pod_uid("pod_uid", UID).is_ok());
        for bad in [
            "",
            "no-such-pod",
            "../../x",
            "0b6b1a5e-1111-2222-3333-44445555666g",
        ] {
            let status = pod_uid("pod_uid", bad).expect_err(bad);
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            assert!(status.message().contains("pod_uid"), "{}", status.message());
        }
    }

    #[test]
    fn a_container_id_is_a_runtime_and_hex_digits() {
        assert!(container_id("id", &format!("containerd://{}", "ab".repeat(32))).is_ok());
        assert!(container_id("id", "cri-o://feed").is_ok());
        for bad in [
            "",
            "feed",
            "containerd://",
            "containerd://../..",
            "containerd://ab/cd",
            "://ab",
        ] {
            assert!(container_id("id", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cgroup_paths_outside_the_pods_hierarchy_are_refused() {
        for bad in [
            "/",
            "",
            "kubepods",
            "kubepods/besteffort",
            "kubepods.slice/kubepods-besteffort.slice",
            "system.slice/sshd.service/x",
            "kubepods/besteffort/../../system.slice",
            "kubepods/besteffort/./pod1",
            "kubepods//besteffort/pod1",
        ] {
            assert!(cgroup_path("cgroup_path", bad).is_err(), "{bad:?}");
        }
        assert!(cgroup_path("cgroup_path", &format!("kubepods/besteffort/pod{UID}/abc")).is_ok());
        assert!(cgroup_path("cgroup_path", &format!("/kubepods/pod{UID}/abc")).is_ok());
    }
}
