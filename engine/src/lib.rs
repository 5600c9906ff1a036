//! tracejob's node-side engine: loads the pre-compiled eBPF programs of a tool, scopes
//! them to cgroup v2 directories, and turns what they collect into events and a summary.
//! `tracejob run` drives it directly; the node agent drives it for the operator.

mod aggregate;
pub mod artifacts;
pub mod btf;
pub mod cgroup;
pub mod cgroup_walk;
mod error;
pub mod heap;
mod histogram;
mod job;
pub mod latency;
mod maps;
pub mod probe;
mod reader;
pub mod records;
pub mod summary;
mod symbolize;
mod syscall_names;
mod syscall_table;
pub mod thread_map;
mod tools;

pub use aggregate::Counts;
pub use artifacts::Artifact;
pub use error::EngineError;
pub use histogram::Bucket;
pub use job::{Job, JobConfig};
pub use probe::ProbeKind;
pub use syscall_names::{name as syscall_name, number as syscall_number};
pub use thread_map::ThreadMap;
