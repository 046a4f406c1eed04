//! The canary guard's arithmetic: the answers of a guarded canary (and, where the latency guard
//! compares with it, of the route's base cluster) counted in time slots, with latency histograms;
//! the verdict that halts the canary; and the compact encoding every worker of a proxy shares.
//! Pure: the skin keeps the bytes in shared data, reads the clock, and hands counts over.

use crate::plan::Guard;
use std::fmt;

/// How many latency bounds there are; see [`BOUNDS`].
const BOUND_COUNT: usize = 204;
/// Each bound is this much above the one before it (before truncation to whole microseconds).
const GROWTH: f64 = 1.08;

/// Latency histogram bounds, microseconds: bin 0 holds latencies below `BOUNDS[0]` (0.1 ms), bin
/// `k` those in `[BOUNDS[k - 1], BOUNDS[k])`, the last bin everything from 600 s on. Neighbouring
/// bounds are within 10 % of each other (8 %, plus under 1 % of truncation), so a quantile read
/// as its bin's upper bound is within 10 % of the true one.
pub const BOUNDS: [u64; BOUND_COUNT] = bounds();

// Evaluated at compile time, where an index out of bounds is a build error, not a trap.
#[allow(clippy::indexing_slicing)]
const fn bounds() -> [u64; BOUND_COUNT] {
    let mut out = [0; BOUND_COUNT];
    let mut bound = 100.0_f64;
    let mut i = 0;
    while i < BOUND_COUNT {
        out[i] = bound as u64;
        bound *= GROWTH;
        i += 1;
    }
    out
}

/// The histogram bin of a latency.
pub fn bin_of(latency_us: u64) -> u8 {
    u8::try_from(BOUNDS.partition_point(|&b| b <= latency_us)).unwrap_or(u8::MAX)
}

/// The latency a bin stands for: its upper bound (the last bin, open above, its lower one).
pub fn bin_latency_us(bin: u8) -> u64 {
    let last = BOUNDS.last().copied().unwrap_or(0);
    BOUNDS.get(usize::from(bin)).copied().unwrap_or(last)
}

/// Which answers a count is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Canary,
    /// The route's base cluster: stable, or the active colour.
    Base,
}

/// One side's answers in one slot: how many, how many were 5xx, and their latencies by bin
/// (sorted, only the bins that hold answers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub answers: u32,
    pub errors: u32,
    latency: Vec<(u8, u32)>,
}

impl Counts {
    fn add_latency(&mut self, bin: u8, n: u32) {
        match self.latency.binary_search_by_key(&bin, |&(b, _)| b) {
            Ok(at) => {
                if let Some((_, count)) = self.latency.get_mut(at) {
                    *count = count.saturating_add(n);
                }
            }
            Err(at) => self.latency.insert(at, (bin, n)),
        }
    }

    fn add(&mut self, other: &Counts) {
        self.answers = self.answers.saturating_add(other.answers);
        self.errors = self.errors.saturating_add(other.errors);
        for &(bin, n) in &other.latency {
            self.add_latency(bin, n);
        }
    }

    /// The `quantile` of the latencies counted, as its bin's upper bound; None without any.
    pub fn quantile_us(&self, quantile: f64) -> Option<u64> {
        let total = self.latency_answers();
        let rank = ((quantile * total as f64).ceil() as u64).clamp(1, total.max(1));
        let mut seen = 0;
        for &(bin, n) in &self.latency {
            seen += u64::from(n);
            if seen >= rank {
                return Some(bin_latency_us(bin));
            }
        }
        None
    }

    fn latency_answers(&self) -> u64 {
        self.latency.iter().map(|&(_, n)| u64::from(n)).sum()
    }
}

/// Slot `number` covers seconds `[number * bucket_s, (number + 1) * bucket_s)`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    number: u32,
    canary: Counts,
    base: Counts,
}

/// A guarded route's counts: the slots of the window (ascending, at most one per number), and
/// whether the canary is halted for good (until another revision, which counts afresh).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    pub halted: bool,
    slots: Vec<Slot>,
}

/// Why the guard halted a canary, with the figures its log line gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Halt {
    Errors {
        errors: u64,
        answers: u64,
    },
    Latency {
        quantile: f64,
        canary_us: u64,
        answers: u64,
        limit: Limit,
    },
}

/// The latency limit the canary crossed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    MaxMs(u64),
    Ratio { ratio: f64, base_us: u64 },
}

impl Halt {
    /// `3 of 10 answers were 5xx`, or `p99 latency 950 ms over 60 answers, above 1.5 × stable's
    /// 210 ms`, where `base` names the route's base (`stable`, `blue`, `green`).
    pub fn describe<'a>(&'a self, base: &'a str) -> impl fmt::Display + 'a {
        fmt::from_fn(move |f| match *self {
            Halt::Errors { errors, answers } => {
                write!(f, "{errors} of {answers} answers were 5xx")
            }
            Halt::Latency {
                quantile,
                canary_us,
                answers,
                limit,
            } => {
                let p = (quantile * 1000.0).round() as u32;
                write!(f, "p{}", p / 10)?;
                if !p.is_multiple_of(10) {
                    write!(f, ".{}", p % 10)?;
                }
                write!(
                    f,
                    " latency {} over {answers} answers, above ",
                    Ms(canary_us)
                )?;
                match limit {
                    Limit::MaxMs(max_us) => write!(f, "max_ms {}", Ms(max_us)),
                    Limit::Ratio { ratio, base_us } => {
                        write!(f, "{} × {base}'s {}", Thousandths(ratio), Ms(base_us))
                    }
                }
            }
        })
    }
}

/// A ratio to three decimals at most: `1.5`, `2`, `1.125`. (Not `{}`: std's float printing
/// would weigh more in the module than the rest of the guard.)
struct Thousandths(f64);

impl fmt::Display for Thousandths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let milli = (self.0 * 1000.0).round() as u64;
        write!(f, "{}", milli / 1000)?;
        let mut frac = milli % 1000;
        if frac == 0 {
            return Ok(());
        }
        let mut digits = 3;
        while frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        write!(f, ".{frac:0digits$}")
    }
}

/// Microseconds shown as milliseconds: `950 ms`, `2.5 ms`.
struct Ms(u64);

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = self.0.saturating_add(50) / 100;
        match tenths % 10 {
            0 => write!(f, "{} ms", tenths / 10),
            d => write!(f, "{}.{d} ms", tenths / 10),
        }
    }
}

impl Window {
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Count one answer at `now_s` (Unix seconds): its side, whether it was a 5xx, and its
    /// latency when the guard measures it.
    pub fn record(
        &mut self,
        guard: &Guard,
        now_s: u64,
        side: Side,
        error: bool,
        latency_us: Option<u64>,
    ) {
        let Some(slot) = self.slot(slot_number(guard, now_s)) else {
            return;
        };
        let counts = match side {
            Side::Canary => &mut slot.canary,
            Side::Base => &mut slot.base,
        };
        counts.answers = counts.answers.saturating_add(1);
        counts.errors = counts.errors.saturating_add(u32::from(error));
        if let Some(us) = latency_us {
            counts.add_latency(bin_of(us), 1);
        }
    }

    fn slot(&mut self, number: u32) -> Option<&mut Slot> {
        let at = match self.slots.binary_search_by_key(&number, |s| s.number) {
            Ok(at) => at,
            Err(at) => {
                let slot = Slot {
                    number,
                    canary: Counts::default(),
                    base: Counts::default(),
                };
                self.slots.insert(at, slot);
                at
            }
        };
        self.slots.get_mut(at)
    }

    /// Add `other`'s counts to these, and forget slots that have left the window ending at
    /// `now_s` (or lie in its future: a clock that went back).
    pub fn merge(&mut self, guard: &Guard, other: &Window, now_s: u64) {
        for theirs in &other.slots {
            if let Some(ours) = self.slot(theirs.number) {
                ours.canary.add(&theirs.canary);
                ours.base.add(&theirs.base);
            }
        }
        let now = slot_number(guard, now_s);
        self.slots.retain(|s| in_window(guard, s.number, now));
    }

    /// Both sides' counts over the window that ends at `now_s`.
    pub fn totals(&self, guard: &Guard, now_s: u64) -> (Counts, Counts) {
        let now = slot_number(guard, now_s);
        let (mut canary, mut base) = (Counts::default(), Counts::default());
        for slot in self
            .slots
            .iter()
            .filter(|s| in_window(guard, s.number, now))
        {
            canary.add(&slot.canary);
            base.add(&slot.base);
        }
        (canary, base)
    }

    /// Whether the window ending at `now_s` halts the canary, and why. Nothing is judged before
    /// the canary has `min_requests` answers in it; the ratio to the base cluster only when the
    /// base has as many too.
    pub fn verdict(&self, guard: &Guard, now_s: u64) -> Option<Halt> {
        let (canary, base) = self.totals(guard, now_s);
        let min = u64::from(guard.min_requests);
        let answers = u64::from(canary.answers);
        if answers < min {
            return None;
        }
        let errors = u64::from(canary.errors);
        if let Some(ppm) = guard.max_errors_ppm
            && errors * 1_000_000 > u64::from(ppm) * answers
        {
            return Some(Halt::Errors { errors, answers });
        }
        let latency = guard.latency?;
        let canary_us = canary.quantile_us(latency.quantile)?;
        let halt = |limit| Halt::Latency {
            quantile: latency.quantile,
            canary_us,
            answers: canary.latency_answers(),
            limit,
        };
        if let Some(max_us) = latency.max_us
            && canary_us > max_us
        {
            return Some(halt(Limit::MaxMs(max_us)));
        }
        let ratio = latency.max_ratio?;
        if base.latency_answers() < min {
            return None;
        }
        let base_us = base.quantile_us(latency.quantile)?;
        (canary_us as f64 > ratio * base_us as f64).then(|| halt(Limit::Ratio { ratio, base_us }))
    }

    /// The shared encoding, tagged with `revision` and when this worker applied it
    /// (`applied_ms`): a format byte, a flag byte, the revision, the instant, then each slot's
    /// number and both sides (answers, 5xx, then (bin, count) pairs), all little-endian.
    pub fn encode(&self, revision: &str, applied_ms: i64) -> Vec<u8> {
        let mut out = vec![FORMAT, u8::from(self.halted)];
        let revision = revision.as_bytes();
        let revision = revision.get(..usize::from(u16::MAX)).unwrap_or(revision);
        out.extend_from_slice(&(revision.len() as u16).to_le_bytes());
        out.extend_from_slice(revision);
        out.extend_from_slice(&applied_ms.to_le_bytes());
        out.push(u8::try_from(self.slots.len()).unwrap_or(u8::MAX));
        for slot in self.slots.iter().take(usize::from(u8::MAX)) {
            out.extend_from_slice(&slot.number.to_le_bytes());
            for counts in [&slot.canary, &slot.base] {
                out.extend_from_slice(&counts.answers.to_le_bytes());
                out.extend_from_slice(&counts.errors.to_le_bytes());
                out.push(u8::try_from(counts.latency.len()).unwrap_or(u8::MAX));
                for &(bin, n) in counts.latency.iter().take(usize::from(u8::MAX)) {
                    out.push(bin);
                    out.extend_from_slice(&n.to_le_bytes());
                }
            }
        }
        out
    }

    /// The window `bytes` hold for `revision`, applied by this worker at `applied_ms`, and whose
    /// it is. Another revision's counts are not ours: empty, and [`Owner::Newer`] when that
    /// revision was applied later (a push this worker has yet to see). Damaged counts are
    /// dropped, the halt kept.
    pub fn decode(bytes: &[u8], revision: &str, applied_ms: i64) -> (Window, Owner) {
        let mut r = Bytes(bytes);
        let header = (|| {
            (r.u8()? == FORMAT).then_some(())?;
            let halted = r.u8()? & 1 != 0;
            let len = usize::from(u16::from_le_bytes(r.array()?));
            let theirs = r.take(len)? == revision.as_bytes();
            let applied = i64::from_le_bytes(r.array()?);
            Some((halted, theirs, applied))
        })();
        let halted = match header {
            Some((halted, true, _)) => halted,
            Some((_, false, applied)) if applied > applied_ms => {
                return (Window::default(), Owner::Newer);
            }
            _ => return (Window::default(), Owner::Older),
        };
        let slots = (|| {
            let mut slots = Vec::new();
            for _ in 0..r.u8()? {
                let number = u32::from_le_bytes(r.array()?);
                let canary = r.counts()?;
                let base = r.counts()?;
                slots.push(Slot {
                    number,
                    canary,
                    base,
                });
            }
            slots.is_sorted_by_key(|s| s.number).then_some(slots)
        })();
        let window = Window {
            halted,
            slots: slots.unwrap_or_default(),
        };
        (window, Owner::Ours)
    }
}

/// Whose counts a shared value holds, as a worker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// This worker's revision: its counts add to them.
    Ours,
    /// Nobody's, or a revision applied before this worker's: counting starts afresh over it.
    Older,
    /// A revision applied after this worker's, which is still to see that push: left alone, so
    /// that a worker a push has not reached yet never resets the newer revision's window.
    Newer,
}

/// The encoding's format: a value written by another version of the filter counts afresh.
const FORMAT: u8 = 3;

struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn counts(&mut self) -> Option<Counts> {
        let answers = u32::from_le_bytes(self.array()?);
        let errors = u32::from_le_bytes(self.array()?);
        let mut latency = Vec::new();
        for _ in 0..self.u8()? {
            let bin = self.u8()?;
            latency.push((bin, u32::from_le_bytes(self.array()?)));
        }
        latency.is_sorted_by_key(|&(bin, _)| bin).then_some(Counts {
            answers,
            errors,
            latency,
        })
    }
}

fn slot_number(guard: &Guard, now_s: u64) -> u32 {
    u32::try_from(now_s / u64::from(guard.bucket_s.max(1))).unwrap_or(u32::MAX)
}

/// Whether slot `number` is within the window whose last slot is `now`.
fn in_window(guard: &Guard, number: u32, now: u32) -> bool {
    number <= now && now - number < guard.buckets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::LatencyGuard;

    /// 20%, 5 answers, 10 one-second buckets.
    const GUARD: Guard = Guard {
        max_errors_ppm: Some(200_000),
        min_requests: 5,
        bucket_s: 1,
        buckets: 10,
        latency: None,
    };

    fn answers(w: &mut Window, guard: &Guard, now_s: u64, n: usize, error: bool) {
        for _ in 0..n {
            w.record(guard, now_s, Side::Canary, error, None);
        }
    }

    #[test]
    fn more_than_the_rate_of_errors_halts_once_enough_answers_arrived() {
        let mut w = Window::default();
        answers(&mut w, &GUARD, 100, 1, true);
        assert_eq!(
            w.verdict(&GUARD, 100),
            None,
            "1 answer is below min_requests"
        );
        answers(&mut w, &GUARD, 100, 3, false);
        answers(&mut w, &GUARD, 101, 1, false);
        assert_eq!(w.verdict(&GUARD, 101), None, "1 of 5 is 20%: not more");
        answers(&mut w, &GUARD, 101, 1, true);
        assert_eq!(
            w.verdict(&GUARD, 101),
            Some(Halt::Errors {
                errors: 2,
                answers: 6
            })
        );
    }

    #[test]
    fn answers_older_than_the_window_do_not_count() {
        let mut w = Window::default();
        answers(&mut w, &GUARD, 100, 4, true);
        assert_eq!(w.totals(&GUARD, 109).0.answers, 4);
        assert_eq!(w.totals(&GUARD, 110).0.answers, 0);
        w.merge(&GUARD, &Window::default(), 110);
        assert!(w.is_empty(), "merging forgets what left the window");
    }

    #[test]
    fn merged_windows_add_up_slot_by_slot() {
        let (mut a, mut b) = (Window::default(), Window::default());
        answers(&mut a, &GUARD, 100, 3, true);
        answers(&mut b, &GUARD, 100, 2, false);
        answers(&mut b, &GUARD, 101, 2, true);
        a.merge(&GUARD, &b, 101);
        let (canary, _) = a.totals(&GUARD, 101);
        assert_eq!((canary.answers, canary.errors), (7, 5));
    }

    #[test]
    fn the_encoding_round_trips_and_another_revision_or_damage_counts_afresh() {
        let guard = Guard {
            latency: Some(LatencyGuard {
                quantile: 0.99,
                max_us: Some(1000),
                max_ratio: Some(2.0),
            }),
            ..GUARD
        };
        let mut w = Window::default();
        w.record(&guard, 100, Side::Canary, true, Some(1500));
        w.record(&guard, 103, Side::Base, false, Some(90));
        w.halted = true;
        let bytes = w.encode("r1", 1_000);
        assert_eq!(Window::decode(&bytes, "r1", 5), (w.clone(), Owner::Ours));
        let fresh = (Window::default(), Owner::Older);
        assert_eq!(
            Window::decode(&bytes, "r2", 2_000),
            fresh,
            "r1 was applied before r2"
        );
        assert_eq!(
            Window::decode(&bytes, "r0", 500),
            (Window::default(), Owner::Newer),
            "a worker still on an older revision leaves r1's window alone"
        );
        let damaged = Window::decode(&bytes[..bytes.len() - 3], "r1", 0).0;
        assert!(damaged.halted && damaged.is_empty());
        assert_eq!(Window::decode(&[], "r1", 0), fresh);
        assert_eq!(Window::decode(&[9, 1, 0, 0], "", 0), fresh);
    }

    #[test]
    fn a_halt_reads_with_its_figures() {
        let halt = Halt::Latency {
            quantile: 0.99,
            canary_us: 950_000,
            answers: 60,
            limit: Limit::Ratio {
                ratio: 1.5,
                base_us: 210_400,
            },
        };
        assert_eq!(
            halt.describe("stable").to_string(),
            "p99 latency 950 ms over 60 answers, above 1.5 × stable's 210.4 ms"
        );
        let halt = Halt::Latency {
            quantile: 0.999,
            canary_us: 2_520,
            answers: 7,
            limit: Limit::MaxMs(2_000),
        };
        assert_eq!(
            halt.describe("stable").to_string(),
            "p99.9 latency 2.5 ms over 7 answers, above max_ms 2 ms"
        );
        let halt = Halt::Errors {
            errors: 3,
            answers: 10,
        };
        assert_eq!(halt.describe("").to_string(), "3 of 10 answers were 5xx");
        assert_eq!(Thousandths(1.125).to_string(), "1.125");
        assert_eq!(Thousandths(2.0).to_string(), "2");
    }

    #[test]
    fn neighbouring_bounds_are_within_ten_percent() {
        assert_eq!(BOUNDS[0], 100);
        assert!(*BOUNDS.last().unwrap() >= 600_000_000, "600 s");
        for pair in BOUNDS.windows(2) {
            assert!(
                pair[0] < pair[1] && pair[1] as f64 <= pair[0] as f64 * 1.1,
                "{pair:?}"
            );
        }
        for us in [0, 99, 100, 101, 5_000, 123_456, 599_999_999, u64::MAX] {
            let bin = bin_of(us);
            assert!(us < bin_latency_us(bin) || usize::from(bin) == BOUNDS.len());
            if bin > 0 {
                assert!(bin_latency_us(bin - 1) <= us);
            }
        }
    }

    #[test]
    fn a_quantile_is_its_bins_upper_bound_within_ten_percent_of_the_truth() {
        let mut counts = Counts::default();
        for ms in 1..=100 {
            counts.add_latency(bin_of(ms * 1000), 1);
        }
        for (q, truth) in [(0.5, 50_000.0), (0.99, 99_000.0), (0.9, 90_000.0)] {
            let estimate = counts.quantile_us(q).unwrap() as f64;
            assert!(
                estimate >= truth && estimate <= truth * 1.1,
                "{q}: {estimate}"
            );
        }
        assert_eq!(Counts::default().quantile_us(0.99), None);
    }

    #[test]
    fn a_clock_that_goes_back_neither_counts_the_future_nor_panics() {
        let mut w = Window::default();
        answers(&mut w, &GUARD, 200, 6, true);
        assert_eq!(w.totals(&GUARD, 150).0.answers, 0);
        w.record(&GUARD, 0, Side::Canary, false, None);
        w.record(&GUARD, u64::MAX, Side::Canary, false, Some(u64::MAX));
        w.merge(&GUARD, &Window::default(), 0);
    }
}
