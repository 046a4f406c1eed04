//! Header maps as Envoy keeps them (lower-case keys, pseudo-headers first, repeated keys allowed)
//! and the ABI's wire format for a list of pairs: a u32 count, then a (u32 key length, u32 value
//! length) pair per entry, then each key and each value followed by a NUL byte; all little-endian.

/// One header map of a stream or of an HTTP call response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeaderMap {
    entries: Vec<(String, Vec<u8>)>,
}

impl HeaderMap {
    /// Builds a map the way Envoy's codec would hand it over: keys lower-cased, order kept.
    pub(crate) fn from_pairs<K: AsRef<str>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> HeaderMap {
        let mut map = HeaderMap::default();
        for (key, value) in pairs {
            map.add(key.as_ref(), value.as_ref());
        }
        map
    }

    /// Builds a map from the wire format, as the module sends one.
    pub(crate) fn from_wire(serialized: &[u8]) -> HeaderMap {
        let mut map = HeaderMap::default();
        map.replace_all(serialized);
        map
    }

    pub(crate) fn entries(&self) -> &[(String, Vec<u8>)] {
        &self.entries
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first value of `key`; Envoy returns only the first of repeated headers.
    pub(crate) fn get(&self, key: &str) -> Option<&[u8]> {
        let key = key.to_ascii_lowercase();
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_slice())
    }

    /// Adds an entry, keeping pseudo-headers (`:path`, ...) ahead of the others as Envoy does.
    pub(crate) fn add(&mut self, key: &str, value: &[u8]) {
        let key = key.to_ascii_lowercase();
        let position = if key.starts_with(':') {
            self.entries
                .iter()
                .take_while(|(k, _)| k.starts_with(':'))
                .count()
        } else {
            self.entries.len()
        };
        self.entries.insert(position, (key, value.to_vec()));
    }

    /// Envoy's `setCopy`: every old value of `key` goes and the new one is added.
    pub(crate) fn replace(&mut self, key: &str, value: &[u8]) {
        self.remove(key);
        self.add(key, value);
    }

    pub(crate) fn remove(&mut self, key: &str) {
        let key = key.to_ascii_lowercase();
        self.entries.retain(|(k, _)| *k != key);
    }

    pub(crate) fn serialize(&self) -> Vec<u8> {
        serialize_pairs(
            self.entries
                .iter()
                .map(|(k, v)| (k.as_bytes(), v.as_slice())),
        )
    }

    /// Replaces the whole map with serialized pairs, as `proxy_set_header_map_pairs` does.
    pub(crate) fn replace_all(&mut self, serialized: &[u8]) {
        self.entries.clear();
        for (key, value) in deserialize_pairs(serialized) {
            self.add(&String::from_utf8_lossy(&key), &value);
        }
    }
}

fn serialize_pairs<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone) -> Vec<u8> {
    let count = pairs.clone().count();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&wire_len(count).to_le_bytes());
    for (key, value) in pairs.clone() {
        bytes.extend_from_slice(&wire_len(key.len()).to_le_bytes());
        bytes.extend_from_slice(&wire_len(value.len()).to_le_bytes());
    }
    for (key, value) in pairs {
        bytes.extend_from_slice(key);
        bytes.push(0);
        bytes.extend_from_slice(value);
        bytes.push(0);
    }
    bytes
}

/// Parses serialized pairs. Like Envoy, a malformed buffer reads as no pairs at all.
fn deserialize_pairs(bytes: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    parse_pairs(bytes).unwrap_or_default()
}

fn parse_pairs(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let read_u32 = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let count = read_u32(0)?;
    let mut data = 4usize.checked_add(count.checked_mul(8)?)?;
    let mut pairs = Vec::with_capacity(count.min(bytes.len()));
    for index in 0..count {
        let key_len = read_u32(4 + index * 8)?;
        let value_len = read_u32(8 + index * 8)?;
        let key = bytes.get(data..data.checked_add(key_len)?)?.to_vec();
        data += key_len + 1;
        let value = bytes.get(data..data.checked_add(value_len)?)?.to_vec();
        data += value_len + 1;
        pairs.push((key, value));
    }
    Some(pairs)
}

fn wire_len(len: usize) -> u32 {
    u32::try_from(len).expect("header data larger than 4 GiB")
}
