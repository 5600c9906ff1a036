//! Helpers shared by the bench binaries.

pub mod process_memory;
