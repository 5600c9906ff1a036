//! What this node's kernel offers tracejob, as the Capabilities call reports it.

use std::path::Path;

use tracejob_api::Tool;
use tracejob_proto::v1::{AttachType, CapabilitiesResponse};

fn attach(name: &str, available: bool, reason: &str) -> AttachType {
    AttachType {
        name: name.to_owned(),
        available,
        reason: if available {
            String::new()
        } else {
            reason.to_owned()
        },
    }
}

fn exists(path: &str) -> bool {
    Path::new(path).exists()
}

pub fn describe(node: &str, cgroup_v2_mount: Option<&Path>) -> CapabilitiesResponse {
    let btf = exists("/sys/kernel/btf/vmlinux");
    let tracefs = exists("/sys/kernel/tracing/events/syscalls")
        || exists("/sys/kernel/debug/tracing/events/syscalls");
    CapabilitiesResponse {
        node: node.to_owned(),
        kernel_release: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|r| r.trim().to_owned())
            .unwrap_or_default(),
        btf,
        cgroup_v2_mount: cgroup_v2_mount
            .map(|m| m.display().to_string())
            .unwrap_or_default(),
        attach_types: vec![
            attach("tp_btf", btf, "no kernel BTF (/sys/kernel/btf/vmlinux)"),
            attach("raw_tracepoint", btf, "no kernel BTF for CO-RE programs"),
            attach(
                "tracepoint",
                tracefs,
                "no syscalls events in tracefs (mount -t tracefs tracefs /sys/kernel/tracing)",
            ),
            attach(
                "kprobe",
                exists("/sys/bus/event_source/devices/kprobe"),
                "no kprobe PMU (/sys/bus/event_source/devices/kprobe)",
            ),
            attach(
                "uprobe",
                exists("/sys/bus/event_source/devices/uprobe"),
                "no uprobe PMU (/sys/bus/event_source/devices/uprobe)",
            ),
            attach(
                "perf_event",
                exists("/proc/sys/kernel/perf_event_paranoid"),
                "no perf events in this kernel",
            ),
            attach(
                "cgroup_skb",
                cgroup_v2_mount.is_some(),
                "no cgroup v2 hierarchy mounted",
            ),
        ],
        tools: Tool::ALL.iter().map(|t| t.name().to_owned()).collect(),
    }
}
