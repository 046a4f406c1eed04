//! Validation and compilation in one walk: every rule of the contract is checked, every problem
//! collected with its JSON path, and what passes is lowered into the [`Plan`]. One file per part
//! of the contract, as in `engine/`: the document's top level, routes and their match, the
//! values every part shares (names, clusters, keys, shares), and one per strategy.
//!
//! Paths are [`Path`] chains, rendered only for a problem; messages are lists of [`Part`]s that
//! one function writes (a `format!` per message would weigh a few kilobytes in the module).

mod blue_green;
mod canary;
mod document;
mod experiments;
mod route;
mod shadow;
mod values;

use super::{Config, Path, Problem, num, q};
use crate::plan::{self, MAX_ROUTES, Plan, RouteIndex};
use Part::{Int, Num, Quoted, Text};
use std::fmt::Write;

/// Longest header name, cookie or query parameter name, seed, revision or cluster accepted.
const MAX_NAME_LEN: usize = 256;
/// Shortest override token: anything shorter is guessable.
const MIN_TOKEN_LEN: usize = 16;
/// Tolerance on the sum of variant weights.
const WEIGHT_SUM_TOLERANCE: f64 = 0.001;

/// Validate `config` and compile it, or return every problem found.
pub fn compile(config: &Config) -> Result<Plan, Vec<Problem>> {
    let mut c = Compiler::default();
    let headers = c.headers(config);
    let overrides = c.overrides(config, &headers);
    let revision = c.revision(&config.revision);

    let mut routes = Vec::new();
    let mut index = RouteIndex::default();
    let at = Path::Key(&Path::Root, "routes");
    match &config.routes {
        None => c.problem(&at, "required (may be an empty array)"),
        Some(list) if list.len() > MAX_ROUTES => c.report(
            &at,
            &[
                Text("at most "),
                Int(MAX_ROUTES),
                Text(" routes, got "),
                Int(list.len()),
            ],
        ),
        Some(list) => {
            let mut names = Vec::new();
            for (i, route) in list.iter().enumerate() {
                if let Some(name) = &route.name {
                    names.push((name.as_str(), i));
                }
            }
            let repeated = repeated(names, list.len());
            for (i, route) in list.iter().enumerate() {
                let at = Path::Index(&at, i);
                if let (Some(true), Some(name)) = (repeated.get(i), &route.name) {
                    c.report(
                        &Path::Key(&at, "name"),
                        &[Text("duplicate route name "), Quoted(name)],
                    );
                }
                if let Some((route, hosts, path)) = c.route(&at, route, &headers, &overrides) {
                    index.insert(
                        u32::try_from(routes.len()).unwrap_or(u32::MAX),
                        &hosts,
                        &path,
                    );
                    routes.push(route);
                }
            }
        }
    }

    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    Ok(Plan {
        spoof_screen: plan::NameScreen::new(&headers, &overrides.token_header),
        revision,
        debug: config.debug,
        telemetry: plan::Telemetry {
            responses: config.telemetry.responses,
            access_log: config.telemetry.access_log,
        },
        headers,
        overrides,
        routes,
        index,
    })
}

/// Which of `len` items repeat the name of an earlier one, given the `(name, index)` of each named
/// item: `true` at every occurrence but the first.
fn repeated(mut names: Vec<(&str, usize)>, len: usize) -> Vec<bool> {
    names.sort_unstable();
    let mut repeated = vec![false; len];
    for pair in names.windows(2) {
        if let [(a, _), (b, i)] = pair
            && a == b
            && let Some(r) = repeated.get_mut(*i)
        {
            *r = true;
        }
    }
    repeated
}

/// A piece of a problem message.
enum Part<'a> {
    Text(&'a str),
    /// A value from the configuration, quoted as in JSON.
    Quoted(&'a str),
    Int(usize),
    Num(f64),
}

#[derive(Default)]
struct Compiler {
    problems: Vec<Problem>,
}

impl Compiler {
    fn report(&mut self, at: &Path<'_>, parts: &[Part<'_>]) {
        let mut message = String::new();
        for part in parts {
            // Writing to a String cannot fail.
            let _ = match *part {
                Text(s) => {
                    message.push_str(s);
                    Ok(())
                }
                Quoted(s) => write!(message, "{}", q(s)),
                Int(n) => write!(message, "{n}"),
                Num(x) => write!(message, "{}", num(x)),
            };
        }
        self.problems.push(Problem {
            path: at.render(),
            message,
        });
    }

    fn problem(&mut self, at: &Path<'_>, message: &str) {
        self.report(at, &[Text(message)]);
    }

    /// A required field, reporting its absence.
    fn required<'a, T>(&mut self, at: &Path<'_>, value: &'a Option<T>) -> Option<&'a T> {
        if value.is_none() {
            self.problem(at, "required");
        }
        value.as_ref()
    }
}

/// The headers the filter writes or removes, which no input may read.
struct Inputs<'a> {
    headers: &'a plan::HeaderNames,
    token_header: &'a str,
}

impl Inputs<'_> {
    fn is_written(&self, name: &str) -> bool {
        self.headers.is_routing(self.token_header, name.as_bytes())
    }
}

fn joined(a: &str, b: &str) -> Box<str> {
    let mut s = String::with_capacity(a.len() + b.len());
    s.push_str(a);
    s.push_str(b);
    s.into()
}

/// HTTP token characters (RFC 9110 §5.6.2).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// 1 to 64 characters, each `[_.-]` or accepted by `alnum`.
fn is_slug(s: &str, alnum: impl Fn(u8) -> bool) -> bool {
    is_slug_len(s, 64, |b| alnum(b) || matches!(b, b'_' | b'.' | b'-'))
}

fn is_slug_len(s: &str, max: usize, allowed: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(allowed)
}
