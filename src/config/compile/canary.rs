//! `canary`: its weight or ramp, and its guard on errors and latency.

use super::Part::{Int, Num, Quoted, Text};
use super::{Compiler, Inputs};
use crate::config::{self, Path};
use crate::plan::{self, Weight};

/// Most steps in a ramp.
const MAX_STEPS: usize = 32;
/// Longest hold of a step: a week.
const MAX_HOLD_S: u32 = 604_800;
/// Longest `latency.max_ms`: an hour.
const MAX_LATENCY_MS: f64 = 3_600_000.0;

impl Compiler {
    pub(super) fn canary(
        &mut self,
        at: &Path<'_>,
        canary: &config::Canary,
        route: &str,
        inputs: &Inputs<'_>,
    ) -> Option<plan::Canary> {
        let cluster = self.required_cluster(&Path::Key(at, "cluster"), &canary.cluster);
        let weight = match (canary.weight, &canary.ramp) {
            (Some(_), Some(_)) => {
                self.problem(at, "give either weight or ramp, not both");
                None
            }
            (weight, None) => self
                .percent(&Path::Key(at, "weight"), weight)
                .map(Weight::Fixed),
            (None, Some(ramp)) => self.ramp(&Path::Key(at, "ramp"), ramp).map(Weight::Ramp),
        };
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
        Some(plan::Canary {
            cluster: cluster?,
            weight: weight?,
            sticky,
            seed,
            force: force?,
            guard: guard?,
        })
    }

    fn ramp(&mut self, at: &Path<'_>, ramp: &config::Ramp) -> Option<plan::Ramp> {
        let start_at = Path::Key(at, "start_at");
        let start_ms = self.required(&start_at, &ramp.start_at).and_then(|t| {
            crate::time::parse_rfc3339(t)
                .map_err(|e| self.report(&start_at, &[Text(e), Text(", got "), Quoted(t)]))
                .ok()
        });
        let list = Path::Key(at, "steps");
        let steps = self.required(&list, &ramp.steps)?;
        if !(1..=MAX_STEPS).contains(&steps.len()) {
            self.report(
                &list,
                &[
                    Text("give 1 to "),
                    Int(MAX_STEPS),
                    Text(" steps, got "),
                    Int(steps.len()),
                ],
            );
            return None;
        }
        let before = self.problems.len();
        let (mut compiled, mut begins_ms, mut previous) = (Vec::new(), 0_i64, None);
        for (i, step) in steps.iter().enumerate() {
            let at = Path::Index(&list, i);
            let weight_at = Path::Key(&at, "weight");
            let weight = self.percent(&weight_at, step.weight);
            if let (Some(weight), Some(earlier)) = (weight, previous)
                && weight < earlier
            {
                self.report(
                    &weight_at,
                    &[
                        Text("must not be below the previous step's "),
                        Num(f64::from(earlier) / 100.0),
                        Text(", got "),
                        Num(f64::from(weight) / 100.0),
                    ],
                );
            }
            previous = weight.or(previous);
            let last = i + 1 == steps.len();
            let hold = self.hold(&Path::Key(&at, "hold_s"), step.hold_s, last);
            compiled.extend(weight.map(|weight| plan::RampStep { weight, begins_ms }));
            begins_ms += i64::from(hold.unwrap_or(0)) * 1000;
        }
        if self.problems.len() > before {
            return None;
        }
        Some(plan::Ramp {
            start_ms: start_ms?,
            steps: compiled,
        })
    }

    /// A step's `hold_s`: required on every step but the last, which stays in force.
    fn hold(&mut self, at: &Path<'_>, hold_s: Option<u32>, last: bool) -> Option<u32> {
        match (hold_s, last) {
            (None, true) => None,
            (Some(_), true) => {
                self.problem(at, "the last step stays in force: give it no hold_s");
                None
            }
            (None, false) => {
                self.problem(at, "required on every step but the last");
                None
            }
            (Some(hold), false) if (1..=MAX_HOLD_S).contains(&hold) => Some(hold),
            (Some(hold), false) => {
                self.report(
                    at,
                    &[
                        Text("must be within 1..="),
                        Int(MAX_HOLD_S as usize),
                        Text(", got "),
                        Int(hold as usize),
                    ],
                );
                None
            }
        }
    }

    fn guard(&mut self, at: &Path<'_>, guard: &config::Guard) -> Option<plan::Guard> {
        if guard.max_error_rate.is_none() && guard.latency.is_none() {
            self.problem(at, "give max_error_rate, latency, or both");
        }
        let rate = match guard.max_error_rate {
            Some(rate) => self
                .fraction(&Path::Key(at, "max_error_rate"), rate)
                .map(|rate| Some((rate * 1e6).round() as u32)),
            None => Some(None),
        };
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
        let latency = match &guard.latency {
            Some(l) => self.latency(&Path::Key(at, "latency"), l).map(Some),
            None => Some(None),
        };
        let window_s = window_s?;
        let bucket_s = window_s.div_ceil(plan::Guard::MAX_BUCKETS);
        Some(plan::Guard {
            max_errors_ppm: rate?,
            min_requests: min_requests?,
            bucket_s,
            buckets: window_s / bucket_s,
            latency: latency?,
        })
    }

    fn latency(
        &mut self,
        at: &Path<'_>,
        latency: &config::LatencyGuard,
    ) -> Option<plan::LatencyGuard> {
        let neither = latency.max_ms.is_none() && latency.max_ratio.is_none();
        if neither {
            self.problem(at, "give max_ms, max_ratio, or both");
        }
        let quantile_at = Path::Key(at, "quantile");
        let quantile = latency.quantile.unwrap_or(0.99);
        let quantile = (0.5..=0.999).contains(&quantile).then_some(quantile);
        if quantile.is_none() {
            let got = latency.quantile.unwrap_or_default();
            self.report(
                &quantile_at,
                &[Text("must be within 0.5..=0.999, got "), Num(got)],
            );
        }
        let max_us = match latency.max_ms {
            Some(ms) if ms > 0.0 && ms <= MAX_LATENCY_MS => {
                Some(Some((ms * 1000.0).round() as u64))
            }
            Some(ms) => {
                self.report(
                    &Path::Key(at, "max_ms"),
                    &[
                        Text("must be above 0 and at most "),
                        Num(MAX_LATENCY_MS),
                        Text(", got "),
                        Num(ms),
                    ],
                );
                None
            }
            None => Some(None),
        };
        let max_ratio = match latency.max_ratio {
            Some(ratio) if (1.0..=1000.0).contains(&ratio) => Some(Some(ratio)),
            Some(ratio) => {
                self.report(
                    &Path::Key(at, "max_ratio"),
                    &[Text("must be within 1..=1000, got "), Num(ratio)],
                );
                None
            }
            None => Some(None),
        };
        if neither {
            return None;
        }
        Some(plan::LatencyGuard {
            quantile: quantile?,
            max_us: max_us?,
            max_ratio: max_ratio?,
        })
    }
}
