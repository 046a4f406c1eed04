//! Strict reading of the JSON document into the contract types.
//!
//! serde stops at the first unknown field or wrong type. To report all of them at once, each
//! failure is recorded, the offending node is cut out of the document (an object member is
//! removed; an array element is replaced by an empty value of another kind) and reading resumes.

use super::{Config, Problem};
use serde_json::Value;

/// Largest configuration accepted, in bytes. Far above a 10,000-route config (about 2 MB).
pub const MAX_CONFIG_BYTES: usize = 16 << 20;

/// Structural problems reported before giving up on a document.
const MAX_STRUCTURAL_PROBLEMS: usize = 64;

/// Stand-ins tried, in turn, for an array element of the wrong kind.
const STAND_INS: [fn() -> Value; 5] = [
    || Value::Object(serde_json::Map::new()),
    || Value::String(String::new()),
    || Value::from(0),
    || Value::Bool(false),
    || Value::Array(Vec::new()),
];

/// A document read as far as it goes.
pub struct Parsed {
    /// The configuration, with every offending node cut out.
    pub config: Config,
    /// Unknown fields and values of the wrong type.
    pub problems: Vec<Problem>,
    /// Paths of the nodes cut out: later problems under them are consequences, not news.
    cut: Vec<String>,
}

impl Parsed {
    /// Whether `path` lies at or below a node that was cut out.
    pub fn is_under_cut(&self, path: &str) -> bool {
        self.cut.iter().any(|cut| {
            path.strip_prefix(cut.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        })
    }
}

/// Read `bytes` as a configuration. Fails outright only when there is no JSON object to read.
pub fn parse(bytes: &[u8]) -> Result<Parsed, Vec<Problem>> {
    let root = |message: String| {
        vec![Problem {
            path: "$".into(),
            message,
        }]
    };
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(root(format!(
            "configuration is {} bytes, more than the limit of {MAX_CONFIG_BYTES}",
            bytes.len()
        )));
    }
    let mut document: Value =
        serde_json::from_slice(bytes).map_err(|e| root(format!("invalid JSON: {e}")))?;
    if !document.is_object() {
        return Err(root(format!(
            "expected a JSON object, got {}",
            kind(&document)
        )));
    }

    let mut problems = Vec::new();
    let mut cut: Vec<String> = Vec::new();
    let mut stand_in_tries: Vec<(String, usize)> = Vec::new();
    loop {
        let error = match serde_path_to_error::deserialize::<_, Config>(&document) {
            Ok(config) => {
                return Ok(Parsed {
                    config,
                    problems,
                    cut,
                });
            }
            Err(error) => error,
        };
        let path = error.path().to_string();
        problems.push(Problem {
            path: display_path(&path),
            message: error.inner().to_string(),
        });
        let segments: Vec<_> = error.path().iter().cloned().collect();
        let tries = match stand_in_tries.iter_mut().find(|(p, _)| *p == path) {
            Some((_, tries)) => {
                // A stand-in failed too: that attempt was not a new problem.
                problems.pop();
                *tries += 1;
                *tries
            }
            None => {
                stand_in_tries.push((path.clone(), 0));
                0
            }
        };
        if problems.len() >= MAX_STRUCTURAL_PROBLEMS || !cut_out(&mut document, &segments, tries) {
            problems.push(Problem {
                path: "$".into(),
                message: "too many problems to read further; fix these first".into(),
            });
            return Err(problems);
        }
        cut.push(display_path(&path));
    }
}

/// Remove or stand in for the node at `segments`; false when that is not possible.
fn cut_out(document: &mut Value, segments: &[serde_path_to_error::Segment], tries: usize) -> bool {
    use serde_path_to_error::Segment;
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut node = document;
    for segment in parents {
        let next = match (segment, node) {
            (Segment::Map { key }, Value::Object(map)) => map.get_mut(key),
            (Segment::Seq { index }, Value::Array(items)) => items.get_mut(*index),
            _ => None,
        };
        match next {
            Some(next) => node = next,
            None => return false,
        }
    }
    match (last, node) {
        (Segment::Map { key }, Value::Object(map)) => map.remove(key).is_some(),
        (Segment::Seq { index }, Value::Array(items)) => {
            match (items.get_mut(*index), STAND_INS.get(tries)) {
                (Some(item), Some(stand_in)) => {
                    *item = stand_in();
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// serde_path_to_error writes the root as `.`; problems name it `$`.
fn display_path(path: &str) -> String {
    if path == "." { "$".into() } else { path.into() }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
