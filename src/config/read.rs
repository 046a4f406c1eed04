//! Strict reading of the JSON document into the contract types, with every unknown field and
//! every value of the wrong kind reported at its JSON path, all in one pass.
//!
//! Why not serde's derived `Deserialize` in the module: it stops at the first problem, and its
//! generic code for every config type was a third of the module's size. The derives stay on the
//! types as the reference: a test checks that this reader and serde agree on every document.

use super::json::{self, Json, Member};
use super::{
    BlueGreen, Canary, Colour, Config, Experiment, Guard, HeaderMatch, Headers, Match, Namespace,
    OverrideFrom, Overrides, Path, Problem, Route, Selector, Shadow, SwitchAt, Telemetry, Variant,
};

/// Largest configuration accepted, in bytes. Far above a 10,000-route config (about 2 MB).
pub const MAX_CONFIG_BYTES: usize = 16 << 20;

/// A document read as far as it goes.
pub struct Parsed {
    /// The configuration, with every unreadable value left at its default.
    pub config: Config,
    /// Unknown fields and values of the wrong kind.
    pub problems: Vec<Problem>,
}

impl Parsed {
    /// Whether `path` lies at, below or above a value that could not be read: problems found
    /// there later (a required field now missing, an object now incomplete) are consequences of
    /// that one, not news.
    pub fn is_consequence(&self, path: &str) -> bool {
        let within = |inner: &str, outer: &str| {
            inner
                .strip_prefix(outer)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        };
        self.problems
            .iter()
            .any(|p| within(path, &p.path) || within(&p.path, path))
    }
}

/// Read `bytes` as a configuration. Fails outright only when there is no JSON object to read.
pub fn parse(bytes: &[u8]) -> Result<Parsed, Vec<Problem>> {
    let fail = |path: String, message: String| vec![Problem { path, message }];
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(fail(
            "$".into(),
            format!(
                "configuration is {} bytes, more than the limit of {MAX_CONFIG_BYTES}",
                bytes.len()
            ),
        ));
    }
    let document = json::parse(bytes).map_err(|(path, message)| fail(path, message))?;
    let mut reader = Reader::default();
    match Config::read(&mut reader, &document, &Path::Root) {
        Some(config) => Ok(Parsed {
            config,
            problems: reader.problems,
        }),
        None => Err(reader.problems),
    }
}

#[derive(Default)]
struct Reader {
    problems: Vec<Problem>,
}

impl Reader {
    fn problem(&mut self, at: &Path<'_>, message: String) {
        self.problems.push(Problem {
            path: at.render(),
            message,
        });
    }

    /// Reports a value of the wrong kind, and gives the `None` to return.
    #[inline(always)]
    fn wrong_kind<T>(&mut self, at: &Path<'_>, value: &Json, expected: &str) -> Option<T> {
        self.invalid_type(at, value, expected);
        None
    }

    fn invalid_type(&mut self, at: &Path<'_>, value: &Json, expected: &str) {
        self.problem(
            at,
            format!("invalid type: {}, expected {expected}", describe(value)),
        );
    }
}

/// A type the reader knows how to read from a JSON value.
trait Read: Sized {
    fn read(r: &mut Reader, value: &Json, at: &Path<'_>) -> Option<Self>;
}

impl Read for String {
    fn read(r: &mut Reader, value: &Json, at: &Path<'_>) -> Option<Self> {
        match value {
            Json::String(s) => Some(s.clone()),
            other => r.wrong_kind(at, other, "a string"),
        }
    }
}

impl Read for bool {
    fn read(r: &mut Reader, value: &Json, at: &Path<'_>) -> Option<Self> {
        match value {
            Json::Bool(b) => Some(*b),
            other => r.wrong_kind(at, other, "a boolean"),
        }
    }
}

impl Read for f64 {
    fn read(r: &mut Reader, value: &Json, at: &Path<'_>) -> Option<Self> {
        match value {
            Json::Number(n) => Some(n.as_f64()),
            _ => r.wrong_kind(at, value, "a number"),
        }
    }
}

impl Read for u8 {
    fn read(r: &mut Reader, value: &Json, at: &Path<'_>) -> Option<Self> {
        match as_u64(value).map(u8::try_from) {
            Some(Ok(n)) => Some(n),
            _ => r.wrong_kind(at, value, "an integer from 0 to 255"),
        }
    }
}

impl Read for u32 {
    fn read(r: &mut Reader, value: &Json, at: &Path<'_>) -> Option<Self> {
        match as_u64(value).map(u32::try_from) {
            Some(Ok(n)) => Some(n),
            _ => r.wrong_kind(at, value, "an integer from 0 to 4294967295"),
        }
    }
}

impl<T: Read> Read for Option<T> {
    fn read(r: &mut Reader, value: &Json, at: &Path<'_>) -> Option<Self> {
        match value {
            Json::Null => Some(None),
            value => T::read(r, value, at).map(Some),
        }
    }
}

impl<T: Read + Default> Read for Vec<T> {
    fn read(r: &mut Reader, value: &Json, at: &Path<'_>) -> Option<Self> {
        let Json::Array(items) = value else {
            return r.wrong_kind(at, value, "an array");
        };
        // An unreadable element becomes a default one rather than a gap, so that the paths of
        // later problems keep their indices.
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.push(T::read(r, item, &Path::Index(at, i)).unwrap_or_default());
        }
        Some(out)
    }
}

/// The members of a JSON object, taken one by one; what is never taken is an unknown field.
struct Object<'v, 'p> {
    map: &'v [Member],
    at: &'p Path<'p>,
}

impl<'v, 'p> Object<'v, 'p> {
    fn new(r: &mut Reader, value: &'v Json, at: &'p Path<'p>) -> Option<Self> {
        match value {
            Json::Object(map) => Some(Object { map, at }),
            other => r.wrong_kind(at, other, "an object"),
        }
    }

    /// Reads the member `key` into `out`, which keeps its default when the member is absent or
    /// unreadable.
    #[inline(never)]
    fn field<T: Read>(&self, r: &mut Reader, key: &str, out: &mut T) {
        if let Some(value) = json::member(self.map, key)
            && let Some(read) = T::read(r, value, &Path::Key(self.at, key))
        {
            *out = read;
        }
    }

    /// Report every member whose name is not in `known`.
    fn finish(self, r: &mut Reader, known: &[&str]) {
        let unknown = self.map.iter().map(|m| &m.key);
        for key in unknown.filter(|k| !known.contains(&k.as_str())) {
            let mut message = format!("unknown field `{key}`, expected one of ");
            for (i, k) in known.iter().enumerate() {
                message.push_str(if i == 0 { "`" } else { ", `" });
                message.push_str(k);
                message.push('`');
            }
            r.problem(&Path::Key(self.at, key), message);
        }
    }
}

/// `Read` for a contract struct: each listed field is read by its JSON name (the field's own
/// name unless given), absent fields keep the struct's `Default`, anything else is unknown.
macro_rules! read_struct {
    ($type:ident { $($field:ident $(= $json:literal)?),* $(,)? }) => {
        impl Read for $type {
            fn read(r: &mut Reader, value: &Json, at: &Path<'_>) -> Option<Self> {
                let object = Object::new(r, value, at)?;
                let mut out = $type::default();
                $(object.field(r, read_struct!(@name $field $($json)?), &mut out.$field);)*
                object.finish(r, &[$(read_struct!(@name $field $($json)?)),*]);
                Some(out)
            }
        }
    };
    (@name $field:ident) => { stringify!($field) };
    (@name $field:ident $json:literal) => { $json };
}

read_struct!(Config {
    revision,
    debug,
    headers,
    overrides,
    telemetry,
    routes
});
read_struct!(Telemetry {
    responses,
    access_log
});
read_struct!(Headers {
    cluster,
    target,
    shadow,
    cohort_prefix,
    decision
});
read_struct!(Overrides {
    from,
    token_header,
    tokens,
    source_cidrs
});
read_struct!(Route { name, matcher = "match", stable, blue_green, canary, experiments, shadow });
read_struct!(Match {
    hosts,
    path_prefix,
    path_exact,
    methods,
    headers
});
read_struct!(HeaderMatch {
    name,
    exact,
    prefix,
    present
});
read_struct!(BlueGreen {
    active,
    blue,
    green,
    preview,
    switch_at
});
read_struct!(Selector { header, cookie });
read_struct!(SwitchAt { active, at });
read_struct!(Canary {
    cluster,
    weight,
    sticky,
    seed,
    force,
    guard
});
read_struct!(Guard {
    max_error_rate,
    min_requests,
    window_s
});
read_struct!(Experiment {
    name,
    key,
    hash_version,
    seed,
    coverage,
    namespace,
    variants
});
read_struct!(Namespace { id, start, end });
read_struct!(Variant {
    name,
    weight,
    cluster
});
read_struct!(Shadow {
    cluster,
    percent,
    key,
    seed,
    methods
});

/// `Read` for a contract enum written as one of a few strings.
macro_rules! read_enum {
    ($type:ident { $($variant:ident = $json:literal),* $(,)? }) => {
        impl Read for $type {
            fn read(r: &mut Reader, value: &Json, at: &Path<'_>) -> Option<Self> {
                match value {
                    $(Json::String(s) if s == $json => Some($type::$variant),)*
                    Json::String(other) => {
                        let expected = concat!($("`", $json, "` or "),*);
                        let expected = expected.strip_suffix(" or ").unwrap_or(expected);
                        r.problem(at, format!("unknown variant `{other}`, expected {expected}"));
                        None
                    }
                    _ => r.wrong_kind(at, value, "a string"),
                }
            }
        }
    };
}

read_enum!(Colour { Blue = "blue", Green = "green" });
read_enum!(OverrideFrom { Anyone = "anyone", Trusted = "trusted" });

fn as_u64(value: &Json) -> Option<u64> {
    match value {
        Json::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// A value as problem messages show it: its kind, and the value itself when it is short.
fn describe(value: &Json) -> String {
    match value {
        Json::Null => "null".into(),
        Json::Bool(b) => format!("boolean `{b}`"),
        Json::Number(n) => format!("number `{n}`"),
        Json::String(s) => format!("string {}", super::q(s)),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(json: &str) -> Vec<String> {
        match parse(json.as_bytes()) {
            Ok(parsed) => parsed.problems.iter().map(ToString::to_string).collect(),
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn every_unknown_field_and_wrong_kind_is_reported_at_its_path() {
        let found = problems(
            r#"{"routes": [{"name": "a", "canary": {"wieght": 5, "cluster": 7}},
                           {"name": 3, "stable": "s", "extra": true}], "debgu": true}"#,
        );
        assert_eq!(
            found,
            [
                "routes[0].canary.cluster: invalid type: number `7`, expected a string",
                "routes[0].canary.wieght: unknown field `wieght`, expected one of `cluster`, `weight`, `sticky`, `seed`, `force`, `guard`",
                "routes[1].name: invalid type: number `3`, expected a string",
                "routes[1].extra: unknown field `extra`, expected one of `name`, `match`, `stable`, `blue_green`, `canary`, `experiments`, `shadow`",
                "debgu: unknown field `debgu`, expected one of `revision`, `debug`, `headers`, `overrides`, `telemetry`, `routes`",
            ]
        );
    }

    #[test]
    fn a_document_that_is_not_an_object_is_refused_at_the_root() {
        assert_eq!(
            problems("[]"),
            ["$: invalid type: an array, expected an object"]
        );
        assert!(
            problems("{")
                .first()
                .unwrap()
                .starts_with("$: invalid JSON: EOF")
        );
    }

    #[test]
    fn a_key_repeated_in_one_object_is_refused_at_its_path() {
        let found =
            problems(r#"{"routes": [{"name": "a", "canary": {"weight": 0, "weight": 100}}]}"#);
        assert_eq!(
            found,
            ["routes[0].canary.weight: duplicate field `weight` at line 1 column 58"]
        );
        assert_eq!(
            problems(r#"{"routes": [], "routes": []}"#),
            ["routes: duplicate field `routes` at line 1 column 23"]
        );
    }

    #[test]
    fn enums_name_their_variants() {
        let found = problems(r#"{"routes": [], "overrides": {"from": "everyone"}}"#);
        assert_eq!(
            found,
            ["overrides.from: unknown variant `everyone`, expected `anyone` or `trusted`"]
        );
    }
}
