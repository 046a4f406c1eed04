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
fn a_guard_needs_its_window_and_at_least_one_of_error_rate_and_latency() {
    assert_eq!(
        problems(&guarded(json!({}))),
        [
            format!("{AT}: give max_error_rate, latency, or both"),
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
            "{AT}.window: unknown field `window`, expected one of `max_error_rate`, `min_requests`, `window_s`, `latency`"
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
            max_errors_ppm: Some(200_000),
            min_requests: 40,
            bucket_s: 1,
            buckets: 10,
            latency: None,
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

// ---- v1.1: `canary.ramp` ----

/// A sticky canary on `cookie:uid` with `ramp`.
fn ramped(ramp: Value) -> Value {
    one_route(json!({
        "name": "ranker",
        "stable": "ranker-v1",
        "canary": { "cluster": "ranker-v2", "sticky": ["cookie:uid"], "ramp": ramp }
    }))
}

const START: &str = "2026-12-10T09:00:00Z";
/// `START` in Unix milliseconds.
const START_MS: i64 = 1_796_893_200_000;
const RAMP_AT: &str = "routes[0].canary.ramp";

/// 1 % for 300 s, 10 % for 900 s, 50 % for 1,800 s, then 100 %.
fn four_steps() -> Value {
    json!({
        "start_at": START,
        "steps": [{ "weight": 1, "hold_s": 300 }, { "weight": 10, "hold_s": 900 },
                  { "weight": 50, "hold_s": 1800 }, { "weight": 100 }]
    })
}

fn ramp_of(plan: &switchyard::plan::Plan) -> &switchyard::plan::Ramp {
    match &plan.routes[0].canary.as_ref().unwrap().weight {
        switchyard::plan::Weight::Ramp(ramp) => ramp,
        other => panic!("not a ramp: {other:?}"),
    }
}

#[test]
fn each_step_begins_at_the_sum_of_the_earlier_holds() {
    let plan = load(&ramped(four_steps()));
    let ramp = ramp_of(&plan);
    assert_eq!(ramp.start_ms, START_MS);
    let at = |offset_s: i64| {
        let now = switchyard::engine::canary::in_force(ramp, START_MS + offset_s * 1000);
        (now.step, now.weight)
    };
    let ms = |offset_ms: i64| {
        let now = switchyard::engine::canary::in_force(ramp, START_MS + offset_ms);
        (now.step, now.weight)
    };
    assert_eq!(ms(-1), (0, 0), "before start_at: no traffic");
    assert_eq!(at(-86_400), (0, 0));
    assert_eq!(ms(0), (1, 100), "the first step begins at start_at exactly");
    assert_eq!(ms(299_999), (1, 100));
    assert_eq!(ms(300_000), (2, 1_000), "step 2 at start + 300 s");
    assert_eq!(ms(1_199_999), (2, 1_000));
    assert_eq!(ms(1_200_000), (3, 5_000), "step 3 at start + 300 + 900 s");
    assert_eq!(ms(2_999_999), (3, 5_000));
    assert_eq!(
        ms(3_000_000),
        (4, 10_000),
        "the last step at start + 3,000 s"
    );
    assert_eq!(at(10 * 365 * 86_400), (4, 10_000), "and it stays");
    assert_eq!(
        switchyard::engine::canary::in_force(ramp, i64::MIN).step,
        0,
        "a clock far in the past neither panics nor starts the ramp"
    );
}

#[test]
fn a_start_in_the_past_lands_mid_ramp_and_membership_is_bucket_under_weight() {
    let plan = load(&ramped(four_steps()));
    let users: Vec<String> = (0..2_000).map(|i| format!("user-{i}")).collect();
    let mut before: Vec<bool> = vec![false; users.len()];
    for (offset_s, weight) in [
        (-1, 0),
        (0, 100),
        (300, 1_000),
        (1_200, 5_000),
        (3_000, 10_000),
    ] {
        // A proxy that starts (or receives the push) at this instant decides the same as one that
        // ran through the earlier steps: nothing but the clock says where the ramp is.
        let mut env = TestEnv::at(START_MS + offset_s * 1000);
        for (i, uid) in users.iter().enumerate() {
            let cookie = format!("uid={uid}");
            let outcome = decide(&plan, &[(":path", "/"), ("cookie", &cookie)], &mut env).unwrap();
            let bucket = switchyard::hash::bucket_v2_basis_points("ranker", uid.as_bytes());
            let in_canary = outcome.target == "canary";
            assert_eq!(in_canary, bucket < weight, "{uid} at +{offset_s} s");
            assert!(
                !before[i] || in_canary,
                "{uid} moved back to stable at +{offset_s} s"
            );
            before[i] = in_canary;
        }
    }
}

#[test]
fn before_the_start_testers_can_still_force_the_canary() {
    let config = one_route(json!({
        "name": "ranker", "stable": "ranker-v1",
        "canary": { "cluster": "ranker-v2", "ramp": four_steps(), "force": { "header": "x-canary" } }
    }));
    let mut config = config;
    config["overrides"] = json!({ "from": "anyone" });
    let plan = load(&config);
    let mut env = TestEnv::at(START_MS - 60_000);
    let forced = decide(&plan, &[(":path", "/"), ("x-canary", "always")], &mut env).unwrap();
    assert_eq!((forced.target, forced.reason), ("canary", "forced"));
    let plain = decide(&plan, &[(":path", "/")], &mut env).unwrap();
    assert_eq!((plain.target, plain.reason), ("stable", "base"));
}

#[test]
fn weight_and_ramp_are_exclusive_and_one_is_required() {
    let both = one_route(json!({
        "name": "ranker", "stable": "ranker-v1",
        "canary": { "cluster": "ranker-v2", "weight": 5, "ramp": four_steps() }
    }));
    assert_eq!(
        problems(&both),
        ["routes[0].canary: give either weight or ramp, not both"]
    );
    let neither = one_route(json!({
        "name": "ranker", "stable": "ranker-v1", "canary": { "cluster": "ranker-v2" }
    }));
    assert_eq!(problems(&neither), ["routes[0].canary.weight: required"]);
}

#[test]
fn every_ramp_problem_is_reported_at_its_path() {
    assert_eq!(
        problems(&ramped(json!({}))),
        [
            format!("{RAMP_AT}.start_at: required"),
            format!("{RAMP_AT}.steps: required"),
        ]
    );
    assert_eq!(
        problems(&ramped(json!({ "start_at": "tomorrow", "steps": [] }))),
        [
            format!(
                "{RAMP_AT}.start_at: expected an RFC 3339 timestamp like 2026-12-01T10:00:00Z, got \"tomorrow\""
            ),
            format!("{RAMP_AT}.steps: give 1 to 32 steps, got 0"),
        ]
    );
    let steps: Vec<Value> = (0..33)
        .map(|_| json!({ "weight": 1, "hold_s": 1 }))
        .collect();
    assert_eq!(
        problems(&ramped(json!({ "start_at": START, "steps": steps }))),
        [format!("{RAMP_AT}.steps: give 1 to 32 steps, got 33")]
    );
    let bad = json!({
        "start_at": START,
        "steps": [{ "weight": 50, "hold_s": 60 }, { "weight": 25, "hold_s": 0 },
                  { "weight": 62.345 }, { "hold_s": 604801 }, { "weight": 100, "hold_s": 60 }]
    });
    assert_eq!(
        problems(&ramped(bad)),
        [
            format!("{RAMP_AT}.steps[1].weight: must not be below the previous step's 50, got 25"),
            format!("{RAMP_AT}.steps[1].hold_s: must be within 1..=604800, got 0"),
            format!("{RAMP_AT}.steps[2].weight: resolution is 0.01, got 62.345"),
            format!("{RAMP_AT}.steps[2].hold_s: required on every step but the last"),
            format!("{RAMP_AT}.steps[3].weight: required"),
            format!("{RAMP_AT}.steps[3].hold_s: must be within 1..=604800, got 604801"),
            format!("{RAMP_AT}.steps[4].hold_s: the last step stays in force: give it no hold_s"),
        ]
    );
    assert_eq!(
        problems(&ramped(
            json!({ "start_at": START, "steps": [{ "weight": 5, "hold": 60 }] })
        )),
        [format!(
            "{RAMP_AT}.steps[0].hold: unknown field `hold`, expected one of `weight`, `hold_s`"
        )]
    );
}

// ---- v1.1: `canary.guard.latency` ----

#[test]
fn a_latency_guard_compiles_in_microseconds_with_the_default_quantile() {
    let plan = load(&guarded(json!({
        "min_requests": 20, "window_s": 30, "latency": { "max_ms": 250, "max_ratio": 1.5 }
    })));
    let guard = plan.routes[0].canary.as_ref().unwrap().guard.unwrap();
    assert_eq!(guard.max_errors_ppm, None, "max_error_rate is optional now");
    let latency = guard.latency.unwrap();
    assert_eq!(
        (latency.quantile, latency.max_us, latency.max_ratio),
        (0.99, Some(250_000), Some(1.5))
    );
    assert!(guard.measures_base());
    let absolute = load(&guarded(json!({
        "min_requests": 20, "window_s": 30, "latency": { "quantile": 0.5, "max_ms": 0.5 }
    })));
    let guard = absolute.routes[0].canary.as_ref().unwrap().guard.unwrap();
    assert_eq!(guard.latency.unwrap().max_us, Some(500));
    assert!(
        !guard.measures_base(),
        "stable is measured only for max_ratio"
    );
}

#[test]
fn every_latency_problem_is_reported_at_its_path() {
    let at = format!("{AT}.latency");
    assert_eq!(
        problems(&guarded(
            json!({ "min_requests": 1, "window_s": 10, "latency": {} })
        )),
        [format!("{at}: give max_ms, max_ratio, or both")]
    );
    assert_eq!(
        problems(&guarded(json!({ "min_requests": 1, "window_s": 10,
            "latency": { "quantile": 0.9999, "max_ms": 0, "max_ratio": 0.9 } }))),
        [
            format!("{at}.quantile: must be within 0.5..=0.999, got 0.9999"),
            format!("{at}.max_ms: must be above 0 and at most 3600000, got 0"),
            format!("{at}.max_ratio: must be within 1..=1000, got 0.9"),
        ]
    );
    assert_eq!(
        problems(&guarded(json!({ "min_requests": 1, "window_s": 10,
            "latency": { "quantile": 0.4, "max_ms": 100, "p": 1 } }))),
        [
            format!("{at}.p: unknown field `p`, expected one of `quantile`, `max_ms`, `max_ratio`"),
            format!("{at}.quantile: must be within 0.5..=0.999, got 0.4"),
        ]
    );
}
