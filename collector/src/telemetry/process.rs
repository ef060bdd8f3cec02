//! The process's own figures: resident memory, CPU time and uptime, read from `/proc`.

use std::time::Duration;

/// Resident set, bytes (`/proc/self/statm`), as the memory limiter measures it.
pub fn resident_bytes() -> Option<u64> {
    crate::processors::memory_limiter::resident_bytes()
}

/// User plus system CPU time of the whole process (every thread), from `/proc/self/stat`.
///
/// The kernel reports it in `USER_HZ` ticks, which is 100 on every architecture Vigil builds
/// for (it is fixed by the ABI, whatever the kernel's own tick rate), so no `sysconf` call is
/// needed.
pub fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_time_of(&stat)
}

const USER_HZ: u64 = 100;

fn cpu_time_of(stat: &str) -> Option<Duration> {
    // The command name (field 2) is in parentheses and may hold spaces: count fields after the
    // last ')'. utime and stime are fields 14 and 15, so the 12th and 13th after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    let ticks = user.saturating_add(system);
    Some(Duration::from_millis(ticks.saturating_mul(1000 / USER_HZ)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_utime_plus_stime_after_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 500 0 0 0 123 77 0 0 20 0 9 0";
        assert_eq!(cpu_time_of(stat), Some(Duration::from_millis(2000)));
        assert_eq!(cpu_time_of("4242 (x) S 1"), None);
    }

    #[test]
    fn this_process_has_a_resident_set_and_cpu_time() {
        assert!(resident_bytes().is_some_and(|b| b > 0));
        assert!(cpu_time().is_some());
    }
}
