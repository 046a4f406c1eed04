//! The values every part of the contract shares: hosts, paths, methods, clusters, header and
//! cookie names, key sources, seeds, percentages and fractions.

use super::Part::{Int, Num, Quoted, Text};
use super::{Compiler, Inputs, MAX_NAME_LEN, is_slug, is_slug_len, is_token_byte, joined};
use crate::config::{self, Path};
use crate::plan::{self, HostPattern, KeySource, Seed};

impl Compiler {
    pub(super) fn hosts(&mut self, at: &Path<'_>, hosts: &[String]) -> Vec<HostPattern> {
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

    pub(super) fn path(&mut self, at: &Path<'_>, path: &str) -> Option<String> {
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

    pub(super) fn methods(&mut self, at: &Path<'_>, methods: &[String]) -> Vec<Box<[u8]>> {
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

    pub(super) fn required_cluster(
        &mut self,
        at: &Path<'_>,
        cluster: &Option<String>,
    ) -> Option<Box<str>> {
        self.required(at, cluster).and_then(|c| self.cluster(at, c))
    }

    pub(super) fn cluster(&mut self, at: &Path<'_>, cluster: &str) -> Option<Box<str>> {
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
    pub(super) fn header_name(
        &mut self,
        at: &Path<'_>,
        name: &str,
        pseudo: bool,
    ) -> Option<Box<str>> {
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
    pub(super) fn input_header(
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

    pub(super) fn selector(
        &mut self,
        at: &Path<'_>,
        selector: &config::Selector,
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

    pub(super) fn cookie_name(&mut self, at: &Path<'_>, name: &str) -> Option<Box<str>> {
        if !is_slug_len(name, MAX_NAME_LEN, is_token_byte) {
            self.report(
                at,
                &[Text("must be a valid cookie name, got "), Quoted(name)],
            );
            return None;
        }
        Some(name.into())
    }

    pub(super) fn keys(
        &mut self,
        at: &Path<'_>,
        sources: &[String],
        inputs: &Inputs<'_>,
    ) -> Vec<KeySource> {
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
    pub(super) fn seed(
        &mut self,
        at: &Path<'_>,
        seed: &Option<String>,
        default: &str,
        suffix: &str,
    ) -> Seed {
        let text = match seed {
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
        };
        Seed::new(text)
    }

    /// A percentage with 0.01 resolution, in basis points.
    pub(super) fn percent(&mut self, at: &Path<'_>, value: Option<f64>) -> Option<u32> {
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

    pub(super) fn fraction(&mut self, at: &Path<'_>, value: f64) -> Option<f64> {
        if !(0.0..=1.0).contains(&value) {
            self.report(at, &[Text("must be within 0..=1, got "), Num(value)]);
            return None;
        }
        Some(value)
    }

    /// A required fraction.
    pub(super) fn required_fraction(&mut self, at: &Path<'_>, value: Option<f64>) -> Option<f64> {
        let value = self.required(at, &value).copied()?;
        self.fraction(at, value)
    }
}
