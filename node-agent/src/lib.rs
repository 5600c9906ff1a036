//! The node agent: a tonic server (`tracejob.agent.v1.Agent`) that runs tracejob's engine
//! for the operator. It lives in its own crate, not in `engine`, so the engine (and the
//! `tracejob run` CLI built on it) stays free of tokio, tonic and TLS.

pub mod capabilities;
pub mod convert;
pub mod identity;
pub mod jobs;
pub mod origins;
pub mod resolve;
pub mod ring;
pub mod service;
pub mod state;
pub mod tls;
pub mod validate;

pub use jobs::{Jobs, Settings};
pub use service::AgentService;
