//! Kernel addresses to function names through /proc/kallsyms. A kernel address itself never
//! leaves the engine: a frame without a name is `[kernel]`, and with
//! `kernel.kptr_restrict=2` (hide kernel addresses from everyone) kallsyms is not read.

use std::io;

/// The name of a kernel frame whose function cannot be named.
pub const UNNAMED_KERNEL_FRAME: &str = "[kernel]";

#[derive(Debug, Default)]
pub struct KernelSymbols {
    /// Text symbols sorted by address.
    symbols: Vec<(u64, String)>,
}

impl KernelSymbols {
    /// Reads /proc/kallsyms (addresses read as 0 when kptr_restrict hides them from this
    /// process), unless `kernel.kptr_restrict` is 2: then the table stays empty.
    pub fn load() -> io::Result<Self> {
        let restrict = std::fs::read_to_string("/proc/sys/kernel/kptr_restrict")?;
        if hides_from_everyone(&restrict) {
            return Ok(KernelSymbols::default());
        }
        Ok(Self::parse(&std::fs::read_to_string("/proc/kallsyms")?))
    }

    /// Parses kallsyms lines (`ffffffff81000000 T _stext [module]`), keeping code symbols.
    pub fn parse(text: &str) -> Self {
        let mut symbols: Vec<(u64, String)> = text
            .lines()
            .filter_map(|line| {
                let mut parts = line.split_whitespace();
                let address = u64::from_str_radix(parts.next()?, 16).ok()?;
                let kind = parts.next()?;
                let name = parts.next()?;
                (address != 0 && matches!(kind, "t" | "T" | "w" | "W"))
                    .then(|| (address, name.to_owned()))
            })
            .collect();
        symbols.sort_unstable();
        KernelSymbols { symbols }
    }

    /// The name to show for a kernel frame at `address`: its function, or
    /// [`UNNAMED_KERNEL_FRAME`], never the address.
    pub fn frame_name(&self, address: u64) -> String {
        self.name(address)
            .unwrap_or(UNNAMED_KERNEL_FRAME)
            .to_owned()
    }

    /// The function containing `address`, if any symbol precedes it.
    pub fn name(&self, address: u64) -> Option<&str> {
        let index = self.symbols.partition_point(|(start, _)| *start <= address);
        index.checked_sub(1).map(|i| self.symbols[i].1.as_str())
    }
}

/// `kernel.kptr_restrict` 2 (or an unreadable value: assume the strictest): kernel
/// addresses are for no one.
fn hides_from_everyone(setting: &str) -> bool {
    setting
        .trim()
        .parse::<u32>()
        .map_or(true, |level| level >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KALLSYMS: &str = "\
ffffffff81000000 T _stext
ffffffff81000100 t do_one_initcall
ffffffff81000200 D some_data
ffffffffc0000000 t ext4_read [ext4]
0000000000000000 A fixed_percpu_data
";

    #[test]
    fn an_address_resolves_to_the_code_symbol_that_precedes_it() {
        let symbols = KernelSymbols::parse(KALLSYMS);
        assert_eq!(symbols.name(0xffffffff81000000), Some("_stext"));
        assert_eq!(symbols.name(0xffffffff810000ff), Some("_stext"));
        assert_eq!(symbols.name(0xffffffff81000250), Some("do_one_initcall"));
        assert_eq!(symbols.name(0xffffffffc0000010), Some("ext4_read"));
        assert_eq!(symbols.name(0x1000), None);
    }

    #[test]
    fn hidden_addresses_give_an_empty_table_and_frames_without_addresses() {
        let symbols = KernelSymbols::parse("0000000000000000 T _stext\n");
        assert_eq!(symbols.name(0xffffffff81000000), None);
        assert_eq!(symbols.frame_name(0xffffffff81000000), "[kernel]");
    }

    #[test]
    fn a_named_frame_keeps_its_function_name() {
        let symbols = KernelSymbols::parse(KALLSYMS);
        assert_eq!(symbols.frame_name(0xffffffff81000250), "do_one_initcall");
        assert_eq!(symbols.frame_name(0x1000), "[kernel]", "below every symbol");
    }

    #[test]
    fn kptr_restrict_two_or_unknown_hides_kernel_addresses_from_everyone() {
        assert!(!hides_from_everyone("0\n"));
        assert!(!hides_from_everyone("1\n"));
        assert!(hides_from_everyone("2\n"));
        assert!(hides_from_everyone("garbage"));
    }
}
