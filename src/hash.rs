//! GrowthBook-compatible bucketing: FNV-1a hashing, hash versions 1 and 2, variation ranges
//! and namespaces, reproducing the arithmetic of the GrowthBook JS SDK (`packages/sdk-js/src/util.ts`)
//! so that a user assigned at the edge lands in the same variation as in the application SDKs.

const FNV_OFFSET_BASIS: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 16_777_619;

/// `u32::MAX` is 4294967295.
const U32_MAX_DECIMAL_DIGITS: usize = 10;

/// Streaming 32-bit FNV-1a as GrowthBook computes it: XOR each UTF-16 code unit (not byte!) into
/// the state, then multiply by 16777619 (wrapping). For ASCII this equals byte-wise FNV-1a.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv1a32(u32);

impl Default for Fnv1a32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Fnv1a32 {
    /// A hasher in the FNV-1a initial state.
    #[must_use]
    pub const fn new() -> Self {
        Self(FNV_OFFSET_BASIS)
    }

    // The SDK's `hval += (hval << 1) + (hval << 4) + ...` is this multiplication done in doubles
    // (exact, the sum stays below 2^53) and brought back to 32 bits by the next `^=` / `>>> 0`.
    #[inline(always)]
    fn mix(&mut self, unit: u32) {
        self.0 = (self.0 ^ unit).wrapping_mul(FNV_PRIME);
    }

    /// Feeds the UTF-16 code units of `s` (`s.encode_utf16()`).
    pub fn write_str(&mut self, s: &str) -> &mut Self {
        // JS strings are UTF-16 and the SDK hashes `charCodeAt(i)`: a non-ASCII key only lands in
        // the same bucket as in the SDKs if it is fed unit by unit, surrogate pairs included.
        if s.is_ascii() {
            // One UTF-16 unit per byte, equal to it: the common case, without decoding.
            return self.write_bytes(s.as_bytes());
        }
        for unit in s.encode_utf16() {
            self.mix(u32::from(unit));
        }
        self
    }

    /// Feeds one unit per byte.
    #[inline(always)]
    pub fn write_bytes(&mut self, b: &[u8]) -> &mut Self {
        self.write_bytes_noting(b);
        self
    }

    /// Feeds one unit per byte, four bytes a step (the loop's own work is paid once per four:
    /// every keyed request hashes a key and a decimal this way), and returns all the bytes ORed
    /// together, so that a caller learns without a second pass whether they were all ASCII.
    #[inline(always)]
    fn write_bytes_noting(&mut self, b: &[u8]) -> u8 {
        let mut any = 0;
        let mut quads = b.chunks_exact(4);
        for quad in &mut quads {
            if let &[b0, b1, b2, b3] = quad {
                any |= b0 | b1 | b2 | b3;
                self.mix(u32::from(b0));
                self.mix(u32::from(b1));
                self.mix(u32::from(b2));
                self.mix(u32::from(b3));
            }
        }
        for &byte in quads.remainder() {
            any |= byte;
            self.mix(u32::from(byte));
        }
        any
    }

    /// Feeds a hashing key taken from the request: valid UTF-8 goes through
    /// [`write_str`](Self::write_str); a key that is not valid UTF-8 is hashed over its bytes.
    #[inline(always)]
    pub fn write_key(&mut self, key: &[u8]) -> &mut Self {
        // Keys are nearly always ASCII, where a byte is a UTF-16 unit: hash the bytes, noting any
        // byte above 0x7f on the way, and start again from the state before only if there was one.
        let before = *self;
        if self.write_bytes_noting(key).is_ascii() {
            return self;
        }
        *self = before;
        // No SDK can hold a key that is not UTF-8 as a string, so there is no bucket to agree
        // with; hashing the bytes keeps the assignment deterministic (and equals the SDKs' result
        // for the key's Latin-1 reading).
        match core::str::from_utf8(key) {
            Ok(s) => self.write_str(s),
            Err(_) => self.write_bytes(key),
        }
    }

    /// The 32-bit hash of everything fed so far.
    #[must_use]
    pub const fn finish(self) -> u32 {
        self.0
    }
}

/// 32-bit FNV-1a of `s` over its UTF-16 code units, as the GrowthBook SDKs compute it.
#[must_use]
pub fn fnv1a32(s: &str) -> u32 {
    Fnv1a32::new().write_str(s).finish()
}

/// Hash version 1: `(fnv1a32(key + seed) % 1000) / 1000`.
///
/// Biased and coarse (0.1 % steps), kept because experiments created with it must keep their
/// assignments; namespaces still use it.
#[must_use]
pub fn bucket_v1(seed: &str, key: &[u8]) -> f64 {
    // The SDK hashes `value + seed`; streaming the parts hashes the same code units, allocation-free.
    v1_bucket(Fnv1a32::new().write_key(key).write_str(seed).finish())
}

/// Hash version 2: `(fnv1a32(decimal(fnv1a32(seed + key))) % 10000) / 10000`; the decimal string
/// is formatted without heap allocation (stack buffer).
#[must_use]
pub fn bucket_v2(seed: &str, key: &[u8]) -> f64 {
    f64::from(bucket_v2_basis_points(seed, key)) / 10_000.0
}

/// The same v2 bucket as an integer in `0..10000` (basis points), for exact integer comparisons
/// with weights in 0.01 % steps.
#[must_use]
pub fn bucket_v2_basis_points(seed: &str, key: &[u8]) -> u32 {
    v2_basis_points(*Fnv1a32::new().write_str(seed), key)
}

/// A configured hashing seed, with the FNV-1a state after it: hash version 2 hashes `seed + key`,
/// so the seed's share of the work is done once, when the configuration is compiled, and a
/// request hashes only its key. Reads as the seed's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    text: Box<str>,
    after: Fnv1a32,
}

impl Seed {
    #[must_use]
    pub fn new(text: Box<str>) -> Seed {
        let after = *Fnv1a32::new().write_str(&text);
        Seed { text, after }
    }

    /// [`bucket_v2_basis_points`] with this seed.
    #[must_use]
    pub fn bucket_v2_basis_points(&self, key: &[u8]) -> u32 {
        v2_basis_points(self.after, key)
    }

    /// [`bucket_v2`] with this seed.
    #[must_use]
    pub fn bucket_v2(&self, key: &[u8]) -> f64 {
        f64::from(self.bucket_v2_basis_points(key)) / 10_000.0
    }
}

impl core::ops::Deref for Seed {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

/// The v2 bucket from the state after the seed.
fn v2_basis_points(mut after_seed: Fnv1a32, key: &[u8]) -> u32 {
    let inner = after_seed.write_key(key).finish();
    let mut digits = [0; U32_MAX_DECIMAL_DIGITS];
    // Decimal digits are ASCII, so hashing their bytes equals the SDK hashing `inner + ""`.
    Fnv1a32::new()
        .write_bytes(decimal(inner, &mut digits))
        .finish()
        % 10_000
}

/// GrowthBook `getBucketRanges`: `coverage` is clamped to `[0, 1]`; the weights are equal
/// (`1/n` each) when absent, when `weights.len() != variations` or when their sum is outside
/// `[0.99, 1.01]`; range `i` is `[c_i, c_i + coverage * w_i)` with `c_i` the cumulative weight,
/// computed in `f64` in exactly the SDK's order of operations.
#[must_use]
pub fn bucket_ranges(variations: usize, coverage: f64, weights: Option<&[f64]>) -> Vec<(f64, f64)> {
    // Like the SDK's two comparisons, `clamp` lets NaN through; NaN range ends then admit no one.
    let coverage = coverage.clamp(0.0, 1.0);
    let (custom, equal_count): (&[f64], usize) =
        match weights.filter(|w| w.len() == variations && !sum_outside_tolerance(w)) {
            Some(custom) => (custom, 0),
            None => (&[], variations),
        };
    // `1 / n` as the SDK's getEqualWeights computes it; unused when there are no variations.
    let equal = 1.0 / variations as f64;
    custom
        .iter()
        .copied()
        .chain(core::iter::repeat_n(equal, equal_count))
        .scan(0.0, |cumulative: &mut f64, w| {
            let start = *cumulative;
            *cumulative += w;
            Some((start, start + coverage * w))
        })
        .collect()
}

/// GrowthBook `chooseVariation`: the first `i` with `start <= n < end`, else `None`.
#[must_use]
pub fn choose_variation(n: f64, ranges: &[(f64, f64)]) -> Option<usize> {
    ranges
        .iter()
        .position(|&(start, end)| n >= start && n < end)
}

/// GrowthBook `inNamespace`: `n = bucket_v1("__" + id, key)`; `start <= n < end`.
#[must_use]
pub fn in_namespace(key: &[u8], id: &str, start: f64, end: f64) -> bool {
    // `hash("__" + id, key, 1)` hashes `key + "__" + id`.
    let n = v1_bucket(
        Fnv1a32::new()
            .write_key(key)
            .write_str("__")
            .write_str(id)
            .finish(),
    );
    n >= start && n < end
}

fn v1_bucket(hash: u32) -> f64 {
    f64::from(hash % 1000) / 1000.0
}

#[allow(
    clippy::manual_range_contains,
    reason = "NaN must be accepted exactly as the SDK's `total < 0.99 || total > 1.01` accepts it"
)]
fn sum_outside_tolerance(weights: &[f64]) -> bool {
    // Summed from +0.0 in array order like the SDK's `reduce`; `Iterator::sum` starts from -0.0.
    let total = weights.iter().fold(0.0, |total, w| total + w);
    total < 0.99 || total > 1.01
}

#[inline(always)]
fn decimal(mut n: u32, buf: &mut [u8; U32_MAX_DECIMAL_DIGITS]) -> &[u8] {
    let mut start = buf.len();
    for slot in buf.iter_mut().rev() {
        // Cannot truncate: the remainder is below 10.
        *slot = b'0' + (n % 10) as u8;
        start -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.get(start..).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    // Transcribed from github.com/growthbook/growthbook, packages/sdk-js/test/cases.json
    // (specVersion 0.5.4, commit 021bf498f75c8491c156184ca1b3a1fbafa1d64e); the four sections are
    // identical at the older stored version 0cf0a65f719576bd4772a8986a9934266a0cb76d.

    type Ranges = &'static [(f64, f64)];
    /// numVariations, coverage, weights.
    type RangeArgs = (usize, f64, Option<&'static [f64]>);
    /// Namespace id, start, end.
    type Namespace = (&'static str, f64, f64);

    /// "hash": seed, value, version, expected (`None` for JSON `null`).
    const HASH: &[(&str, &str, u32, Option<f64>)] = &[
        ("", "a", 1, Some(0.22)),
        ("", "b", 1, Some(0.077)),
        ("b", "a", 1, Some(0.946)),
        ("ef", "d", 1, Some(0.652)),
        ("asdf", "8952klfjas09ujk", 1, Some(0.549)),
        ("", "123", 1, Some(0.011)),
        ("", "___)((*\":&", 1, Some(0.563)),
        ("seed", "a", 2, Some(0.0505)),
        ("seed", "b", 2, Some(0.2696)),
        ("foo", "ab", 2, Some(0.2575)),
        ("foo", "def", 2, Some(0.2019)),
        ("89123klj", "8952klfjas09ujkasdf", 2, Some(0.124)),
        ("90850943850283058242805", "123", 2, Some(0.7516)),
        ("()**(%$##$%#$#", "___)((*\":&", 2, Some(0.0128)),
        ("abc", "def", 99, None),
    ];

    /// "getBucketRange": name, (numVariations, coverage, weights), expected ranges.
    const GET_BUCKET_RANGE: &[(&str, RangeArgs, Ranges)] = &[
        ("normal 50/50", (2, 1.0, None), &[(0.0, 0.5), (0.5, 1.0)]),
        (
            "reduced coverage",
            (2, 0.5, None),
            &[(0.0, 0.25), (0.5, 0.75)],
        ),
        ("zero coverage", (2, 0.0, None), &[(0.0, 0.0), (0.5, 0.5)]),
        (
            "4 variations",
            (4, 1.0, None),
            &[(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0)],
        ),
        (
            "uneven weights",
            (2, 1.0, Some(&[0.4, 0.6])),
            &[(0.0, 0.4), (0.4, 1.0)],
        ),
        (
            "uneven weights, 3 variations",
            (3, 1.0, Some(&[0.2, 0.3, 0.5])),
            &[(0.0, 0.2), (0.2, 0.5), (0.5, 1.0)],
        ),
        (
            "uneven weights, reduced coverage, 3 variations",
            (3, 0.2, Some(&[0.2, 0.3, 0.5])),
            &[(0.0, 0.04), (0.2, 0.26), (0.5, 0.6)],
        ),
        (
            "negative coverage",
            (2, -0.2, None),
            &[(0.0, 0.0), (0.5, 0.5)],
        ),
        (
            "coverage above 1",
            (2, 1.5, None),
            &[(0.0, 0.5), (0.5, 1.0)],
        ),
        (
            "weights sum below 1",
            (2, 1.0, Some(&[0.4, 0.1])),
            &[(0.0, 0.5), (0.5, 1.0)],
        ),
        (
            "weights sum above 1",
            (2, 1.0, Some(&[0.7, 0.6])),
            &[(0.0, 0.5), (0.5, 1.0)],
        ),
        (
            "weights.length not equal to num variations",
            (4, 1.0, Some(&[0.4, 0.4, 0.2])),
            &[(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0)],
        ),
        (
            "weights sum almost equals 1",
            (2, 1.0, Some(&[0.4, 0.5999])),
            &[(0.0, 0.4), (0.4, 0.9999)],
        ),
    ];

    /// "chooseVariation": name, n, ranges, expected (`None` for -1).
    const CHOOSE_VARIATION: &[(&str, f64, Ranges, Option<usize>)] = &[
        ("even range, 0.2", 0.2, &[(0.0, 0.5), (0.5, 1.0)], Some(0)),
        ("even range, 0.4", 0.4, &[(0.0, 0.5), (0.5, 1.0)], Some(0)),
        ("even range, 0.6", 0.6, &[(0.0, 0.5), (0.5, 1.0)], Some(1)),
        ("even range, 0.8", 0.8, &[(0.0, 0.5), (0.5, 1.0)], Some(1)),
        ("even range, 0", 0.0, &[(0.0, 0.5), (0.5, 1.0)], Some(0)),
        ("even range, 0.5", 0.5, &[(0.0, 0.5), (0.5, 1.0)], Some(1)),
        (
            "reduced range, 0.2",
            0.2,
            &[(0.0, 0.25), (0.5, 0.75)],
            Some(0),
        ),
        ("reduced range, 0.4", 0.4, &[(0.0, 0.25), (0.5, 0.75)], None),
        (
            "reduced range, 0.6",
            0.6,
            &[(0.0, 0.25), (0.5, 0.75)],
            Some(1),
        ),
        ("reduced range, 0.8", 0.8, &[(0.0, 0.25), (0.5, 0.75)], None),
        (
            "reduced range, 0.25",
            0.25,
            &[(0.0, 0.25), (0.5, 0.75)],
            None,
        ),
        (
            "reduced range, 0.5",
            0.5,
            &[(0.0, 0.25), (0.5, 0.75)],
            Some(1),
        ),
        (
            "zero range",
            0.5,
            &[(0.0, 0.5), (0.5, 0.5), (0.5, 1.0)],
            Some(2),
        ),
    ];

    /// "inNamespace": name, id, (namespace, start, end), expected.
    const IN_NAMESPACE: &[(&str, &str, Namespace, bool)] = &[
        (
            "user 1, namespace1, 1",
            "1",
            ("namespace1", 0.0, 0.4),
            false,
        ),
        ("user 1, namespace1, 2", "1", ("namespace1", 0.4, 1.0), true),
        (
            "user 1, namespace2, 1",
            "1",
            ("namespace2", 0.0, 0.4),
            false,
        ),
        ("user 1, namespace2, 2", "1", ("namespace2", 0.4, 1.0), true),
        (
            "user 2, namespace1, 1",
            "2",
            ("namespace1", 0.0, 0.4),
            false,
        ),
        ("user 2, namespace1, 2", "2", ("namespace1", 0.4, 1.0), true),
        (
            "user 2, namespace2, 1",
            "2",
            ("namespace2", 0.0, 0.4),
            false,
        ),
        ("user 2, namespace2, 2", "2", ("namespace2", 0.4, 1.0), true),
        (
            "user 3, namespace1, 1",
            "3",
            ("namespace1", 0.0, 0.4),
            false,
        ),
        ("user 3, namespace1, 2", "3", ("namespace1", 0.4, 1.0), true),
        ("user 3, namespace2, 1", "3", ("namespace2", 0.0, 0.4), true),
        (
            "user 3, namespace2, 2",
            "3",
            ("namespace2", 0.4, 1.0),
            false,
        ),
        (
            "user 4, namespace1, 1",
            "4",
            ("namespace1", 0.0, 0.4),
            false,
        ),
        ("user 4, namespace1, 2", "4", ("namespace1", 0.4, 1.0), true),
        ("user 4, namespace2, 1", "4", ("namespace2", 0.0, 0.4), true),
        (
            "user 4, namespace2, 2",
            "4",
            ("namespace2", 0.4, 1.0),
            false,
        ),
    ];

    /// packages/sdk-js/test/cases/fnv.json (commit 448583d72e6868a9655f96ba55c61e8eff8db29d):
    /// value, `fnv32a(value) % 1000`.
    const FNV_MOD_1000: &[(&str, u32)] = &[
        ("a", 220),
        ("b", 77),
        ("ab", 946),
        ("def", 652),
        ("8952klfjas09ujkasdf", 549),
        ("123", 11),
        ("___)((*\":&", 563),
    ];

    /// Not published (the published vectors are all ASCII): computed with the SDK's own
    /// `hashFnv32a`/`hash` from util.ts under Node.js. Key, fnv32a over UTF-16 code units,
    /// FNV-1a over UTF-8 bytes, `hash("", key, 1)`, `hash("seed", key, 2)`.
    const NON_ASCII: &[(&str, u32, u32, f64, f64)] = &[
        ("é", 1_812_687_940, 513_665_217, 0.94, 0.8663),
        ("café", 856_211_068, 2_821_410_889, 0.068, 0.6052),
        ("日本", 1_610_399_396, 2_670_128_721, 0.396, 0.9652),
        // U+1F600 is a surrogate pair in UTF-16 and four bytes in UTF-8.
        ("😀", 3_409_036_472, 866_293_256, 0.472, 0.4346),
        ("user-😀-1", 1_543_580_066, 991_424_898, 0.066, 0.7138),
    ];

    /// The SDK's `hash(seed, value, version)` over this module's entry points.
    fn sdk_hash(seed: &str, value: &str, version: u32) -> Option<f64> {
        match version {
            1 => Some(bucket_v1(seed, value.as_bytes())),
            2 => Some(bucket_v2(seed, value.as_bytes())),
            _ => None,
        }
    }

    #[test]
    fn hash_matches_growthbook_published_vectors() {
        for &(seed, value, version, expected) in HASH.iter().filter(|c| c.3.is_some()) {
            assert_eq!(
                sdk_hash(seed, value, version),
                expected,
                "hash({seed:?}, {value:?}, {version})"
            );
        }
        assert_eq!(HASH.iter().filter(|c| c.3.is_some()).count(), 14);
    }

    #[test]
    fn hash_versions_other_than_1_and_2_cannot_be_requested() {
        // The API has one function per version and no version parameter, so an unknown version is
        // unrepresentable; every published `null` row is a version without an entry point.
        let unknown: Vec<_> = HASH.iter().filter(|c| c.3.is_none()).collect();
        assert_eq!(unknown.len(), 1);
        for &&(seed, value, version, _) in &unknown {
            assert!(version != 1 && version != 2);
            assert_eq!(sdk_hash(seed, value, version), None);
        }
    }

    #[test]
    fn fnv_matches_growthbook_published_vectors() {
        for &(value, expected) in FNV_MOD_1000 {
            assert_eq!(fnv1a32(value) % 1000, expected, "{value:?}");
        }
    }

    #[test]
    fn fnv_matches_the_reference_fnv1a_vectors_for_ascii() {
        assert_eq!(fnv1a32(""), 0x811c_9dc5);
        assert_eq!(fnv1a32("a"), 0xe40c_292c);
        assert_eq!(fnv1a32("foobar"), 0xbf9c_f968);
        for s in ["", "a", "foobar", "8952klfjas09ujkasdf", "___)((*\":&"] {
            assert_eq!(
                fnv1a32(s),
                Fnv1a32::new().write_bytes(s.as_bytes()).finish()
            );
        }
    }

    #[test]
    fn get_bucket_range_matches_growthbook_published_vectors() {
        // The published expectations are rounded (the SDK's own suite floors both sides to 1e-8):
        // the SDK really yields 0.04000000000000001 for "[0, 0.04]".
        for &(name, (variations, coverage, weights), expected) in GET_BUCKET_RANGE {
            let actual = bucket_ranges(variations, coverage, weights);
            assert_eq!(actual.len(), expected.len(), "{name}");
            for (&(start, end), &(want_start, want_end)) in actual.iter().zip(expected) {
                assert!(
                    (start - want_start).abs() < 1e-9 && (end - want_end).abs() < 1e-9,
                    "{name}: {actual:?} != {expected:?}"
                );
            }
        }
    }

    #[test]
    fn bucket_ranges_reproduce_the_sdk_floating_point_results_bit_for_bit() {
        // Outputs of util.ts getBucketRanges under Node.js, printed as shortest round-trip decimals.
        let cases: &[(RangeArgs, Ranges)] = &[
            (
                (3, 0.2, Some(&[0.2, 0.3, 0.5])),
                &[(0.0, 0.040_000_000_000_000_01), (0.2, 0.26), (0.5, 0.6)],
            ),
            (
                (3, 1.0, None),
                &[
                    (0.0, 0.333_333_333_333_333_3),
                    (0.333_333_333_333_333_3, 0.666_666_666_666_666_6),
                    (0.666_666_666_666_666_6, 1.0),
                ],
            ),
            (
                (3, 0.7, None),
                &[
                    (0.0, 0.233_333_333_333_333_3),
                    (0.333_333_333_333_333_3, 0.566_666_666_666_666_7),
                    (0.666_666_666_666_666_6, 0.899_999_999_999_999_9),
                ],
            ),
            (
                (3, 0.9, Some(&[0.1, 0.2, 0.7])),
                &[
                    (0.0, 0.090_000_000_000_000_01),
                    (0.1, 0.28),
                    (0.300_000_000_000_000_04, 0.93),
                ],
            ),
            ((2, 1.0, Some(&[0.4, 0.5999])), &[(0.0, 0.4), (0.4, 0.9999)]),
        ];
        let bits = |ranges: &[(f64, f64)]| -> Vec<(u64, u64)> {
            ranges
                .iter()
                .map(|(s, e)| (s.to_bits(), e.to_bits()))
                .collect()
        };
        for &((variations, coverage, weights), expected) in cases {
            let actual = bucket_ranges(variations, coverage, weights);
            assert_eq!(bits(&actual), bits(expected), "{actual:?} != {expected:?}");
        }
    }

    #[test]
    fn bucket_ranges_handle_no_variations_and_nan_like_the_sdk() {
        assert!(bucket_ranges(0, 1.0, None).is_empty());
        assert!(bucket_ranges(0, 1.0, Some(&[])).is_empty());
        // NaN coverage survives the SDK's clamping and yields ranges that admit no one.
        let ranges = bucket_ranges(2, f64::NAN, None);
        assert_eq!(ranges.len(), 2);
        for n in [0.0, 0.25, 0.5, 0.75, 0.9999] {
            assert_eq!(choose_variation(n, &ranges), None);
        }
        // A NaN weight sum is not rejected by the SDK's tolerance check either.
        let ranges = bucket_ranges(2, 1.0, Some(&[f64::NAN, 0.5]));
        assert!(ranges[0].1.is_nan());
        // Infinite sums are rejected, falling back to equal weights.
        assert_eq!(
            bucket_ranges(2, 1.0, Some(&[f64::INFINITY, 0.0])),
            vec![(0.0, 0.5), (0.5, 1.0)]
        );
    }

    #[test]
    fn choose_variation_matches_growthbook_published_vectors() {
        for &(name, n, ranges, expected) in CHOOSE_VARIATION {
            assert_eq!(choose_variation(n, ranges), expected, "{name}");
        }
    }

    #[test]
    fn in_namespace_matches_growthbook_published_vectors() {
        for &(name, id, (namespace, start, end), expected) in IN_NAMESPACE {
            assert_eq!(
                in_namespace(id.as_bytes(), namespace, start, end),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn non_ascii_keys_hash_over_utf16_code_units_not_utf8_bytes() {
        for &(key, utf16, utf8, v1, v2) in NON_ASCII {
            assert_eq!(fnv1a32(key), utf16, "{key:?}");
            assert_eq!(
                Fnv1a32::new().write_bytes(key.as_bytes()).finish(),
                utf8,
                "{key:?}"
            );
            assert_ne!(utf16, utf8, "{key:?}");
            assert_eq!(bucket_v1("", key.as_bytes()), v1, "{key:?}");
            assert_eq!(bucket_v2("seed", key.as_bytes()), v2, "{key:?}");
        }
        // hash("__pricing", "é", 1) is 0.084 in the SDK; over UTF-8 bytes it would be 0.507.
        assert!(in_namespace("é".as_bytes(), "pricing", 0.084, 0.085));
        assert_eq!(
            Fnv1a32::new().write_bytes("é__pricing".as_bytes()).finish() % 1000,
            507
        );
    }

    #[test]
    fn invalid_utf8_keys_hash_over_their_bytes() {
        let key: &[u8] = b"\xff\xfeuser";
        assert!(core::str::from_utf8(core::hint::black_box(key)).is_err());
        assert_eq!(
            Fnv1a32::new().write_key(key).finish(),
            Fnv1a32::new().write_bytes(key).finish()
        );
        let v1 = Fnv1a32::new()
            .write_bytes(key)
            .write_bytes(b"seed")
            .finish()
            % 1000;
        assert_eq!(bucket_v1("seed", key), f64::from(v1) / 1000.0);
        // Bytes as code units are the key's Latin-1 reading; the SDK gives, for "\u00ff\u00feuser",
        // fnv32a 2163009075, hash("seed", ., 1) = 0.198 and hash("seed", ., 2) = 0.6126.
        assert_eq!(Fnv1a32::new().write_key(key).finish(), 2_163_009_075);
        assert_eq!(fnv1a32("\u{ff}\u{fe}user"), 2_163_009_075);
        assert_eq!(bucket_v1("seed", key), 0.198);
        assert_eq!(bucket_v2("seed", key), 0.6126);
    }

    #[test]
    fn streamed_parts_hash_like_the_sdk_concatenation() {
        for (seed, key) in [
            ("seed", "a"),
            ("", "😀"),
            ("café-", "日本"),
            ("x", ""),
            ("checkout", "0000a1b2-c3d4-4bd1-9c2e-000000000123"),
            ("ranker", "an ascii start, then: naïve"),
        ] {
            let concatenated = fnv1a32(&format!("{key}{seed}"));
            assert_eq!(
                bucket_v1(seed, key.as_bytes()),
                f64::from(concatenated % 1000) / 1000.0
            );
            let inner = fnv1a32(&format!("{seed}{key}"));
            assert_eq!(
                bucket_v2_basis_points(seed, key.as_bytes()),
                fnv1a32(&inner.to_string()) % 10_000
            );
            // A compiled seed (its FNV state kept) buckets as the seed's text does.
            let compiled = Seed::new(seed.into());
            assert_eq!(&*compiled, seed);
            assert_eq!(
                compiled.bucket_v2_basis_points(key.as_bytes()),
                bucket_v2_basis_points(seed, key.as_bytes())
            );
            assert_eq!(
                compiled.bucket_v2(key.as_bytes()),
                bucket_v2(seed, key.as_bytes())
            );
            let namespaced = fnv1a32(&format!("{key}__{seed}")) % 1000;
            let n = f64::from(namespaced) / 1000.0;
            assert!(in_namespace(key.as_bytes(), seed, n, n + 0.001));
            assert!(!in_namespace(key.as_bytes(), seed, 0.0, n));
        }
    }

    #[test]
    fn basis_points_are_the_v2_bucket_scaled_by_10000() {
        let keys = HASH
            .iter()
            .map(|&(seed, value, ..)| (seed, value))
            .chain(NON_ASCII.iter().map(|&(key, ..)| ("seed", key)))
            .chain((0..1000).map(|i| ("sweep", if i % 2 == 0 { "user" } else { "ü" })));
        for (i, (seed, key)) in keys.enumerate() {
            let key = format!("{key}{i}");
            let bp = bucket_v2_basis_points(seed, key.as_bytes());
            assert!(bp < 10_000);
            assert_eq!(f64::from(bp) / 10_000.0, bucket_v2(seed, key.as_bytes()));
        }
    }

    #[test]
    fn decimal_formatting_matches_to_string() {
        let mut buf = [0; U32_MAX_DECIMAL_DIGITS];
        for n in [
            0,
            7,
            9,
            10,
            99,
            100,
            1_000_000_007,
            999_999_999,
            1_000_000_000,
            u32::MAX,
        ] {
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }
}
