//! Syscall names and numbers of the machine's architecture.

#[cfg(target_arch = "x86_64")]
use crate::syscall_table::X86_64 as TABLE;

#[cfg(not(target_arch = "x86_64"))]
const TABLE: &[(u32, &str)] = &[];

/// The name of syscall `nr`, or `syscall_<nr>` for one the table does not know.
pub fn name(nr: u32) -> String {
    match TABLE.binary_search_by_key(&nr, |(n, _)| *n) {
        Ok(index) => TABLE[index].1.to_owned(),
        Err(_) => format!("syscall_{nr}"),
    }
}

/// The number of the syscall called `name` (`sys_` prefix optional).
pub fn number(name: &str) -> Option<u32> {
    let name = name.strip_prefix("sys_").unwrap_or(name);
    TABLE.iter().find(|(_, n)| *n == name).map(|(nr, _)| *nr)
}

/// The known names closest to an unknown one, for "did you mean" hints.
pub fn suggestions(unknown: &str) -> Vec<&'static str> {
    let mut near: Vec<&'static str> = TABLE
        .iter()
        .map(|(_, n)| *n)
        .filter(|n| n.contains(unknown) || unknown.contains(*n))
        .collect();
    near.truncate(5);
    near
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        assert_eq!(name(110), "getppid");
        assert_eq!(name(39), "getpid");
        assert_eq!(number("getppid"), Some(110));
        assert_eq!(number("sys_openat"), Some(257));
        assert_eq!(number("not_a_syscall"), None);
        assert_eq!(name(511), "syscall_511");
    }

    #[test]
    fn the_table_is_sorted_for_binary_search() {
        assert!(TABLE.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }
}
