//! Starting the traced command in a cgroup of its own, so it and its children are
//! traced from their first instruction and nothing else is.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use tracejob_engine::cgroup::{CgroupTarget, Hierarchy, ScratchCgroup};

/// The cgroup made for the command; removed when dropped.
#[derive(Debug)]
pub struct CommandCgroup {
    pub scratch: ScratchCgroup,
    pub target: CgroupTarget,
}

impl CommandCgroup {
    pub fn create(hierarchy: &Hierarchy) -> anyhow::Result<Self> {
        let name = format!("tracejob-run-{}", std::process::id());
        let scratch = ScratchCgroup::create(&hierarchy.mount_point, &name)?;
        let target = hierarchy.target(scratch.path())?;
        Ok(CommandCgroup { scratch, target })
    }
}

/// Starts `argv` inside `cgroup`. With `stdout_to_stderr`, its standard output goes to
/// our standard error so that ours stays machine-readable.
pub fn spawn(
    argv: &[String],
    cgroup: &CommandCgroup,
    stdout_to_stderr: bool,
) -> anyhow::Result<Child> {
    let mut procs = cgroup.scratch.procs_file()?;
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]);
    if stdout_to_stderr {
        let stderr = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .context("duplicate standard error")?;
        command.stdout(Stdio::from(stderr));
    }
    // SAFETY: between fork and exec the closure only calls write(2) on an fd opened
    // before the fork: no allocation, no locks.
    unsafe {
        command.pre_exec(move || procs.write_all(b"0"));
    }
    command.spawn().map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => anyhow::anyhow!("command not found: {}", argv[0]),
        std::io::ErrorKind::PermissionDenied => {
            anyhow::anyhow!("permission denied running {}", argv[0])
        }
        _ => anyhow::Error::new(error).context(format!("failed to start {}", argv[0])),
    })
}

/// Asks the command to stop (SIGTERM), then kills it after a grace period.
pub fn terminate(child: &mut Child, grace: Duration) -> std::io::Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    // SAFETY: signalling our own child by pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill()?;
    child.wait()
}

/// The shell convention: the exit code, or 128 + the signal that ended it.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}
