//! User-space addresses to function names through the ELF symbols of the files each
//! process maps (blazesym does the ELF work).
//!
//! Processes are remembered on first sight, while they run (see `ProcessMaps`); a
//! process never remembered is read at symbolisation time if it still exists, and its
//! frames fall back to hexadecimal addresses if it does not.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use blazesym::symbolize::source::{Elf, Source};
use blazesym::symbolize::{Input, Symbolizer};

use super::process::{MappedFile, OpenFiles, ProcessMaps};

/// A file and the (index in the request, offset in the file) pairs to look up in it.
type Wanted<'a> = (&'a Arc<MappedFile>, Vec<(usize, u64)>);

#[derive(Debug, Default)]
pub struct ProcessTable {
    files: OpenFiles,
    processes: HashMap<u32, ProcessMaps>,
}

impl ProcessTable {
    /// Reads the mappings of `tgid` now (a new process, or one that just exec'd).
    pub fn remember(&mut self, tgid: u32) {
        if let Ok(maps) = ProcessMaps::read(tgid, &mut self.files) {
            self.processes.insert(tgid, maps);
        }
    }

    /// Function names for `addresses` of process `tgid`, in order; unknown ones as
    /// `file+0xOFFSET`, or `0xADDRESS` outside any mapped file.
    pub fn resolve(
        &mut self,
        symbolizer: &Symbolizer,
        tgid: u32,
        addresses: &[u64],
    ) -> Vec<String> {
        let missing = |maps: &ProcessMaps| addresses.iter().any(|a| maps.find(*a).is_none());
        // A library loaded after first sight, or a process never seen: read it again.
        if self.processes.get(&tgid).is_none_or(missing) {
            self.remember(tgid);
        }
        let Some(maps) = self.processes.get(&tgid) else {
            return addresses.iter().map(|a| format!("{a:#x}")).collect();
        };
        let mut names: Vec<Option<String>> = vec![None; addresses.len()];
        let mut by_file: HashMap<*const MappedFile, Wanted<'_>> = HashMap::new();
        for (index, address) in addresses.iter().enumerate() {
            if let Some((file, offset)) = maps.find(*address) {
                by_file
                    .entry(Arc::as_ptr(file))
                    .or_insert_with(|| (file, Vec::new()))
                    .1
                    .push((index, offset));
            }
        }
        for (file, wanted) in by_file.into_values() {
            let offsets: Vec<u64> = wanted.iter().map(|(_, offset)| *offset).collect();
            let mut elf = Elf::new(format!("/proc/self/fd/{}", file.file.as_raw_fd()));
            elf.debug_syms = false;
            let Ok(symbols) = symbolizer.symbolize(&Source::Elf(elf), Input::FileOffset(&offsets))
            else {
                continue;
            };
            for ((index, offset), symbol) in wanted.iter().zip(symbols) {
                names[*index] = Some(match symbol.into_sym() {
                    Some(sym) => sym.name.into_owned(),
                    None => format!("{}+{offset:#x}", base_name(&file.path)),
                });
            }
        }
        names
            .into_iter()
            .zip(addresses)
            .map(|(name, address)| name.unwrap_or_else(|| format!("{address:#x}")))
            .collect()
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn a_function_with_a_recognisable_name() -> u64 {
        std::hint::black_box(42)
    }

    #[test]
    fn a_function_of_this_test_binary_resolves_to_its_name() {
        let mut table = ProcessTable::default();
        let symbolizer = Symbolizer::new();
        let address = a_function_with_a_recognisable_name as *const () as u64;
        let names = table.resolve(&symbolizer, std::process::id(), &[address + 1, 8]);
        assert!(
            names[0].ends_with("a_function_with_a_recognisable_name"),
            "{names:?}"
        );
        assert_eq!(names[1], "0x8");
    }

    #[test]
    fn a_process_that_is_gone_falls_back_to_addresses() {
        let mut table = ProcessTable::default();
        let names = table.resolve(&Symbolizer::new(), u32::MAX, &[0x1234]);
        assert_eq!(names, ["0x1234"]);
    }
}
