//! The end-to-end suite's harness: the product as a user meets it, on a real cluster where the
//! Helm chart runs the operator and the agent as pods (`make e2e` builds a one-node cluster on
//! this machine; `e2e/kind` points the same tests at a kind cluster).
//!
//! Every test is `#[ignore]`d so `cargo test --workspace` never touches a cluster; `make e2e`
//! runs them with `-- --ignored --test-threads=1`, the cluster found through `KUBECONFIG`.

pub mod agent;
pub mod bpf;
pub mod cluster;
pub mod figures;
pub mod helm;
pub mod jobs;
pub mod workload;

/// What the suite waits for at most before it calls a step failed.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(90);
