//! The release loop in real Envoy: a ramp with short holds changes step by the proxy clock, with
//! membership checked at each step; a canary that turns slow is halted by the latency guard
//! within `window_s` + 2 s while stable traffic is untouched; an equally slow stable and canary
//! are not halted; and a new revision resumes the canary.

use crate::harness::{Envoy, Failure, Filter, Req, Response, Upstreams, users};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use switchyard::hash::bucket_v2_basis_points;
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until};

const STABLE: &str = "checkout-v1";
const CANARY: &str = "checkout-v2";

/// Seconds each ramp step but the last is held.
const HOLD_S: u64 = 5;

fn ramp_config(revision: &str, start_at: &str) -> String {
    format!(
        r#"{{"revision": "{revision}", "debug": true, "routes": [{{"name": "checkout",
            "match": {{"path_prefix": "/checkout"}}, "stable": "{STABLE}",
            "canary": {{"cluster": "{CANARY}", "sticky": ["cookie:uid"],
              "ramp": {{"start_at": "{start_at}", "steps": [{{"weight": 10, "hold_s": {HOLD_S}}},
                {{"weight": 50, "hold_s": {HOLD_S}}}, {{"weight": 100}}]}}}}}}]}}"#
    )
}

#[tokio::test]
async fn a_ramp_with_short_holds_moves_users_to_the_canary_step_by_step_by_the_clock() {
    let upstreams = Upstreams::start().await;
    // Envoy starts (after any other test's Envoy is gone) with the ramp far ahead, then gets it
    // pushed to start at a whole second 4 s from now, so that the instant is exact.
    let later = ramp_config("ramp-r0", "2099-01-01T00:00:00Z");
    let envoy = Envoy::start(&upstreams, Filter::Ecds(&later)).await;
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let start = UNIX_EPOCH + Duration::from_secs(now_s + 4);
    let config = ramp_config("ramp-r1", &crate::rfc3339::rfc3339(start));
    assert_eq!(envoy.push(&config).await, crate::harness::Verdict::Applied);
    envoy
        .settle(&Req::get("/checkout/cart").user("settle"), "ramp-r1", 6)
        .await;
    let started = Instant::now() + start.duration_since(SystemTime::now()).unwrap_or_default();

    let people = users(200);
    let mut in_canary = vec![false; people.len()];
    // Each step is checked from 1 s after it begins (step 0: 2 s before the start), and every
    // answer must be in before the step ends.
    let hold = Duration::from_secs(HOLD_S);
    let second = Duration::from_secs(1);
    for (step, weight, from, until) in [
        (0, 0, started - 2 * second, started),
        (1, 1_000, started + second, started + hold),
        (2, 5_000, started + hold + second, started + 2 * hold),
        (3, 10_000, started + 2 * hold + second, started + 3 * hold),
    ] {
        assert!(Instant::now() <= from, "step {step}: the test is late");
        sleep_until(from.into()).await;
        let reqs: Vec<Req> = people
            .iter()
            .map(|uid| Req::get("/checkout/cart").user(uid))
            .collect();
        let responses = envoy.send_all(&reqs, 4).await;
        assert!(
            Instant::now() < until,
            "step {step}: the answers came in after the step ended"
        );
        for (i, (uid, response)) in people.iter().zip(&responses).enumerate() {
            let expected = bucket_v2_basis_points("checkout", uid.as_bytes()) < weight;
            assert_eq!(
                response.served_by() == CANARY,
                expected,
                "{uid} at step {step}: {response:?}"
            );
            assert!(!in_canary[i] || expected, "{uid} moved back at step {step}");
            in_canary[i] = expected;
        }
    }
    // The gauges follow within a tick.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let page = envoy.admin_text("/stats/prometheus").await;
        let shown = page.contains(r#"switchyard_canary_step{route="checkout"} 3"#)
            && page.contains(r#"switchyard_canary_weight{route="checkout"} 10000"#);
        if shown {
            break;
        }
        assert!(Instant::now() < deadline, "no step 3 gauge in:\n{page}");
        sleep(Duration::from_millis(100)).await;
    }
    let log = envoy.log();
    for line in [
        "route checkout canary at step 1 of 3: weight 10%",
        "route checkout canary at step 2 of 3: weight 50%",
        "route checkout canary at step 3 of 3: weight 100%",
    ] {
        assert_eq!(
            log.matches(line).count(),
            1,
            "{line:?} once per proxy in:\n{log}"
        );
    }
}

/// `window_s` of the latency guard.
const WINDOW_S: u64 = 4;

fn latency_config(revision: &str) -> String {
    format!(
        r#"{{"revision": "{revision}", "debug": true, "routes": [{{"name": "checkout",
            "match": {{"path_prefix": "/checkout"}}, "stable": "{STABLE}",
            "canary": {{"cluster": "{CANARY}", "weight": 50,
              "guard": {{"window_s": {WINDOW_S}, "min_requests": 20,
                "latency": {{"quantile": 0.9, "max_ratio": 3}}}}}}}}]}}"#
    )
}

struct Sent {
    /// From the start of the traffic.
    at: Duration,
    response: Response,
}

/// Steady traffic: `lanes` lanes, each a request every 20 ms (or as soon as the last answered)
/// on a fresh connection, until `stop`, at most 2,000 requests a lane.
async fn traffic(
    envoy: &Envoy,
    lanes: u64,
    start: Instant,
    stop: &Arc<AtomicBool>,
) -> JoinSet<Vec<Sent>> {
    let mut set = JoinSet::new();
    let ids = Arc::new(AtomicU64::new(0));
    for _ in 0..lanes {
        let (front, stop, ids) = (envoy.front, Arc::clone(stop), Arc::clone(&ids));
        set.spawn(async move {
            let mut out = Vec::new();
            while !stop.load(Ordering::Relaxed) && out.len() < 2_000 {
                let id = ids.fetch_add(1, Ordering::Relaxed);
                let at = start.elapsed();
                let mut conn = crate::harness::Conn::open(front).await.expect("connect");
                let req = Req::get(&format!("/checkout/predict?id={id}")).id(id);
                let response = conn.send(&req).await.expect("an answer");
                out.push(Sent { at, response });
                sleep(Duration::from_millis(20)).await;
            }
            out
        });
    }
    set
}

async fn collect(mut set: JoinSet<Vec<Sent>>) -> Vec<Sent> {
    let mut sent = Vec::new();
    while let Some(lane) = set.join_next().await {
        sent.extend(lane.expect("a lane"));
    }
    sent.sort_by_key(|s| s.at);
    sent
}

#[tokio::test]
async fn a_canary_that_turns_slow_is_halted_within_the_window_and_a_new_revision_resumes_it() {
    let upstreams = Upstreams::start().await;
    let envoy = Envoy::start(&upstreams, Filter::Ecds(&latency_config("lat-r1"))).await;
    let (start, stop) = (Instant::now(), Arc::new(AtomicBool::new(false)));
    let lanes = traffic(&envoy, 4, start, &stop).await;
    sleep(Duration::from_millis(1_500)).await;
    upstreams.fail(CANARY, Failure::Slow(Duration::from_millis(250)));
    let slow_from = start.elapsed();
    let limit = slow_from + Duration::from_secs(WINDOW_S + 2);
    // The traffic runs past the limit, then a little more to see that nothing reaches the canary.
    sleep(limit - slow_from + Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let sent = collect(lanes).await;

    let first_guard = sent
        .iter()
        .find(|s| s.response.decision("reason") == Some("guard"))
        .map(|s| s.at)
        .expect("the canary was halted");
    assert!(
        first_guard <= limit,
        "halted at +{:?} after the canary turned slow, later than window_s + 2 s",
        first_guard - slow_from
    );
    for s in &sent {
        assert_eq!(s.response.status, 200, "{:?}", s.response);
        let target = s.response.decision("target");
        assert_eq!(
            s.response.served_by(),
            if target == Some("canary") {
                CANARY
            } else {
                STABLE
            },
            "{:?}",
            s.response
        );
        if s.at > limit {
            assert_ne!(s.response.served_by(), CANARY, "sent at +{:?}", s.at);
        }
    }
    let log = envoy.log();
    let halts: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("guard halted the canary"))
        .collect();
    assert_eq!(halts.len(), 1, "one warning for the proxy:\n{log}");
    assert!(
        halts[0].contains("route checkout: p90 latency") && halts[0].contains("above 3 × stable's"),
        "{}",
        halts[0]
    );

    // Another revision counts afresh: the canary takes traffic again once it is healthy.
    upstreams.fail(CANARY, Failure::Slow(Duration::ZERO));
    assert_eq!(
        envoy.push(&latency_config("lat-r2")).await,
        crate::harness::Verdict::Applied
    );
    let mut resumed = false;
    for id in 0..200 {
        let response = envoy
            .send(&Req::get(&format!("/checkout/predict?id={id}")))
            .await;
        if response.decision("rev") == Some("lat-r2") && response.served_by() == CANARY {
            resumed = true;
            break;
        }
    }
    assert!(
        resumed,
        "revision lat-r2 sent nothing to the canary in 200 requests"
    );
}

#[tokio::test]
async fn an_equally_slow_stable_and_canary_are_not_halted() {
    let upstreams = Upstreams::start().await;
    let envoy = Envoy::start(&upstreams, Filter::Ecds(&latency_config("lat-r1"))).await;
    for side in [STABLE, CANARY] {
        upstreams.fail(side, Failure::Slow(Duration::from_millis(100)));
    }
    let (start, stop) = (Instant::now(), Arc::new(AtomicBool::new(false)));
    let lanes = traffic(&envoy, 4, start, &stop).await;
    // The traffic itself lasts the window and the hand-over twice over.
    sleep(Duration::from_secs(2 * (WINDOW_S + 2))).await;
    stop.store(true, Ordering::Relaxed);
    let sent = collect(lanes).await;
    let canary = sent
        .iter()
        .filter(|s| s.response.served_by() == CANARY)
        .count();
    assert!(
        canary >= 40,
        "only {canary} canary answers: too few to judge"
    );
    assert!(
        sent.iter()
            .all(|s| s.response.decision("reason") != Some("guard")),
        "an equally slow canary was halted"
    );
    let page = envoy.admin_text("/stats/prometheus").await;
    assert!(
        page.contains(r#"switchyard_canary_halted{route="checkout"} 0"#),
        "{page}"
    );
}
