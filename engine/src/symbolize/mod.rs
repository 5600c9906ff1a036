//! Sampled addresses to function names: kernel frames through /proc/kallsyms, user
//! frames through the ELF symbols of each process's mapped files.

mod kernel;
mod process;
mod user;

pub use kernel::KernelSymbols;
pub use user::ProcessTable;
