//! A simulated fleet for the real operator (issue #14): N Node objects and M Pods per node on
//! the real API server, their status written as kwok writes it (no kubelet), and one process
//! serving a simulated `tracejob-agent` per node, each on the node's own loopback address
//! over mutual TLS, producing synthetic events at a set rate with exactly known totals.
//!
//! - [`sim`]: the agents' state in domain terms; [`service`]: the only file that speaks
//!   `tracejob.agent.v1`.
//! - [`cluster`]: Nodes and Pods; [`operator`]: the real operator binary and its usage;
//!   [`apiserver`]: the API server's request counts; [`stored`]: events read back from storage.
//! - [`harness`]: all of it started together, for the churn test and `make bench-fleet`;
//!   [`scenarios`], [`figures`] and [`report`]: the bench's measurements and `fleet.md`.

pub mod apiserver;
pub mod certs;
pub mod cluster;
pub mod figures;
pub mod harness;
pub mod kubeconfig;
pub mod operator;
pub mod report;
pub mod scenarios;
pub mod service;
pub mod sim;
pub mod stored;
