//! Validation and compilation in one walk: every rule of the contract is checked, every problem
//! collected with its JSON path, and what passes is lowered into the [`Plan`].

use super::{Config, OverrideFrom, Problem};
use super::{num, q};
use crate::cidr::Cidr;
use crate::engine::matching::{HostPattern, PathPattern, RouteIndex};
use crate::hash;
use crate::plan::{self, HashVersion, KeySource, MAX_EXPERIMENTS, MAX_ROUTES, MAX_VARIANTS, Plan};
use fnv::FnvHashSet as HashSet;
use std::fmt::Display;

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
    match &config.routes {
        None => c.problem("routes", "required (may be an empty array)"),
        Some(list) if list.len() > MAX_ROUTES => c.problem(
            "routes",
            format!("at most {MAX_ROUTES} routes, got {}", list.len()),
        ),
        Some(list) => {
            let mut names = HashSet::default();
            for (i, route) in list.iter().enumerate() {
                let at = format!("routes[{i}]");
                if let Some(name) = &route.name
                    && !names.insert(name.as_str())
                {
                    c.problem(
                        format!("{at}.name"),
                        format!("duplicate route name {}", q(name)),
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
        revision,
        debug: config.debug,
        telemetry: config.telemetry.clone(),
        headers,
        overrides,
        routes,
        index,
    })
}

#[derive(Default)]
struct Compiler {
    problems: Vec<Problem>,
}

impl Compiler {
    fn problem(&mut self, path: impl Into<String>, message: impl Display) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.to_string(),
        });
    }

    /// Run `check` on a required field, reporting its absence.
    fn required<'a, T>(&mut self, path: &str, value: &'a Option<T>) -> Option<&'a T> {
        if value.is_none() {
            self.problem(path, "required");
        }
        value.as_ref()
    }

    fn headers(&mut self, config: &Config) -> plan::HeaderNames {
        let h = &config.headers;
        let mut name = |field: &str, value: &str| -> Box<str> {
            self.header_name(&format!("headers.{field}"), value, false)
                .unwrap_or_default()
        };
        let names = plan::HeaderNames {
            cluster: name("cluster", &h.cluster),
            target: name("target", &h.target),
            shadow: name("shadow", &h.shadow),
            cohort_prefix: name("cohort_prefix", &h.cohort_prefix),
            decision: name("decision", &h.decision),
        };
        let written = [
            ("cluster", &names.cluster),
            ("target", &names.target),
            ("shadow", &names.shadow),
            ("decision", &names.decision),
        ];
        for (i, (field, value)) in written.iter().enumerate() {
            if written
                .iter()
                .take(i)
                .any(|(_, earlier)| earlier == value && !value.is_empty())
            {
                self.problem(
                    format!("headers.{field}"),
                    format!("{} is already used by another header", q(value)),
                );
            }
            if !names.cohort_prefix.is_empty() && value.starts_with(&*names.cohort_prefix) {
                self.problem(
                    format!("headers.{field}"),
                    format!(
                        "{} starts with cohort_prefix {}",
                        q(value),
                        q(&names.cohort_prefix)
                    ),
                );
            }
        }
        names
    }

    fn overrides(&mut self, config: &Config, headers: &plan::HeaderNames) -> plan::Overrides {
        let o = &config.overrides;
        let token_header = self
            .header_name("overrides.token_header", &o.token_header, false)
            .unwrap_or_default();
        if [
            &headers.cluster,
            &headers.target,
            &headers.shadow,
            &headers.decision,
        ]
        .contains(&&token_header)
            || (!headers.cohort_prefix.is_empty()
                && token_header.starts_with(&*headers.cohort_prefix))
        {
            self.problem(
                "overrides.token_header",
                format!("{} is a header Switchyard writes", q(&token_header)),
            );
        }
        let mut tokens = Vec::new();
        for (i, token) in o.tokens.iter().enumerate() {
            // Never echo a token: problems are logged.
            if token.chars().count() < MIN_TOKEN_LEN {
                self.problem(
                    format!("overrides.tokens[{i}]"),
                    format!("must be at least {MIN_TOKEN_LEN} characters (value not shown)"),
                );
            } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
                self.problem(
                    format!("overrides.tokens[{i}]"),
                    "must be visible ASCII to travel in a header (value not shown)",
                );
            } else {
                tokens.push(token.as_bytes().into());
            }
        }
        let mut source_cidrs = Vec::new();
        for (i, cidr) in o.source_cidrs.iter().enumerate() {
            match Cidr::parse(cidr) {
                Ok(cidr) => source_cidrs.push(cidr),
                Err(e) => self.problem(
                    format!("overrides.source_cidrs[{i}]"),
                    format!("{e}, got {}", q(cidr)),
                ),
            }
        }
        plan::Overrides {
            anyone: o.from == OverrideFrom::Anyone,
            token_header,
            tokens,
            source_cidrs,
        }
    }

    fn revision(&mut self, revision: &str) -> Box<str> {
        if revision.len() > MAX_NAME_LEN
            || !revision
                .bytes()
                .all(|b| (b' '..=b'~').contains(&b) && b != b';')
        {
            self.problem(
                "revision",
                format!("must be printable ASCII without ';', at most {MAX_NAME_LEN} characters, got {}", q(revision)),
            );
        }
        revision.into()
    }

    fn route(
        &mut self,
        at: &str,
        route: &super::Route,
        headers: &plan::HeaderNames,
        overrides: &plan::Overrides,
    ) -> Option<(plan::Route, Vec<HostPattern>, PathPattern)> {
        let before = self.problems.len();
        let inputs = Inputs {
            headers,
            token_header: &overrides.token_header,
        };
        let name = self
            .required(&format!("{at}.name"), &route.name)
            .map(String::as_str)
            .unwrap_or_default();
        if route.name.is_some() && !is_slug(name, |b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            self.problem(
                format!("{at}.name"),
                format!("must match [a-z0-9_.-]{{1,64}}, got {}", q(name)),
            );
        }

        let m = &route.matcher;
        let hosts = self.hosts(&format!("{at}.match.hosts"), &m.hosts);
        let path = match (&m.path_prefix, &m.path_exact) {
            (Some(_), Some(_)) => {
                self.problem(
                    format!("{at}.match"),
                    "path_prefix and path_exact are exclusive; give at most one",
                );
                PathPattern::Any
            }
            (Some(p), None) => self
                .path(&format!("{at}.match.path_prefix"), p)
                .map_or(PathPattern::Any, PathPattern::Prefix),
            (None, Some(p)) => self
                .path(&format!("{at}.match.path_exact"), p)
                .map_or(PathPattern::Any, PathPattern::Exact),
            (None, None) => PathPattern::Any,
        };
        let methods = self.methods(&format!("{at}.match.methods"), &m.methods);
        let mut conditions = Vec::new();
        for (i, h) in m.headers.iter().enumerate() {
            let at = format!("{at}.match.headers[{i}]");
            let name = self
                .required(&format!("{at}.name"), &h.name)
                .and_then(|n| self.input_header(&format!("{at}.name"), n, &inputs, true));
            let test = match (&h.exact, &h.prefix, h.present) {
                (Some(v), None, None) => Some(plan::HeaderTest::Exact(v.as_bytes().into())),
                (None, Some(v), None) => Some(plan::HeaderTest::Prefix(v.as_bytes().into())),
                (None, None, Some(true)) => Some(plan::HeaderTest::Present),
                (None, None, Some(false)) => Some(plan::HeaderTest::Absent),
                _ => {
                    self.problem(at, "give exactly one of exact, prefix, present");
                    None
                }
            };
            if let (Some(name), Some(test)) = (name, test) {
                conditions.push(plan::HeaderCondition { name, test });
            }
        }

        let base = match (&route.blue_green, &route.stable) {
            (Some(bg), _) => self
                .blue_green(&format!("{at}.blue_green"), bg, &inputs)
                .map(plan::Base::BlueGreen),
            (None, Some(stable)) => self
                .cluster(&format!("{at}.stable"), stable)
                .map(plan::Base::Stable),
            (None, None) => {
                self.problem(
                    format!("{at}.stable"),
                    "required unless blue_green is given",
                );
                None
            }
        };
        let canary = route
            .canary
            .as_ref()
            .and_then(|c| self.canary(&format!("{at}.canary"), c, name, &inputs));
        let experiments =
            self.experiments(&format!("{at}.experiments"), &route.experiments, &inputs);
        let shadow = route
            .shadow
            .as_ref()
            .and_then(|s| self.shadow(&format!("{at}.shadow"), s, name, &inputs));

        if self.problems.len() > before {
            return None;
        }
        let route = plan::Route {
            name: name.into(),
            methods,
            headers: conditions,
            base: base?,
            canary,
            experiments,
            shadow,
        };
        Some((route, hosts, path))
    }

    fn hosts(&mut self, at: &str, hosts: &[String]) -> Vec<HostPattern> {
        let mut patterns = Vec::new();
        let mut any = false;
        for (i, host) in hosts.iter().enumerate() {
            let lower = host.to_ascii_lowercase();
            let valid_name = |s: &str| {
                !s.is_empty()
                    && s.len() <= 253
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            };
            let bracketed_ip = lower.starts_with('[') && lower.ends_with(']') && lower.len() > 2;
            match lower.strip_prefix("*.") {
                // "*" alone is Envoy's way of saying any host.
                None if lower == "*" => any = true,
                Some(suffix) if valid_name(suffix) => {
                    patterns.push(HostPattern::Suffix(format!(".{suffix}")))
                }
                None if valid_name(&lower) || bracketed_ip => {
                    patterns.push(HostPattern::Exact(lower))
                }
                _ => self.problem(
                    format!("{at}[{i}]"),
                    format!(
                        "must be a host name without port, `*.` + a domain, or `*`, got {}",
                        q(host)
                    ),
                ),
            }
        }
        if any { Vec::new() } else { patterns }
    }

    fn path(&mut self, at: &str, path: &str) -> Option<String> {
        if !path.starts_with('/')
            || path.contains(['?', '#'])
            || path.bytes().any(|b| b.is_ascii_control())
        {
            self.problem(
                at,
                format!(
                    "must start with '/' and hold no query or fragment, got {}",
                    q(path)
                ),
            );
            return None;
        }
        Some(path.into())
    }

    fn methods(&mut self, at: &str, methods: &[String]) -> Vec<Box<[u8]>> {
        let mut out = Vec::new();
        for (i, method) in methods.iter().enumerate() {
            if is_slug(method, |b| is_token_byte(b) && !b.is_ascii_lowercase()) {
                out.push(method.as_bytes().into());
            } else {
                self.problem(
                    format!("{at}[{i}]"),
                    format!(
                        "must be an upper-case HTTP method such as GET, got {}",
                        q(method)
                    ),
                );
            }
        }
        out
    }

    fn required_cluster(&mut self, at: &str, cluster: &Option<String>) -> Option<Box<str>> {
        self.required(at, cluster).and_then(|c| self.cluster(at, c))
    }

    fn cluster(&mut self, at: &str, cluster: &str) -> Option<Box<str>> {
        let ok = !cluster.is_empty()
            && cluster.len() <= MAX_NAME_LEN
            && cluster.bytes().all(|b| b.is_ascii_graphic() && b != b';');
        if !ok {
            self.problem(at, format!("must be a cluster name of 1 to {MAX_NAME_LEN} visible ASCII characters without ';', got {}", q(cluster)));
            return None;
        }
        Some(cluster.into())
    }

    /// A header name, lower-cased. `pseudo` allows `:authority` and friends.
    fn header_name(&mut self, at: &str, name: &str, pseudo: bool) -> Option<Box<str>> {
        let bare = if pseudo {
            name.strip_prefix(':').unwrap_or(name)
        } else {
            name
        };
        if !is_slug_len(bare, MAX_NAME_LEN, is_token_byte) {
            self.problem(
                at,
                format!("must be a valid HTTP header name, got {}", q(name)),
            );
            return None;
        }
        Some(name.to_ascii_lowercase().into())
    }

    /// A header the filter reads: it must not be one the filter writes or removes, which a client
    /// could otherwise use to steer the decision.
    fn input_header(
        &mut self,
        at: &str,
        name: &str,
        inputs: &Inputs<'_>,
        pseudo: bool,
    ) -> Option<Box<str>> {
        let name = self.header_name(at, name, pseudo)?;
        if inputs.is_written(&name) {
            self.problem(
                at,
                format!(
                    "{} is written or removed by Switchyard and cannot be read",
                    q(&name)
                ),
            );
            return None;
        }
        Some(name)
    }

    fn selector(
        &mut self,
        at: &str,
        selector: &super::Selector,
        inputs: &Inputs<'_>,
    ) -> Option<plan::Selector> {
        if selector.header.is_none() && selector.cookie.is_none() {
            self.problem(at, "give a header, a cookie, or both");
            return None;
        }
        let header = match &selector.header {
            Some(h) => Some(self.input_header(&format!("{at}.header"), h, inputs, false)?),
            None => None,
        };
        let cookie = match &selector.cookie {
            Some(c) => Some(self.cookie_name(&format!("{at}.cookie"), c)?),
            None => None,
        };
        Some(plan::Selector { header, cookie })
    }

    fn cookie_name(&mut self, at: &str, name: &str) -> Option<Box<str>> {
        if !is_slug_len(name, MAX_NAME_LEN, is_token_byte) {
            self.problem(at, format!("must be a valid cookie name, got {}", q(name)));
            return None;
        }
        Some(name.into())
    }

    fn keys(&mut self, at: &str, sources: &[String], inputs: &Inputs<'_>) -> Vec<KeySource> {
        let mut keys = Vec::new();
        for (i, source) in sources.iter().enumerate() {
            let at = format!("{at}[{i}]");
            let key = match source.split_once(':') {
                Some(("header", name)) => self
                    .input_header(&at, name, inputs, false)
                    .map(KeySource::Header),
                Some(("cookie", name)) => self.cookie_name(&at, name).map(KeySource::Cookie),
                Some(("query", name)) if !name.is_empty() && name.len() <= MAX_NAME_LEN => {
                    Some(KeySource::Query(name.into()))
                }
                _ => {
                    self.problem(
                        &at,
                        format!(
                            "must be header:<name>, cookie:<name> or query:<name>, got {}",
                            q(source)
                        ),
                    );
                    None
                }
            };
            keys.extend(key);
        }
        keys
    }

    fn seed(
        &mut self,
        at: &str,
        seed: &Option<String>,
        default: impl FnOnce() -> String,
    ) -> Box<str> {
        match seed {
            Some(seed) if seed.len() > MAX_NAME_LEN => {
                self.problem(
                    at,
                    format!("at most {MAX_NAME_LEN} bytes, got {}", seed.len()),
                );
                seed.as_str().into()
            }
            Some(seed) => seed.as_str().into(),
            None => default().into(),
        }
    }

    /// A percentage with 0.01 resolution, in basis points.
    fn percent(&mut self, at: &str, value: Option<f64>) -> Option<u32> {
        let value = self.required(at, &value).copied()?;
        if !(0.0..=100.0).contains(&value) {
            self.problem(at, format!("must be within 0..=100, got {}", num(value)));
            return None;
        }
        let basis_points = (value * 100.0).round();
        if (value * 100.0 - basis_points).abs() > 1e-6 {
            self.problem(at, format!("resolution is 0.01, got {}", num(value)));
            return None;
        }
        Some(basis_points as u32)
    }

    fn fraction(&mut self, at: &str, value: f64) -> Option<f64> {
        if !(0.0..=1.0).contains(&value) {
            self.problem(at, format!("must be within 0..=1, got {}", num(value)));
            return None;
        }
        Some(value)
    }

    fn blue_green(
        &mut self,
        at: &str,
        bg: &super::BlueGreen,
        inputs: &Inputs<'_>,
    ) -> Option<plan::BlueGreen> {
        let active = self.required(&format!("{at}.active"), &bg.active).copied();
        let blue = self.required_cluster(&format!("{at}.blue"), &bg.blue);
        let green = self.required_cluster(&format!("{at}.green"), &bg.green);
        let preview = match &bg.preview {
            Some(p) => self.selector(&format!("{at}.preview"), p, inputs),
            None => Some(plan::Selector::default()),
        };
        let switch_at = match &bg.switch_at {
            Some(s) => {
                let colour = self
                    .required(&format!("{at}.switch_at.active"), &s.active)
                    .copied();
                let instant = self
                    .required(&format!("{at}.switch_at.at"), &s.at)
                    .and_then(|t| {
                        crate::time::parse_rfc3339(t)
                            .map_err(|e| {
                                self.problem(
                                    format!("{at}.switch_at.at"),
                                    format!("{e}, got {}", q(t)),
                                )
                            })
                            .ok()
                    });
                Some(Some((colour?, instant?)))
            }
            None => Some(None),
        };
        Some(plan::BlueGreen {
            active: active?,
            blue: blue?,
            green: green?,
            preview: preview?,
            switch_at: switch_at?,
        })
    }

    fn canary(
        &mut self,
        at: &str,
        canary: &super::Canary,
        route: &str,
        inputs: &Inputs<'_>,
    ) -> Option<plan::Canary> {
        let cluster = self.required_cluster(&format!("{at}.cluster"), &canary.cluster);
        let weight = self.percent(&format!("{at}.weight"), canary.weight);
        let sticky = self.keys(&format!("{at}.sticky"), &canary.sticky, inputs);
        let seed = self.seed(&format!("{at}.seed"), &canary.seed, || route.into());
        let force = match &canary.force {
            Some(f) => self.selector(&format!("{at}.force"), f, inputs),
            None => Some(plan::Selector::default()),
        };
        let guard = match &canary.guard {
            Some(g) => self.guard(&format!("{at}.guard"), g).map(Some),
            None => Some(None),
        };
        Some(plan::Canary {
            cluster: cluster?,
            weight: weight?,
            sticky,
            seed,
            force: force?,
            guard: guard?,
        })
    }

    fn guard(&mut self, at: &str, guard: &super::Guard) -> Option<plan::Guard> {
        let rate_at = format!("{at}.max_error_rate");
        let rate = self
            .required(&rate_at, &guard.max_error_rate)
            .and_then(|v| self.fraction(&rate_at, *v));
        let min_at = format!("{at}.min_requests");
        let min_requests = self
            .required(&min_at, &guard.min_requests)
            .copied()
            .filter(|&n| {
                n >= 1 || {
                    self.problem(&min_at, "must be at least 1, got 0");
                    false
                }
            });
        let window_at = format!("{at}.window_s");
        let window_s = self
            .required(&window_at, &guard.window_s)
            .copied()
            .filter(|&n| {
                (1..=3600).contains(&n) || {
                    self.problem(&window_at, format!("must be within 1..=3600, got {n}"));
                    false
                }
            });
        let window_s = window_s?;
        let bucket_s = window_s.div_ceil(plan::Guard::MAX_BUCKETS);
        Some(plan::Guard {
            max_errors_ppm: (rate? * 1e6).round() as u32,
            min_requests: min_requests?,
            bucket_s,
            buckets: window_s / bucket_s,
        })
    }

    fn experiments(
        &mut self,
        at: &str,
        experiments: &[super::Experiment],
        inputs: &Inputs<'_>,
    ) -> Vec<plan::Experiment> {
        if experiments.len() > MAX_EXPERIMENTS {
            self.problem(
                at,
                format!(
                    "at most {MAX_EXPERIMENTS} experiments per route, got {}",
                    experiments.len()
                ),
            );
            return Vec::new();
        }
        let mut names = HashSet::default();
        let mut out = Vec::new();
        for (i, e) in experiments.iter().enumerate() {
            let at = format!("{at}[{i}]");
            if let Some(name) = &e.name
                && !names.insert(name.as_str())
            {
                self.problem(
                    format!("{at}.name"),
                    format!("duplicate experiment name {}", q(name)),
                );
            }
            out.extend(self.experiment(&at, e, inputs));
        }
        out
    }

    fn experiment(
        &mut self,
        at: &str,
        e: &super::Experiment,
        inputs: &Inputs<'_>,
    ) -> Option<plan::Experiment> {
        let name = self
            .required(&format!("{at}.name"), &e.name)
            .and_then(|name| {
                if is_slug(name, |b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
                    Some(name.clone())
                } else {
                    self.problem(
                        format!("{at}.name"),
                        format!("must match [a-z0-9_.-]{{1,64}}, got {}", q(name)),
                    );
                    None
                }
            });
        let key = match self.required(&format!("{at}.key"), &e.key) {
            Some(sources) if sources.is_empty() => {
                self.problem(format!("{at}.key"), "give at least one key source");
                None
            }
            Some(sources) => Some(self.keys(&format!("{at}.key"), sources, inputs)),
            None => None,
        };
        let hash_version = match e.hash_version {
            None | Some(2) => Some(HashVersion::V2),
            Some(1) => Some(HashVersion::V1),
            Some(other) => {
                self.problem(
                    format!("{at}.hash_version"),
                    format!("must be 1 or 2, got {other}"),
                );
                None
            }
        };
        let seed = self.seed(&format!("{at}.seed"), &e.seed, || {
            name.clone().unwrap_or_default()
        });
        let coverage = self.fraction(&format!("{at}.coverage"), e.coverage.unwrap_or(1.0));
        let namespace = match &e.namespace {
            Some(ns) => {
                let nat = format!("{at}.namespace");
                let id = self.required(&format!("{nat}.id"), &ns.id).cloned();
                if id.as_deref() == Some("") {
                    self.problem(format!("{nat}.id"), "must not be empty");
                }
                let start = self
                    .required(&format!("{nat}.start"), &ns.start)
                    .and_then(|v| self.fraction(&format!("{nat}.start"), *v));
                let end = self
                    .required(&format!("{nat}.end"), &ns.end)
                    .and_then(|v| self.fraction(&format!("{nat}.end"), *v));
                if let (Some(s), Some(e)) = (start, end)
                    && s > e
                {
                    self.problem(
                        nat.clone(),
                        format!("start must not exceed end, got {} > {}", num(s), num(e)),
                    );
                }
                Some(plan::Namespace {
                    id: id?.into(),
                    start: start?,
                    end: end?,
                })
            }
            None => None,
        };
        let variants = self.variants(&format!("{at}.variants"), e.variants.as_deref());
        let (variants, weights) = variants?;
        let coverage = coverage?;
        let name: Box<str> = name?.into();
        Some(plan::Experiment {
            header: format!("{}{name}", inputs.headers.cohort_prefix).into(),
            name,
            key: key?,
            hash_version: hash_version?,
            seed,
            namespace,
            ranges: hash::bucket_ranges(variants.len(), coverage, Some(&weights)),
            variants,
        })
    }

    fn variants(
        &mut self,
        at: &str,
        variants: Option<&[super::Variant]>,
    ) -> Option<(Vec<plan::Variant>, Vec<f64>)> {
        let Some(variants) = variants else {
            self.problem(at, "required");
            return None;
        };
        if !(2..=MAX_VARIANTS).contains(&variants.len()) {
            self.problem(
                at,
                format!("give 2 to {MAX_VARIANTS} variants, got {}", variants.len()),
            );
            return None;
        }
        let before = self.problems.len();
        let mut out = Vec::new();
        let mut weights = Vec::new();
        for (i, v) in variants.iter().enumerate() {
            let vat = format!("{at}[{i}]");
            let name = self
                .required(&format!("{vat}.name"), &v.name)
                .and_then(|name| {
                    if !is_slug(name, |b| b.is_ascii_alphanumeric()) {
                        self.problem(
                            format!("{vat}.name"),
                            format!("must match [A-Za-z0-9_.-]{{1,64}}, got {}", q(name)),
                        );
                        None
                    } else if variants
                        .iter()
                        .take(i)
                        .any(|earlier| earlier.name.as_ref() == Some(name))
                    {
                        self.problem(
                            format!("{vat}.name"),
                            format!("duplicate variant name {}", q(name)),
                        );
                        None
                    } else {
                        Some(name)
                    }
                });
            let weight = self
                .required(&format!("{vat}.weight"), &v.weight)
                .and_then(|w| self.fraction(&format!("{vat}.weight"), *w));
            let cluster = match &v.cluster {
                Some(c) => self.cluster(&format!("{vat}.cluster"), c).map(Some),
                None => Some(None),
            };
            if let (Some(name), Some(weight), Some(cluster)) = (name, weight, cluster) {
                out.push(plan::Variant {
                    name: name.as_str().into(),
                    cluster,
                });
                weights.push(weight);
            }
        }
        if self.problems.len() > before {
            return None;
        }
        let sum: f64 = weights.iter().sum();
        if (sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
            self.problem(
                at,
                format!(
                    "variant weights must sum to 1 (±{}), got {}",
                    num(WEIGHT_SUM_TOLERANCE),
                    num(sum)
                ),
            );
            return None;
        }
        Some((out, weights))
    }

    fn shadow(
        &mut self,
        at: &str,
        shadow: &super::Shadow,
        route: &str,
        inputs: &Inputs<'_>,
    ) -> Option<plan::Shadow> {
        let cluster = self.required_cluster(&format!("{at}.cluster"), &shadow.cluster);
        let percent = self.percent(&format!("{at}.percent"), shadow.percent);
        let key = self.keys(&format!("{at}.key"), &shadow.key, inputs);
        let seed = self.seed(&format!("{at}.seed"), &shadow.seed, || {
            format!("{route}.shadow")
        });
        let methods = match &shadow.methods {
            Some(methods) => self.methods(&format!("{at}.methods"), methods),
            None => [b"GET" as &[u8], b"HEAD", b"OPTIONS"]
                .iter()
                .map(|m| Box::from(*m))
                .collect(),
        };
        Some(plan::Shadow {
            cluster: cluster?,
            percent: percent?,
            key,
            seed,
            methods,
        })
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
