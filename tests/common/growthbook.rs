//! GrowthBook's reference arithmetic, transcribed from the JS SDK (`packages/sdk-js/src/util.ts`)
//! and independent of `src/hash.rs`, so that a wrong hash in the crate cannot agree with itself.
//! Shared by the contract suites and the behaviour suites.

#![allow(
    dead_code,
    reason = "each suite uses a different part of the reference"
)]

/// The code units GrowthBook hashes for a request key.
fn units(key: &[u8]) -> Vec<u32> {
    match std::str::from_utf8(key) {
        Ok(s) => s.encode_utf16().map(u32::from).collect(),
        Err(_) => key.iter().map(|&b| u32::from(b)).collect(),
    }
}

fn utf16(s: &str) -> Vec<u32> {
    s.encode_utf16().map(u32::from).collect()
}

/// `hashFnv32a`: `hval ^= charCodeAt(i); hval += (hval << 1) + (hval << 4) + (hval << 7) +
/// (hval << 8) + (hval << 24)`, i.e. a multiplication by 16777619 modulo 2^32.
fn fnv32a(units: impl IntoIterator<Item = u32>) -> u32 {
    units.into_iter().fold(0x811c_9dc5_u32, |h, unit| {
        let h = h ^ unit;
        h.wrapping_add(h << 1)
            .wrapping_add(h << 4)
            .wrapping_add(h << 7)
            .wrapping_add(h << 8)
            .wrapping_add(h << 24)
    })
}

/// `hash(seed, value, version)` for a key given as bytes.
pub fn hash_bytes(seed: &str, key: &[u8], version: u8) -> f64 {
    match version {
        // `hashFnv32a(value + seed) % 1000 / 1000`
        1 => {
            let n = fnv32a(units(key).into_iter().chain(utf16(seed)));
            f64::from(n % 1000) / 1000.0
        }
        // `hashFnv32a(hashFnv32a(seed + value) + "") % 10000 / 10000`
        2 => f64::from(basis_points_v2_bytes(seed, key)) / 10000.0,
        _ => panic!("no hash version {version}"),
    }
}

pub fn hash(seed: &str, key: &str, version: u8) -> f64 {
    hash_bytes(seed, key.as_bytes(), version)
}

/// The v2 bucket as an integer, 0..10000, for comparing with weights in 0.01 % steps.
pub fn basis_points_v2_bytes(seed: &str, key: &[u8]) -> u32 {
    let inner = fnv32a(utf16(seed).into_iter().chain(units(key)));
    fnv32a(utf16(&inner.to_string())) % 10000
}

pub fn basis_points_v2(seed: &str, key: &str) -> u32 {
    basis_points_v2_bytes(seed, key.as_bytes())
}

/// `getBucketRanges(n, coverage, weights)` for valid weights.
pub fn ranges(coverage: f64, weights: &[f64]) -> Vec<(f64, f64)> {
    let mut cumulative = 0.0;
    weights
        .iter()
        .map(|w| {
            let start = cumulative;
            cumulative += w;
            (start, start + coverage * w)
        })
        .collect()
}

/// `chooseVariation(n, ranges)`.
pub fn choose(n: f64, ranges: &[(f64, f64)]) -> Option<usize> {
    ranges.iter().position(|&(s, e)| n >= s && n < e)
}

/// `inNamespace(value, [id, start, end])`.
pub fn in_namespace(key: impl AsRef<[u8]>, id: &str, start: f64, end: f64) -> bool {
    let n = hash_bytes(&format!("__{id}"), key.as_ref(), 1);
    n >= start && n < end
}

/// GrowthBook's JS SDK (`hash`, `getBucketRanges(3, 0.8, [0.2, 0.3, 0.5])`, `chooseVariation`,
/// `inNamespace(key, ["search", 0.25, 0.75])`) run under Node on these keys with seed `ranker`:
/// key, v1 bucket, v2 bucket, v1 variant, v2 variant, in namespace.
pub type Golden = (
    &'static str,
    f64,
    f64,
    Option<&'static str>,
    Option<&'static str>,
    bool,
);
pub const PRINTED_BY_THE_SDK: &[Golden] = &[
    ("user-1", 0.461, 0.018, None, Some("control"), false),
    ("user-2", 0.692, 0.4485, Some("b"), None, false),
    ("user-42", 0.498, 0.8996, None, Some("b"), false),
    ("alice", 0.07, 0.8222, Some("control"), Some("b"), true),
    ("Alice", 0.902, 0.4308, None, Some("a"), true),
    (" alice", 0.584, 0.5133, Some("b"), Some("b"), false),
    ("ユーザー42", 0.058, 0.35, Some("control"), Some("a"), true),
    ("Ünïcødé", 0.589, 0.904, Some("b"), None, true),
    ("naïve café", 0.828, 0.287, Some("b"), Some("a"), true),
    ("😀-emoji", 0.562, 0.2102, Some("b"), Some("a"), true),
    ("𝒳𝒴𝒵", 0.911, 0.3964, None, Some("a"), true),
    ("Ωmega-7", 0.143, 0.705, Some("control"), Some("b"), false),
    ("日本語キー", 0.758, 0.5993, Some("b"), Some("b"), true),
    (
        "ключ-пользователя",
        0.671,
        0.4364,
        Some("b"),
        Some("a"),
        false,
    ),
    ("مستخدم", 0.64, 0.6601, Some("b"), Some("b"), true),
    ("e\u{301}", 0.938, 0.1651, None, None, false),
    (
        "\u{1F469}\u{200D}\u{1F469}\u{200D}\u{1F467}\u{200D}\u{1F466}",
        0.124,
        0.8267,
        Some("control"),
        Some("b"),
        true,
    ),
    ("x", 0.958, 0.8685, None, Some("b"), false),
    ("0", 0.358, 0.2753, Some("a"), Some("a"), true),
    ("9999999999", 0.846, 0.4835, Some("b"), None, false),
];
