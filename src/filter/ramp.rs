//! What a proxy shows of the weights of its ramped or guarded canaries (the release loop; a fixed,
//! unguarded weight is in the configuration, and a table of 10,000 such routes defines no gauge):
//! the gauges `switchyard_canary_weight` (the weight in force, in hundredths of a percent; 0
//! while halted) and `switchyard_canary_step` (0 before a ramp starts, `i + 1` while step `i` is
//! in force), kept current each second; and one log line per proxy when a ramp changes step. Which worker logs is settled in shared data under the
//! route's key (`switchyard.ramp.<route>`, whose value names the revision and the step), so the
//! keys stay as many as the ramped routes, whatever the number of pushes.

use super::guard::Guards;
use super::host::{self, NOT_FOUND};
use super::metrics;
use crate::engine::canary::{InForce, weight_at};
use crate::plan::{Plan, Weight};
use std::cell::Cell;

/// The canaries of one plan and what their gauges show now.
#[derive(Default)]
pub struct Canaries {
    routes: Vec<Shown>,
}

struct Shown {
    route: u32,
    /// None until first shown.
    shown: Cell<Option<InForce>>,
}

impl Canaries {
    pub fn new(plan: &Plan) -> Canaries {
        let routes = (0u32..)
            .zip(&plan.routes)
            .filter(|(_, r)| {
                r.canary
                    .as_ref()
                    .is_some_and(|c| c.guard.is_some() || matches!(c.weight, Weight::Ramp(_)))
            })
            .map(|(route, _)| Shown {
                route,
                shown: Cell::new(None),
            })
            .collect();
        Canaries { routes }
    }

    /// Whether route `name` has gauges in this plan (a ramped or guarded canary).
    pub fn shows(&self, plan: &Plan, name: &str) -> bool {
        self.routes.iter().any(|s| {
            plan.routes
                .get(s.route as usize)
                .is_some_and(|r| *r.name == *name)
        })
    }

    /// Bring the gauges up to date with the clock and the guards, and log each step change of a
    /// ramp once per proxy.
    pub fn show(&self, plan: &Plan, guards: &Guards, now_ms: i64) {
        for s in &self.routes {
            let Some((route, canary)) = plan
                .routes
                .get(s.route as usize)
                .and_then(|r| Some((r, r.canary.as_ref()?)))
            else {
                continue;
            };
            let mut now = weight_at(&canary.weight, || now_ms);
            if guards.halted(s.route) {
                now.weight = 0;
            }
            let before = s.shown.replace(Some(now));
            if before == Some(now) {
                continue;
            }
            metrics::gauge(
                "switchyard_canary_weight",
                &route.name,
                u64::from(now.weight),
            );
            metrics::gauge("switchyard_canary_step", &route.name, u64::from(now.step));
            if let Weight::Ramp(ramp) = &canary.weight
                && before.is_none_or(|b| b.step != now.step)
                && now.step > 0
                && claim(&plan.revision, &route.name, now.step)
            {
                log::info!(
                    "switchyard: route {} canary at step {} of {}: weight {}%",
                    route.name,
                    now.step,
                    ramp.steps.len(),
                    Percent(now.weight)
                );
            }
        }
    }
}

/// Whether this worker is the first of the proxy to see `route` at `step` of `revision`: it
/// writes that into shared data, and only one write from what was there before succeeds.
fn claim(revision: &str, route: &str, step: u32) -> bool {
    let key = ["switchyard.ramp.", route].concat();
    let value = [revision, ";", &step.to_string()].concat();
    let cas = match host::get_shared_data(&key) {
        Ok((seen, _)) if seen == value.as_bytes() => return false,
        Ok((_, cas)) => cas,
        Err(NOT_FOUND) => 0,
        Err(_) => return false,
    };
    host::set_shared_data(&key, value.as_bytes(), cas).is_ok()
}

/// Basis points as a percentage: `10`, `0.5`, `12.25`.
struct Percent(u32);

impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (whole, hundredths) = (self.0 / 100, self.0 % 100);
        match hundredths {
            0 => write!(f, "{whole}"),
            h if h % 10 == 0 => write!(f, "{whole}.{}", h / 10),
            h => write!(f, "{whole}.{h:02}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Percent;

    #[test]
    fn weights_read_as_percentages() {
        for (bp, shown) in [
            (1000, "10"),
            (50, "0.5"),
            (1225, "12.25"),
            (5, "0.05"),
            (0, "0"),
        ] {
            assert_eq!(Percent(bp).to_string(), shown);
        }
    }
}
