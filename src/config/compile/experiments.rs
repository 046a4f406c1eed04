//! `experiments`: names unique within the route, keys, hashing, namespace and variants.

use super::Part::{Int, Num, Quoted, Text};
use super::{Compiler, Inputs, WEIGHT_SUM_TOLERANCE, is_slug, joined};
use crate::config::{self, Path};
use crate::hash;
use crate::plan::{self, HashVersion, MAX_EXPERIMENTS, MAX_VARIANTS};

impl Compiler {
    pub(super) fn experiments(
        &mut self,
        at: &Path<'_>,
        experiments: &[config::Experiment],
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
        e: &config::Experiment,
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
            Some(ns) => self.namespace(&Path::Key(at, "namespace"), ns).map(Some),
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
        variants: Option<&[config::Variant]>,
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
            let earlier = variants.get(..i).unwrap_or_default();
            if let Some((variant, weight)) = self.variant(&Path::Index(at, i), v, earlier) {
                out.push(variant);
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

    fn namespace(&mut self, at: &Path<'_>, ns: &config::Namespace) -> Option<plan::Namespace> {
        let id_at = Path::Key(at, "id");
        let id = self.required(&id_at, &ns.id);
        if id.is_some_and(String::is_empty) {
            self.problem(&id_at, "must not be empty");
        }
        let start = self.required_fraction(&Path::Key(at, "start"), ns.start);
        let end = self.required_fraction(&Path::Key(at, "end"), ns.end);
        if let (Some(s), Some(e)) = (start, end)
            && s > e
        {
            self.report(
                at,
                &[
                    Text("start must not exceed end, got "),
                    Num(s),
                    Text(" > "),
                    Num(e),
                ],
            );
        }
        Some(plan::Namespace {
            id: id?.as_str().into(),
            start: start?,
            end: end?,
        })
    }

    /// One variant and its weight; `earlier` are the variants before it, whose names it must not
    /// repeat.
    fn variant(
        &mut self,
        at: &Path<'_>,
        v: &config::Variant,
        earlier: &[config::Variant],
    ) -> Option<(plan::Variant, f64)> {
        let name_at = Path::Key(at, "name");
        let name = self.required(&name_at, &v.name).and_then(|name| {
            if !is_slug(name, |b| b.is_ascii_alphanumeric()) {
                self.report(
                    &name_at,
                    &[Text("must match [A-Za-z0-9_.-]{1,64}, got "), Quoted(name)],
                );
                None
            } else if earlier.iter().any(|e| e.name.as_ref() == Some(name)) {
                self.report(&name_at, &[Text("duplicate variant name "), Quoted(name)]);
                None
            } else {
                Some(name)
            }
        });
        let weight = self.required_fraction(&Path::Key(at, "weight"), v.weight);
        let cluster = match &v.cluster {
            Some(c) => self.cluster(&Path::Key(at, "cluster"), c).map(Some),
            None => Some(None),
        };
        let variant = plan::Variant {
            name: name?.as_str().into(),
            cluster: cluster?,
        };
        Some((variant, weight?))
    }
}
