//! `shadow`: the cluster mirrored to, its share, key and methods, and how its answers are
//! compared with the live ones.

use super::Part::{Int, Num, Quoted, Text};
use super::{Compiler, Inputs, MAX_NAME_LEN};
use crate::config::{self, Path};
use crate::json::Pointer;
use crate::plan;

/// Most `fields`, and most `headers`, one comparison lists.
const MAX_COMPARED: usize = 32;

impl Compiler {
    pub(super) fn shadow(
        &mut self,
        at: &Path<'_>,
        shadow: &config::Shadow,
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
        let compare = match &shadow.compare {
            Some(c) => {
                let at = Path::Key(at, "compare");
                let compare = self.compare(&at, c, cluster.as_deref());
                compare.map(|c| Some(Box::new(c)))
            }
            None => Some(None),
        };
        let (Some(cluster), Some(percent), Some(compare)) = (cluster, percent, compare) else {
            return None;
        };
        Some(plan::Shadow {
            cluster,
            percent,
            key,
            seed,
            methods,
            compare,
        })
    }

    fn compare(
        &mut self,
        at: &Path<'_>,
        compare: &config::Compare,
        shadow_cluster: Option<&str>,
    ) -> Option<plan::Compare> {
        let timeout_ms = self.within(
            &Path::Key(at, "timeout_ms"),
            compare.timeout_ms,
            1000,
            1..=60_000,
        );
        let max_body_bytes = self.within(
            &Path::Key(at, "max_body_bytes"),
            compare.max_body_bytes,
            65_536,
            0..=1 << 20,
        );
        let log_per_s = self.within(&Path::Key(at, "log_per_s"), compare.log_per_s, 1, 0..=1000);
        let fields = match &compare.fields {
            Some(fields) => self.fields(&Path::Key(at, "fields"), fields),
            None => Some(Vec::new()),
        };
        let tolerance = compare.tolerance.unwrap_or(0.0);
        let tolerance = (tolerance >= 0.0).then_some(tolerance);
        if tolerance.is_none() {
            self.report(
                &Path::Key(at, "tolerance"),
                &[
                    Text("must be at least 0, got "),
                    Num(compare.tolerance.unwrap_or_default()),
                ],
            );
        }
        let headers = self.compared_headers(&Path::Key(at, "headers"), &compare.headers);
        let noise_at = Path::Key(at, "noise_cluster");
        let noise_cluster = match &compare.noise_cluster {
            Some(noise) if Some(noise.as_str()) == shadow_cluster => {
                self.report(
                    &noise_at,
                    &[
                        Text("must name another instance of the live version, not the shadow cluster "),
                        Quoted(noise),
                    ],
                );
                None
            }
            Some(noise) => self.cluster(&noise_at, noise).map(Some),
            None => Some(None),
        };
        Some(plan::Compare {
            timeout_ms: timeout_ms?,
            max_body_bytes: max_body_bytes?,
            fields: fields?,
            tolerance: tolerance?,
            headers: headers?,
            noise_cluster: noise_cluster?,
            log_per_s: log_per_s?,
        })
    }

    /// An optional whole number within `range`, `default` when absent.
    fn within(
        &mut self,
        at: &Path<'_>,
        value: Option<u32>,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Option<u32> {
        let value = value.unwrap_or(default);
        if range.contains(&value) {
            return Some(value);
        }
        self.report(
            at,
            &[
                Text("must be within "),
                Int(*range.start() as usize),
                Text("..="),
                Int(*range.end() as usize),
                Text(", got "),
                Int(value as usize),
            ],
        );
        None
    }

    fn fields(&mut self, at: &Path<'_>, fields: &[String]) -> Option<Vec<plan::Field>> {
        if fields.is_empty() || fields.len() > MAX_COMPARED {
            self.report(
                at,
                &[
                    Text("give 1 to "),
                    Int(MAX_COMPARED),
                    Text(
                        " JSON Pointers, or leave fields out to compare bodies byte for byte; got ",
                    ),
                    Int(fields.len()),
                ],
            );
            return None;
        }
        let mut out = Vec::new();
        let mut valid = true;
        for (i, field) in fields.iter().enumerate() {
            let at = Path::Index(at, i);
            let problem: &[_] = if !field.starts_with('/') {
                &[
                    Text("must be a JSON Pointer starting with \"/\", got "),
                    Quoted(field),
                ]
            } else if field.len() > MAX_NAME_LEN
                || !field.bytes().all(|b| b.is_ascii_graphic() && b != b';')
            {
                &[
                    Text(
                        "must be at most 256 visible ASCII characters without ';' (it names a metric label), got ",
                    ),
                    Quoted(field),
                ]
            } else if fields.iter().take(i).any(|earlier| earlier == field) {
                &[Text("duplicate field "), Quoted(field)]
            } else if let Some(pointer) = Pointer::parse(field) {
                out.push(plan::Field {
                    name: field.as_str().into(),
                    pointer,
                });
                continue;
            } else {
                &[
                    Text("must be a JSON Pointer: '~' is followed by 0 or 1 (RFC 6901), got "),
                    Quoted(field),
                ]
            };
            self.report(&at, problem);
            valid = false;
        }
        valid.then_some(out)
    }

    fn compared_headers(&mut self, at: &Path<'_>, headers: &[String]) -> Option<Vec<Box<str>>> {
        if headers.len() > MAX_COMPARED {
            self.report(
                at,
                &[
                    Text("at most "),
                    Int(MAX_COMPARED),
                    Text(" headers, got "),
                    Int(headers.len()),
                ],
            );
            return None;
        }
        let mut out: Vec<Box<str>> = Vec::new();
        let mut valid = true;
        for (i, header) in headers.iter().enumerate() {
            let at = Path::Index(at, i);
            match self.header_name(&at, header, false) {
                Some(name) if out.contains(&name) => {
                    self.report(&at, &[Text("duplicate header "), Quoted(header)]);
                    valid = false;
                }
                Some(name) => out.push(name),
                None => valid = false,
            }
        }
        valid.then_some(out)
    }
}
