//! Shadow comparison: the live answer against the shadow's, item by item (the status, the listed
//! headers, then the listed JSON fields with numbers within the tolerance, or else the body's
//! bytes), with Diffy's noise cancelling: an item that also differs between the live answer and a
//! second instance of the live version (the noise answer) is noise, not a mismatch.

use crate::json::{self, Json};
use crate::plan::Compare;

/// An answer as the comparison needs it.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub status: u16,
    /// The first value of each of the comparison's `headers`, in order; None where absent.
    pub headers: Vec<Option<Box<[u8]>>>,
    pub body: Vec<u8>,
}

/// What a sampled request ends in: exactly one per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Match,
    /// The status, a listed header or a field differs, and not as noise.
    Mismatch,
    /// Only items that also differ between the live answer and the noise answer.
    Noise,
    /// No shadow answer within `timeout_ms`.
    Timeout,
    /// No shadow answer: unknown cluster, connection failure, reset.
    ShadowError,
    /// Not compared: a body over `max_body_bytes`, the user's stream ended without an answer, or
    /// the worker's comparisons in flight at their cap.
    Skipped,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Match,
        Outcome::Mismatch,
        Outcome::Noise,
        Outcome::Timeout,
        Outcome::ShadowError,
        Outcome::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Match => "match",
            Outcome::Mismatch => "mismatch",
            Outcome::Noise => "noise",
            Outcome::Timeout => "timeout",
            Outcome::ShadowError => "shadow_error",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One compared item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Status,
    /// By its place in `headers`.
    Header(usize),
    /// By its place in `fields`.
    Field(usize),
    /// The bytes of the body (without `fields`), or, with them, a body that is not JSON.
    Body,
}

impl Item {
    /// The `field` label of `switchyard_shadow_field_mismatch_total`: `:status`, the header's
    /// name, the field's JSON Pointer, or `body`.
    pub fn name(self, compare: &Compare) -> &str {
        match self {
            Item::Status => ":status",
            Item::Header(i) => compare.headers.get(i).map_or("", |h| h),
            Item::Field(i) => compare.fields.get(i).map_or("", |f| &f.name),
            Item::Body => "body",
        }
    }
}

/// The comparison of one request's answers.
#[derive(Debug, PartialEq)]
pub struct Verdict {
    /// `Match`, `Mismatch` or `Noise`.
    pub outcome: Outcome,
    /// The items that differ, noise left out, in comparison order.
    pub mismatched: Vec<Item>,
    /// The first of them, with both values for the log.
    pub first: Option<Difference>,
}

/// An item's values on both sides, written for a log line and cut to [`MAX_SHOWN`] bytes.
#[derive(Debug, PartialEq)]
pub struct Difference {
    pub item: Item,
    pub live: String,
    pub shadow: String,
}

/// Longest value a [`Difference`] shows, in bytes.
pub const MAX_SHOWN: usize = 128;

/// An answer with its body read as JSON where fields are compared.
struct View<'a> {
    answer: &'a Answer,
    /// None without `fields`, or when the body is not JSON.
    json: Option<Json>,
}

impl<'a> View<'a> {
    fn new(compare: &Compare, answer: &'a Answer) -> View<'a> {
        let json = if compare.fields.is_empty() {
            None
        } else {
            json::parse(&answer.body).ok()
        };
        View { answer, json }
    }

    fn field(&self, compare: &Compare, i: usize) -> Option<&Json> {
        let field = compare.fields.get(i)?;
        field.pointer.resolve(self.json.as_ref()?)
    }
}

/// Compare the live answer with the shadow's, cancelling what differs between the live answer and
/// the noise answer (if there is one).
pub fn compare(
    compare: &Compare,
    live: &Answer,
    shadow: &Answer,
    noise: Option<&Answer>,
) -> Verdict {
    let (live, shadow) = (View::new(compare, live), View::new(compare, shadow));
    // A noise answer that cannot be read as the fields need tells nothing about noise.
    let noise = noise
        .map(|noise| View::new(compare, noise))
        .filter(|noise| compare.fields.is_empty() || noise.json.is_some());

    let mut items = vec![Item::Status];
    items.extend((0..compare.headers.len()).map(Item::Header));
    match (&live.json, &shadow.json) {
        (Some(_), Some(_)) => items.extend((0..compare.fields.len()).map(Item::Field)),
        _ => items.push(Item::Body),
    }

    let mut mismatched = Vec::new();
    let mut noisy = false;
    for item in items {
        if !differs(compare, &live, &shadow, item) {
            continue;
        }
        if noise
            .as_ref()
            .is_some_and(|noise| differs(compare, &live, noise, item))
        {
            noisy = true;
        } else {
            mismatched.push(item);
        }
    }
    let outcome = match (mismatched.is_empty(), noisy) {
        (false, _) => Outcome::Mismatch,
        (true, true) => Outcome::Noise,
        (true, false) => Outcome::Match,
    };
    let first = mismatched.first().map(|&item| Difference {
        item,
        live: shown(compare, &live, item),
        shadow: shown(compare, &shadow, item),
    });
    Verdict {
        outcome,
        mismatched,
        first,
    }
}

fn differs(compare: &Compare, a: &View<'_>, b: &View<'_>, item: Item) -> bool {
    match item {
        Item::Status => a.answer.status != b.answer.status,
        Item::Header(i) => a.answer.headers.get(i) != b.answer.headers.get(i),
        Item::Field(i) => match (a.field(compare, i), b.field(compare, i)) {
            (None, None) => false,
            (Some(x), Some(y)) => !equal(x, y, compare.tolerance),
            _ => true,
        },
        Item::Body if compare.fields.is_empty() => a.answer.body != b.answer.body,
        // With fields: a body that is not JSON on one side differs; on both, its bytes decide;
        // on neither (the noise answer against the live one), the fields do.
        Item::Body => match (a.json.is_some(), b.json.is_some()) {
            (false, false) => a.answer.body != b.answer.body,
            (true, true) => {
                (0..compare.fields.len()).any(|i| differs(compare, a, b, Item::Field(i)))
            }
            _ => true,
        },
    }
}

/// Whether two JSON values are equal, numbers within `tolerance` (inclusive) at any depth.
pub(crate) fn equal(a: &Json, b: &Json, tolerance: f64) -> bool {
    match (a, b) {
        (Json::Null, Json::Null) => true,
        (Json::Bool(x), Json::Bool(y)) => x == y,
        (Json::String(x), Json::String(y)) => x == y,
        (Json::Number(x), Json::Number(y)) => match (x.as_exact(), y.as_exact()) {
            // Integers beyond 2^53 stay exact where no tolerance is asked for.
            (Some(x), Some(y)) if tolerance == 0.0 => x == y,
            _ => (x.as_f64() - y.as_f64()).abs() <= tolerance,
        },
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y, tolerance))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(x, y)| x.key == y.key && equal(&x.value, &y.value, tolerance))
        }
        _ => false,
    }
}

/// An item's value on one side, as a log line shows it.
fn shown(compare: &Compare, view: &View<'_>, item: Item) -> String {
    let text = match item {
        Item::Status => u32::from(view.answer.status).to_string(),
        Item::Header(i) => match view.answer.headers.get(i) {
            Some(Some(value)) => text(value),
            _ => ABSENT.into(),
        },
        Item::Field(i) => view
            .field(compare, i)
            .map_or_else(|| ABSENT.into(), |value| value.to_string()),
        Item::Body => text(
            view.answer
                .body
                .get(..MAX_SHOWN)
                .unwrap_or(&view.answer.body),
        ),
    };
    cut(text)
}

const ABSENT: &str = "(absent)";

/// Bytes as text: up to the first byte that is not UTF-8 (a cut character included).
fn text(bytes: &[u8]) -> String {
    let valid = match std::str::from_utf8(bytes) {
        Ok(all) => all,
        Err(e) => bytes
            .get(..e.valid_up_to())
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default(),
    };
    valid.into()
}

/// `text` cut to at most [`MAX_SHOWN`] bytes at a character boundary, `…` marking a cut.
pub fn cut(text: String) -> String {
    if text.len() <= MAX_SHOWN {
        return text;
    }
    // `get` rather than `truncate`: no panic path (and its formatting) in the module.
    let fits = (0..=MAX_SHOWN - '…'.len_utf8())
        .rev()
        .find_map(|end| text.get(..end));
    let mut out = String::from(fits.unwrap_or_default());
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Pointer;
    use crate::plan::Field;

    fn compare_of(fields: &[&str], tolerance: f64, headers: &[&str]) -> Compare {
        Compare {
            timeout_ms: 1000,
            max_body_bytes: 65536,
            fields: fields
                .iter()
                .map(|f| Field {
                    name: (*f).into(),
                    pointer: Pointer::parse(f).unwrap(),
                })
                .collect(),
            tolerance,
            headers: headers.iter().map(|h| (*h).into()).collect(),
            noise_cluster: None,
            log_per_s: 1,
        }
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn outcome(c: &Compare, live: &str, shadow: &str) -> Outcome {
        super::compare(c, &answer(200, live), &answer(200, shadow), None).outcome
    }

    fn json(text: &str) -> Json {
        json::parse(text.as_bytes()).unwrap()
    }

    fn at<'j>(pointer: &str, document: &'j Json) -> Option<&'j Json> {
        Pointer::parse(pointer).unwrap().resolve(document)
    }

    #[test]
    fn pointers_follow_rfc_6901_escapes_arrays_and_missing_members() {
        let doc = json(r#"{"a/b": 1, "m~n": 2, "": 3, "list": [10, 20], "x": {"y": null}}"#);
        assert_eq!(at("/a~1b", &doc).unwrap().to_string(), "1");
        assert_eq!(at("/m~0n", &doc).unwrap().to_string(), "2");
        assert_eq!(at("/", &doc).unwrap().to_string(), "3");
        assert_eq!(at("/list/1", &doc).unwrap().to_string(), "20");
        assert_eq!(at("/x/y", &doc).unwrap().to_string(), "null");
        assert_eq!(
            at("", &doc).unwrap().to_string(),
            r#"{"":3,"a/b":1,"list":[10,20],"m~n":2,"x":{"y":null}}"#
        );
        for missing in [
            "/list/2", "/list/-", "/list/01", "/list/+1", "/nope", "/x/y/z", "/a/b",
        ] {
            assert!(at(missing, &doc).is_none(), "{missing}");
        }
        // `~01` is `~1` unescaped once: the member named "~1", not "/".
        let tricky = json(r#"{"~1": "tilde-one", "/": "slash"}"#);
        assert_eq!(at("/~01", &tricky).unwrap().to_string(), r#""tilde-one""#);
        for invalid in ["a", "/~", "/~2", "/a~"] {
            assert!(Pointer::parse(invalid).is_none(), "{invalid}");
        }
    }

    #[test]
    fn numbers_are_equal_within_the_tolerance_inclusive() {
        let c = compare_of(&["/score"], 0.25, &[]);
        assert_eq!(
            outcome(&c, r#"{"score": 1.0}"#, r#"{"score": 1.25}"#),
            Outcome::Match
        );
        assert_eq!(
            outcome(&c, r#"{"score": 1.0}"#, r#"{"score": 0.75}"#),
            Outcome::Match
        );
        assert_eq!(
            outcome(&c, r#"{"score": 1.0}"#, r#"{"score": 1.2500001}"#),
            Outcome::Mismatch
        );
        assert_eq!(
            outcome(&c, r#"{"score": 1}"#, r#"{"score": 1.0}"#),
            Outcome::Match
        );
        // Within arrays and objects too.
        let c = compare_of(&["/scores"], 0.01, &[]);
        assert_eq!(
            outcome(
                &c,
                r#"{"scores": [0.5, {"p": 0.2}]}"#,
                r#"{"scores": [0.505, {"p": 0.21}]}"#
            ),
            Outcome::Match
        );
        assert_eq!(
            outcome(&c, r#"{"scores": [0.5]}"#, r#"{"scores": [0.5, 0.5]}"#),
            Outcome::Mismatch
        );
    }

    #[test]
    fn without_tolerance_integers_compare_exactly_even_beyond_f64() {
        let c = compare_of(&["/id"], 0.0, &[]);
        assert_eq!(
            outcome(
                &c,
                r#"{"id": 9007199254740993}"#,
                r#"{"id": 9007199254740992}"#
            ),
            Outcome::Mismatch
        );
        assert_eq!(
            outcome(&c, r#"{"id": -3}"#, r#"{"id": -3}"#),
            Outcome::Match
        );
    }

    #[test]
    fn other_values_compare_exactly_and_absent_on_both_sides_is_equal() {
        let c = compare_of(&["/label", "/extra"], 0.5, &[]);
        assert_eq!(
            outcome(&c, r#"{"label": "cat"}"#, r#"{"label": "cat"}"#),
            Outcome::Match
        );
        assert_eq!(
            outcome(&c, r#"{"label": "cat"}"#, r#"{"label": "dog"}"#),
            Outcome::Mismatch
        );
        assert_eq!(
            outcome(&c, r#"{"label": "1"}"#, r#"{"label": 1}"#),
            Outcome::Mismatch
        );
        assert_eq!(
            outcome(
                &c,
                r#"{"label": "cat"}"#,
                r#"{"label": "cat", "extra": null}"#
            ),
            Outcome::Mismatch
        );
        // Fields not listed are not compared.
        assert_eq!(
            outcome(
                &c,
                r#"{"label": "cat", "took": 3}"#,
                r#"{"label": "cat", "took": 9}"#
            ),
            Outcome::Match
        );
    }

    #[test]
    fn without_fields_the_bytes_of_the_bodies_are_compared() {
        let c = compare_of(&[], 0.0, &[]);
        assert_eq!(outcome(&c, r#"{"a": 1}"#, r#"{"a": 1}"#), Outcome::Match);
        assert_eq!(outcome(&c, r#"{"a": 1}"#, r#"{"a":1}"#), Outcome::Mismatch);
        assert_eq!(outcome(&c, "\u{0}\u{1}", "\u{0}\u{1}"), Outcome::Match);
    }

    #[test]
    fn bodies_that_are_not_json_are_compared_as_bytes_under_body() {
        let c = compare_of(&["/label"], 0.0, &[]);
        assert_eq!(outcome(&c, "oops", "oops"), Outcome::Match);
        let v = super::compare(&c, &answer(200, "oops"), &answer(200, "OOPS"), None);
        assert_eq!(v.mismatched, [Item::Body]);
        let v = super::compare(
            &c,
            &answer(200, r#"{"label": 1}"#),
            &answer(200, "<html>"),
            None,
        );
        assert_eq!(v.outcome, Outcome::Mismatch);
        assert_eq!(v.mismatched, [Item::Body]);
        assert_eq!(v.first.unwrap().shadow, "<html>");
        // A repeated key makes a document that is not JSON here.
        let v = super::compare(
            &c,
            &answer(200, r#"{"label": 1}"#),
            &answer(200, r#"{"label": 1, "label": 1}"#),
            None,
        );
        assert_eq!(v.mismatched, [Item::Body]);
    }

    #[test]
    fn status_and_listed_headers_are_compared_first() {
        let c = compare_of(&["/label"], 0.0, &["content-type", "x-model"]);
        let live = Answer {
            status: 200,
            headers: vec![Some((*b"application/json").into()), None],
            body: br#"{"label": "cat"}"#.to_vec(),
        };
        let mut shadow = live.clone();
        shadow.status = 500;
        shadow.headers[1] = Some((*b"v3").into());
        shadow.body = br#"{"label": "dog"}"#.to_vec();
        let v = super::compare(&c, &live, &shadow, None);
        assert_eq!(
            v.mismatched,
            [Item::Status, Item::Header(1), Item::Field(0)]
        );
        let first = v.first.unwrap();
        assert_eq!((first.live.as_str(), first.shadow.as_str()), ("200", "500"));
        let names: Vec<_> = v.mismatched.iter().map(|i| i.name(&c)).collect();
        assert_eq!(names, [":status", "x-model", "/label"]);
        let v = super::compare(&c, &live, &live, None);
        assert_eq!((v.outcome, v.first), (Outcome::Match, None));
    }

    #[test]
    fn what_also_differs_from_the_noise_answer_is_noise() {
        let c = compare_of(&["/label", "/took_ms"], 0.0, &[]);
        let live = answer(200, r#"{"label": "cat", "took_ms": 12}"#);
        let noise = answer(200, r#"{"label": "cat", "took_ms": 15}"#);
        let only_noisy = answer(200, r#"{"label": "cat", "took_ms": 31}"#);
        let v = super::compare(&c, &live, &only_noisy, Some(&noise));
        assert_eq!((v.outcome, v.mismatched.len()), (Outcome::Noise, 0));
        let real = answer(200, r#"{"label": "dog", "took_ms": 31}"#);
        let v = super::compare(&c, &live, &real, Some(&noise));
        assert_eq!(
            (v.outcome, v.mismatched),
            (Outcome::Mismatch, vec![Item::Field(0)])
        );
        // Without the noise answer the same difference is a mismatch.
        let v = super::compare(&c, &live, &only_noisy, None);
        assert_eq!(v.outcome, Outcome::Mismatch);
        // A noise answer that is not JSON cancels nothing.
        let v = super::compare(&c, &live, &only_noisy, Some(&answer(503, "down")));
        assert_eq!(v.outcome, Outcome::Mismatch);
    }

    #[test]
    fn shown_values_are_cut_to_128_bytes_at_a_character_boundary() {
        let c = compare_of(&["/text"], 0.0, &[]);
        let long = "é".repeat(100);
        let v = super::compare(
            &c,
            &answer(200, &format!(r#"{{"text": "{long}"}}"#)),
            &answer(200, r#"{"text": "short"}"#),
            None,
        );
        let first = v.first.unwrap();
        assert!(first.live.len() <= MAX_SHOWN, "{}", first.live.len());
        assert!(first.live.starts_with("\"éé") && first.live.ends_with('…'));
        assert_eq!(first.shadow, r#""short""#);
        let v = super::compare(&c, &answer(200, "{}"), &answer(200, r#"{"text": 1}"#), None);
        assert_eq!(v.first.unwrap().live, "(absent)");
    }
}
