//! The route index: which routes, first in configuration order, can fit a request's host and path.
//!
//! Routes are indexed by host (exact names and `*.suffix` wildcards) and, within a host, by exact
//! path and path prefix, so a request looks up a handful of candidate lists instead of scanning
//! every route. Each list is in configuration order; the first route of each list that passes the
//! remaining conditions (methods, headers) is a candidate, and the earliest candidate wins.

use super::{ByteSet, LengthSet};
use crate::request::find_byte;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hosts longer than this are not valid DNS names; such requests only match host-less routes.
const MAX_HOST_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Lower-case name without port.
    Exact(String),
    /// `*.example.com`, stored as `.example.com`.
    Suffix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    Any,
    Exact(String),
    Prefix(String),
}

#[derive(Debug, Default)]
pub struct RouteIndex {
    exact_hosts: Keyed<PathIndex>,
    wildcard_hosts: Keyed<PathIndex>,
    any_host: PathIndex,
}

#[derive(Debug, Default)]
struct PathIndex {
    exact: Keyed<Vec<u32>>,
    prefixes: WordMap<Vec<u32>>,
    /// Distinct lengths of the keys of `prefixes`, ascending, each with the last bytes of the
    /// prefixes of that length: a path whose byte there is none of them (`/checkout/cart` against
    /// `/api/v2/`'s `/`) is not hashed for that length.
    prefix_lengths: Vec<(usize, ByteSet)>,
    any: Vec<u32>,
}

/// A map by byte string that knows the lengths of its keys: a lookup for a length no key has (most
/// of them: a host's other suffixes, a path no exact route names) hashes nothing.
#[derive(Debug)]
struct Keyed<T> {
    map: WordMap<T>,
    /// The lengths of its keys.
    lengths: LengthSet,
}

impl<T> Default for Keyed<T> {
    fn default() -> Self {
        Keyed {
            map: WordMap::default(),
            lengths: LengthSet::default(),
        }
    }
}

impl<T: Default> Keyed<T> {
    fn entry(&mut self, key: &[u8]) -> &mut T {
        self.lengths.insert(key.len());
        self.map.entry(key.into()).or_default()
    }

    fn get(&self, key: &[u8]) -> Option<&T> {
        if !self.lengths.may_contain(key.len()) {
            return None;
        }
        self.map.get(key)
    }
}

impl RouteIndex {
    /// Add route number `route`; routes must be added in configuration order. No hosts: any host.
    pub fn insert(&mut self, route: u32, hosts: &[HostPattern], path: &PathPattern) {
        if hosts.is_empty() {
            self.any_host.insert(route, path);
        }
        for host in hosts {
            let (map, key) = match host {
                HostPattern::Exact(name) => (&mut self.exact_hosts, name),
                HostPattern::Suffix(suffix) => (&mut self.wildcard_hosts, suffix),
            };
            map.entry(key.as_bytes()).insert(route, path);
        }
    }

    /// The first route, in configuration order, whose host and path fit and that `accepts`.
    /// `host` is the `:authority` as received; `path` excludes the query string.
    pub fn first_match(
        &self,
        authority: &[u8],
        path: &[u8],
        mut accepts: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let mut best: Option<u32> = None;
        let mut consider = |paths: &PathIndex| paths.first_match(path, &mut best, &mut accepts);

        // Filled only for a host with upper-case letters (see `lowercased`).
        let buffer: [u8; MAX_HOST_LEN];
        let host = match host_of(authority) {
            Some(host) if host.iter().any(u8::is_ascii_uppercase) => {
                buffer = lowercased(host);
                buffer.get(..host.len())
            }
            host => host,
        };
        if let Some(host) = host {
            if let Some(paths) = self.exact_hosts.get(host) {
                consider(paths);
            }
            if !self.wildcard_hosts.lengths.is_empty() {
                // `*.example.com` is stored as `.example.com`: try every suffix that starts at a
                // dot after the first label.
                let mut suffix = host.get(1..).unwrap_or_default();
                while let Some(dot) = find_byte(suffix, b'.') {
                    suffix = suffix.get(dot..).unwrap_or_default();
                    if let Some(paths) = self.wildcard_hosts.get(suffix) {
                        consider(paths);
                    }
                    suffix = suffix.get(1..).unwrap_or_default();
                }
            }
        }
        consider(&self.any_host);
        best
    }
}

impl PathIndex {
    fn insert(&mut self, route: u32, path: &PathPattern) {
        let list = match path {
            PathPattern::Any => &mut self.any,
            PathPattern::Exact(p) => self.exact.entry(p.as_bytes()),
            PathPattern::Prefix(p) => {
                let at = match self
                    .prefix_lengths
                    .binary_search_by_key(&p.len(), |&(n, _)| n)
                {
                    Ok(at) => at,
                    Err(at) => {
                        self.prefix_lengths
                            .insert(at, (p.len(), ByteSet::default()));
                        at
                    }
                };
                if let (Some((_, ends)), Some(&last)) =
                    (self.prefix_lengths.get_mut(at), p.as_bytes().last())
                {
                    ends.insert(last);
                }
                self.prefixes.entry(p.as_bytes().into()).or_default()
            }
        };
        // A route listing one host twice lands here twice in a row.
        if list.last() != Some(&route) {
            list.push(route);
        }
    }

    fn first_match(
        &self,
        path: &[u8],
        best: &mut Option<u32>,
        accepts: &mut impl FnMut(u32) -> bool,
    ) {
        let mut scan = |list: &[u32]| {
            for &route in list {
                if best.is_some_and(|b| route >= b) {
                    return;
                }
                if accepts(route) {
                    *best = Some(route);
                    return;
                }
            }
        };
        if let Some(list) = self.exact.get(path) {
            scan(list);
        }
        for &(len, ends) in &self.prefix_lengths {
            let Some(prefix) = path.get(..len) else {
                break;
            };
            // The empty prefix has no last byte, and always stands.
            if prefix.last().is_none_or(|&b| ends.contains(b))
                && let Some(list) = self.prefixes.get(prefix)
            {
                scan(list);
            }
        }
        scan(&self.any);
    }
}

/// The index's maps, by byte string.
type WordMap<T> = HashMap<Box<[u8]>, T, BuildHasherDefault<WordHasher>>;

/// The index's hasher: eight bytes a step where FNV-1a takes one, since every request hashes its
/// host and path prefixes. The maps hold only configured keys, so a client sending colliding
/// hosts or paths costs its own lookup a probe or two, and nothing more.
#[derive(Default)]
struct WordHasher(u64);

impl WordHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            if let Ok(word) = <[u8; 8]>::try_from(word) {
                self.add(u64::from_le_bytes(word));
            }
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            // Zero-padded: keys of different lengths differ by their length prefix.
            let mut last = [0; 8];
            if let Some(start) = last.get_mut(..rest.len()) {
                start.copy_from_slice(rest);
            }
            self.add(u64::from_le_bytes(last));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    /// The multiplication leaves the low bits, which pick the bucket, the weakest: rotate the
    /// well-mixed high bits down.
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

/// `Example.COM:8080` → `Example.COM`; `[::1]:80` → `[::1]`; a trailing dot is dropped. None when
/// the host is too long to be a DNS name.
fn host_of(authority: &[u8]) -> Option<&[u8]> {
    let host = if authority.first() == Some(&b'[') {
        match authority.iter().position(|&b| b == b']') {
            Some(end) => authority.get(..=end).unwrap_or(authority),
            None => authority,
        }
    } else {
        match find_byte(authority, b':') {
            // One colon is a port; several without brackets is a bare IPv6 address.
            Some(colon)
                if authority
                    .get(colon + 1..)
                    .is_some_and(|port| find_byte(port, b':').is_none()) =>
            {
                authority.get(..colon).unwrap_or(authority)
            }
            _ => authority,
        }
    };
    let host = host.strip_suffix(b".").unwrap_or(host);
    (host.len() <= MAX_HOST_LEN).then_some(host)
}

/// A host of at most [`MAX_HOST_LEN`] bytes in lower case, at the start of the buffer. Nearly
/// every request's host is in lower case already and is looked up as it came.
fn lowercased(host: &[u8]) -> [u8; MAX_HOST_LEN] {
    let mut buffer = [0; MAX_HOST_LEN];
    for (o, b) in buffer.iter_mut().zip(host) {
        *o = b.to_ascii_lowercase();
    }
    buffer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(authority: &str) -> Option<String> {
        host_of(authority.as_bytes()).map(|h| {
            let lowered = lowercased(h);
            String::from_utf8_lossy(&lowered[..h.len()]).into_owned()
        })
    }

    #[test]
    fn hosts_lose_their_port_case_and_trailing_dot() {
        assert_eq!(
            host("Shop.Example.COM:8443").as_deref(),
            Some("shop.example.com")
        );
        assert_eq!(host("example.com.").as_deref(), Some("example.com"));
        assert_eq!(host("[::1]:8080").as_deref(), Some("[::1]"));
        assert_eq!(host("::1").as_deref(), Some("::1"));
        assert_eq!(host("::1:8080").as_deref(), Some("::1:8080"));
        assert_eq!(
            host("shop.example.com:80").as_deref(),
            Some("shop.example.com")
        );
        assert_eq!(
            host("shop.example.com").as_deref(),
            Some("shop.example.com")
        );
        assert_eq!(host(&"a".repeat(255)).map(|h| h.len()), Some(255));
        assert_eq!(host("").as_deref(), Some(""));
        assert_eq!(host(&"a".repeat(300)), None);
    }

    fn index(routes: &[(&[HostPattern], PathPattern)]) -> RouteIndex {
        let mut index = RouteIndex::default();
        for (i, (hosts, path)) in routes.iter().enumerate() {
            index.insert(i as u32, hosts, path);
        }
        index
    }

    #[test]
    fn the_first_route_in_configuration_order_wins_across_index_buckets() {
        let exact = [HostPattern::Exact("shop.example.com".into())];
        let wild = [HostPattern::Suffix(".example.com".into())];
        let index = index(&[
            (&wild, PathPattern::Prefix("/api".into())),
            (&exact, PathPattern::Any),
            (&[], PathPattern::Exact("/health".into())),
            (&[], PathPattern::Prefix("/".into())),
        ]);
        let first = |a: &str, p: &str| index.first_match(a.as_bytes(), p.as_bytes(), |_| true);
        assert_eq!(first("shop.example.com", "/api/cart"), Some(0));
        assert_eq!(first("shop.example.com", "/health"), Some(1));
        assert_eq!(first("other.example.com", "/health"), Some(2));
        assert_eq!(first("SHOP.Example.com:8080", "/health"), Some(1));
        assert_eq!(
            first("example.com", "/api"),
            Some(3),
            "a wildcard needs a subdomain"
        );
        assert_eq!(
            first("a.b.example.com:80", "/apix"),
            Some(0),
            "prefixes are not segments"
        );
    }

    #[test]
    fn a_rejected_candidate_lets_a_later_route_win() {
        let index = index(&[
            (&[], PathPattern::Any),
            (&[], PathPattern::Prefix("/a".into())),
        ]);
        assert_eq!(index.first_match(b"h", b"/a", |r| r != 0), Some(1));
        assert_eq!(index.first_match(b"h", b"/b", |r| r != 0), None);
    }
}
