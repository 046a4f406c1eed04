//! Bounds for statistical claims, computed from the sample size: shared by the contract, the
//! behaviour and the Envoy suites so that every share is judged the same way.

#![allow(dead_code, reason = "each suite uses a different part")]

/// A count of draws or successes, whatever integer type a suite keeps it in.
pub trait Tally: Copy + std::fmt::Display {
    fn as_f64(self) -> f64;
}

impl Tally for u32 {
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Tally for i32 {
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Tally for usize {
    fn as_f64(self) -> f64 {
        self as f64
    }
}

/// The binomial mean ± 6 standard deviations for `n` draws of probability `p`: wide enough that
/// a seeded run never flakes, narrow enough that a wrong share (or a constant draw) falls outside.
pub fn six_sigma(n: impl Tally, p: f64) -> (f64, f64) {
    let n = n.as_f64();
    let (mean, sd) = (n * p, (n * p * (1.0 - p)).sqrt());
    (mean - 6.0 * sd, mean + 6.0 * sd)
}

/// `count` successes among `n` draws of probability `p` lie within [`six_sigma`].
pub fn assert_within<T: Tally>(count: T, n: T, p: f64, what: &str) {
    let (low, high) = six_sigma(n, p);
    assert!(
        (low..=high).contains(&count.as_f64()),
        "{what}: {count} of {n}, expected {low:.1}..={high:.1} (p = {p}, ±6 sd)"
    );
}
