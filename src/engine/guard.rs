//! The canary guard's window: a guarded canary's answers counted in time buckets, in the compact
//! encoding every worker of a proxy shares, and the rule that halts the canary. Pure: the skin
//! keeps the bytes in shared data and reads the clock.

use crate::plan::Guard;

/// Flag byte: the canary is halted for good (until another revision, which counts afresh).
const HALTED: u8 = 1;
/// Bucket number, answers, 5xx answers.
type Bucket = [u32; 3];
const BUCKET_BYTES: usize = 12;

/// One route's shared counts: a flag byte, then per bucket its number, its answers and its 5xx
/// answers, each a little-endian u32. Bucket `n` covers seconds `[n * bucket_s, (n + 1) * bucket_s)`
/// and lives in slot `n % buckets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub halted: bool,
    buckets: Vec<Bucket>,
}

/// Whether shared bytes say halted, without decoding the buckets.
pub fn is_halted(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|flags| flags & HALTED != 0)
}

impl Window {
    /// The window in `bytes`; empty buckets when they do not fit `guard` (absent, damaged, or
    /// written for another window length), the halt kept in any case.
    pub fn decode(bytes: &[u8], guard: &Guard) -> Window {
        let mut buckets = vec![[0; 3]; guard.buckets as usize];
        let body = bytes.get(1..).unwrap_or_default();
        if body.len() == buckets.len() * BUCKET_BYTES {
            let words = body
                .chunks_exact(4)
                .map(|w| u32::from_le_bytes(w.try_into().unwrap_or_default()));
            for (slot, word) in buckets.iter_mut().flatten().zip(words) {
                *slot = word;
            }
        }
        Window {
            halted: is_halted(bytes),
            buckets,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.buckets.len() * BUCKET_BYTES);
        out.push(if self.halted { HALTED } else { 0 });
        for word in self.buckets.iter().flatten() {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// Count one answer at `now_s` (Unix seconds). True when this answer halts the canary: the
    /// window now holds at least `min_requests` answers and more than `max_error_rate` are 5xx.
    pub fn record(&mut self, guard: &Guard, now_s: u64, error: bool) -> bool {
        if self.halted {
            return false;
        }
        let number = bucket_number(guard, now_s);
        let Some(bucket) = number
            .checked_rem(guard.buckets)
            .and_then(|slot| self.buckets.get_mut(slot as usize))
        else {
            return false;
        };
        if bucket[0] != number || bucket[1] == 0 {
            *bucket = [number, 0, 0];
        }
        bucket[1] = bucket[1].saturating_add(1);
        bucket[2] = bucket[2].saturating_add(u32::from(error));
        let (answers, errors) = self.counts(guard, now_s);
        self.halted = answers >= u64::from(guard.min_requests)
            && errors * 1_000_000 > u64::from(guard.max_errors_ppm) * answers;
        self.halted
    }

    /// Answers and 5xx answers within the window that ends at `now_s`.
    pub fn counts(&self, guard: &Guard, now_s: u64) -> (u64, u64) {
        let now = bucket_number(guard, now_s);
        self.buckets
            .iter()
            // A bucket from the future (the clock went back) wraps around and is left out.
            .filter(|b| b[1] > 0 && now.wrapping_sub(b[0]) < guard.buckets)
            .fold((0, 0), |(answers, errors), b| {
                (answers + u64::from(b[1]), errors + u64::from(b[2]))
            })
    }
}

fn bucket_number(guard: &Guard, now_s: u64) -> u32 {
    u32::try_from(now_s / u64::from(guard.bucket_s.max(1))).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20%, 5 answers, 10 one-second buckets.
    const GUARD: Guard = Guard {
        max_errors_ppm: 200_000,
        min_requests: 5,
        bucket_s: 1,
        buckets: 10,
    };

    fn empty() -> Window {
        Window::decode(&[], &GUARD)
    }

    #[test]
    fn more_than_the_rate_of_errors_halts_once_enough_answers_arrived() {
        let mut w = empty();
        assert!(
            !w.record(&GUARD, 100, true),
            "1 answer is below min_requests"
        );
        for _ in 0..3 {
            assert!(!w.record(&GUARD, 100, false));
        }
        assert!(
            !w.record(&GUARD, 101, false),
            "1 of 5 is 20%: not more than 20%"
        );
        assert!(w.record(&GUARD, 101, true), "2 of 6 is more than 20%");
        assert!(w.halted);
        assert!(!w.record(&GUARD, 102, true), "halting happens once");
    }

    #[test]
    fn answers_older_than_the_window_do_not_count() {
        let mut w = empty();
        for _ in 0..4 {
            w.record(&GUARD, 100, true);
        }
        assert_eq!(w.counts(&GUARD, 109), (4, 4));
        assert_eq!(w.counts(&GUARD, 110), (0, 0));
        assert!(!w.record(&GUARD, 110, true), "the four old errors expired");
        assert_eq!(w.counts(&GUARD, 110), (1, 1));
    }

    #[test]
    fn the_encoding_round_trips_and_damaged_bytes_count_afresh() {
        let mut w = empty();
        w.record(&GUARD, 100, true);
        w.record(&GUARD, 103, false);
        let bytes = w.encode();
        assert_eq!(bytes.len(), 1 + 10 * 12);
        assert_eq!(Window::decode(&bytes, &GUARD), w);
        let damaged = Window::decode(&bytes[..7], &GUARD);
        assert_eq!(damaged, empty());
        assert!(Window::decode(&[1, 2, 3], &GUARD).halted);
        assert!(is_halted(&[1]) && !is_halted(&[]) && !is_halted(&[0]));
    }

    #[test]
    fn a_clock_that_goes_back_neither_counts_the_future_nor_panics() {
        let mut w = empty();
        w.record(&GUARD, 200, true);
        assert_eq!(w.counts(&GUARD, 150), (0, 0));
        w.record(&GUARD, 0, false);
        w.record(&GUARD, u64::MAX, false);
    }
}
