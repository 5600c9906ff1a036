//! The end-to-end suite, one test binary (one link of kube and the operator, not five).
//! Every test is `#[ignore]`d: `make e2e` runs them with `-- --ignored --test-threads=1`.

mod agent_restart;
mod counts;
mod events;
mod figures;
mod helm;
mod lifecycle;
mod logs;
mod metrics;
