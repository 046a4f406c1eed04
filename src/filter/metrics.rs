//! The filter's metrics, as Envoy stats. Labels travel inside the name as `;label=value` pairs
//! (`switchyard_requests_total;route=checkout;target=canary`), which the bootstrap's `stats_tags`
//! in `envoy/` turn into Prometheus labels: route and experiment names may contain dots, so
//! Envoy's usual dot-separated tags would be ambiguous.
//!
//! Envoy hands out a new id, and keeps a new entry, for every definition, even of a name it
//! already has. So each name is defined once per VM and its id remembered for the life of the
//! VM: configuration pushes reuse it, and only names a configuration introduces are new.

use crate::engine::Target;
use fnv::FnvHashMap;
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use std::cell::RefCell;
use std::fmt::Write as _;

thread_local! {
    /// Every metric this VM defined, by full name.
    static DEFINED: RefCell<FnvHashMap<Box<str>, u32>> = RefCell::new(FnvHashMap::default());
}

/// The id of metric `name`, defining it the first time. None when the host refuses.
fn id(kind: MetricType, name: &str) -> Option<u32> {
    DEFINED.with_borrow_mut(|defined| {
        if let Some(&id) = defined.get(name) {
            return Some(id);
        }
        let id = hostcalls::define_metric(kind, name).ok()?;
        defined.insert(name.into(), id);
        Some(id)
    })
}

fn increment(id: Option<u32>) {
    if let Some(id) = id {
        let _ = hostcalls::increment_metric(id, 1);
    }
}

/// One of the per-request metrics of a plan, by route number and label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Requests {
        route: u32,
        target: Target,
    },
    Responses {
        route: u32,
        target: Target,
        class: u8,
    },
    Duration {
        route: u32,
        target: Target,
    },
    Enrolled {
        route: u32,
        experiment: u8,
        variant: u8,
    },
    Shadowed {
        route: u32,
    },
}

/// One plan's per-request metrics, found on first use (a configuration of 10,000 routes defines
/// only the metrics its traffic touches). Counts are kept here and handed to the host by
/// [`flush`](Self::flush) (each second, from the root context's tick) and when the plan's last
/// stream is gone: one host call per series and flush instead of one per request and series.
#[derive(Default)]
pub struct PlanMetrics {
    counters: RefCell<FnvHashMap<Key, Counter>>,
}

/// A counter's id (None when the host refused to define it) and what it has not yet been told.
#[derive(Clone, Copy)]
struct Counter {
    id: Option<u32>,
    pending: u64,
}

impl PlanMetrics {
    /// The id of a metric, defining it the first time.
    fn id(&self, key: Key, name: impl FnOnce() -> (MetricType, String)) -> Option<u32> {
        if let Some(counter) = self.counters.borrow().get(&key) {
            return counter.id;
        }
        let (kind, name) = name();
        let id = id(kind, &name);
        self.counters
            .borrow_mut()
            .insert(key, Counter { id, pending: 0 });
        id
    }

    /// Count one for a counter, defining it the first time: one lookup once it exists.
    fn add(&self, key: Key, name: impl FnOnce() -> String) {
        if let Some(counter) = self.counters.borrow_mut().get_mut(&key) {
            counter.pending = counter
                .pending
                .saturating_add(u64::from(counter.id.is_some()));
            return;
        }
        let id = id(MetricType::Counter, &name());
        let pending = u64::from(id.is_some());
        self.counters
            .borrow_mut()
            .insert(key, Counter { id, pending });
    }

    /// Hand every pending count to the host.
    pub fn flush(&self) {
        for counter in self.counters.borrow_mut().values_mut() {
            if let (Some(id), 1..) = (counter.id, counter.pending) {
                let _ = hostcalls::increment_metric(
                    id,
                    i64::try_from(counter.pending).unwrap_or(i64::MAX),
                );
                counter.pending = 0;
            }
        }
    }

    /// A matched request, counted for its route and target.
    pub fn request(&self, route: u32, route_name: &str, target: Target) {
        self.add(Key::Requests { route, target }, || {
            format!(
                "switchyard_requests_total;route={route_name};target={}",
                target.as_str()
            )
        });
    }

    /// A request enrolled in an experiment's variant.
    pub fn enrolled(
        &self,
        route: u32,
        route_name: &str,
        experiment: (u8, &str),
        variant: (u8, &str),
    ) {
        let key = Key::Enrolled {
            route,
            experiment: experiment.0,
            variant: variant.0,
        };
        self.add(key, || {
            format!(
                "switchyard_enrolled_total;route={route_name};experiment={};variant={}",
                experiment.1, variant.1
            )
        });
    }

    /// A request chosen for mirroring.
    pub fn shadowed(&self, route: u32, route_name: &str) {
        self.add(Key::Shadowed { route }, || {
            format!("switchyard_shadowed_total;route={route_name}")
        });
    }

    /// The response to a matched request: its class (`2xx`…, Envoy's own local replies included)
    /// and the time from request headers to response headers.
    pub fn response(
        &self,
        route: u32,
        route_name: &str,
        target: Target,
        status: u16,
        elapsed_ms: u64,
    ) {
        let class = u8::try_from(status / 100).unwrap_or(0).min(9);
        let key = Key::Responses {
            route,
            target,
            class,
        };
        self.add(key, || {
            let mut name = format!(
                "switchyard_responses_total;route={route_name};target={};class=",
                target.as_str()
            );
            let _ = write!(name, "{class}xx");
            name
        });
        let duration = self.id(Key::Duration { route, target }, || {
            let name = format!(
                "switchyard_request_duration_milliseconds;route={route_name};target={}",
                target.as_str()
            );
            (MetricType::Histogram, name)
        });
        if let Some(id) = duration {
            let _ = hostcalls::record_metric(id, elapsed_ms);
        }
    }
}

thread_local! {
    /// The revision this VM serves. VM-wide, not per root context: Envoy creates a new plugin
    /// (root context) for every ECDS update, in the same VM.
    static ACTIVE_REVISION: RefCell<Option<Box<str>>> = const { RefCell::new(None) };
}

impl Drop for PlanMetrics {
    /// A plan replaced by a push is dropped with its last stream: what it counted still counts.
    fn drop(&mut self) {
        self.flush();
    }
}

/// A configuration applied: counted, and `switchyard_revision_info;revision=…` set to 1 for it
/// and to 0 for the revision it replaces in this VM.
pub fn applied(revision: &str) {
    increment(id(MetricType::Counter, "switchyard_config_applied_total"));
    let info = |revision: &str, value: u64| {
        let name = format!("switchyard_revision_info;revision={revision}");
        if let Some(id) = id(MetricType::Gauge, &name) {
            let _ = hostcalls::record_metric(id, value);
        }
        name
    };
    let previous = ACTIVE_REVISION.replace(Some(revision.into()));
    if let Some(previous) = previous.filter(|p| **p != *revision) {
        // Every push brings a new revision: forget the id of the one replaced, or the map of
        // defined metrics would grow by one entry per push for as long as the VM lives.
        let name = info(&previous, 0);
        DEFINED.with_borrow_mut(|defined| defined.remove(name.as_str()));
    }
    info(revision, 1);
}

/// A configuration rejected.
pub fn rejected() {
    increment(id(MetricType::Counter, "switchyard_config_rejected_total"));
}

/// `switchyard_canary_halted;route=…`: 1 while the route's canary guard has halted the canary.
pub fn canary_halted(route_name: &str, halted: bool) {
    let mut name = String::from("switchyard_canary_halted;route=");
    name.push_str(route_name);
    if let Some(id) = id(MetricType::Gauge, &name) {
        let _ = hostcalls::record_metric(id, u64::from(halted));
    }
}
