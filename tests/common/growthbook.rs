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
