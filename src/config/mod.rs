//! The configuration contract (`shared/spec/CONFIG.md`) as plain serde types that mirror the JSON.
//! `parse` reads them strictly and `compile` turns them into the [`Plan`](crate::plan::Plan) the
//! request path uses; every problem found on the way is reported with its JSON path.
//!
//! Each type and field is declared once, in a [`contract!`] block: that one declaration gives the
//! struct, the module's reader (with the field list of its "unknown field" message), and the
//! serde and JSON Schema derives. Fields the contract requires are `Option`s here and checked by
//! `compile`, so that one missing field does not hide the other problems of the same document.

#[macro_use]
mod read;
mod compile;

pub(crate) use crate::json::Path;
pub use compile::compile;
pub use read::{MAX_CONFIG_BYTES, Parsed, parse};

use crate::plan::{
    DEFAULT_CLUSTER, DEFAULT_COHORT_PREFIX, DEFAULT_DECISION, DEFAULT_SHADOW, DEFAULT_TARGET,
    DEFAULT_TOKEN_HEADER,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Parse and compile a configuration document: the whole path from plugin configuration bytes to
/// the plan, or every problem found.
pub fn load(bytes: &[u8]) -> Result<crate::plan::Plan, Vec<Problem>> {
    let parsed = parse(bytes)?;
    let compiled = compile(&parsed.config);
    if parsed.problems.is_empty() {
        return compiled;
    }
    let mut news = Vec::new();
    if let Err(more) = compiled {
        for problem in more {
            if !parsed.is_consequence(&problem.path) {
                news.push(problem);
            }
        }
    }
    let mut problems = parsed.problems;
    problems.append(&mut news);
    Err(problems)
}

/// One thing wrong with a configuration, at a JSON path such as `routes[2].canary.weight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

contract! {
    #[derive(Default)]
    /// Switchyard plugin configuration (contract v1).
    pub struct Config {
        /// Label of this config generation: logged when applied, reported in the debug header.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub revision: String,
        /// Add the decision header to responses.
        #[serde(default, skip_serializing_if = "is_false")]
        pub debug: bool,
        /// Names of the headers the filter writes.
        #[serde(default)]
        pub headers: Headers,
        /// Who may force a decision with override headers or cookies.
        #[serde(default)]
        pub overrides: Overrides,
        /// What the filter reports beyond its per-request counters; each costs host calls.
        #[serde(default)]
        pub telemetry: Telemetry,
        /// Ordered rules: the first whose `match` fits the request wins. May be empty.
        #[cfg_attr(feature = "schema", schemars(required))]
        pub routes: Option<Vec<Route>>,
    }
}

contract! {
    /// Reports that cost host calls on every matched request, hence off unless asked for. The
    /// per-request counters (requests, cohorts, shadowed) are always kept and cost nothing per request.
    #[derive(Default)]
    #[serde(default)]
    pub struct Telemetry {
        /// Count responses by status class and record their durations, per route and target
        /// (`switchyard_responses_total`, `switchyard_request_duration_milliseconds`).
        #[serde(skip_serializing_if = "is_false")]
        pub responses: bool,
        /// Hand the decision to access logs as filter state `wasm.switchyard.decision`.
        #[serde(skip_serializing_if = "is_false")]
        pub access_log: bool,
    }
}

contract! {
    #[serde(default)]
    pub struct Headers {
        /// Upstream cluster chosen (Envoy route `cluster_header`).
        pub cluster: String,
        /// Logical target: `stable`, `canary`, `blue` or `green`.
        pub target: String,
        /// Shadow cluster name, on requests chosen for mirroring.
        pub shadow: String,
        /// Prefix of the cohort headers, one per experiment the request is enrolled in.
        pub cohort_prefix: String,
        /// Response header carrying the decision when `debug` is on.
        pub decision: String,
    }
}

impl Default for Headers {
    fn default() -> Self {
        Headers {
            cluster: DEFAULT_CLUSTER.into(),
            target: DEFAULT_TARGET.into(),
            shadow: DEFAULT_SHADOW.into(),
            cohort_prefix: DEFAULT_COHORT_PREFIX.into(),
            decision: DEFAULT_DECISION.into(),
        }
    }
}

contract_enum! {
    #[derive(Copy, Default, Eq)]
    pub enum OverrideFrom {
        /// Force headers and cookies are honoured from every client.
        Anyone = "anyone",
        /// Only from requests with a valid token or from a listed source.
        #[default]
        Trusted = "trusted",
    }
}

contract! {
    #[serde(default)]
    pub struct Overrides {
        pub from: OverrideFrom,
        /// Header carrying a token. Removed from every request.
        pub token_header: String,
        /// Accepted tokens, each at least 16 characters.
        pub tokens: Vec<String>,
        /// Client address ranges trusted without a token (`source.address`).
        pub source_cidrs: Vec<String>,
    }
}

impl Default for Overrides {
    fn default() -> Self {
        Overrides {
            from: OverrideFrom::Trusted,
            token_header: DEFAULT_TOKEN_HEADER.into(),
            tokens: Vec::new(),
            source_cidrs: Vec::new(),
        }
    }
}

contract! {
    #[derive(Default)]
    pub struct Route {
        /// Unique, `[a-z0-9_.-]{1,64}`.
        #[cfg_attr(
            feature = "schema",
            schemars(required, pattern(r"^[a-z0-9_.-]{1,64}$"))
        )]
        pub name: Option<String>,
        /// All given conditions must hold; `{}` matches every request.
        #[serde(default)]
        pub matcher as "match": Match,
        /// Cluster that serves when nothing else applies. Required unless `blue_green` is given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub stable: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub blue_green: Option<BlueGreen>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub canary: Option<Canary>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub experiments: Vec<Experiment>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub shadow: Option<Shadow>,
    }
}

contract! {
    #[derive(Default)]
    #[serde(default)]
    pub struct Match {
        /// `:authority` values without port; `*.example.com` matches any subdomain. Case-insensitive.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub hosts: Vec<String>,
        /// Prefix of the path without the query string.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub path_prefix: Option<String>,
        /// The whole path without the query string.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub path_exact: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub methods: Vec<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub headers: Vec<HeaderMatch>,
    }
}

contract! {
    /// `{name, exact}`, `{name, prefix}` or `{name, present}`: exactly one of the three.
    #[derive(Default)]
    pub struct HeaderMatch {
        #[cfg_attr(feature = "schema", schemars(required))]
        pub name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub exact: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub prefix: Option<String>,
        /// `true`: the header is present; `false` (an extension): it is absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub present: Option<bool>,
    }
}

contract_enum! {
    #[derive(Copy, Eq)]
    pub enum Colour {
        Blue = "blue",
        Green = "green",
    }
}

contract! {
    #[derive(Default)]
    pub struct BlueGreen {
        #[cfg_attr(feature = "schema", schemars(required))]
        pub active: Option<Colour>,
        #[cfg_attr(feature = "schema", schemars(required))]
        pub blue: Option<String>,
        #[cfg_attr(feature = "schema", schemars(required))]
        pub green: Option<String>,
        /// Lets a request allowed to override ask for `blue` or `green`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub preview: Option<Selector>,
        /// From `at` on (proxy clock) `active` is the colour given here, without a second push.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub switch_at: Option<SwitchAt>,
    }
}

contract! {
    /// Where an override value is read: a header, a cookie, or both (the header wins).
    #[derive(Default)]
    pub struct Selector {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub header: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cookie: Option<String>,
    }
}

contract! {
    #[derive(Default)]
    pub struct SwitchAt {
        #[cfg_attr(feature = "schema", schemars(required))]
        pub active: Option<Colour>,
        /// RFC 3339 instant, e.g. `2026-12-01T10:00:00Z`.
        #[cfg_attr(feature = "schema", schemars(required))]
        pub at: Option<String>,
    }
}

contract! {
    #[derive(Default)]
    pub struct Canary {
        #[cfg_attr(feature = "schema", schemars(required))]
        pub cluster: Option<String>,
        /// Percent of traffic, 0 to 100, resolution 0.01. Give either `weight` or `ramp`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "schema", schemars(range(min = 0, max = 100)))]
        pub weight: Option<f64>,
        /// A scheduled ramp of weights, in place of `weight`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ramp: Option<Ramp>,
        /// Key sources (`header:<name>`, `cookie:<name>`, `query:<name>`); the first present one decides.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub sticky: Vec<String>,
        /// Hash seed; defaults to the route name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub seed: Option<String>,
        /// Header and/or cookie whose value `always` / `never` forces the decision.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub force: Option<Selector>,
        /// Stops sending requests to the canary when too many of its answers are 5xx, or too slow.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub guard: Option<Guard>,
    }
}

contract! {
    /// Weights by the proxy clock: before `start_at` the canary takes no traffic; then each step
    /// is in force for its `hold_s`, and the last one stays.
    #[derive(Default)]
    pub struct Ramp {
        /// RFC 3339 instant, e.g. `2026-12-10T09:00:00Z`.
        #[cfg_attr(feature = "schema", schemars(required))]
        pub start_at: Option<String>,
        /// 1 to 32 steps; weights never decrease.
        #[cfg_attr(feature = "schema", schemars(required, length(min = 1, max = 32)))]
        pub steps: Option<Vec<RampStep>>,
    }
}

contract! {
    #[derive(Default)]
    pub struct RampStep {
        /// Percent of traffic, 0 to 100, resolution 0.01; not below the previous step's.
        #[cfg_attr(feature = "schema", schemars(required, range(min = 0, max = 100)))]
        pub weight: Option<f64>,
        /// Seconds the step is in force, 1 to 604,800; required on every step but the last.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 604800)))]
        pub hold_s: Option<u32>,
    }
}

contract! {
    /// When, within the last `window_s` seconds, the canary answered at least `min_requests`
    /// requests and more than `max_error_rate` of them were 5xx, or its latency crossed a
    /// `latency` limit, the canary takes no new requests until a configuration with another
    /// `revision` arrives. At least one of `max_error_rate` and `latency`.
    #[derive(Default)]
    pub struct Guard {
        /// Share of 5xx answers (Envoy's local replies included) above which the canary is halted, 0 to 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "schema", schemars(range(min = 0, max = 1)))]
        pub max_error_rate: Option<f64>,
        /// Fewest answers in the window before the rate is judged, at least 1.
        #[cfg_attr(feature = "schema", schemars(required, range(min = 1)))]
        pub min_requests: Option<u32>,
        /// Length of the window in seconds, 1 to 3600.
        #[cfg_attr(feature = "schema", schemars(required, range(min = 1, max = 3600)))]
        pub window_s: Option<u32>,
        /// Halts on the canary's latency, absolute or relative to the route's base cluster.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub latency: Option<LatencyGuard>,
    }
}

contract! {
    /// The canary's `quantile` of latency (request headers to response headers) over the window;
    /// at least one of `max_ms` and `max_ratio`.
    #[derive(Default)]
    pub struct LatencyGuard {
        /// 0.5 to 0.999; default 0.99.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "schema", schemars(range(min = 0.5, max = 0.999)))]
        pub quantile: Option<f64>,
        /// Halt when the canary's quantile is above this many milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "schema", schemars(range(min = 0)))]
        pub max_ms: Option<f64>,
        /// At least 1: halt when the canary's quantile is above this multiple of the base
        /// cluster's over the same window (both sides with at least `min_requests` answers).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
        pub max_ratio: Option<f64>,
    }
}

contract! {
    #[derive(Default)]
    pub struct Experiment {
        /// Unique within the route, `[a-z0-9_.-]{1,64}`; also the cohort header suffix.
        #[cfg_attr(
            feature = "schema",
            schemars(required, pattern(r"^[a-z0-9_.-]{1,64}$"))
        )]
        pub name: Option<String>,
        /// Key sources; a request without a key is not enrolled.
        #[cfg_attr(feature = "schema", schemars(required))]
        pub key: Option<Vec<String>>,
        /// GrowthBook hash version, 1 or 2.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 2)))]
        pub hash_version: Option<u8>,
        /// Hash seed; defaults to the experiment name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub seed: Option<String>,
        /// Share of keyed requests enrolled, 0 to 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "schema", schemars(range(min = 0, max = 1)))]
        pub coverage: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub namespace: Option<Namespace>,
        /// Two or more variants whose weights sum to 1.
        #[cfg_attr(feature = "schema", schemars(required))]
        pub variants: Option<Vec<Variant>>,
    }
}

contract! {
    #[derive(Default)]
    pub struct Namespace {
        #[cfg_attr(feature = "schema", schemars(required))]
        pub id: Option<String>,
        #[cfg_attr(feature = "schema", schemars(required, range(min = 0, max = 1)))]
        pub start: Option<f64>,
        #[cfg_attr(feature = "schema", schemars(required, range(min = 0, max = 1)))]
        pub end: Option<f64>,
    }
}

contract! {
    #[derive(Default)]
    pub struct Variant {
        /// `[A-Za-z0-9_.-]{1,64}`; the cohort header value.
        #[cfg_attr(
            feature = "schema",
            schemars(required, pattern(r"^[A-Za-z0-9_.-]{1,64}$"))
        )]
        pub name: Option<String>,
        #[cfg_attr(feature = "schema", schemars(required, range(min = 0, max = 1)))]
        pub weight: Option<f64>,
        /// Cluster serving this variant when the request is not in the canary.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cluster: Option<String>,
    }
}

contract! {
    #[derive(Default)]
    pub struct Shadow {
        #[cfg_attr(feature = "schema", schemars(required))]
        pub cluster: Option<String>,
        /// Percent of requests mirrored, 0 to 100, resolution 0.01.
        #[cfg_attr(feature = "schema", schemars(required, range(min = 0, max = 100)))]
        pub percent: Option<f64>,
        /// Key sources; with a key a fixed set of users is mirrored.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub key: Vec<String>,
        /// Hash seed; defaults to the route name + `.shadow`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub seed: Option<String>,
        /// Methods mirrored; defaults to `GET`, `HEAD`, `OPTIONS`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub methods: Option<Vec<String>>,
        /// Compare the shadow's answers with the live ones: the filter then sends the copy
        /// itself, and writes no shadow header.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub compare: Option<Compare>,
    }
}

contract! {
    #[derive(Default)]
    pub struct Compare {
        /// 1 to 60,000; no shadow answer by then counts as `timeout`. Default 1,000.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 60000)))]
        pub timeout_ms: Option<u32>,
        /// 0 to 1,048,576; a request or response body above it is not compared (`skipped`).
        /// Default 65,536.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "schema", schemars(range(min = 0, max = 1048576)))]
        pub max_body_bytes: Option<u32>,
        /// JSON Pointers (RFC 6901) compared in both bodies; without them the bodies must be
        /// byte-equal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub fields: Option<Vec<String>>,
        /// Absolute tolerance for numbers, at least 0. Default 0.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "schema", schemars(range(min = 0)))]
        pub tolerance: Option<f64>,
        /// Response header names whose values must also be equal.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub headers: Vec<String>,
        /// Another instance of the live version: fields that differ between it and the live
        /// answer are noise, not mismatches.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub noise_cluster: Option<String>,
        /// Mismatch log lines per second per worker, 0 to 1,000; 0 logs none. Default 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "schema", schemars(range(min = 0, max = 1000)))]
        pub log_per_s: Option<u32>,
    }
}

/// A string for a problem message, quoted and escaped as in JSON.
pub(crate) fn q(s: &str) -> impl fmt::Display + '_ {
    crate::json::quoted(s)
}

/// A number for a problem message, written as JSON writes it. (Not `{}`: `f64`'s own formatting
/// would bring a second float printer into the module next to the JSON reader's.)
pub(crate) fn num(value: f64) -> impl fmt::Display {
    fmt::from_fn(move |f| {
        // Whole numbers as the user most likely wrote them: `150`, not `150.0`.
        if value.fract() == 0.0 && value.abs() < 1e15 {
            return write!(f, "{}", value as i64);
        }
        if value.is_finite() {
            f.write_str(zmij::Buffer::new().format_finite(value))
        } else {
            f.write_str("NaN")
        }
    })
}

fn is_false(b: &bool) -> bool {
    !*b
}
