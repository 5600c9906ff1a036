//! The job the agent tests start: a name, a syscalls spec counting getppid, and the
//! container a fake pod runs.

use tracejob_api::{Tool, ToolArgs, TraceJobSpec};
use tracejob_operator::agents::{ContainerTarget, JobId};

use super::workload::FakeContainer;

/// A job whose uid is unique to this test process.
pub fn job(name: &str) -> JobId {
    JobId {
        namespace: "default".into(),
        name: name.into(),
        uid: format!("uid-{name}-{}", std::process::id()),
    }
}

pub fn getppid_spec() -> TraceJobSpec {
    TraceJobSpec {
        tool: Tool::Syscalls,
        args: ToolArgs {
            syscalls: vec!["getppid".into()],
            ..ToolArgs::default()
        },
        ..TraceJobSpec::default()
    }
}

pub fn target(container: &FakeContainer) -> ContainerTarget {
    ContainerTarget {
        pod: "workload".into(),
        pod_uid: container.pod_uid.clone(),
        container: "main".into(),
        container_id: container.container_id.clone(),
    }
}
