//! The real `tracejob-operator` binary, started against the fleet: its agents at
//! `https://{node_ip}:<port>` over mutual TLS, and its memory and CPU read from /proc.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::certs::{AGENT_NAME, FleetTls};

/// The operator binary: `$TRACEJOB_OPERATOR_BIN`, else `tracejob-operator` in the same
/// target directory as the running executable (cargo builds it there for `cargo test
/// --workspace`; `cargo build -p tracejob-operator` otherwise).
pub fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TRACEJOB_OPERATOR_BIN") {
        return Some(PathBuf::from(path));
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("tracejob-operator"))
        .find(|path| path.is_file())
}

/// How the operator is run.
#[derive(Clone, Debug)]
pub struct Options {
    pub kubeconfig: PathBuf,
    /// The namespace it watches and keeps its Lease in.
    pub namespace: String,
    /// The port every simulated agent listens on (each on its node's InternalIP).
    pub agent_port: u16,
    pub poll_seconds: u64,
    pub node_lost_grace_seconds: u64,
    pub flush_seconds: u64,
    /// The default storage URL and the credentials it gets in its environment.
    pub storage: Option<(String, Vec<(String, String)>)>,
    /// Where its spool, metrics port file and log go.
    pub work_dir: PathBuf,
}

#[derive(Debug)]
pub struct Operator {
    child: tokio::process::Child,
    pub pid: u32,
    pub metrics: SocketAddr,
    pub log: PathBuf,
    launch: Launch,
}

/// What starting the operator again needs.
#[derive(Clone, Debug)]
struct Launch {
    binary: PathBuf,
    ca: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    options: Options,
}

impl Operator {
    pub async fn start(binary: &Path, tls: &FleetTls, options: &Options) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&options.work_dir)?;
        let launch = Launch {
            binary: binary.to_owned(),
            ca: tls.ca.clone(),
            client_cert: tls.client_cert.clone(),
            client_key: tls.client_key.clone(),
            options: options.clone(),
        };
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let log = options.work_dir.join("operator.log");
        let child = spawn(&launch, metrics, &log)?;
        let pid = child.id().context("the operator exited at once")?;
        let mut operator = Operator {
            child,
            pid,
            metrics,
            log,
            launch,
        };
        operator.wait_leading().await?;
        Ok(operator)
    }

    /// Whether the process ended, and the last line it logged.
    pub fn exited(&mut self) -> Option<String> {
        self.child.try_wait().ok().flatten()?;
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let line = text
            .lines()
            .rev()
            .find(|l| l.contains("Error:") || l.contains("WARN") || l.contains("ERROR"))
            .unwrap_or("no message");
        Some(plain(line).chars().take(300).collect())
    }

    /// Starts the operator again, as a Deployment would after it exited; its log continues.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let _ = self.child.kill().await;
        let log = self.log.with_extension(format!("{}.log", self.pid));
        let _ = std::fs::rename(&self.log, &log);
        self.child = spawn(&self.launch, self.metrics, &self.log)?;
        self.pid = self.child.id().context("the operator exited at once")?;
        self.wait_leading().await
    }

    /// Waits until the operator leads (its `tracejob_leader` gauge is 1).
    async fn wait_leading(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("the operator exited ({status}): {}", self.log_tail());
            }
            if self
                .scrape()
                .await
                .is_ok_and(|text| text.lines().any(|l| l.trim() == "tracejob_leader 1"))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!("the operator did not lead within 60 s: {}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The operator's own /metrics.
    pub async fn scrape(&self) -> anyhow::Result<String> {
        let mut stream = tokio::net::TcpStream::connect(self.metrics).await?;
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut text = String::new();
        stream.read_to_string(&mut text).await?;
        Ok(text)
    }

    /// Resident memory (bytes) and CPU time used so far (seconds).
    pub fn usage(&self) -> anyhow::Result<Usage> {
        usage(self.pid)
    }

    /// The last lines of the operator's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub async fn stop(&mut self) {
        if let Some(pid) = self.child.id() {
            // SIGTERM: the operator releases its Lease and exits.
            terminate(pid);
            let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        }
        let _ = self.child.kill().await;
    }
}

fn spawn(
    launch: &Launch,
    metrics: SocketAddr,
    log: &Path,
) -> anyhow::Result<tokio::process::Child> {
    let out = std::fs::File::create(log)?;
    let mut command = tokio::process::Command::new(&launch.binary);
    command
        .env("KUBECONFIG", &launch.options.kubeconfig)
        .env("RUST_LOG", "info,kube=warn")
        .env("TRACEJOB_AGENT_TLS_DOMAIN", AGENT_NAME)
        .arg("--metrics-addr")
        .arg(metrics.to_string())
        .arg("--watch-namespace")
        .arg(&launch.options.namespace)
        .arg("--lease-namespace")
        .arg(&launch.options.namespace)
        .arg("--poll-seconds")
        .arg(launch.options.poll_seconds.to_string())
        .arg("--node-lost-grace-seconds")
        .arg(launch.options.node_lost_grace_seconds.to_string())
        .arg("--storage-flush-seconds")
        .arg(launch.options.flush_seconds.to_string())
        .arg("--agent-address")
        .arg(format!("https://{{node_ip}}:{}", launch.options.agent_port))
        .arg("--agent-ca")
        .arg(&launch.ca)
        .arg("--agent-client-cert")
        .arg(&launch.client_cert)
        .arg("--agent-client-key")
        .arg(&launch.client_key)
        .arg("--spool-dir")
        .arg(launch.options.work_dir.join("spool"))
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .kill_on_drop(true);
    if let Some((url, credentials)) = &launch.options.storage {
        command.arg("--storage-url").arg(url);
        command.envs(credentials.iter().map(|(k, v)| (k, v)));
    }
    command
        .spawn()
        .with_context(|| format!("cannot start {}", launch.binary.display()))
}

/// The text without its terminal colour codes.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn terminate(pid: u32) {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

/// A process's resident memory and CPU time.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub rss_bytes: u64,
    pub cpu_seconds: f64,
}

pub fn usage(pid: u32) -> anyhow::Result<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS in /proc/<pid>/status")?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces), closed by ')'.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the ')'.
    let clock_ticks = 100.0;
    #[allow(clippy::cast_precision_loss, reason = "CPU ticks fit a double")]
    let cpu_seconds = (ticks(11) + ticks(12)) as f64 / clock_ticks;
    Ok(Usage {
        rss_bytes: rss_kib * 1024,
        cpu_seconds,
    })
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_are_taken_out_of_a_log_line() {
        assert_eq!(
            plain("\u{1b}[2m2026\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m lost"),
            "2026  WARN lost"
        );
    }

    #[test]
    fn this_process_has_resident_memory_and_cpu_time() {
        let mut spin = 0u64;
        for i in 0..5_000_000u64 {
            spin = spin.wrapping_add(i * i);
        }
        assert!(spin > 0);
        let usage = usage(std::process::id()).expect("usage");
        assert!(usage.rss_bytes > 1 << 20, "{usage:?}");
        assert!(usage.cpu_seconds >= 0.0);
    }
}
