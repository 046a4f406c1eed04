//! The canary guard across workers: each VM adds the answers of guarded canaries to one window
//! per revision and route in shared data, with compare-and-swap, and reads the halt from there.
//! A new revision has new keys, so it counts afresh; the same revision pushed again stays halted.

use super::host::{self, CAS_MISMATCH, NOT_FOUND};
use super::metrics;
use crate::engine::guard::{self, Window};
use crate::plan::Plan;
use std::cell::Cell;

/// Attempts at one read-modify-write before the answer is dropped: a conflict means another
/// worker wrote in between, so a few retries are plenty.
const CAS_ATTEMPTS: u32 = 8;

/// The guarded routes of one plan, by route number (ascending).
#[derive(Default)]
pub struct Guards {
    routes: Vec<(u32, Guarded)>,
}

struct Guarded {
    /// `switchyard.guard.<revision>.<route>`.
    key: Box<str>,
    /// Learnt halted (it never ends for this plan): no more shared-data reads.
    halted: Cell<bool>,
}

impl Guards {
    pub fn new(plan: &Plan) -> Guards {
        let mut routes = Vec::new();
        for (number, route) in (0u32..).zip(&plan.routes) {
            if route.canary.as_ref().is_some_and(|c| c.guard.is_some()) {
                let mut key = String::from("switchyard.guard.");
                key.push_str(&plan.revision);
                key.push('.');
                key.push_str(&route.name);
                let halted = Cell::new(false);
                let key = key.into();
                routes.push((number, Guarded { key, halted }));
            }
        }
        Guards { routes }
    }

    fn get(&self, route: u32) -> Option<&Guarded> {
        let at = self.routes.binary_search_by_key(&route, |(n, _)| *n).ok()?;
        self.routes.get(at).map(|(_, g)| g)
    }

    /// Whether route number `route`'s canary is halted, on this worker or any other.
    pub fn halted(&self, route: u32) -> bool {
        let Some(g) = self.get(route) else {
            return false;
        };
        if !g.halted.get() {
            let shared = host::get_shared_data(&g.key);
            g.halted
                .set(shared.is_ok_and(|(value, _)| guard::is_halted(&value)));
        }
        g.halted.get()
    }

    /// An answer from route number `route`'s canary: counted in the shared window, halting the
    /// canary when it crosses the guard's threshold. The worker whose write halts it logs the
    /// halt, once per proxy, and sets the route's gauge.
    pub fn answered(&self, plan: &Plan, route: u32, status: u16, now_ms: i64) {
        let (Some(g), Some(r)) = (self.get(route), plan.routes.get(route as usize)) else {
            return;
        };
        let Some(config) = r.canary.as_ref().and_then(|c| c.guard) else {
            return;
        };
        if g.halted.get() {
            return;
        }
        let now_s = u64::try_from(now_ms / 1000).unwrap_or(0);
        for _ in 0..CAS_ATTEMPTS {
            // Absent: the first answer; `cas` 0 writes it whatever another worker wrote meanwhile,
            // which can lose that worker's first answer, never more.
            let (value, cas) = match host::get_shared_data(&g.key) {
                Ok(found) => found,
                Err(NOT_FOUND) => Default::default(),
                Err(_) => return,
            };
            let mut window = Window::decode(&value, &config);
            if window.halted {
                g.halted.set(true);
                return;
            }
            let halts = window.record(&config, now_s, status >= 500);
            match host::set_shared_data(&g.key, &window.encode(), cas) {
                Ok(()) if halts => {
                    g.halted.set(true);
                    let (answers, errors) = window.counts(&config, now_s);
                    log::warn!(
                        "switchyard: guard halted the canary of route {}: {errors} of {answers} answers were 5xx; it stays halted until another revision",
                        r.name
                    );
                    metrics::canary_halted(&r.name, true);
                    return;
                }
                Err(CAS_MISMATCH) => continue,
                _ => return,
            }
        }
    }

    /// Show each guarded route's state in its gauge; the routes of `previous` as not halted.
    pub fn publish(&self, plan: &Plan, (previous, old): (&Guards, &Plan)) {
        for &(route, _) in &previous.routes {
            if let Some(name) = route_name(old, route) {
                metrics::canary_halted(name, false);
            }
        }
        for &(route, _) in &self.routes {
            if let Some(name) = route_name(plan, route) {
                metrics::canary_halted(name, self.halted(route));
            }
        }
    }
}

fn route_name(plan: &Plan, route: u32) -> Option<&str> {
    plan.routes.get(route as usize).map(|r| &*r.name)
}
