//! Reading a whole header map in one host call, as borrowed slices.
//!
//! The SDK's own reader copies every name and value into a `String`/`Vec` and unwraps UTF-8 and
//! bounds; this one keeps the host's buffer and checks every length, so a malformed map yields
//! fewer headers, never a trap.

/// A header map as the host serialized it: a u32 count, then a (name length, value length) u32
/// pair per header, then each name and value followed by a NUL. All little-endian.
pub struct HeaderMap {
    bytes: Vec<u8>,
}

impl HeaderMap {
    pub fn from_bytes(bytes: Vec<u8>) -> HeaderMap {
        HeaderMap { bytes }
    }

    /// The request headers of the current stream.
    pub fn request() -> HeaderMap {
        HeaderMap::of(proxy_wasm::types::MapType::HttpRequestHeaders)
    }

    /// Header map `map` as the host has it now (empty when it has none).
    pub fn of(map: proxy_wasm::types::MapType) -> HeaderMap {
        HeaderMap::from_bytes(super::host::header_map_pairs(map).unwrap_or_default())
    }

    /// The (name, value) pairs, in the order the host gave them.
    pub fn pairs(&self) -> Vec<(&[u8], &[u8])> {
        let Some((count, rest)) = self.bytes.split_first_chunk::<4>() else {
            return Vec::new();
        };
        // A count the buffer cannot hold is a lie, not an allocation: nothing is read.
        let Some((sizes, mut data)) =
            rest.split_at_checked((u32::from_le_bytes(*count) as usize).saturating_mul(8))
        else {
            return Vec::new();
        };
        let mut pairs = Vec::with_capacity(sizes.len() / 8);
        for size in sizes.chunks_exact(8) {
            let &[n0, n1, n2, n3, v0, v1, v2, v3] = size else {
                break;
            };
            let name_len = u32::from_le_bytes([n0, n1, n2, n3]) as usize;
            let value_len = u32::from_le_bytes([v0, v1, v2, v3]) as usize;
            // Each name and value is followed by a NUL. A name or value that fits in `data`
            // leaves room to add one to where it ends.
            let Some(name) = data.get(..name_len) else {
                break;
            };
            let Some(value_end) = value_len.checked_add(name_len + 1) else {
                break;
            };
            let Some(value) = data.get(name_len + 1..value_end) else {
                break;
            };
            pairs.push((name, value));
            data = data.get(value_end + 1..).unwrap_or_default();
        }
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::HeaderMap;

    fn serialize(pairs: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
        for (n, v) in pairs {
            out.extend((n.len() as u32).to_le_bytes());
            out.extend((v.len() as u32).to_le_bytes());
        }
        for (n, v) in pairs {
            out.extend(n.as_bytes());
            out.push(0);
            out.extend(*v);
            out.push(0);
        }
        out
    }

    #[test]
    fn a_serialized_map_reads_back_as_borrowed_pairs() {
        let bytes = serialize(&[(":path", b"/a"), ("cookie", b"\xff\x00x"), ("empty", b"")]);
        let map = HeaderMap::from_bytes(bytes);
        assert_eq!(
            map.pairs(),
            vec![
                (&b":path"[..], &b"/a"[..]),
                (b"cookie", b"\xff\x00x"),
                (b"empty", b"")
            ]
        );
    }

    #[test]
    fn a_truncated_or_lying_map_yields_what_fits_and_never_panics() {
        let bytes = serialize(&[("a", b"1"), ("b", b"2")]);
        let whole: Vec<(&[u8], &[u8])> = vec![(b"a", b"1"), (b"b", b"2")];
        let mut fitted = 0;
        for cut in 0..=bytes.len() {
            let map = HeaderMap::from_bytes(bytes[..cut].to_vec());
            let pairs = map.pairs();
            // Only whole headers, in order, and more bytes never fewer of them.
            assert_eq!(pairs, whole[..pairs.len()], "cut at {cut}");
            assert!(pairs.len() >= fitted, "cut at {cut}");
            fitted = pairs.len();
        }
        assert_eq!(fitted, 2);
        // The sizes table ends at byte 20: short of it, no header is read.
        assert!(
            HeaderMap::from_bytes(bytes[..19].to_vec())
                .pairs()
                .is_empty()
        );
        let mut lying = bytes.clone();
        lying[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(HeaderMap::from_bytes(lying).pairs().is_empty());
        assert!(HeaderMap::from_bytes(Vec::new()).pairs().is_empty());
    }
}
