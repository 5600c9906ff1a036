//! Helpers for the agent's tests over real sockets: certificates made on the spot, agent
//! processes (the built binary), pod-like cgroups and workloads with known syscalls.

#![allow(dead_code, reason = "each test target uses a different subset")]

pub mod certs;
pub mod client;
pub mod jobs;
pub mod process;
pub mod workload;
