//! Kernel addresses to function names through /proc/kallsyms.

use std::io;

#[derive(Debug, Default)]
pub struct KernelSymbols {
    /// Text symbols sorted by address.
    symbols: Vec<(u64, String)>,
}

impl KernelSymbols {
    /// Reads /proc/kallsyms; addresses read as 0 when kptr_restrict hides them.
    pub fn load() -> io::Result<Self> {
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

    /// The function containing `address`, if any symbol precedes it.
    pub fn name(&self, address: u64) -> Option<&str> {
        let index = self.symbols.partition_point(|(start, _)| *start <= address);
        index.checked_sub(1).map(|i| self.symbols[i].1.as_str())
    }
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
    fn hidden_addresses_give_an_empty_table() {
        let symbols = KernelSymbols::parse("0000000000000000 T _stext\n");
        assert_eq!(symbols.name(0xffffffff81000000), None);
    }
}
