//! The kernel's BTF, parsed once per process: parsing /sys/kernel/btf/vmlinux costs
//! 8-15 ms, and loading (CO-RE relocation) and tp_btf/fentry attaching each need it.

use std::sync::OnceLock;

use aya::programs::ProgramError;
use aya::{Btf, BtfError};

/// The running kernel's BTF.
pub fn kernel() -> Result<&'static Btf, ProgramError> {
    static KERNEL_BTF: OnceLock<Result<Btf, BtfError>> = OnceLock::new();
    match KERNEL_BTF.get_or_init(Btf::from_sys_fs) {
        Ok(btf) => Ok(btf),
        // The cached error cannot be handed out; parsing again gives the same one, owned.
        Err(_) => Err(ProgramError::Btf(
            Btf::from_sys_fs().err().unwrap_or(BtfError::InvalidHeader),
        )),
    }
}
