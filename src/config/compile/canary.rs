//! `canary` and its guard.

use super::Part::{Int, Text};
use super::{Compiler, Inputs};
use crate::config::{self, Path};
use crate::plan;

impl Compiler {
    pub(super) fn canary(
        &mut self,
        at: &Path<'_>,
        canary: &config::Canary,
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

    pub(super) fn guard(&mut self, at: &Path<'_>, guard: &config::Guard) -> Option<plan::Guard> {
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
}
