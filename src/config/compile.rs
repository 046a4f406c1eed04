//! Validation and compilation in one walk: every rule of the contract is checked, every problem
//! collected with its JSON path, and what passes is lowered into the [`Plan`].
//!
//! Paths are [`Path`] chains, rendered only for a problem; messages are lists of [`Part`]s that
//! one function writes (a `format!` per message would weigh a few kilobytes in the module).

use super::{Config, OverrideFrom, Path, Problem};
use super::{num, q};
use crate::cidr::Cidr;
use crate::engine::matching::{HostPattern, PathPattern, RouteIndex};
use crate::hash;
use crate::plan::{self, HashVersion, KeySource, MAX_EXPERIMENTS, MAX_ROUTES, MAX_VARIANTS, Plan};
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
        revision,
        debug: config.debug,
        telemetry: config.telemetry.clone(),
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

    fn headers(&mut self, config: &Config) -> plan::HeaderNames {
        let h = &config.headers;
        let headers = Path::Key(&Path::Root, "headers");
        let mut name = |field: &str, value: &str| -> Box<str> {
            self.header_name(&Path::Key(&headers, field), value, false)
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
            let at = Path::Key(&headers, field);
            if written
                .iter()
                .take(i)
                .any(|(_, earlier)| earlier == value && !value.is_empty())
            {
                self.report(
                    &at,
                    &[Quoted(value), Text(" is already used by another header")],
                );
            }
            if !names.cohort_prefix.is_empty() && value.starts_with(&*names.cohort_prefix) {
                self.report(
                    &at,
                    &[
                        Quoted(value),
                        Text(" starts with cohort_prefix "),
                        Quoted(&names.cohort_prefix),
                    ],
                );
            }
        }
        names
    }

    fn overrides(&mut self, config: &Config, headers: &plan::HeaderNames) -> plan::Overrides {
        let o = &config.overrides;
        let overrides = Path::Key(&Path::Root, "overrides");
        let at = Path::Key(&overrides, "token_header");
        let token_header = self
            .header_name(&at, &o.token_header, false)
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
            self.report(
                &at,
                &[
                    Quoted(&token_header),
                    Text(" is a header Switchyard writes"),
                ],
            );
        }
        let mut tokens = Vec::new();
        let list = Path::Key(&overrides, "tokens");
        for (i, token) in o.tokens.iter().enumerate() {
            let at = Path::Index(&list, i);
            // Never echo a token: problems are logged.
            if token.chars().count() < MIN_TOKEN_LEN {
                self.report(
                    &at,
                    &[
                        Text("must be at least "),
                        Int(MIN_TOKEN_LEN),
                        Text(" characters (value not shown)"),
                    ],
                );
            } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
                self.problem(
                    &at,
                    "must be visible ASCII to travel in a header (value not shown)",
                );
            } else {
                tokens.push(token.as_bytes().into());
            }
        }
        let mut source_cidrs = Vec::new();
        let list = Path::Key(&overrides, "source_cidrs");
        for (i, cidr) in o.source_cidrs.iter().enumerate() {
            match Cidr::parse(cidr) {
                Ok(cidr) => source_cidrs.push(cidr),
                Err(e) => self.report(
                    &Path::Index(&list, i),
                    &[Text(&e), Text(", got "), Quoted(cidr)],
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
            self.report(
                &Path::Key(&Path::Root, "revision"),
                &[
                    Text("must be printable ASCII without ';', at most "),
                    Int(MAX_NAME_LEN),
                    Text(" characters, got "),
                    Quoted(revision),
                ],
            );
        }
        revision.into()
    }

    fn route(
        &mut self,
        at: &Path<'_>,
        route: &super::Route,
        headers: &plan::HeaderNames,
        overrides: &plan::Overrides,
    ) -> Option<(plan::Route, Vec<HostPattern>, PathPattern)> {
        let before = self.problems.len();
        let inputs = Inputs {
            headers,
            token_header: &overrides.token_header,
        };
        let name_at = Path::Key(at, "name");
        let name = self
            .required(&name_at, &route.name)
            .map(String::as_str)
            .unwrap_or_default();
        if route.name.is_some() && !is_slug(name, |b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            self.report(
                &name_at,
                &[Text("must match [a-z0-9_.-]{1,64}, got "), Quoted(name)],
            );
        }

        let m = &route.matcher;
        let match_at = Path::Key(at, "match");
        let hosts = self.hosts(&Path::Key(&match_at, "hosts"), &m.hosts);
        let path = match (&m.path_prefix, &m.path_exact) {
            (Some(_), Some(_)) => {
                self.problem(
                    &match_at,
                    "path_prefix and path_exact are exclusive; give at most one",
                );
                PathPattern::Any
            }
            (Some(p), None) => self
                .path(&Path::Key(&match_at, "path_prefix"), p)
                .map_or(PathPattern::Any, PathPattern::Prefix),
            (None, Some(p)) => self
                .path(&Path::Key(&match_at, "path_exact"), p)
                .map_or(PathPattern::Any, PathPattern::Exact),
            (None, None) => PathPattern::Any,
        };
        let methods = self.methods(&Path::Key(&match_at, "methods"), &m.methods);
        let mut conditions = Vec::new();
        let list = Path::Key(&match_at, "headers");
        for (i, h) in m.headers.iter().enumerate() {
            let at = Path::Index(&list, i);
            let name_at = Path::Key(&at, "name");
            let name = self
                .required(&name_at, &h.name)
                .and_then(|n| self.input_header(&name_at, n, &inputs, true));
            let test = match (&h.exact, &h.prefix, h.present) {
                (Some(v), None, None) => Some(plan::HeaderTest::Exact(v.as_bytes().into())),
                (None, Some(v), None) => Some(plan::HeaderTest::Prefix(v.as_bytes().into())),
                (None, None, Some(true)) => Some(plan::HeaderTest::Present),
                (None, None, Some(false)) => Some(plan::HeaderTest::Absent),
                _ => {
                    self.problem(&at, "give exactly one of exact, prefix, present");
                    None
                }
            };
            if let (Some(name), Some(test)) = (name, test) {
                conditions.push(plan::HeaderCondition { name, test });
            }
        }

        let base = match (&route.blue_green, &route.stable) {
            (Some(bg), _) => self
                .blue_green(&Path::Key(at, "blue_green"), bg, &inputs)
                .map(plan::Base::BlueGreen),
            (None, Some(stable)) => self
                .cluster(&Path::Key(at, "stable"), stable)
                .map(plan::Base::Stable),
            (None, None) => {
                self.problem(
                    &Path::Key(at, "stable"),
                    "required unless blue_green is given",
                );
                None
            }
        };
        let canary = route
            .canary
            .as_ref()
            .and_then(|c| self.canary(&Path::Key(at, "canary"), c, name, &inputs));
        let experiments =
            self.experiments(&Path::Key(at, "experiments"), &route.experiments, &inputs);
        let shadow = route
            .shadow
            .as_ref()
            .and_then(|s| self.shadow(&Path::Key(at, "shadow"), s, name, &inputs));

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

    fn hosts(&mut self, at: &Path<'_>, hosts: &[String]) -> Vec<HostPattern> {
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
                _ => self.report(
                    &Path::Index(at, i),
                    &[
                        Text("must be a host name without port, `*.` + a domain, or `*`, got "),
                        Quoted(host),
                    ],
                ),
            }
        }
        if any { Vec::new() } else { patterns }
    }

    fn path(&mut self, at: &Path<'_>, path: &str) -> Option<String> {
        if !path.starts_with('/')
            || path.contains(['?', '#'])
            || path.bytes().any(|b| b.is_ascii_control())
        {
            self.report(
                at,
                &[
                    Text("must start with '/' and hold no query or fragment, got "),
                    Quoted(path),
                ],
            );
            return None;
        }
        Some(path.into())
    }

    fn methods(&mut self, at: &Path<'_>, methods: &[String]) -> Vec<Box<[u8]>> {
        let mut out = Vec::new();
        for (i, method) in methods.iter().enumerate() {
            if is_slug(method, |b| is_token_byte(b) && !b.is_ascii_lowercase()) {
                out.push(method.as_bytes().into());
            } else {
                self.report(
                    &Path::Index(at, i),
                    &[
                        Text("must be an upper-case HTTP method such as GET, got "),
                        Quoted(method),
                    ],
                );
            }
        }
        out
    }

    fn required_cluster(&mut self, at: &Path<'_>, cluster: &Option<String>) -> Option<Box<str>> {
        self.required(at, cluster).and_then(|c| self.cluster(at, c))
    }

    fn cluster(&mut self, at: &Path<'_>, cluster: &str) -> Option<Box<str>> {
        let ok = !cluster.is_empty()
            && cluster.len() <= MAX_NAME_LEN
            && cluster.bytes().all(|b| b.is_ascii_graphic() && b != b';');
        if !ok {
            self.report(
                at,
                &[
                    Text("must be a cluster name of 1 to "),
                    Int(MAX_NAME_LEN),
                    Text(" visible ASCII characters without ';', got "),
                    Quoted(cluster),
                ],
            );
            return None;
        }
        Some(cluster.into())
    }

    /// A header name, lower-cased. `pseudo` allows `:authority` and friends.
    fn header_name(&mut self, at: &Path<'_>, name: &str, pseudo: bool) -> Option<Box<str>> {
        let bare = if pseudo {
            name.strip_prefix(':').unwrap_or(name)
        } else {
            name
        };
        if !is_slug_len(bare, MAX_NAME_LEN, is_token_byte) {
            self.report(
                at,
                &[Text("must be a valid HTTP header name, got "), Quoted(name)],
            );
            return None;
        }
        Some(name.to_ascii_lowercase().into())
    }

    /// A header the filter reads: it must not be one the filter writes or removes, which a client
    /// could otherwise use to steer the decision.
    fn input_header(
        &mut self,
        at: &Path<'_>,
        name: &str,
        inputs: &Inputs<'_>,
        pseudo: bool,
    ) -> Option<Box<str>> {
        let name = self.header_name(at, name, pseudo)?;
        if inputs.is_written(&name) {
            self.report(
                at,
                &[
                    Quoted(&name),
                    Text(" is written or removed by Switchyard and cannot be read"),
                ],
            );
            return None;
        }
        Some(name)
    }

    fn selector(
        &mut self,
        at: &Path<'_>,
        selector: &super::Selector,
        inputs: &Inputs<'_>,
    ) -> Option<plan::Selector> {
        if selector.header.is_none() && selector.cookie.is_none() {
            self.problem(at, "give a header, a cookie, or both");
            return None;
        }
        let header = match &selector.header {
            Some(h) => Some(self.input_header(&Path::Key(at, "header"), h, inputs, false)?),
            None => None,
        };
        let cookie = match &selector.cookie {
            Some(c) => Some(self.cookie_name(&Path::Key(at, "cookie"), c)?),
            None => None,
        };
        Some(plan::Selector { header, cookie })
    }

    fn cookie_name(&mut self, at: &Path<'_>, name: &str) -> Option<Box<str>> {
        if !is_slug_len(name, MAX_NAME_LEN, is_token_byte) {
            self.report(
                at,
                &[Text("must be a valid cookie name, got "), Quoted(name)],
            );
            return None;
        }
        Some(name.into())
    }

    fn keys(&mut self, at: &Path<'_>, sources: &[String], inputs: &Inputs<'_>) -> Vec<KeySource> {
        let mut keys = Vec::new();
        for (i, source) in sources.iter().enumerate() {
            let at = Path::Index(at, i);
            let key = match source.split_once(':') {
                Some(("header", name)) => self
                    .input_header(&at, name, inputs, false)
                    .map(KeySource::Header),
                Some(("cookie", name)) => self.cookie_name(&at, name).map(KeySource::Cookie),
                Some(("query", name)) if !name.is_empty() && name.len() <= MAX_NAME_LEN => {
                    Some(KeySource::Query(name.into()))
                }
                _ => {
                    self.report(
                        &at,
                        &[
                            Text("must be header:<name>, cookie:<name> or query:<name>, got "),
                            Quoted(source),
                        ],
                    );
                    None
                }
            };
            keys.extend(key);
        }
        keys
    }

    /// The hash seed: `seed` when given, else `default` (with `suffix`).
    fn seed(
        &mut self,
        at: &Path<'_>,
        seed: &Option<String>,
        default: &str,
        suffix: &str,
    ) -> Box<str> {
        match seed {
            Some(seed) => {
                if seed.len() > MAX_NAME_LEN {
                    self.report(
                        at,
                        &[
                            Text("at most "),
                            Int(MAX_NAME_LEN),
                            Text(" bytes, got "),
                            Int(seed.len()),
                        ],
                    );
                }
                seed.as_str().into()
            }
            None => joined(default, suffix),
        }
    }

    /// A percentage with 0.01 resolution, in basis points.
    fn percent(&mut self, at: &Path<'_>, value: Option<f64>) -> Option<u32> {
        let value = self.required(at, &value).copied()?;
        if !(0.0..=100.0).contains(&value) {
            self.report(at, &[Text("must be within 0..=100, got "), Num(value)]);
            return None;
        }
        let basis_points = (value * 100.0).round();
        if (value * 100.0 - basis_points).abs() > 1e-6 {
            self.report(at, &[Text("resolution is 0.01, got "), Num(value)]);
            return None;
        }
        Some(basis_points as u32)
    }

    fn fraction(&mut self, at: &Path<'_>, value: f64) -> Option<f64> {
        if !(0.0..=1.0).contains(&value) {
            self.report(at, &[Text("must be within 0..=1, got "), Num(value)]);
            return None;
        }
        Some(value)
    }

    /// A required fraction.
    fn required_fraction(&mut self, at: &Path<'_>, value: Option<f64>) -> Option<f64> {
        let value = self.required(at, &value).copied()?;
        self.fraction(at, value)
    }

    fn blue_green(
        &mut self,
        at: &Path<'_>,
        bg: &super::BlueGreen,
        inputs: &Inputs<'_>,
    ) -> Option<plan::BlueGreen> {
        let active = self.required(&Path::Key(at, "active"), &bg.active).copied();
        let blue = self.required_cluster(&Path::Key(at, "blue"), &bg.blue);
        let green = self.required_cluster(&Path::Key(at, "green"), &bg.green);
        let preview = match &bg.preview {
            Some(p) => self.selector(&Path::Key(at, "preview"), p, inputs),
            None => Some(plan::Selector::default()),
        };
        let switch_at = match &bg.switch_at {
            Some(s) => {
                let switch = Path::Key(at, "switch_at");
                let colour = self
                    .required(&Path::Key(&switch, "active"), &s.active)
                    .copied();
                let at = Path::Key(&switch, "at");
                let instant = self.required(&at, &s.at).and_then(|t| {
                    crate::time::parse_rfc3339(t)
                        .map_err(|e| self.report(&at, &[Text(e), Text(", got "), Quoted(t)]))
                        .ok()
                });
                match (colour, instant) {
                    (Some(colour), Some(instant)) => Some(Some((colour, instant))),
                    _ => None,
                }
            }
            None => Some(None),
        };
        // One way out for every missing part: each `?` would drop what came before it anew.
        let (Some(active), Some(blue), Some(green), Some(preview), Some(switch_at)) =
            (active, blue, green, preview, switch_at)
        else {
            return None;
        };
        Some(plan::BlueGreen {
            active,
            blue,
            green,
            preview,
            switch_at,
        })
    }

    fn canary(
        &mut self,
        at: &Path<'_>,
        canary: &super::Canary,
        route: &str,
        inputs: &Inputs<'_>,
    ) -> Option<plan::Canary> {
        let cluster = self.required_cluster(&Path::Key(at, "cluster"), &canary.cluster);
        let weight = self.percent(&Path::Key(at, "weight"), canary.weight);
        let sticky = self.keys(&Path::Key(at, "sticky"), &canary.sticky, inputs);
        let seed = self.seed(&Path::Key(at, "seed"), &canary.seed, route, "");
        let force = match &canary.force {
            Some(f) => self.selector(&Path::Key(at, "force"), f, inputs),
            None => Some(plan::Selector::default()),
        };
        let guard = match &canary.guard {
            Some(g) => self.guard(&Path::Key(at, "guard"), g).map(Some),
            None => Some(None),
        };
        let (Some(cluster), Some(weight), Some(force), Some(guard)) =
            (cluster, weight, force, guard)
        else {
            return None;
        };
        Some(plan::Canary {
            cluster,
            weight,
            sticky,
            seed,
            force,
            guard,
        })
    }

    fn guard(&mut self, at: &Path<'_>, guard: &super::Guard) -> Option<plan::Guard> {
        let rate = self.required_fraction(&Path::Key(at, "max_error_rate"), guard.max_error_rate);
        let min_at = Path::Key(at, "min_requests");
        let min_requests = self
            .required(&min_at, &guard.min_requests)
            .copied()
            .filter(|&n| {
                n >= 1 || {
                    self.problem(&min_at, "must be at least 1, got 0");
                    false
                }
            });
        let window_at = Path::Key(at, "window_s");
        let window_s = self
            .required(&window_at, &guard.window_s)
            .copied()
            .filter(|&n| {
                (1..=3600).contains(&n) || {
                    self.report(
                        &window_at,
                        &[Text("must be within 1..=3600, got "), Int(n as usize)],
                    );
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
        at: &Path<'_>,
        experiments: &[super::Experiment],
        inputs: &Inputs<'_>,
    ) -> Vec<plan::Experiment> {
        if experiments.len() > MAX_EXPERIMENTS {
            self.report(
                at,
                &[
                    Text("at most "),
                    Int(MAX_EXPERIMENTS),
                    Text(" experiments per route, got "),
                    Int(experiments.len()),
                ],
            );
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, e) in experiments.iter().enumerate() {
            let at = Path::Index(at, i);
            if let Some(name) = &e.name
                && experiments
                    .iter()
                    .take(i)
                    .any(|earlier| earlier.name.as_ref() == Some(name))
            {
                self.report(
                    &Path::Key(&at, "name"),
                    &[Text("duplicate experiment name "), Quoted(name)],
                );
            }
            out.extend(self.experiment(&at, e, inputs));
        }
        out
    }

    fn experiment(
        &mut self,
        at: &Path<'_>,
        e: &super::Experiment,
        inputs: &Inputs<'_>,
    ) -> Option<plan::Experiment> {
        let name_at = Path::Key(at, "name");
        let name = self.required(&name_at, &e.name).and_then(|name| {
            if is_slug(name, |b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
                Some(name.as_str())
            } else {
                self.report(
                    &name_at,
                    &[Text("must match [a-z0-9_.-]{1,64}, got "), Quoted(name)],
                );
                None
            }
        });
        let key_at = Path::Key(at, "key");
        let key = match self.required(&key_at, &e.key) {
            Some(sources) if sources.is_empty() => {
                self.problem(&key_at, "give at least one key source");
                None
            }
            Some(sources) => Some(self.keys(&key_at, sources, inputs)),
            None => None,
        };
        let hash_version = match e.hash_version {
            None | Some(2) => Some(HashVersion::V2),
            Some(1) => Some(HashVersion::V1),
            Some(other) => {
                self.report(
                    &Path::Key(at, "hash_version"),
                    &[Text("must be 1 or 2, got "), Int(other.into())],
                );
                None
            }
        };
        let seed = self.seed(
            &Path::Key(at, "seed"),
            &e.seed,
            name.unwrap_or_default(),
            "",
        );
        let coverage = self.fraction(&Path::Key(at, "coverage"), e.coverage.unwrap_or(1.0));
        let namespace = match &e.namespace {
            Some(ns) => {
                let at = Path::Key(at, "namespace");
                let id_at = Path::Key(&at, "id");
                let id = self.required(&id_at, &ns.id);
                if id.is_some_and(String::is_empty) {
                    self.problem(&id_at, "must not be empty");
                }
                let start = self.required_fraction(&Path::Key(&at, "start"), ns.start);
                let end = self.required_fraction(&Path::Key(&at, "end"), ns.end);
                if let (Some(s), Some(e)) = (start, end)
                    && s > e
                {
                    self.report(
                        &at,
                        &[
                            Text("start must not exceed end, got "),
                            Num(s),
                            Text(" > "),
                            Num(e),
                        ],
                    );
                }
                match (id, start, end) {
                    (Some(id), Some(start), Some(end)) => Some(Some(plan::Namespace {
                        id: id.as_str().into(),
                        start,
                        end,
                    })),
                    _ => None,
                }
            }
            None => Some(None),
        };
        let variants = self.variants(&Path::Key(at, "variants"), e.variants.as_deref());
        let (
            Some((variants, weights)),
            Some(coverage),
            Some(name),
            Some(key),
            Some(hash_version),
            Some(namespace),
        ) = (variants, coverage, name, key, hash_version, namespace)
        else {
            return None;
        };
        Some(plan::Experiment {
            header: joined(&inputs.headers.cohort_prefix, name),
            name: name.into(),
            key,
            hash_version,
            seed,
            namespace,
            ranges: hash::bucket_ranges(variants.len(), coverage, Some(&weights)),
            variants,
        })
    }

    fn variants(
        &mut self,
        at: &Path<'_>,
        variants: Option<&[super::Variant]>,
    ) -> Option<(Vec<plan::Variant>, Vec<f64>)> {
        let Some(variants) = variants else {
            self.problem(at, "required");
            return None;
        };
        if !(2..=MAX_VARIANTS).contains(&variants.len()) {
            self.report(
                at,
                &[
                    Text("give 2 to "),
                    Int(MAX_VARIANTS),
                    Text(" variants, got "),
                    Int(variants.len()),
                ],
            );
            return None;
        }
        let before = self.problems.len();
        let mut out = Vec::new();
        let mut weights = Vec::new();
        for (i, v) in variants.iter().enumerate() {
            let vat = Path::Index(at, i);
            let name_at = Path::Key(&vat, "name");
            let name = self.required(&name_at, &v.name).and_then(|name| {
                if !is_slug(name, |b| b.is_ascii_alphanumeric()) {
                    self.report(
                        &name_at,
                        &[Text("must match [A-Za-z0-9_.-]{1,64}, got "), Quoted(name)],
                    );
                    None
                } else if variants
                    .iter()
                    .take(i)
                    .any(|earlier| earlier.name.as_ref() == Some(name))
                {
                    self.report(&name_at, &[Text("duplicate variant name "), Quoted(name)]);
                    None
                } else {
                    Some(name)
                }
            });
            let weight = self.required_fraction(&Path::Key(&vat, "weight"), v.weight);
            let cluster = match &v.cluster {
                Some(c) => self.cluster(&Path::Key(&vat, "cluster"), c).map(Some),
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
            self.report(
                at,
                &[
                    Text("variant weights must sum to 1 (±"),
                    Num(WEIGHT_SUM_TOLERANCE),
                    Text("), got "),
                    Num(sum),
                ],
            );
            return None;
        }
        Some((out, weights))
    }

    fn shadow(
        &mut self,
        at: &Path<'_>,
        shadow: &super::Shadow,
        route: &str,
        inputs: &Inputs<'_>,
    ) -> Option<plan::Shadow> {
        let cluster = self.required_cluster(&Path::Key(at, "cluster"), &shadow.cluster);
        let percent = self.percent(&Path::Key(at, "percent"), shadow.percent);
        let key = self.keys(&Path::Key(at, "key"), &shadow.key, inputs);
        let seed = self.seed(&Path::Key(at, "seed"), &shadow.seed, route, ".shadow");
        let methods = match &shadow.methods {
            Some(methods) => self.methods(&Path::Key(at, "methods"), methods),
            None => {
                let mut methods = Vec::new();
                for method in [&b"GET"[..], b"HEAD", b"OPTIONS"] {
                    methods.push(method.into());
                }
                methods
            }
        };
        let (Some(cluster), Some(percent)) = (cluster, percent) else {
            return None;
        };
        Some(plan::Shadow {
            cluster,
            percent,
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
