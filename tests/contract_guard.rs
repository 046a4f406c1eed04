//! The canary guard in the contract: every field of `canary.guard` refused with the exact
//! `path: message` line an operator reads, what a valid guard compiles to, and how a halted
//! guard changes the engine's decision.

mod common;

use common::{TestEnv, decide, load, one_route, problems};
use serde_json::{Value, json};
use std::net::IpAddr;
use switchyard::engine::{self, Env};
use switchyard::plan::Guard;
use switchyard::request::Request;

fn guarded(guard: Value) -> Value {
    one_route(json!({
        "name": "checkout",
        "stable": "checkout-v1",
        "canary": { "cluster": "checkout-v2", "weight": 100, "guard": guard }
    }))
}

const AT: &str = "routes[0].canary.guard";

#[test]
fn every_guard_field_is_required() {
    assert_eq!(
        problems(&guarded(json!({}))),
        [
            format!("{AT}.max_error_rate: required"),
            format!("{AT}.min_requests: required"),
            format!("{AT}.window_s: required"),
        ]
    );
}

#[test]
fn out_of_range_guard_values_are_refused_at_their_paths() {
    let found = problems(&guarded(
        json!({ "max_error_rate": 1.5, "min_requests": 0, "window_s": 3601 }),
    ));
    assert_eq!(
        found,
        [
            format!("{AT}.max_error_rate: must be within 0..=1, got 1.5"),
            format!("{AT}.min_requests: must be at least 1, got 0"),
            format!("{AT}.window_s: must be within 1..=3600, got 3601"),
        ]
    );
    assert_eq!(
        problems(&guarded(
            json!({ "max_error_rate": -0.1, "min_requests": 1, "window_s": 0 })
        )),
        [
            format!("{AT}.max_error_rate: must be within 0..=1, got -0.1"),
            format!("{AT}.window_s: must be within 1..=3600, got 0"),
        ]
    );
}

#[test]
fn counts_and_seconds_must_be_whole_numbers() {
    let found = problems(&guarded(
        json!({ "max_error_rate": "0.2", "min_requests": 2.5, "window_s": -10 }),
    ));
    assert_eq!(
        found,
        [
            format!("{AT}.max_error_rate: invalid type: string \"0.2\", expected a number"),
            format!(
                "{AT}.min_requests: invalid type: number `2.5`, expected an integer from 0 to 4294967295"
            ),
            format!(
                "{AT}.window_s: invalid type: number `-10`, expected an integer from 0 to 4294967295"
            ),
        ]
    );
}

#[test]
fn an_unknown_guard_field_is_refused() {
    let found = problems(&guarded(json!({
        "max_error_rate": 0.2, "min_requests": 40, "window_s": 10, "window": 10
    })));
    assert_eq!(
        found,
        [format!(
            "{AT}.window: unknown field `window`, expected one of `max_error_rate`, `min_requests`, `window_s`"
        )]
    );
}

fn compiled(window_s: u32) -> Guard {
    let plan = load(&guarded(
        json!({ "max_error_rate": 0.2, "min_requests": 40, "window_s": window_s }),
    ));
    plan.routes[0].canary.as_ref().unwrap().guard.unwrap()
}

#[test]
fn a_guard_compiles_to_at_most_sixty_buckets_that_never_outlast_the_window() {
    assert_eq!(
        compiled(10),
        Guard {
            max_errors_ppm: 200_000,
            min_requests: 40,
            bucket_s: 1,
            buckets: 10
        }
    );
    for window_s in [1, 59, 60, 61, 119, 120, 599, 3599, 3600] {
        let g = compiled(window_s);
        assert!(g.buckets >= 1 && g.buckets <= 60, "{window_s}: {g:?}");
        assert!(g.buckets * g.bucket_s <= window_s, "{window_s}: {g:?}");
        assert!(
            (g.buckets + 1) * g.bucket_s > window_s,
            "{window_s}: as long a window as the buckets allow, {g:?}"
        );
    }
    assert_eq!((compiled(3600).bucket_s, compiled(3600).buckets), (60, 60));
}

#[test]
fn a_route_without_a_guard_compiles_without_one() {
    let plan = load(&one_route(json!({
        "name": "checkout", "stable": "checkout-v1",
        "canary": { "cluster": "checkout-v2", "weight": 100 }
    })));
    assert_eq!(plan.routes[0].canary.as_ref().unwrap().guard, None);
}

/// An `Env` whose guards are all halted, counting how often it is asked.
struct Halted {
    inner: TestEnv,
    asked: Vec<u32>,
}

impl Env for Halted {
    fn now_ms(&mut self) -> i64 {
        self.inner.now_ms()
    }
    fn source_ip(&mut self) -> Option<IpAddr> {
        self.inner.source_ip()
    }
    fn random(&mut self) -> u64 {
        self.inner.random()
    }
    fn canary_halted(&mut self, route: u32) -> bool {
        self.asked.push(route);
        true
    }
}

fn decide_halted(config: &Value, headers: &[(&str, &str)]) -> (String, &'static str, Vec<u32>) {
    let plan = load(config);
    let pairs: Vec<(&[u8], &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    let mut env = Halted {
        inner: TestEnv::seeded(7),
        asked: Vec::new(),
    };
    let d = engine::decide(&plan, &Request::new(&pairs), &mut env).unwrap();
    (d.cluster.to_string(), d.reason.as_str(), env.asked)
}

#[test]
fn a_halted_guard_sends_what_would_go_to_the_canary_to_the_base_with_reason_guard() {
    let config = one_route(json!({
        "name": "checkout", "stable": "checkout-v1",
        "canary": { "cluster": "checkout-v2", "weight": 100, "sticky": ["header:x-user"],
                    "force": { "header": "x-canary" },
                    "guard": { "max_error_rate": 0.2, "min_requests": 40, "window_s": 10 } }
    }));
    let mut config = config;
    config["overrides"] = json!({ "from": "anyone" });
    for headers in [
        &[(":path", "/")][..],
        &[(":path", "/"), ("x-user", "u1")],
        &[(":path", "/"), ("x-canary", "always")],
    ] {
        assert_eq!(
            decide_halted(&config, headers),
            ("checkout-v1".into(), "guard", vec![0]),
            "{headers:?}"
        );
    }
    assert_eq!(
        decide_halted(&config, &[(":path", "/"), ("x-canary", "never")]),
        ("checkout-v1".into(), "base", vec![]),
        "a request that would not go to the canary is not the guard's doing, and not asked about"
    );
}

#[test]
fn an_unguarded_canary_never_asks_about_a_halt() {
    let config = one_route(json!({
        "name": "checkout", "stable": "checkout-v1",
        "canary": { "cluster": "checkout-v2", "weight": 100 }
    }));
    assert_eq!(
        decide_halted(&config, &[(":path", "/")]),
        ("checkout-v2".into(), "random", vec![])
    );
    let plan = load(&config);
    let outcome = decide(&plan, &[(":path", "/")], &mut TestEnv::seeded(1)).unwrap();
    assert_eq!(outcome.cluster, "checkout-v2");
}
