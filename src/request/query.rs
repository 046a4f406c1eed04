//! Splitting a `:path` into path and query string, and looking up query
//! parameters the way browsers' `URLSearchParams` does. Borrows from the
//! request bytes and allocates only when a value actually needs decoding.

use std::borrow::Cow;

/// The query string of a `:path` (after the first `?`, without any
/// `#fragment`), or empty.
pub fn query_of(path: &[u8]) -> &[u8] {
    without_fragment(path)
        .splitn(2, |&b| b == b'?')
        .nth(1)
        .unwrap_or_default()
}

/// The path without query string or fragment.
pub fn path_only(path: &[u8]) -> &[u8] {
    // One pass for either byte: this runs on every request.
    match path.iter().position(|&b| b == b'?' || b == b'#') {
        Some(end) => path.get(..end).unwrap_or(path),
        None => path,
    }
}

/// The value of parameter `name` in a query string (`a=1&b=2`; only `&`
/// separates, `;` does not), percent-decoded as browsers' `URLSearchParams`
/// does: `%XX` decoded, `+` becomes space, malformed `%` sequences kept
/// literally. Parameter names are compared after decoding too, so `name` is
/// the decoded name. The first occurrence wins; `a` with no `=` has the empty
/// value. Borrows when nothing needs decoding and allocates only when it does.
///
/// Unlike `URLSearchParams`, decoded bytes are returned as they are: invalid
/// UTF-8 is not replaced with U+FFFD, so comparisons stay byte-exact.
pub fn query_value<'a>(query: &'a [u8], name: &[u8]) -> Option<Cow<'a, [u8]>> {
    query
        .split(|&b| b == b'&')
        // `a=1&&b=2` has an empty sequence, which URLSearchParams ignores.
        .filter(|pair| !pair.is_empty())
        .find_map(|pair| {
            let mut halves = pair.splitn(2, |&b| b == b'=');
            let raw_name = halves.next().unwrap_or_default();
            let raw_value = halves.next().unwrap_or_default();
            // Comparing through the decoding iterator avoids allocating a
            // decoded copy of every name that is looked at.
            Decoded::new(raw_name)
                .eq(name.iter().copied())
                .then(|| decode(raw_value))
        })
}

/// Everything before the first `#`. Proxies normally never see a fragment,
/// but a `?` inside one must not start a query string.
fn without_fragment(path: &[u8]) -> &[u8] {
    path.split(|&b| b == b'#').next().unwrap_or(path)
}

/// The decoded form of `raw`, borrowed when decoding would change nothing.
fn decode(raw: &[u8]) -> Cow<'_, [u8]> {
    if needs_decoding(raw) {
        Cow::Owned(Decoded::new(raw).collect())
    } else {
        Cow::Borrowed(raw)
    }
}

/// Whether `raw` holds a `+` or a well-formed `%XX` escape. A malformed `%`
/// decodes to itself, so it alone does not force an allocation.
fn needs_decoding(raw: &[u8]) -> bool {
    raw.contains(&b'+')
        || raw.windows(3).any(
            |w| matches!(w, [b'%', hi, lo] if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit()),
        )
}

/// The bytes of a form-urlencoded component after `+` → space and `%XX`
/// decoding, produced lazily.
struct Decoded<'a> {
    rest: &'a [u8],
}

impl<'a> Decoded<'a> {
    fn new(raw: &'a [u8]) -> Self {
        Decoded { rest: raw }
    }
}

impl Iterator for Decoded<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let (&first, tail) = self.rest.split_first()?;
        if first == b'%'
            && let [hi, lo, after @ ..] = tail
            && let (Some(hi), Some(lo)) = (hex_value(*hi), hex_value(*lo))
        {
            self.rest = after;
            return Some((hi << 4) | lo);
        }
        self.rest = tail;
        Some(if first == b'+' { b' ' } else { first })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Every escape shrinks three bytes to one; nothing ever grows.
        (self.rest.len().div_ceil(3), Some(self.rest.len()))
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn value(query: &str, name: &str) -> Option<Vec<u8>> {
        query_value(query.as_bytes(), name.as_bytes()).map(Cow::into_owned)
    }

    #[test]
    fn query_of_returns_what_follows_the_first_question_mark() {
        assert_eq!(query_of(b"/a/b?x=1&y=2"), b"x=1&y=2");
        assert_eq!(query_of(b"/a?x=1?y=2"), b"x=1?y=2");
        assert_eq!(query_of(b"/?"), b"");
        assert_eq!(query_of(b"?x"), b"x");
    }

    #[test]
    fn query_of_is_empty_without_a_question_mark() {
        assert_eq!(query_of(b"/a/b"), b"");
        assert_eq!(query_of(b""), b"");
    }

    #[test]
    fn query_of_drops_the_fragment() {
        assert_eq!(query_of(b"/a?x=1#frag"), b"x=1");
        assert_eq!(query_of(b"/a#frag?x=1"), b"");
    }

    #[test]
    fn path_only_drops_query_and_fragment() {
        assert_eq!(path_only(b"/a/b?x=1#f"), b"/a/b");
        assert_eq!(path_only(b"/a/b#f?x=1"), b"/a/b");
        assert_eq!(path_only(b"/a/b"), b"/a/b");
        assert_eq!(path_only(b"?x=1"), b"");
        assert_eq!(path_only(b""), b"");
    }

    #[test]
    fn finds_a_plain_value_by_borrowing() {
        let got = query_value(b"a=1&cohort=beta&z=9", b"cohort").unwrap();
        assert!(matches!(got, Cow::Borrowed(b"beta")));
    }

    #[test]
    fn returns_none_for_a_missing_parameter() {
        assert_eq!(value("a=1&b=2", "c"), None);
        assert_eq!(value("", "c"), None);
    }

    #[test]
    fn the_first_occurrence_wins() {
        assert_eq!(value("a=1&a=2", "a").unwrap(), b"1");
    }

    #[test]
    fn a_name_without_equals_has_the_empty_value() {
        assert_eq!(value("debug&a=1", "debug").unwrap(), b"");
        assert_eq!(value("a=1&debug", "debug").unwrap(), b"");
        assert_eq!(value("debug=", "debug").unwrap(), b"");
    }

    #[test]
    fn keeps_equals_signs_after_the_first_in_the_value() {
        assert_eq!(value("t=a=b==", "t").unwrap(), b"a=b==");
    }

    #[test]
    fn only_ampersand_separates_parameters() {
        assert_eq!(value("a=1;b=2", "a").unwrap(), b"1;b=2");
        assert_eq!(value("a=1;b=2", "b"), None);
    }

    #[test]
    fn ignores_empty_sequences() {
        assert_eq!(value("&&a=1&&", "a").unwrap(), b"1");
        // The empty name matches only a real `=x` pair, never the gaps.
        assert_eq!(value("&&", ""), None);
        assert_eq!(value("&=x", "").unwrap(), b"x");
    }

    #[test]
    fn decodes_percent_escapes_and_plus_in_values() {
        let got = query_value(b"q=a%20b+c%2Bd%3d", b"q").unwrap();
        assert!(matches!(got, Cow::Owned(_)));
        assert_eq!(&*got, b"a b c+d=");
    }

    #[test]
    fn decodes_to_raw_bytes_including_non_utf8() {
        assert_eq!(value("q=%E2%9C%93", "q").unwrap(), "✓".as_bytes());
        assert_eq!(value("q=%ff%00", "q").unwrap(), b"\xff\x00");
    }

    #[test]
    fn keeps_malformed_percent_sequences_literally() {
        assert_eq!(value("q=100%", "q").unwrap(), b"100%");
        assert_eq!(value("q=%", "q").unwrap(), b"%");
        assert_eq!(value("q=%4", "q").unwrap(), b"%4");
        assert_eq!(value("q=%zz%41", "q").unwrap(), b"%zzA");
        assert_eq!(value("q=%%41", "q").unwrap(), b"%A");
        assert_eq!(value("q=%4%41", "q").unwrap(), b"%4A");
    }

    #[test]
    fn malformed_percent_sequences_alone_still_borrow() {
        let got = query_value(b"q=50%off%", b"q").unwrap();
        assert!(matches!(got, Cow::Borrowed(b"50%off%")));
    }

    #[test]
    fn compares_names_after_decoding() {
        assert_eq!(value("my%20key=1", "my key").unwrap(), b"1");
        assert_eq!(value("my+key=2", "my key").unwrap(), b"2");
        assert_eq!(value("%61=3", "a").unwrap(), b"3");
        assert_eq!(value("my%20key=1", "my%20key"), None);
    }

    #[test]
    fn compares_names_case_sensitively_and_exactly() {
        assert_eq!(value("A=1&ab=2&b=3", "a"), None);
        assert_eq!(value("A=1&ab=2&b=3", "b").unwrap(), b"3");
    }

    #[test]
    fn decoded_iterator_never_produces_more_bytes_than_its_input() {
        for raw in [&b""[..], b"%", b"%%", b"%4", b"%41", b"+", b"a%41b", b"%%%"] {
            let n = Decoded::new(raw).count();
            let (lo, hi) = Decoded::new(raw).size_hint();
            assert!(lo <= n && n <= hi.unwrap(), "{raw:?}");
        }
    }
}
