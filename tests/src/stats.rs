//! The statistics the benchmarks report, and the figures of /proc they
//! read.

use std::time::Duration;

/// The median of `samples` (the mean of the middle two for an even count).
/// Panics on an empty slice: a benchmark that measured nothing is a bug.
pub fn median(samples: &[Duration]) -> Duration {
    assert!(!samples.is_empty(), "median of no samples");
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}

/// The number a `/proc/PID/status` or `smaps_rollup` line `NAME:` starts
/// with (kB for sizes, a count for the context switches).
pub fn proc_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_and_even_counts() {
        let ms = |v: &[u64]| v.iter().map(|&m| Duration::from_millis(m)).collect::<Vec<_>>();
        assert_eq!(median(&ms(&[5, 1, 3])), Duration::from_millis(3));
        assert_eq!(median(&ms(&[4, 1, 3, 2])), Duration::from_micros(2500));
    }

    #[test]
    fn fields_of_status_and_smaps_rollup() {
        let text = "Name:\tx\nVmRSS:\t    4242 kB\nvoluntary_ctxt_switches:\t17\nPss:  12 kB\n";
        assert_eq!(proc_field(text, "VmRSS"), Some(4242));
        assert_eq!(proc_field(text, "voluntary_ctxt_switches"), Some(17));
        assert_eq!(proc_field(text, "Pss"), Some(12));
        assert_eq!(proc_field(text, "Pss_Anon"), None);
    }
}
