//! Strict reading of the JSON document into the contract types, with every unknown field and
//! every value of the wrong kind reported at its JSON path, all in one pass.
//!
//! Why not serde's derived `Deserialize` in the module: it stops at the first problem. The
//! [`contract!`] macro declares each type once and gives it both this reader and serde's derive
//! (the JSON Schema's source); a test checks that the two agree on every document.

use super::{Config, Path, Problem};
use crate::json::{self, Json, Member};

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
pub(super) struct Reader {
    problems: Vec<Problem>,
}

impl Reader {
    pub(super) fn problem(&mut self, at: &Path<'_>, message: String) {
        self.problems.push(Problem {
            path: at.render(),
            message,
        });
    }

    /// Reports a value of the wrong kind, and gives the `None` to return.
    #[inline(always)]
    pub(super) fn wrong_kind<T>(
        &mut self,
        at: &Path<'_>,
        value: &Json,
        expected: &str,
    ) -> Option<T> {
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
pub(super) trait Read: Sized {
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
pub(super) struct Object<'v, 'p> {
    map: &'v [Member],
    at: &'p Path<'p>,
}

impl<'v, 'p> Object<'v, 'p> {
    pub(super) fn new(r: &mut Reader, value: &'v Json, at: &'p Path<'p>) -> Option<Self> {
        match value {
            Json::Object(map) => Some(Object { map, at }),
            other => r.wrong_kind(at, other, "an object"),
        }
    }

    /// Reads the member `key` into `out`, which keeps its default when the member is absent or
    /// unreadable.
    #[inline(never)]
    pub(super) fn field<T: Read>(&self, r: &mut Reader, key: &str, out: &mut T) {
        if let Some(value) = json::member(self.map, key)
            && let Some(read) = T::read(r, value, &Path::Key(self.at, key))
        {
            *out = read;
        }
    }

    /// Report every member whose name is not in `known`.
    pub(super) fn finish(self, r: &mut Reader, known: &[&str]) {
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

/// Declares a contract struct once: the struct (with serde's and, under the `schema` feature,
/// schemars' derives, and unknown fields denied), and its [`Read`] impl. Each field is read by
/// its JSON name (the field's own unless `as "name"` gives another), in declaration order;
/// absent fields keep the struct's `Default`; any other member is an unknown field, and the
/// message lists the known ones in declaration order.
macro_rules! contract {
    (
        $(#[$meta:meta])*
        pub struct $type:ident {
            $(
                $(#[$field_meta:meta])*
                pub $field:ident $(as $json:literal)? : $ty:ty
            ),* $(,)?
        }
    ) => {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(deny_unknown_fields)]
        $(#[$meta])*
        pub struct $type {
            $(
                $(#[$field_meta])*
                $(#[serde(rename = $json)])?
                pub $field: $ty,
            )*
        }

        impl read::Read for $type {
            fn read(
                r: &mut read::Reader,
                value: &$crate::json::Json,
                at: &Path<'_>,
            ) -> Option<Self> {
                let object = read::Object::new(r, value, at)?;
                let mut out = $type::default();
                $(object.field(r, contract!(@name $field $($json)?), &mut out.$field);)*
                object.finish(r, &[$(contract!(@name $field $($json)?)),*]);
                Some(out)
            }
        }
    };
    (@name $field:ident) => { stringify!($field) };
    (@name $field:ident $json:literal) => { $json };
}

/// Declares a contract enum written as one of a few strings, once: the enum with its derives,
/// and its [`Read`] impl, whose message for an unknown string names every variant.
macro_rules! contract_enum {
    (
        $(#[$meta:meta])*
        pub enum $type:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident = $json:literal
            ),* $(,)?
        }
    ) => {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        $(#[$meta])*
        pub enum $type {
            $(
                $(#[$variant_meta])*
                #[serde(rename = $json)]
                $variant,
            )*
        }

        impl read::Read for $type {
            fn read(
                r: &mut read::Reader,
                value: &$crate::json::Json,
                at: &Path<'_>,
            ) -> Option<Self> {
                match value {
                    $($crate::json::Json::String(s) if s == $json => Some($type::$variant),)*
                    $crate::json::Json::String(other) => {
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
                "routes[0].canary.wieght: unknown field `wieght`, expected one of `cluster`, `weight`, `ramp`, `sticky`, `seed`, `force`, `guard`",
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
