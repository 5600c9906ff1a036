//! The `profile` summary's rows: the top functions and every folded stack.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunctionRow {
    pub function: String,
    pub kernel: bool,
    /// Samples taken while this function was running.
    pub self_samples: u64,
    /// Samples with this function anywhere on the stack.
    pub total_samples: u64,
}

/// `comm;outermost;...;sampled` (kernel frames end in `_[k]`) and its sample count.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FoldedStack {
    pub stack: String,
    pub count: u64,
}
