//! Gives freed heap back to the kernel. A forgotten job frees its engine and its stream
//! buffer (tens of megabytes for an event tool under load), but glibc keeps freed memory
//! in its arenas, so an idle agent would stay as large as its busiest moment.

/// Returns the free memory at the top of glibc's heaps to the kernel.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}
