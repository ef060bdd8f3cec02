//! Heap statistics of the allocator in use, for `GET /debug/pprof/allocator`.
//!
//! Vigil does not replace the global allocator, so on Linux with glibc that is glibc's malloc,
//! and its figures come from `mallinfo2(3)` (glibc 2.33 and later). With `malloc_trim(3)`, run
//! after each CPU profile (whose sampler frees a table of about 100 MB and allocates a new one,
//! see [`super::cpu`]), these are the collector's FFI calls and its only `unsafe`: neither has
//! preconditions; both take the arenas' locks themselves, which costs microseconds for the
//! handful of arenas a collector has (trimming: milliseconds, once per profile). Go's heap profile has no counterpart
//! here: sampling allocations would need an allocator of our own in every build; these totals
//! answer the operator's first question (is the memory live data, freed-but-retained, or
//! mmapped?). Elsewhere (musl, other systems) the answer says the figures are unavailable.

use serde::Serialize;

/// The answer of `/debug/pprof/allocator`.
#[derive(Debug, Serialize)]
pub struct Stats {
    /// Which allocator the figures are from.
    pub allocator: &'static str,
    /// The figures, in bytes; `None` where this build cannot read them.
    pub heap: Option<Heap>,
    /// The process' resident set (`/proc/self/statm`), bytes.
    pub resident_bytes: Option<u64>,
}

/// glibc's `mallinfo2` figures, renamed for what they mean (glibc's field name in brackets).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Heap {
    /// Bytes in use by the program: in arenas (`uordblks`) plus in mmapped chunks (`hblkhd`).
    pub in_use_bytes: u64,
    /// Bytes obtained from the system with `brk`/`sbrk` for the arenas (`arena`).
    pub arena_bytes: u64,
    /// Bytes held in the arenas' free chunks: retained, not returned to the system (`fordblks`).
    pub free_bytes: u64,
    /// Free chunks in the arenas (`ordblks`).
    pub free_chunks: u64,
    /// Bytes in freed fastbin chunks (`fsmblks`), part of `free_bytes`.
    pub fastbin_free_bytes: u64,
    /// Bytes allocated directly with `mmap` for large requests (`hblkhd`).
    pub mmap_bytes: u64,
    /// Chunks allocated with `mmap` (`hblks`).
    pub mmap_chunks: u64,
    /// Bytes at the top of the main arena that `malloc_trim` could give back (`keepcost`).
    pub releasable_bytes: u64,
}

/// The figures now.
pub fn stats() -> Stats {
    Stats {
        allocator: ALLOCATOR,
        heap: heap(),
        resident_bytes: crate::processors::memory_limiter::resident_bytes(),
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ALLOCATOR: &str = "glibc malloc";
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
const ALLOCATOR: &str = "the system allocator (figures need glibc's mallinfo2)";

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn heap() -> Option<Heap> {
    // SAFETY: `mallinfo2` takes no arguments, has no preconditions, may be called from any
    // thread at any time (it takes the arenas' locks itself) and returns a struct by value.
    let info = unsafe { libc::mallinfo2() };
    let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    Some(Heap {
        in_use_bytes: n(info.uordblks).saturating_add(n(info.hblkhd)),
        arena_bytes: n(info.arena),
        free_bytes: n(info.fordblks),
        free_chunks: n(info.ordblks),
        fastbin_free_bytes: n(info.fsmblks),
        mmap_bytes: n(info.hblkhd),
        mmap_chunks: n(info.hblks),
        releasable_bytes: n(info.keepcost),
    })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap() -> Option<Heap> {
    None
}

/// Gives the heap's free pages back to the system (glibc's `malloc_trim(0)`); a no-op elsewhere.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn trim() {
    // SAFETY: `malloc_trim` takes the number of bytes to keep at the top of the heap, has no
    // other precondition and locks the arenas itself; its result only says whether any memory
    // was released.
    let _released = unsafe { libc::malloc_trim(0) };
}

/// Gives the heap's free pages back to the system (glibc's `malloc_trim(0)`); a no-op elsewhere.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}
