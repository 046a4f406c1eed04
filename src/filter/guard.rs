//! The canary guards across workers. Each VM counts the answers of its guarded canaries (and,
//! where the latency guard compares with it, of their base clusters) in memory, and once a second
//! adds them to its route's window in shared data with compare-and-swap, judges the window, and
//! learns from it whether another worker has halted the canary. Answering costs no host call.
//!
//! The key is the route's, `switchyard.guard.<route>`, and the value names the revision it counts
//! for and when it was applied: another revision reuses the key and counts afresh, so shared data
//! stays as large as the guarded routes, whatever the number of pushes, while a worker that a push
//! has not reached yet leaves the newer revision's window alone. The same revision pushed again
//! stays halted.

use super::host::{self, CAS_MISMATCH, NOT_FOUND};
use super::metrics;
use crate::engine::guard::{Owner, Side, Window};
use crate::plan::{Base, Plan};
use std::cell::{Cell, RefCell};

/// Attempts at one read-modify-write before the counts are dropped: a conflict means another
/// worker wrote in between, so a few retries are plenty.
const CAS_ATTEMPTS: u32 = 8;

/// The guarded routes of one plan, by route number (ascending).
#[derive(Default)]
pub struct Guards {
    routes: Vec<(u32, Guarded)>,
    /// When this worker applied the plan (proxy clock, ms): orders revisions in shared data.
    applied_ms: i64,
}

struct Guarded {
    /// `switchyard.guard.<route>`.
    key: Box<str>,
    /// Learnt halted (it never ends for this plan): nothing more is counted or read.
    halted: Cell<bool>,
    /// This worker's answers since its last hand-over.
    pending: RefCell<Window>,
}

impl Guards {
    pub fn new(plan: &Plan, applied_ms: i64) -> Guards {
        let mut routes = Vec::new();
        for (number, route) in (0u32..).zip(&plan.routes) {
            if route.canary.as_ref().is_some_and(|c| c.guard.is_some()) {
                let key = ["switchyard.guard.", &route.name].concat().into();
                let guarded = Guarded {
                    key,
                    halted: Cell::new(false),
                    pending: RefCell::default(),
                };
                routes.push((number, guarded));
            }
        }
        Guards { routes, applied_ms }
    }

    fn get(&self, route: u32) -> Option<&Guarded> {
        let at = self.routes.binary_search_by_key(&route, |(n, _)| *n).ok()?;
        self.routes.get(at).map(|(_, g)| g)
    }

    /// Whether route number `route`'s canary is halted, as this worker last learnt.
    pub fn halted(&self, route: u32) -> bool {
        self.get(route).is_some_and(|g| g.halted.get())
    }

    /// An answer on route number `route`: from its canary, or from its base cluster. Counted
    /// here; shared at the next [`flush`](Self::flush).
    pub fn answered(
        &self,
        plan: &Plan,
        route: u32,
        side: Side,
        status: u16,
        latency_us: Option<u64>,
        now_ms: i64,
    ) {
        let (Some(g), Some(guard)) = (self.get(route), guard_of(plan, route)) else {
            return;
        };
        if g.halted.get() {
            return;
        }
        let latency = guard.latency.and(latency_us);
        g.pending
            .borrow_mut()
            .record(&guard, seconds(now_ms), side, status >= 500, latency);
    }

    /// Hand every route's counts to shared data, judge each window, and learn halts made by
    /// other workers. The worker whose write halts a canary logs it, once per proxy.
    pub fn flush(&self, plan: &Plan, now_ms: i64) {
        for &(route, ref g) in &self.routes {
            if g.halted.get() {
                continue;
            }
            let pending = g.pending.take();
            let (Some(guard), Some(r)) = (guard_of(plan, route), plan.routes.get(route as usize))
            else {
                continue;
            };
            let now_s = seconds(now_ms);
            for _ in 0..CAS_ATTEMPTS {
                // Absent: the first hand-over; `cas` 0 writes it whatever another worker wrote
                // meanwhile, which can lose that worker's first second of counts, never more.
                let (value, cas) = match host::get_shared_data(&g.key) {
                    Ok(found) => found,
                    Err(NOT_FOUND) => Default::default(),
                    Err(_) => break,
                };
                let (mut window, owner) = Window::decode(&value, &plan.revision, self.applied_ms);
                // A push this worker has not seen yet: its counts belong to a revision that is
                // going away.
                if owner == Owner::Newer {
                    break;
                }
                if window.halted {
                    g.halted.set(true);
                    metrics::canary_halted(&r.name, true);
                    break;
                }
                if pending.is_empty() {
                    break;
                }
                window.merge(&guard, &pending, now_s);
                let halt = window.verdict(&guard, now_s);
                window.halted = halt.is_some();
                let value = window.encode(&plan.revision, self.applied_ms);
                match host::set_shared_data(&g.key, &value, cas) {
                    Ok(()) => {
                        if let Some(halt) = halt {
                            g.halted.set(true);
                            let base = match r.base {
                                Base::Stable(_) => "stable",
                                Base::BlueGreen(_) => "the active colour",
                            };
                            log::warn!(
                                "switchyard: guard halted the canary of route {}: {}; it stays halted until another revision",
                                r.name,
                                halt.describe(base)
                            );
                            metrics::canary_halted(&r.name, true);
                        }
                        break;
                    }
                    Err(CAS_MISMATCH) => continue,
                    Err(_) => break,
                }
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
        for &(route, ref g) in &self.routes {
            // The same revision pushed again finds its halt in shared data.
            let value = host::get_shared_data(&g.key).map(|(v, _)| v);
            let halted = value.is_ok_and(|v| {
                let (window, owner) = Window::decode(&v, &plan.revision, self.applied_ms);
                owner == Owner::Ours && window.halted
            });
            g.halted.set(halted);
            if let Some(name) = route_name(plan, route) {
                metrics::canary_halted(name, halted);
            }
        }
    }
}

fn guard_of(plan: &Plan, route: u32) -> Option<crate::plan::Guard> {
    plan.routes.get(route as usize)?.canary.as_ref()?.guard
}

fn route_name(plan: &Plan, route: u32) -> Option<&str> {
    plan.routes.get(route as usize).map(|r| &*r.name)
}

fn seconds(now_ms: i64) -> u64 {
    u64::try_from(now_ms / 1000).unwrap_or(0)
}
