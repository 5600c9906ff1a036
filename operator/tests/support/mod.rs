#![allow(
    dead_code,
    reason = "each test target uses a different part of the support code"
)]

pub mod cluster;
pub mod fixtures;
pub mod mock;
pub mod poll;
pub mod reconcile;
