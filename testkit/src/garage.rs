//! A real S3 server for tests: Garage, single node on loopback, in a temporary directory,
//! with one bucket and one key. `scripts/garage.sh` (run by `make deps`) installs it.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bucket every test server has.
pub const BUCKET: &str = "tracejob-test";
/// The region the server answers for.
pub const REGION: &str = "garage";

/// The Garage binary: `$TRACEJOB_GARAGE`, the cache `scripts/garage.sh` fills, or `garage`
/// on the PATH.
pub fn garage_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TRACEJOB_GARAGE") {
        return Some(PathBuf::from(path));
    }
    let cache = std::env::var_os("TRACEJOB_CACHE").unwrap_or_else(|| "/var/cache/tracejob".into());
    let cached = Path::new(&cache).join("garage/bin/garage");
    if cached.is_file() {
        return Some(cached);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("garage"))
            .find(|p| p.is_file())
    })
}

/// What this machine lacks for the S3 tests, if anything.
pub fn missing_for_garage() -> Option<&'static str> {
    match garage_binary() {
        Some(_) => None,
        None => Some("needs the Garage S3 server (run `make deps`, or scripts/garage.sh)"),
    }
}

/// The gate for tests against a real S3 server.
pub fn can_use_s3(test: &str) -> bool {
    crate::can_run(test, missing_for_garage())
}

/// A running (or stopped) single-node Garage. Dropping it kills the server and removes its
/// directory.
#[derive(Debug)]
pub struct Garage {
    binary: PathBuf,
    dir: PathBuf,
    config: PathBuf,
    s3_port: u16,
    child: Option<Child>,
    pub access_key: String,
    pub secret_key: String,
}

impl Garage {
    /// Starts a server on free loopback ports with bucket [`BUCKET`] and a key allowed to read
    /// and write it. Panics, with Garage's output, when anything fails.
    pub fn start() -> Garage {
        let binary = garage_binary().expect("the Garage binary (gate with can_use_s3 first)");
        let dir = std::env::temp_dir().join(format!(
            "tracejob-garage-{}-{:x}",
            std::process::id(),
            random_u64()
        ));
        std::fs::create_dir_all(&dir).expect("a directory for Garage");
        let (rpc_port, s3_port, admin_port) = (free_port(), free_port(), free_port());
        let secret: String = (0..4).map(|_| format!("{:016x}", random_u64())).collect();
        let config = dir.join("garage.toml");
        let text = format!(
            r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3_port}"

[admin]
api_bind_addr = "127.0.0.1:{admin_port}"
"#,
            meta = dir.join("meta").display(),
            data = dir.join("data").display(),
        );
        std::fs::write(&config, text).expect("garage.toml");
        let mut garage = Garage {
            binary,
            dir,
            config,
            s3_port,
            child: None,
            access_key: String::new(),
            secret_key: String::new(),
        };
        garage.resume();
        let node = garage.cli(&["node", "id", "-q"]);
        let node = node.trim().split('@').next().unwrap_or_default().to_owned();
        garage.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        garage.cli(&["layout", "apply", "--version", "1"]);
        garage.wait_until(|g| g.try_cli(&["bucket", "create", BUCKET]).is_ok());
        let key = garage.cli(&["key", "create", "tracejob-test"]);
        garage.access_key = field(&key, "Key ID");
        garage.secret_key = field(&key, "Secret key");
        garage.cli(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            BUCKET,
            "--key",
            "tracejob-test",
        ]);
        garage
    }

    /// `http://127.0.0.1:<port>`, the S3 endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// object_store configuration keys for this server (what a Secret would hold).
    pub fn credentials(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Kills the server, keeping its data: the S3 port refuses connections until [`resume`].
    ///
    /// [`resume`]: Garage::resume
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same ports and data; returns once S3 answers.
    pub fn resume(&mut self) {
        let log = std::fs::File::create(self.dir.join("server.log")).expect("server.log");
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config)
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("garage server starts");
        self.child = Some(child);
        let port = self.s3_port;
        self.wait_until(|_| TcpStream::connect(("127.0.0.1", port)).is_ok());
        self.wait_until(|g| g.try_cli(&["status"]).is_ok());
    }

    fn wait_until(&mut self, mut ready: impl FnMut(&mut Garage) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready(self) {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("garage server exited ({status}): {}", self.server_log());
            }
            assert!(
                Instant::now() < deadline,
                "garage not ready after 30 s: {}",
                self.server_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn try_cli(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            Ok(text)
        } else {
            Err(format!("{text}{}", String::from_utf8_lossy(&output.stderr)))
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args)
            .unwrap_or_else(|e| panic!("garage {}: {e}", args.join(" ")))
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The value after `name:` on its line of Garage's output.
fn field(output: &str, name: &str) -> String {
    output
        .lines()
        .find_map(|line| line.trim().strip_prefix(name)?.trim().strip_prefix(':'))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {name:?} in garage's output: {output}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if let Ok(mut urandom) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = urandom.read_exact(&mut bytes);
    }
    u64::from_ne_bytes(bytes)
}
