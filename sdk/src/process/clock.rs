//! The kernel's clock tick rate (`USER_HZ`), the unit of the CPU times in
//! `/proc/<pid>/stat`, read from the system once.
//!
//! C programs ask `sysconf(_SC_CLK_TCK)`. That call is out of reach here:
//! the workspace forbids `unsafe`, and a libc binding only for it is not
//! worth a dependency. But glibc's and musl's `sysconf(_SC_CLK_TCK)` only
//! return the `AT_CLKTCK` entry of the auxiliary vector the kernel hands
//! every process at exec, and Linux publishes that vector, unchanged, in
//! `/proc/self/auxv`. So this reads the same number `sysconf` would, with a
//! file read and no subprocess (`getconf CLK_TCK` would fork at start-up).
//!
//! When `/proc/self/auxv` cannot be read or holds no `AT_CLKTCK` (not Linux,
//! a sandbox hiding `/proc`), the rate falls back to [`FALLBACK`], 100:
//! `USER_HZ` is 100 on every architecture Linux still supports (x86,
//! arm, arm64, riscv, powerpc, s390), which is also what glibc falls back to.

use std::sync::OnceLock;

/// The rate used when the system does not say: 100 ticks a second.
pub(crate) const FALLBACK: u64 = 100;

/// `AT_CLKTCK` in `<elf.h>`: the auxiliary vector entry holding `USER_HZ`.
const AT_CLKTCK: u64 = 17;
/// `AT_NULL`: the entry that ends the vector.
const AT_NULL: u64 = 0;

/// Clock ticks per second, read once from `/proc/self/auxv` ([`FALLBACK`]
/// when it cannot be read).
pub(crate) fn clk_tck() -> u64 {
    static CLK_TCK: OnceLock<u64> = OnceLock::new();
    *CLK_TCK.get_or_init(|| {
        std::fs::read("/proc/self/auxv")
            .ok()
            .and_then(|auxv| parse_auxv(&auxv, std::mem::size_of::<usize>()))
            .unwrap_or(FALLBACK)
    })
}

/// The `AT_CLKTCK` value of an auxiliary vector: (type, value) pairs of
/// native-endian words of `word` bytes (the target's pointer size), ended by
/// `AT_NULL`. `None` when absent, zero, or the bytes are malformed.
pub(crate) fn parse_auxv(auxv: &[u8], word: usize) -> Option<u64> {
    let read = |bytes: &[u8]| -> Option<u64> {
        match word {
            8 => Some(u64::from_ne_bytes(bytes.try_into().ok()?)),
            4 => Some(u64::from(u32::from_ne_bytes(bytes.try_into().ok()?))),
            _ => None,
        }
    };
    if word != 4 && word != 8 {
        return None;
    }
    for pair in auxv.chunks_exact(2 * word) {
        let (kind, value) = pair.split_at(word);
        match read(kind)? {
            AT_NULL => return None,
            AT_CLKTCK => return read(value).filter(|hz| *hz > 0),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auxv64(pairs: &[(u64, u64)]) -> Vec<u8> {
        pairs
            .iter()
            .flat_map(|(k, v)| k.to_ne_bytes().into_iter().chain(v.to_ne_bytes()))
            .collect()
    }

    #[test]
    fn finds_at_clktck_among_other_entries() {
        // AT_PAGESZ = 6, AT_CLKTCK = 17, AT_NULL.
        let auxv = auxv64(&[(6, 4096), (17, 250), (0, 0)]);
        assert_eq!(parse_auxv(&auxv, 8), Some(250));
    }

    #[test]
    fn reads_32_bit_vectors() {
        let auxv: Vec<u8> = [6u32, 4096, 17, 100, 0, 0]
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect();
        assert_eq!(parse_auxv(&auxv, 4), Some(100));
    }

    #[test]
    fn absent_zero_truncated_or_after_the_end_is_none() {
        assert_eq!(parse_auxv(&auxv64(&[(6, 4096), (0, 0)]), 8), None);
        assert_eq!(parse_auxv(&auxv64(&[(17, 0)]), 8), None);
        assert_eq!(parse_auxv(&auxv64(&[(0, 0), (17, 100)]), 8), None);
        assert_eq!(parse_auxv(&auxv64(&[(17, 100)])[..12], 8), None);
        assert_eq!(parse_auxv(&[], 8), None);
        assert_eq!(parse_auxv(&auxv64(&[(17, 100)]), 3), None);
        assert_eq!(parse_auxv(&auxv64(&[(17, 100)]), 0), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_a_tick_rate_matching_getconf() {
        let getconf = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<u64>().ok());
        // getconf may be missing in a minimal image; the rate must still be sane.
        assert_eq!(clk_tck(), getconf.unwrap_or(clk_tck()));
        assert!(clk_tck() > 0);
    }
}
