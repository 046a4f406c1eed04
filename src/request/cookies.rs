//! Cookie lookup in `Cookie` request headers (RFC 6265 §4.2.1, `a=b; c=d`).
//! Parsing is deliberately lenient because real clients are: it borrows from
//! the header bytes and never allocates.

/// The value of cookie `name` in one `Cookie` header value (RFC 6265 §4.2.1:
/// `a=b; c=d`), tolerating optional whitespace around pairs and around `=`,
/// empty pairs (`;;`), pairs without `=` (skipped), and a value wrapped in
/// double quotes (quotes removed). Names are case-sensitive. The first
/// occurrence wins. An empty `name` never matches.
pub fn cookie_value<'a>(header: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    // `=value` pairs have an empty name; no configured cookie is nameless, so
    // matching them would only ever be an accident.
    // A name whose bytes the header does not hold at all (most override cookies, on most
    // requests) is ruled out by a search for its first byte, without parsing a pair.
    if name.is_empty() || !super::contains(header, name) {
        return None;
    }
    // A plain loop over the bytes: this runs for every keyed request, in a module built for size
    // where iterator adapters are not inlined.
    let mut rest = header;
    while !rest.is_empty() {
        let (pair, after) = split_once(rest, b';').unwrap_or((rest, &[]));
        rest = after;
        // A pair without `=` is skipped.
        if let Some((pair_name, value)) = split_once(pair, b'=')
            && trim_ows(pair_name) == name
        {
            return Some(unquote(trim_ows(value)));
        }
    }
    None
}

/// The bytes before and after the first `separator`.
#[inline(always)]
fn split_once(s: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = super::find_byte(s, separator)?;
    Some((s.get(..at)?, s.get(at + 1..)?))
}

/// The same over several `Cookie` headers (HTTP/2 splits them): the first
/// header holding the cookie wins.
pub fn find_cookie<'a, I: IntoIterator<Item = &'a [u8]>>(
    headers: I,
    name: &[u8],
) -> Option<&'a [u8]> {
    headers
        .into_iter()
        .find_map(|header| cookie_value(header, name))
}

/// Strips HTTP optional whitespace (SP / HTAB) from both ends.
#[inline(always)]
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 6265 allows a cookie-value in double quotes; the quotes are not part of
/// the value. A lone `"` is kept as is.
#[inline(always)]
fn unquote(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cookie_among_several_pairs() {
        let h = b"a=1; cohort=beta; z=9";
        assert_eq!(cookie_value(h, b"cohort"), Some(&b"beta"[..]));
        assert_eq!(cookie_value(h, b"a"), Some(&b"1"[..]));
        assert_eq!(cookie_value(h, b"z"), Some(&b"9"[..]));
    }

    #[test]
    fn returns_none_when_the_cookie_is_absent() {
        assert_eq!(cookie_value(b"a=1; b=2", b"c"), None);
        assert_eq!(cookie_value(b"", b"c"), None);
    }

    #[test]
    fn tolerates_whitespace_around_pairs_and_around_the_equals_sign() {
        let h = b"  a = 1 ;\tb\t=\t2\t;c=3  ";
        assert_eq!(cookie_value(h, b"a"), Some(&b"1"[..]));
        assert_eq!(cookie_value(h, b"b"), Some(&b"2"[..]));
        assert_eq!(cookie_value(h, b"c"), Some(&b"3"[..]));
    }

    #[test]
    fn skips_empty_pairs() {
        let h = b";; a=1;;; ;b=2;";
        assert_eq!(cookie_value(h, b"a"), Some(&b"1"[..]));
        assert_eq!(cookie_value(h, b"b"), Some(&b"2"[..]));
    }

    #[test]
    fn skips_pairs_without_an_equals_sign() {
        let h = b"cohort; flag; cohort=beta";
        assert_eq!(cookie_value(h, b"cohort"), Some(&b"beta"[..]));
        assert_eq!(cookie_value(h, b"flag"), None);
    }

    #[test]
    fn removes_surrounding_double_quotes() {
        assert_eq!(cookie_value(br#"a="x y""#, b"a"), Some(&b"x y"[..]));
        assert_eq!(cookie_value(br#"a = "" "#, b"a"), Some(&b""[..]));
    }

    #[test]
    fn keeps_unbalanced_quotes() {
        assert_eq!(cookie_value(br#"a=""#, b"a"), Some(&br#"""#[..]));
        assert_eq!(cookie_value(br#"a="x"#, b"a"), Some(&br#""x"#[..]));
        assert_eq!(cookie_value(br#"a=x""#, b"a"), Some(&br#"x""#[..]));
    }

    #[test]
    fn compares_names_case_sensitively() {
        assert_eq!(
            cookie_value(b"Cohort=a; cohort=b", b"cohort"),
            Some(&b"b"[..])
        );
        assert_eq!(cookie_value(b"Cohort=a", b"cohort"), None);
    }

    #[test]
    fn the_first_occurrence_wins() {
        assert_eq!(cookie_value(b"a=1; a=2", b"a"), Some(&b"1"[..]));
    }

    #[test]
    fn an_empty_value_is_found_and_empty() {
        assert_eq!(cookie_value(b"a=; b=2", b"a"), Some(&b""[..]));
    }

    #[test]
    fn keeps_equals_signs_inside_the_value() {
        assert_eq!(cookie_value(b"tok=abc==; x=1", b"tok"), Some(&b"abc=="[..]));
    }

    #[test]
    fn does_not_match_a_name_that_is_only_a_prefix_or_suffix() {
        assert_eq!(cookie_value(b"cohorts=1; my_cohort=2", b"cohort"), None);
    }

    #[test]
    fn an_empty_name_never_matches_a_nameless_pair() {
        assert_eq!(cookie_value(b"=x; a=1", b""), None);
    }

    #[test]
    fn handles_non_utf8_bytes_without_panicking() {
        let h = b"\xff\xfe=\x80; a=\xc3";
        assert_eq!(cookie_value(h, b"a"), Some(&b"\xc3"[..]));
        assert_eq!(cookie_value(h, b"\xff\xfe"), Some(&b"\x80"[..]));
    }

    #[test]
    fn the_first_header_holding_the_cookie_wins() {
        let headers: [&[u8]; 3] = [b"x=1", b"a=first", b"a=second"];
        assert_eq!(find_cookie(headers, b"a"), Some(&b"first"[..]));
        assert_eq!(find_cookie(headers, b"x"), Some(&b"1"[..]));
        assert_eq!(find_cookie(headers, b"missing"), None);
    }

    #[test]
    fn no_headers_means_no_cookie() {
        assert_eq!(find_cookie(std::iter::empty::<&[u8]>(), b"a"), None);
    }
}
