//! A hint to the CPU to start loading memory that is about to be read.
//!
//! Copying and rendering a large store walk hundreds of thousands of series whose attributes and
//! label text sit in separate heap blocks, allocated when each series was created and scattered
//! since: each is a cache miss, and with nothing else to do the CPU waits for it (a profile of
//! a 200,000-series page put a third of the render's own time on one such load). Asking for the
//! block of a series a few places ahead lets those loads overlap.

/// How many series ahead of the one being copied or rendered their blocks are asked for.
pub(crate) const PREFETCH_AHEAD: usize = 8;

/// Starts loading the cache line at `p` into the caches. Only a hint: any address is fine
/// (nothing is read through it, and a bad address does not fault), and no result depends on it.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: `_mm_prefetch` needs SSE, part of every x86-64 CPU (the baseline the crate is
    // built for), and it is a hint: it never faults, whatever the address, and changes no state
    // the program can observe.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
