//! What the engine sees of a request: its headers as borrowed byte slices, and the keys read from
//! them (headers, cookies, query parameters). Values are raw bytes, never assumed to be UTF-8.

pub mod cookies;
pub mod query;

use std::borrow::Cow;

/// Where a hashing key is read; names are lower-cased for headers, verbatim otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Header(Box<str>),
    Cookie(Box<str>),
    Query(Box<str>),
}

/// The longest key, in bytes (after percent-decoding for query parameters), that is hashed. A
/// longer value is treated as absent: the next source is tried, and without one the request is
/// not sticky, not enrolled and not keyed for shadowing. No real user id is this long; the limit
/// bounds the hashing work (and the UTF-16 re-encoding GrowthBook's hash needs) a client can cause.
pub const MAX_KEY_BYTES: usize = 4096;

/// A request's headers, borrowed from wherever the host put them. Names are compared
/// ASCII-case-insensitively; when a header repeats, the first value counts. The headers every
/// request needs (pseudo-headers, `Host`, the first `Cookie`) are found in one pass.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    headers: &'a [(&'a [u8], &'a [u8])],
    authority: &'a [u8],
    path: &'a [u8],
    method: &'a [u8],
    /// The first `Cookie` header, and whether there are more such headers (HTTP/2 may split
    /// them; Envoy joins them again).
    cookies: &'a [u8],
    cookies_split: bool,
}

impl<'a> Request<'a> {
    pub fn new(headers: &'a [(&'a [u8], &'a [u8])]) -> Self {
        let (mut authority, mut host, mut path, mut method) = (None, None, None, None);
        let mut cookies: (Option<&[u8]>, bool) = (None, false);
        for &(name, value) in headers {
            let is = |wanted: &[u8]| same_name(name, wanted);
            let slot = match name.len() {
                10 if is(b":authority") => &mut authority,
                5 if is(b":path") => &mut path,
                7 if is(b":method") => &mut method,
                4 if is(b"host") => &mut host,
                6 if is(b"cookie") => {
                    cookies.1 |= cookies.0.is_some();
                    &mut cookies.0
                }
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        Request {
            headers,
            authority: authority.or(host).unwrap_or_default(),
            path: path.unwrap_or_default(),
            method: method.unwrap_or_default(),
            cookies: cookies.0.unwrap_or_default(),
            cookies_split: cookies.1,
        }
    }

    pub fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        let mut i = 0;
        while let Some(&(n, value)) = self.headers.get(i) {
            if same_name(n, name) {
                return Some(value);
            }
            i += 1;
        }
        None
    }

    fn all<'n>(&self, name: &'n [u8]) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(n, _)| same_name(n, name))
            .map(|(_, v)| *v)
    }

    /// `:authority`, else `Host`.
    pub fn authority(&self) -> &'a [u8] {
        self.authority
    }

    pub fn method(&self) -> &'a [u8] {
        self.method
    }

    /// `:path` without query string or fragment.
    pub fn path(&self) -> &'a [u8] {
        query::path_only(self.path)
    }

    /// A cookie from any of the `Cookie` headers; the first occurrence wins.
    pub fn cookie(&self, name: &[u8]) -> Option<&'a [u8]> {
        if self.cookies_split {
            cookies::find_cookie(self.all(b"cookie"), name)
        } else {
            cookies::cookie_value(self.cookies, name)
        }
    }

    /// A percent-decoded query parameter of `:path`.
    pub fn query(&self, name: &[u8]) -> Option<Cow<'a, [u8]>> {
        query::query_value(query::query_of(self.path), name)
    }

    /// The first present, non-empty value among `sources` of at most [`MAX_KEY_BYTES`].
    pub fn key(&self, sources: &[KeySource]) -> Option<Cow<'a, [u8]>> {
        sources.iter().find_map(|source| {
            let value = match source {
                KeySource::Header(name) => self.header(name.as_bytes()).map(Cow::Borrowed),
                KeySource::Cookie(name) => self.cookie(name.as_bytes()).map(Cow::Borrowed),
                KeySource::Query(name) => self.query(name.as_bytes()),
            };
            value.filter(|v| !v.is_empty() && v.len() <= MAX_KEY_BYTES)
        })
    }
}

/// Whether `needle` occurs in `haystack` (an empty needle always does): a search for its first
/// byte, eight bytes at a time, and a comparison where it is found.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let mut from = 0;
    while let Some(tail) = haystack.get(from..) {
        let Some(at) = find_byte(tail, first) else {
            return false;
        };
        from += at + 1;
        if haystack
            .get(from..)
            .is_some_and(|after| after.starts_with(rest))
        {
            return true;
        }
    }
    false
}

/// The position of the first `byte` in `haystack`, eight bytes at a time: cookie headers are
/// hundreds of bytes, and byte-by-byte loops are slow in a module built for size.
pub fn find_byte(haystack: &[u8], byte: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES.wrapping_mul(u64::from(byte));
    let mut words = haystack.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let Ok(bytes) = <[u8; 8]>::try_from(word) else {
            break;
        };
        // A zero byte in `x` is a match; the lowest flagged byte is always a true zero (a borrow
        // can only flag bytes above one).
        let x = u64::from_le_bytes(bytes) ^ pattern;
        let zeros = x.wrapping_sub(ONES) & !x & HIGHS;
        if zeros != 0 {
            return Some(offset + (zeros.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    let rest = words.remainder();
    rest.iter().position(|&b| b == byte).map(|i| offset + i)
}

/// Header names compared as HTTP compares them, lengths first: most names differ in length, and
/// the comparison of the bytes is a call in a module built for size.
#[inline(always)]
pub fn same_name(a: &[u8], b: &[u8]) -> bool {
    // Envoy hands names over in lower case, and configured names are lower-cased: bytes are
    // compared first, which costs a fraction of ignoring case in the module.
    a.len() == b.len() && (a == b || a.eq_ignore_ascii_case(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_first_present_non_empty_source() {
        let headers: &[(&[u8], &[u8])] = &[
            (b":path", b"/p?uid=q%20user&x"),
            (b"X-User", b""),
            (b"cookie", b"a=1"),
            (b"cookie", b"uid=c-user; uid=second"),
        ];
        let request = Request::new(headers);
        let sources = |s: &[KeySource]| {
            request
                .key(s)
                .map(|k| String::from_utf8_lossy(&k).into_owned())
        };
        let header = KeySource::Header("x-user".into());
        let cookie = KeySource::Cookie("uid".into());
        let query = KeySource::Query("uid".into());
        assert_eq!(
            sources(&[header.clone(), cookie.clone()]).as_deref(),
            Some("c-user")
        );
        assert_eq!(sources(&[query.clone(), cookie]).as_deref(), Some("q user"));
        assert_eq!(sources(&[header, KeySource::Query("x".into())]), None);
        assert_eq!(request.path(), b"/p");
        assert_eq!(request.method(), b"");
    }

    #[test]
    fn find_byte_finds_what_position_finds() {
        let mut haystack: Vec<u8> = (0..=255u8).rev().collect();
        haystack.extend((0..=255u8).step_by(3));
        for len in 0..haystack.len() {
            for start in [0, 1, 5] {
                let h = haystack.get(start.min(len)..len).unwrap();
                for byte in [0u8, 1, 0x3b, 0x3d, 0x80, 0xff, 0xfe, 7] {
                    assert_eq!(
                        find_byte(h, byte),
                        h.iter().position(|&b| b == byte),
                        "{byte} in {h:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn contains_finds_what_windows_finds() {
        let haystack = b"_ga=GA1; uid=u-1; u; uid2=x; consent=a%3Db";
        for len in 0..haystack.len() {
            let h = &haystack[..len];
            for needle in [
                &b""[..],
                b"u",
                b"uid",
                b"uid=",
                b"id2",
                b"b",
                b"consent=a%3Db",
                b"zz",
                b"u-1;",
            ] {
                let expected = needle.is_empty() || h.windows(needle.len()).any(|w| w == needle);
                assert_eq!(contains(h, needle), expected, "{needle:?} in {h:?}");
            }
        }
    }

    #[test]
    fn keys_longer_than_the_limit_are_treated_as_absent() {
        let at_limit = "u".repeat(MAX_KEY_BYTES);
        let over = "u".repeat(MAX_KEY_BYTES + 1);
        // Percent-encoded, the query value is three times longer; its decoded length counts.
        let encoded_at_limit = format!("/p?uid={}", "%75".repeat(MAX_KEY_BYTES));
        let cookie = format!("uid={over}");
        let headers: &[(&[u8], &[u8])] = &[
            (b":path", encoded_at_limit.as_bytes()),
            (b"x-long", over.as_bytes()),
            (b"x-limit", at_limit.as_bytes()),
            (b"cookie", cookie.as_bytes()),
        ];
        let request = Request::new(headers);
        let len = |s: &[KeySource]| request.key(s).map(|k| k.len());
        let header = |n: &str| KeySource::Header(n.into());
        assert_eq!(len(&[header("x-long")]), None);
        assert_eq!(len(&[KeySource::Cookie("uid".into())]), None);
        assert_eq!(
            len(&[header("x-long"), header("x-limit")]),
            Some(MAX_KEY_BYTES)
        );
        assert_eq!(len(&[KeySource::Query("uid".into())]), Some(MAX_KEY_BYTES));
    }
}
