//! Cookie and query parsing on arbitrary bytes: never a panic; what is found borrows from the
//! input (a query value only when nothing needed decoding, and never longer than its input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;
use switchyard::request::{cookies, query};

/// Whether `inner` lies within `outer` in memory.
fn within(inner: &[u8], outer: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    i >= o && i + inner.len() <= o + outer.len()
}

fuzz_target!(|data: &[u8]| {
    // The first byte splits name from input; the input is split into cookie headers at NUL.
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = usize::from(split).min(rest.len());
    let (name, input) = rest.split_at(at);

    let headers: Vec<&[u8]> = input.split(|&b| b == 0).collect();
    if let Some(value) = cookies::find_cookie(headers.iter().copied(), name) {
        assert!(
            within(value, input),
            "cookie value not borrowed from the header"
        );
        assert!(!name.is_empty(), "an empty cookie name matched");
    }
    for header in &headers {
        if let Some(value) = cookies::cookie_value(header, name) {
            assert!(within(value, header));
        }
    }

    let query_string = query::query_of(input);
    let path = query::path_only(input);
    assert!(within(query_string, input) || query_string.is_empty());
    assert!(
        input.starts_with(path),
        "path_only is not a prefix of the path"
    );
    assert!(!path.contains(&b'?') && !path.contains(&b'#'));
    assert!(!query_string.contains(&b'#'));
    match query::query_value(query_string, name) {
        Some(Cow::Borrowed(value)) => {
            assert!(
                within(value, query_string) || value.is_empty(),
                "borrowed value is not a subslice of the query"
            );
        }
        Some(Cow::Owned(value)) => assert!(value.len() <= query_string.len()),
        None => {}
    }
    // The whole input as a query string too (no `?` needed).
    if let Some(Cow::Borrowed(value)) = query::query_value(input, name) {
        assert!(within(value, input) || value.is_empty());
    }
});
