//! The `blockio` summary's rows: one per device.

use serde::Serialize;

use crate::latency::Latency;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceRow {
    pub device: String,
    pub major_minor: String,
    /// Requests that completed with an error.
    pub errors: u64,
    #[serde(flatten)]
    pub latency: Latency,
}
