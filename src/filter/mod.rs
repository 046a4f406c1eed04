//! The proxy-wasm skin: the only code that knows about Envoy. The root context turns plugin
//! configuration into a plan; each HTTP stream removes spoofable headers, asks the engine, and
//! writes the decision back as headers Envoy routes on (and as filter state for access logs);
//! answers from guarded canaries are counted across workers in `guard`.

mod guard;
mod header_map;
mod host;
mod metrics;
mod ramp;
mod shadow;

use crate::engine::guard::Side;
use crate::engine::{self, Decision, Env, Reason, Target};
use crate::plan::Plan;
use crate::random::Rng;
use crate::request::Request;
use guard::Guards;
use header_map::HeaderMap;
use metrics::PlanMetrics;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use ramp::Canaries;
use std::cell::Cell;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::UNIX_EPOCH;

/// How often counts kept in the VM are handed to the host.
const METRICS_FLUSH_PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

/// Registers the root context; called from `_initialize`.
pub fn start() {
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|id| -> Box<dyn RootContext> { Box::new(Root::new(id)) });
}

/// A plan, the ids of the metrics its traffic has touched, its canary guards and what its
/// canaries' gauges show, replaced together on a push.
struct Active {
    plan: Plan,
    metrics: PlanMetrics,
    guards: Guards,
    canaries: Canaries,
}

impl Active {
    fn new(plan: Plan) -> Rc<Active> {
        Rc::new(Active {
            guards: Guards::new(&plan, now_ms()),
            canaries: Canaries::new(&plan),
            plan,
            metrics: PlanMetrics::default(),
        })
    }

    /// Once a second: counts to the host, guards' counts to shared data, gauges to the clock.
    fn tick(&self) {
        self.metrics.flush();
        let now = now_ms();
        self.guards.flush(&self.plan, now);
        self.canaries.show(&self.plan, &self.guards, now);
        shadow::sweep(now * 1000);
    }
}

struct Root {
    /// This root context's id: it owns the shadow calls it dispatches.
    id: u32,
    active: Rc<Active>,
    /// The revision of the last configuration applied; None while passing requests through.
    applied: Option<Box<str>>,
    /// Seeds each stream's generator; a `Cell` because streams are created through `&self`.
    seeds: Cell<Rng>,
    /// Its `on_done` came while it owned shadow calls in flight: done when they are answered.
    retiring: bool,
}

impl Root {
    fn new(id: u32) -> Root {
        Root {
            id,
            retiring: false,
            active: Active::new(Plan::passthrough()),
            applied: None,
            seeds: Cell::new(Rng::seeded(0)),
        }
    }
}

impl Context for Root {
    /// A shadow comparison's answer: calls are made from here (see `shadow`).
    fn on_http_call_response(&mut self, token: u32, headers: usize, body_size: usize, _: usize) {
        let owns_more = shadow::answered(self.id, token, headers, body_size);
        if self.retiring && !owns_more {
            host::done();
        }
    }

    /// A push retires this root context: it stays until its shadow calls are answered.
    fn on_done(&mut self) -> bool {
        self.retiring = shadow::owns_calls(self.id);
        !self.retiring
    }
}

impl RootContext for Root {
    fn on_vm_start(&mut self, _: usize) -> bool {
        let fallback = hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        self.seeds.set(Rng::from_entropy(fallback));
        true
    }

    /// Counts reach the host once a second, not once a request; so do the guards' counts.
    fn on_tick(&mut self) {
        self.active.tick();
    }

    /// Streams queue the shadow copies they made; this root context sends them.
    fn on_queue_ready(&mut self, _: u32) {
        shadow::dispatch_queued(self.id);
    }

    fn on_configure(&mut self, _: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        match crate::config::load(&bytes) {
            Ok(plan) => {
                log::info!(
                    "switchyard: applied revision {}: {}",
                    crate::config::q(&plan.revision),
                    plan.summary()
                );
                metrics::applied(&plan.revision);
                self.set_tick_period(METRICS_FLUSH_PERIOD);
                if plan
                    .routes
                    .iter()
                    .any(|r| r.shadow.as_ref().is_some_and(|s| s.compare.is_some()))
                {
                    let mut seeds = self.seeds.get();
                    shadow::register_queue(seeds.next_u64());
                    self.seeds.set(seeds);
                }
                self.applied = Some(plan.revision.clone());
                let previous = std::mem::replace(&mut self.active, Active::new(plan));
                let active = &self.active;
                // What a previous plan showed for canaries this one no longer ramps or guards.
                metrics::reset_route_gauges(|route| active.canaries.shows(&active.plan, route));
                active
                    .guards
                    .publish(&active.plan, (&previous.guards, &previous.plan));
                active.canaries.show(&active.plan, &active.guards, now_ms());
                true
            }
            Err(problems) => {
                metrics::rejected();
                for problem in &problems {
                    log::error!("switchyard: {problem}");
                }
                match &self.applied {
                    Some(revision) => log::warn!(
                        "switchyard: configuration rejected with {} problem(s); revision {} keeps serving",
                        problems.len(),
                        crate::config::q(revision)
                    ),
                    // Envoy builds a new plugin for every ECDS update: this one never applied
                    // anything, but the one before it (if any) keeps serving.
                    None => log::warn!(
                        "switchyard: configuration rejected with {} problem(s); the previous configuration, if any, keeps serving",
                        problems.len()
                    ),
                }
                false
            }
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        let mut seeds = self.seeds.get();
        let rng = Rng::seeded(seeds.next_u64());
        self.seeds.set(seeds);
        Some(Box::new(Stream {
            active: Rc::clone(&self.active),
            rng,
            decision_header: None,
            awaited: None,
            compared: None,
        }))
    }
}

struct Stream {
    active: Rc<Active>,
    rng: Rng,
    /// The debug header's value, kept for the response when `debug` is on.
    decision_header: Option<String>,
    /// A matched request whose response is to be seen: by its route's canary guard, or by the
    /// response metrics. Its route, target, guarded side, and when its headers arrived (proxy
    /// clock, µs; only read where a latency is measured).
    awaited: Option<Awaited>,
    /// The shadow comparison this request is in, while it goes on (see `shadow`).
    compared: Option<u32>,
}

#[derive(Clone, Copy)]
struct Awaited {
    route: u32,
    target: Target,
    guarded: Option<Side>,
    started_us: Option<i64>,
}

impl Context for Stream {
    /// The stream is over (Envoy calls this after its access log): a comparison still waiting for
    /// the live answer ends here. Here rather than in `on_log`, so that the module need not export
    /// `proxy_on_log`, and Envoy makes one call into the VM fewer on every stream (see the
    /// Makefile's `WASM_EXPORTS`).
    fn on_done(&mut self) -> bool {
        if let Some(id) = self.compared.take() {
            shadow::stream_ended(id);
        }
        true
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        let active = Rc::clone(&self.active);
        let plan = &active.plan;
        let map = HeaderMap::request();
        let pairs = map.pairs();
        let request = Request::new(&pairs);

        // Envoy re-selects the route after these header changes by itself: it does so for every
        // module of ABI 0.2.1 (the SDK's), so no `clear_route_cache` call is needed.
        plan.each_spoofed(&pairs, host::remove_request_header);
        let mut env = ProxyEnv {
            rng: &mut self.rng,
            guards: &active.guards,
            clock: Clock::default(),
        };
        let decision = engine::decide(plan, &request, &mut env);
        let clock = env.clock;
        if let Some(decision) = &decision {
            decision.write_headers(&plan.headers, |name, value| {
                self.add_http_request_header(name, value);
            });
            // Compared: the filter sends the copy itself (and wrote no shadow header, so that
            // Envoy sends no other).
            if decision.compared() {
                self.compared =
                    shadow::begin(&active, decision.route_number, &pairs, end_of_stream);
            }
            self.count(decision, clock);
        }
        if plan.debug || (plan.telemetry.access_log && decision.is_some()) {
            let described = describe(plan, decision.as_ref());
            // For access logs: `%FILTER_STATE(wasm.switchyard.decision:PLAIN)%`.
            if plan.telemetry.access_log && decision.is_some() {
                host::set_property("switchyard.decision", described.as_bytes());
            }
            if plan.debug {
                self.decision_header = Some(described);
            }
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if let Some(id) = self.compared {
            self.compared = shadow::request_body(id, size, end_of_stream);
        }
        Action::Continue
    }

    fn on_http_request_trailers(&mut self, _: usize) -> Action {
        if let Some(id) = self.compared {
            shadow::request_complete(id);
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        if let Some(value) = self.decision_header.take() {
            self.set_http_response_header(&self.active.plan.headers.decision, Some(&value));
        }
        if let Some(awaited) = self.awaited.take() {
            self.answered(awaited);
        }
        if let Some(id) = self.compared {
            self.compared = shadow::response_headers(id, end_of_stream);
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if let Some(id) = self.compared {
            self.compared = shadow::response_body(id, size, end_of_stream);
        }
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, _: usize) -> Action {
        if let Some(id) = self.compared {
            shadow::response_complete(id);
        }
        Action::Continue
    }
}

impl Stream {
    /// The request's metrics, and what its response will need to be counted. `clock` is the
    /// reading the decision took, if it took one: a latency starts from it.
    fn count(&mut self, decision: &Decision<'_>, mut clock: Clock) {
        let (metrics, route, name) = (
            &self.active.metrics,
            decision.route_number,
            &*decision.route.name,
        );
        metrics.request(route, name, decision.target);
        for (e, experiment, v, variant) in decision.enrolments() {
            metrics.enrolled(route, name, (e, &experiment.name), (v, &variant.name));
        }
        if decision.shadow.is_some() {
            metrics.shadowed(route, name);
        }
        let measured = self.active.plan.telemetry.responses;
        let guard = decision
            .route
            .canary
            .as_ref()
            .and_then(|c| c.guard.as_ref());
        // The base side is measured only to compare latencies with (`latency.max_ratio`).
        let guarded = guard.and_then(|guard| match decision.reason {
            _ if decision.target == Target::Canary => Some(Side::Canary),
            Reason::Base | Reason::Scheduled | Reason::Guard if guard.measures_base() => {
                Some(Side::Base)
            }
            _ => None,
        });
        if measured || guarded.is_some() {
            let timed = measured || guard.is_some_and(|g| g.latency.is_some());
            self.awaited = Some(Awaited {
                route,
                target: decision.target,
                guarded,
                started_us: timed.then(|| clock.now_us()),
            });
        }
    }

    /// The response to an awaited request: its status and latency to the guard and the metrics.
    fn answered(&self, awaited: Awaited) {
        let active = &self.active;
        // Envoy's own local replies (503 when the upstream resets, say) count too. The base side
        // of a guard needs no status.
        let status = if active.plan.telemetry.responses || awaited.guarded == Some(Side::Canary) {
            self.get_http_response_header_bytes(":status")
                .and_then(|s| std::str::from_utf8(&s).ok()?.parse().ok())
                .unwrap_or(0)
        } else {
            0
        };
        let now_us = now_us();
        let elapsed_us = awaited
            .started_us
            .map(|started| u64::try_from(now_us.saturating_sub(started)).unwrap_or(0));
        if let Some(side) = awaited.guarded {
            active.guards.answered(
                &active.plan,
                awaited.route,
                side,
                status,
                elapsed_us,
                now_us / 1000,
            );
        }
        if active.plan.telemetry.responses
            && let (Some(elapsed_us), Some(route)) =
                (elapsed_us, active.plan.routes.get(awaited.route as usize))
        {
            active.metrics.response(
                awaited.route,
                &route.name,
                awaited.target,
                status,
                elapsed_us / 1000,
            );
        }
    }
}

/// The names the filter asks the host to remove from `pairs` ([`Plan::each_spoofed`]), in order. Public only
/// for the fuzz targets (`fuzz/`), which check it against [`Plan::is_spoofable`] for every input
/// header without a proxy; the filter itself never calls it.
#[doc(hidden)]
pub fn spoofable_removed(plan: &Plan, pairs: &[(&[u8], &[u8])]) -> Vec<Vec<u8>> {
    let mut names = Vec::new();
    plan.each_spoofed(pairs, |name| names.push(name.to_vec()));
    names
}

/// `route=checkout;target=canary;cluster=checkout-v2;shadow=0;exp.ranker=treatment;rev=r42;reason=sticky`:
/// the contract's fields, then why.
fn describe(plan: &Plan, decision: Option<&Decision<'_>>) -> String {
    let mut out = String::with_capacity(128);
    if let Some(d) = decision {
        let shadow = if d.shadow.is_some() { "1" } else { "0" };
        out.extend(["route=", &d.route.name, ";target=", d.target.as_str()]);
        out.extend([";cluster=", d.cluster, ";shadow=", shadow, ";"]);
        for (experiment, variant) in d.cohorts() {
            out.extend(["exp.", &experiment.name, "=", &variant.name, ";"]);
        }
        out.extend(["rev=", &plan.revision, ";reason=", d.reason.as_str()]);
    } else {
        out.extend(["route=;rev=", &plan.revision]);
    }
    out
}

struct ProxyEnv<'a> {
    rng: &'a mut Rng,
    guards: &'a Guards,
    clock: Clock,
}

/// The proxy clock read at most once per callback: a host call costs about a microsecond in
/// Envoy's V8, and a ramp, a `switch_at` and a latency's start all want the same instant.
#[derive(Default, Clone, Copy)]
struct Clock {
    read_us: Option<i64>,
}

impl Clock {
    fn now_us(&mut self) -> i64 {
        *self.read_us.get_or_insert_with(now_us)
    }
}

/// Microseconds since the Unix epoch on the proxy clock.
fn now_us() -> i64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Milliseconds since the Unix epoch on the proxy clock.
fn now_ms() -> i64 {
    now_us() / 1000
}

impl Env for ProxyEnv<'_> {
    fn now_ms(&mut self) -> i64 {
        self.clock.now_us() / 1000
    }

    fn source_ip(&mut self) -> Option<IpAddr> {
        let address = hostcalls::get_property(vec!["source", "address"]).ok()??;
        crate::cidr::parse_socket_ip(&address)
    }

    fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    fn canary_halted(&mut self, route: u32) -> bool {
        self.guards.halted(route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Env;

    struct Fixed;
    impl Env for Fixed {
        fn now_ms(&mut self) -> i64 {
            0
        }
        fn source_ip(&mut self) -> Option<IpAddr> {
            None
        }
        fn random(&mut self) -> u64 {
            0
        }
    }

    fn removed(plan: &Plan, headers: &[(&[u8], &[u8])]) -> Vec<String> {
        let mut names = Vec::new();
        plan.each_spoofed(headers, |name| {
            names.push(String::from_utf8_lossy(name).into_owned())
        });
        names
    }

    #[test]
    fn every_routing_header_a_client_sends_is_removed_once_whatever_its_case() {
        let plan =
            crate::config::load(br#"{"routes": [], "headers": {"cohort_prefix": "x-cohort-"}}"#)
                .unwrap();
        let headers: &[(&[u8], &[u8])] = &[
            (b":authority", b"a"),
            (b"x-switchyard-cluster", b"evil"),
            (b"X-Switchyard-Cluster", b"evil-again"),
            (b"x-switchyard-target", b"canary"),
            (b"x-switchyard-shadow", b"evil-shadow"),
            (b"x-cohort-ranker", b"treatment"),
            (b"x-switchyard-token", b"guess"),
            (b"x-switchyard-exp-ranker", b"not ours any more"),
            (b"x-switchyard-decision", b"harmless"),
        ];
        assert_eq!(
            removed(&plan, headers),
            [
                "x-switchyard-cluster",
                "x-switchyard-target",
                "x-switchyard-shadow",
                "x-cohort-ranker",
                "x-switchyard-token"
            ]
        );
    }

    #[test]
    fn long_routing_header_names_are_removed_too() {
        let long = "x-".repeat(60);
        let config = format!(
            r#"{{"routes": [], "headers": {{"cluster": "{long}c", "cohort_prefix": "{long}{long}"}}}}"#
        );
        let plan = crate::config::load(config.as_bytes()).unwrap();
        let name = format!("{long}C");
        let headers: &[(&[u8], &[u8])] =
            &[(name.as_bytes(), b"evil"), (b"x-switchyard-target", b"x")];
        assert_eq!(
            removed(&plan, headers),
            [name, "x-switchyard-target".to_string()]
        );
    }

    #[test]
    fn a_cohort_header_whose_name_is_not_utf8_is_removed_too() {
        let headers: &[(&[u8], &[u8])] = &[(b"x-switchyard-exp-\xff", b"treatment")];
        assert_eq!(
            removed(&Plan::passthrough(), headers),
            ["x-switchyard-exp-\u{fffd}"]
        );
    }

    #[test]
    fn a_filter_without_configuration_still_removes_the_default_routing_headers() {
        let headers: &[(&[u8], &[u8])] = &[
            (b"x-switchyard-cluster", b"evil"),
            (b"x-switchyard-exp-a", b"b"),
        ];
        assert_eq!(
            removed(&Plan::passthrough(), headers),
            ["x-switchyard-cluster", "x-switchyard-exp-a"]
        );
        assert!(
            removed(
                &Plan::passthrough(),
                &[(b"cookie", b"x-switchyard-cluster=1")]
            )
            .is_empty()
        );
    }

    #[test]
    fn the_decision_header_reads_as_the_contract_shows() {
        let plan = crate::config::load(
            br#"{"revision": "r42", "routes": [{"name": "checkout", "stable": "checkout-v1",
                "canary": {"cluster": "checkout-v2", "weight": 100},
                "experiments": [{"name": "ranker", "key": ["header:x-user"],
                    "variants": [{"name": "treatment", "weight": 1}, {"name": "control", "weight": 0}]}]}]}"#,
        )
        .unwrap();
        let headers: &[(&[u8], &[u8])] = &[(b":path", b"/"), (b"x-user", b"u1")];
        let decision = engine::decide(&plan, &Request::new(headers), &mut Fixed);
        assert_eq!(
            describe(&plan, decision.as_ref()),
            "route=checkout;target=canary;cluster=checkout-v2;shadow=0;exp.ranker=treatment;rev=r42;reason=random"
        );
        assert_eq!(describe(&plan, None), "route=;rev=r42");
    }
}
