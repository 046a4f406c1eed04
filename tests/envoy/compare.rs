//! Shadow comparison in real Envoy, in front of ML-style upstreams (`harness::prediction`: POST
//! JSON in, a prediction out): the next model that disagrees for a known set of users is counted
//! exactly, scores within the tolerance match, a slow shadow costs users nothing and is still
//! compared, late and unreachable shadows are told apart from disagreeing ones, bodies over the
//! limit are skipped, and methods outside `shadow.methods` are not copied.

use crate::harness::{Envoy, Failure, Filter, PREDICT, Req, Upstreams, Verdict, disagrees};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use switchyard::hash::bucket_v2_basis_points;
use tokio::time::sleep;

const LIVE: &str = "checkout-v1";
const SHADOW: &str = "checkout-v3";

fn config(revision: &str, shadow_cluster: &str, percent: u32, compare: &str) -> String {
    format!(
        r#"{{"revision": "{revision}", "routes": [{{"name": "rank",
            "match": {{"path_prefix": "{PREDICT}"}}, "stable": "{LIVE}",
            "shadow": {{"cluster": "{shadow_cluster}", "percent": {percent}, "key": ["header:x-user"],
              "methods": ["POST"], "compare": {compare}}}}}]}}"#
    )
}

const FIELDS: &str = r#"{"fields": ["/prediction/label", "/prediction/score"], "tolerance": 0.001, "log_per_s": 100}"#;

/// The comparison counters, `result` → count, and the field mismatches, `field` → count.
async fn compared(envoy: &Envoy) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let label =
        |name: &str, key: &str| Some(name.split(key).nth(1)?.split(';').next()?.to_string());
    let mut results = BTreeMap::new();
    let mut fields = BTreeMap::new();
    for (name, value) in envoy.stats("switchyard_shadow_").await {
        if let Some(result) = label(&name, ";result=") {
            *results.entry(result).or_default() += value;
        } else if let Some(field) = label(&name, ";field=") {
            *fields.entry(field).or_default() += value;
        }
    }
    (results, fields)
}

/// Polls until `total` comparisons are counted (at most `limit`); the counters then.
async fn await_results(
    envoy: &Envoy,
    total: u64,
    limit: Duration,
) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let deadline = Instant::now() + limit;
    loop {
        let counted = compared(envoy).await;
        if counted.0.values().sum::<u64>() >= total || Instant::now() > deadline {
            return counted;
        }
        sleep(Duration::from_millis(100)).await;
    }
}

fn sampled(n: u64, percent: u32) -> bool {
    bucket_v2_basis_points("rank.shadow", format!("u{n}").as_bytes()) < percent * 100
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), *n))
        .collect()
}

#[tokio::test]
async fn a_next_model_that_disagrees_for_known_users_is_counted_exactly_and_gets_one_copy_each() {
    let upstreams = Upstreams::start().await;
    let envoy = Envoy::start(
        &upstreams,
        Filter::Ecds(&config("cmp-1", SHADOW, 50, FIELDS)),
    )
    .await;
    let users: Vec<u64> = (0..200).collect();
    for &n in &users {
        let response = envoy.send(&Req::predict(n)).await;
        assert_eq!(response.status, 200);
        assert!(
            response.body.contains(r#""took_ms": 11"#),
            "the live model answers: {}",
            response.body
        );
    }
    let chosen: Vec<u64> = users.iter().copied().filter(|&n| sampled(n, 50)).collect();
    let mismatched = chosen.iter().filter(|&&n| disagrees(n)).count() as u64;
    let total = chosen.len() as u64;
    let (results, fields) = await_results(&envoy, total, Duration::from_secs(10)).await;
    // Scores 0.0004 apart are within the tolerance: only the users the next model changes count,
    // on both fields.
    assert_eq!(
        results,
        counts(&[("match", total - mismatched), ("mismatch", mismatched)])
    );
    let changed = [
        ("/prediction/label", mismatched),
        ("/prediction/score", mismatched),
    ];
    assert_eq!(fields, counts(&changed));

    // Exactly one copy per sampled request, with its body intact and the mark, and the route's
    // live cluster saw every request once.
    let copies: Vec<_> = upstreams
        .seen()
        .into_iter()
        .filter(|s| s.upstream == SHADOW)
        .collect();
    assert_eq!(copies.len() as u64, total);
    for copy in &copies {
        let user: u64 = copy.header("x-user").unwrap()[1..].parse().unwrap();
        assert!(sampled(user, 50));
        assert_eq!(
            copy.body,
            Req::predict(user).body_bytes(),
            "u{user}'s body intact"
        );
        assert_eq!(copy.method, "POST");
        assert_eq!(copy.path, PREDICT);
        assert_eq!(copy.all("x-switchyard-mirrored"), ["true"]);
    }
    assert_eq!(upstreams.count(LIVE), users.len());
    let mismatch_lines = envoy
        .log()
        .matches("shadow mismatch on route \"rank\"")
        .count() as u64;
    assert_eq!(
        mismatch_lines, mismatched,
        "log_per_s 100 logs every one here"
    );
}

#[tokio::test]
async fn a_slow_shadow_costs_users_nothing_and_is_still_compared_but_a_late_one_times_out() {
    let upstreams = Upstreams::start().await;
    let slow = r#"{"fields": ["/prediction/score"], "tolerance": 0.001, "timeout_ms": 2000}"#;
    let envoy = Envoy::start(
        &upstreams,
        Filter::Ecds(&config("cmp-slow", SHADOW, 100, slow)),
    )
    .await;
    upstreams.fail(SHADOW, Failure::Slow(Duration::from_millis(600)));
    let mut slowest = Duration::ZERO;
    for n in 0..20 {
        let started = Instant::now();
        assert_eq!(envoy.send(&Req::predict(n)).await.status, 200);
        slowest = slowest.max(started.elapsed());
    }
    // The shadow takes 600 ms; a user waiting for it would take at least that.
    assert!(
        slowest < Duration::from_millis(300),
        "slowest user request {slowest:?}"
    );
    let (results, _) = await_results(&envoy, 20, Duration::from_secs(10)).await;
    assert_eq!(results, counts(&[("match", 15), ("mismatch", 5)]));

    let late = r#"{"fields": ["/prediction/score"], "timeout_ms": 200}"#;
    assert!(envoy.push(&config("cmp-late", SHADOW, 100, late)).await == Verdict::Applied);
    for n in 100..110 {
        assert_eq!(envoy.send(&Req::predict(n)).await.status, 200);
    }
    let (results, _) = await_results(&envoy, 30, Duration::from_secs(10)).await;
    assert_eq!(
        results,
        counts(&[("match", 15), ("mismatch", 5), ("timeout", 10)])
    );
}

#[tokio::test]
async fn comparisons_in_flight_when_a_push_lands_are_all_completed() {
    let upstreams = Upstreams::start().await;
    let slow = r#"{"fields": ["/prediction/label"], "timeout_ms": 5000}"#;
    let envoy = Envoy::start(
        &upstreams,
        Filter::Ecds(&config("cmp-a", SHADOW, 100, slow)),
    )
    .await;
    upstreams.fail(SHADOW, Failure::Slow(Duration::from_millis(1500)));
    for n in 0..20 {
        assert_eq!(envoy.send(&Req::predict(n)).await.status, 200);
    }
    // Every copy is out and none answered yet: Envoy builds a new plugin (a new root context)
    // for the push and retires the one that made the calls.
    assert!(upstreams.wait_for(SHADOW, 20, Duration::from_secs(5)).await);
    assert_eq!(compared(&envoy).await.0.values().sum::<u64>(), 0);
    assert_eq!(
        envoy.push(&config("cmp-b", SHADOW, 100, slow)).await,
        Verdict::Applied
    );
    let (results, _) = await_results(&envoy, 20, Duration::from_secs(10)).await;
    assert_eq!(results, counts(&[("match", 15), ("mismatch", 5)]));
    // And the new revision compares as well.
    upstreams.fail(SHADOW, Failure::Slow(Duration::ZERO));
    assert_eq!(envoy.send(&Req::predict(1)).await.status, 200);
    let (results, _) = await_results(&envoy, 21, Duration::from_secs(10)).await;
    assert_eq!(results, counts(&[("match", 16), ("mismatch", 5)]));
    assert!(!envoy.log().contains("panicked"), "{}", envoy.log());
}

#[tokio::test]
async fn an_unreachable_shadow_is_a_shadow_error_and_a_body_over_the_limit_is_skipped() {
    let upstreams = Upstreams::start().await;
    let envoy = Envoy::start(
        &upstreams,
        Filter::Ecds(&config("cmp-down", SHADOW, 100, FIELDS)),
    )
    .await;
    upstreams.fail(SHADOW, Failure::Reset);
    for n in 0..10 {
        assert_eq!(envoy.send(&Req::predict(n)).await.status, 200);
    }
    let (results, _) = await_results(&envoy, 10, Duration::from_secs(10)).await;
    assert_eq!(results, counts(&[("shadow_error", 10)]));

    // A cluster Envoy does not know: the call cannot be made at all.
    let unknown = config("cmp-unknown", "no-such-cluster", 100, FIELDS);
    assert!(envoy.push(&unknown).await == Verdict::Applied);
    for n in 0..5 {
        assert_eq!(envoy.send(&Req::predict(n)).await.status, 200);
    }
    let (results, _) = await_results(&envoy, 15, Duration::from_secs(10)).await;
    assert_eq!(results, counts(&[("shadow_error", 15)]));

    let small = r#"{"fields": ["/prediction/label"], "max_body_bytes": 64}"#;
    assert!(envoy.push(&config("cmp-small", SHADOW, 100, small)).await == Verdict::Applied);
    let big =
        Req::predict(1).with_body(format!(r#"{{"user": "u1", "pad": "{}"}}"#, "x".repeat(200)));
    let response = envoy.send(&big).await;
    assert_eq!(response.status, 200, "the user's request is untouched");
    assert_eq!(upstreams.count(LIVE), 16);
    let (results, _) = await_results(&envoy, 16, Duration::from_secs(10)).await;
    assert_eq!(results, counts(&[("shadow_error", 15), ("skipped", 1)]));
}

#[tokio::test]
async fn methods_outside_shadow_methods_are_neither_copied_nor_compared() {
    let upstreams = Upstreams::start().await;
    let envoy = Envoy::start(
        &upstreams,
        Filter::Ecds(&config("cmp-get", SHADOW, 100, FIELDS)),
    )
    .await;
    for n in 0..10 {
        let get = Req::get(PREDICT).header("x-user", format!("u{n}"));
        assert_eq!(envoy.send(&get).await.status, 200);
    }
    // A POST afterwards is the marker: once it is compared, the GETs before it were seen.
    assert_eq!(envoy.send(&Req::predict(1)).await.status, 200);
    let (results, _) = await_results(&envoy, 1, Duration::from_secs(10)).await;
    assert_eq!(results, counts(&[("match", 1)]));
    assert_eq!(upstreams.count(SHADOW), 1, "only the POST was copied");
}
