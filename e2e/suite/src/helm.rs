//! The release under test, as `make e2e` installed it: helm binary, release, chart and values
//! come from the environment e2e/run.sh exports.

use std::process::Command;

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

pub fn release() -> String {
    var("TRACEJOB_E2E_RELEASE", "tracejob")
}

pub fn namespace() -> String {
    var("TRACEJOB_E2E_RELEASE_NAMESPACE", "tracejob-system")
}

/// `helm <args>` against the release's namespace; Ok(stdout) or Err(stderr).
pub fn helm(args: &[&str]) -> Result<String, String> {
    let helm = std::env::var("TRACEJOB_E2E_HELM")
        .or_else(|_| std::env::var("TRACEJOB_HELM"))
        .unwrap_or_else(|_| "helm".to_owned());
    let out = Command::new(&helm)
        .args(args)
        .args(["--namespace", &namespace()])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {helm}: {e}"));
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `helm upgrade --install` with the values `make e2e` used plus `extra`, waiting for the pods.
pub fn upgrade(extra: &[&str]) {
    let chart = std::env::var("TRACEJOB_E2E_CHART")
        .unwrap_or_else(|_| format!("{}/../../charts/tracejob", env!("CARGO_MANIFEST_DIR")));
    let values = var("TRACEJOB_E2E_HELM_ARGS", "");
    let release = release();
    let mut args = vec![
        "upgrade",
        "--install",
        "--wait",
        "--timeout",
        "5m",
        &release,
        &chart,
    ];
    args.extend(values.split_whitespace());
    args.extend(extra);
    helm(&args).unwrap_or_else(|e| panic!("helm upgrade failed: {e}"));
}

pub fn uninstall() {
    helm(&["uninstall", &release(), "--wait"])
        .unwrap_or_else(|e| panic!("helm uninstall failed: {e}"));
}
