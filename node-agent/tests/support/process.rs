//! A `tracejob-agent` process on a free port of 127.0.0.1, killed when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct AgentProcess {
    child: Child,
    pub address: String,
}

impl AgentProcess {
    /// Starts the agent with `args` and waits for the line that says where it listens.
    pub fn start(node: &str, args: &[String]) -> Self {
        Self::start_on(0, node, args)
    }

    /// The same on a given port (0: any free one).
    pub fn start_on(port: u16, node: &str, args: &[String]) -> Self {
        let listen = format!("127.0.0.1:{port}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracejob-agent"))
            .args([
                "--listen",
                &listen,
                "--node-name",
                node,
                "--summary-interval-ms",
                "100",
            ])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn tracejob-agent");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix("listening on ") {
                    let _ = tx.send(address.to_owned());
                }
            }
        });
        let address = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the agent said where it listens within 20 s");
        AgentProcess { child, address }
    }

    pub fn port(&self) -> u16 {
        self.address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port")
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
