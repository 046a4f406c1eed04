//! The filter's metrics, as Envoy stats. Labels travel inside the name as `;label=value` pairs
//! (`switchyard_requests_total;route=checkout;target=canary`), which the bootstrap's `stats_tags`
//! in `envoy/` turn into Prometheus labels: route and experiment names may contain dots, so
//! Envoy's usual dot-separated tags would be ambiguous.
//!
//! Envoy hands out a new id, and keeps a new entry, for every definition, even of a name it
//! already has. So each name is defined once per VM and its id remembered for the life of the
//! VM: configuration pushes reuse it, and only names a configuration introduces are new.

use crate::engine::Target;
use crate::plan::MAX_VARIANTS;
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use std::cell::RefCell;

thread_local! {
    /// Every metric this VM defined, by full name, sorted. Looked up only when a plan meets a
    /// series for the first time, so a sorted list does (and is smaller than a hash map).
    static DEFINED: RefCell<Vec<(Box<str>, u32)>> = const { RefCell::new(Vec::new()) };
}

/// The id of metric `name`, defining it the first time. None when the host refuses.
fn id(kind: MetricType, name: &str) -> Option<u32> {
    DEFINED.with_borrow_mut(
        |defined| match defined.binary_search_by(|(n, _)| (**n).cmp(name)) {
            Ok(at) => defined.get(at).map(|&(_, id)| id),
            Err(at) => {
                let id = hostcalls::define_metric(kind, name).ok()?;
                defined.insert(at, (name.into(), id));
                Some(id)
            }
        },
    )
}

fn increment(id: Option<u32>) {
    if let Some(id) = id {
        let _ = hostcalls::increment_metric(id, 1);
    }
}

/// Targets (`Target as usize`) and status classes (`0xx`…`9xx`) a route's series are kept for.
const TARGETS: usize = 4;
const CLASSES: usize = 10;

/// One plan's per-request metrics, kept by route number and found on first use (a configuration
/// of 10,000 routes defines only the metrics its traffic touches). Counts are kept here and handed
/// to the host by [`flush`](Self::flush) (each second, from the root context's tick) and when the
/// plan's last stream is gone: one host call per series and flush instead of one per request and
/// series.
#[derive(Default)]
pub struct PlanMetrics {
    routes: RefCell<Vec<Option<Box<RouteMetrics>>>>,
}

#[derive(Default)]
struct RouteMetrics {
    requests: [Counter; TARGETS],
    shadowed: Counter,
    /// By `experiment * MAX_VARIANTS + variant`, grown on first use.
    enrolled: Vec<Counter>,
    /// With `telemetry.responses` only.
    responses: Option<Box<[[Counter; CLASSES]; TARGETS]>>,
    durations: [Metric; TARGETS],
}

/// A metric as this plan knows it: not defined yet, refused by the host, or its id.
#[derive(Default, Clone, Copy)]
enum Metric {
    #[default]
    Undefined,
    Refused,
    Id(u32),
}

impl Metric {
    fn id(&mut self, kind: MetricType, name: impl FnOnce() -> String) -> Option<u32> {
        if let Metric::Undefined = self {
            *self = id(kind, &name()).map_or(Metric::Refused, Metric::Id);
        }
        match *self {
            Metric::Id(id) => Some(id),
            _ => None,
        }
    }
}

/// A counter and what the host has not been told yet.
#[derive(Default, Clone, Copy)]
struct Counter {
    metric: Metric,
    pending: u64,
}

impl Counter {
    fn add(&mut self, name: impl FnOnce() -> String) {
        if self.metric.id(MetricType::Counter, name).is_some() {
            self.pending = self.pending.saturating_add(1);
        }
    }

    fn flush(&mut self) {
        if let (Metric::Id(id), 1..) = (self.metric, self.pending) {
            let _ =
                hostcalls::increment_metric(id, i64::try_from(self.pending).unwrap_or(i64::MAX));
            self.pending = 0;
        }
    }
}

impl PlanMetrics {
    /// Run `f` on route number `route`'s metrics, made on first use.
    fn route(&self, route: u32, f: impl FnOnce(&mut RouteMetrics)) {
        let mut routes = self.routes.borrow_mut();
        let at = route as usize;
        if routes.len() <= at {
            routes.resize_with(at + 1, || None);
        }
        if let Some(slot) = routes.get_mut(at) {
            f(slot.get_or_insert_with(Box::default));
        }
    }

    /// Hand every pending count to the host.
    pub fn flush(&self) {
        for route in self.routes.borrow_mut().iter_mut().flatten() {
            let responses = route
                .responses
                .iter_mut()
                .flat_map(|r| r.iter_mut().flatten());
            let counters = route.requests.iter_mut().chain([&mut route.shadowed]);
            for counter in counters.chain(&mut route.enrolled).chain(responses) {
                counter.flush();
            }
        }
    }

    /// A matched request, counted for its route and target.
    pub fn request(&self, route: u32, route_name: &str, target: Target) {
        self.route(route, |m| {
            if let Some(counter) = m.requests.get_mut(target as usize) {
                counter.add(|| {
                    [
                        "switchyard_requests_total;route=",
                        route_name,
                        ";target=",
                        target.as_str(),
                    ]
                    .concat()
                });
            }
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
        let at = usize::from(experiment.0) * MAX_VARIANTS + usize::from(variant.0);
        self.route(route, |m| {
            if m.enrolled.len() <= at {
                m.enrolled.resize_with(at + 1, Counter::default);
            }
            if let Some(counter) = m.enrolled.get_mut(at) {
                counter.add(|| {
                    let (e, v) = (experiment.1, variant.1);
                    [
                        "switchyard_enrolled_total;route=",
                        route_name,
                        ";experiment=",
                        e,
                        ";variant=",
                        v,
                    ]
                    .concat()
                });
            }
        });
    }

    /// A request chosen for mirroring.
    pub fn shadowed(&self, route: u32, route_name: &str) {
        self.route(route, |m| {
            m.shadowed
                .add(|| ["switchyard_shadowed_total;route=", route_name].concat());
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
        let class = usize::from(status / 100).min(CLASSES - 1);
        let series =
            |name: &str| [name, ";route=", route_name, ";target=", target.as_str()].concat();
        self.route(route, |m| {
            let responses = m.responses.get_or_insert_with(Box::default);
            if let Some(counter) = responses
                .get_mut(target as usize)
                .and_then(|by_class| by_class.get_mut(class))
            {
                counter.add(|| {
                    let digit = [b'0' + class as u8];
                    let class = std::str::from_utf8(&digit).unwrap_or("0");
                    [
                        &series("switchyard_responses_total"),
                        ";class=",
                        class,
                        "xx",
                    ]
                    .concat()
                });
            }
            let duration = m.durations.get_mut(target as usize).and_then(|d| {
                d.id(MetricType::Histogram, || {
                    series("switchyard_request_duration_milliseconds")
                })
            });
            if let Some(id) = duration {
                let _ = hostcalls::record_metric(id, elapsed_ms);
            }
        });
    }
}

impl Drop for PlanMetrics {
    /// A plan replaced by a push is dropped with its last stream: what it counted still counts.
    fn drop(&mut self) {
        self.flush();
    }
}

thread_local! {
    /// The revision this VM serves. VM-wide, not per root context: Envoy creates a new plugin
    /// (root context) for every ECDS update, in the same VM.
    static ACTIVE_REVISION: RefCell<Option<Box<str>>> = const { RefCell::new(None) };
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
        DEFINED.with_borrow_mut(|defined| {
            if let Ok(at) = defined.binary_search_by(|(n, _)| (**n).cmp(name.as_str())) {
                defined.remove(at);
            }
        });
    }
    info(revision, 1);
}

/// The counter `name` (labels included) incremented at once: for what happens far less often
/// than requests, such as a comparison's result.
pub fn add(name: &str) {
    increment(id(MetricType::Counter, name));
}

/// A value recorded in the histogram `name` (labels included).
pub fn record(name: &str, value: u64) {
    if let Some(id) = id(MetricType::Histogram, name) {
        let _ = hostcalls::record_metric(id, value);
    }
}

/// A configuration rejected.
pub fn rejected() {
    increment(id(MetricType::Counter, "switchyard_config_rejected_total"));
}

/// `switchyard_canary_halted;route=…`: 1 while the route's canary guard has halted the canary.
pub fn canary_halted(route_name: &str, halted: bool) {
    gauge("switchyard_canary_halted", route_name, u64::from(halted));
}

thread_local! {
    /// The routes whose canary gauges this VM set to something other than 0: Envoy builds a new
    /// root context for each push, so the VM, not a plan, remembers what a later plan must set
    /// back to 0.
    static SHOWN: RefCell<Vec<Box<str>>> = const { RefCell::new(Vec::new()) };
}

/// The canary gauges of a route, all set by `gauge`.
const CANARY_GAUGES: [&str; 3] = [
    "switchyard_canary_weight",
    "switchyard_canary_step",
    "switchyard_canary_halted",
];

/// Set back to 0 the canary gauges of every route whose ramp or guard is gone (`kept` says
/// which remain): a stale 1 in `switchyard_canary_halted` would say a canary is halted forever.
pub fn reset_route_gauges(kept: impl Fn(&str) -> bool) {
    let mut stale = Vec::new();
    SHOWN.with_borrow_mut(|routes| {
        routes.retain(|route| {
            kept(route) || {
                stale.push(route.clone());
                false
            }
        })
    });
    for route in &stale {
        for name in CANARY_GAUGES {
            gauge(name, route, 0);
        }
    }
}

/// The gauge `<name>;route=<route>` set to `value`.
pub fn gauge(name: &str, route_name: &str, value: u64) {
    if value != 0 {
        SHOWN.with_borrow_mut(|routes| {
            if !routes.iter().any(|r| **r == *route_name) {
                routes.push(route_name.into());
            }
        });
    }
    if let Some(id) = id(MetricType::Gauge, &[name, ";route=", route_name].concat()) {
        let _ = hostcalls::record_metric(id, value);
    }
}
