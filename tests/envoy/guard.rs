//! The decision in Envoy's access log, and the canary guard, in real Envoy.
//!
//! The access log is the one of `envoy/envoy.yaml` as shipped (stdout, which the harness captures
//! in `envoy.log`): `switchyard=%FILTER_STATE(wasm.switchyard.decision:PLAIN)%`. Envoy writes
//! access logs to stdout through a buffer it flushes every `--file-flush-interval-msec` (10 s by
//! default) or at exit, so these tests read the log after `/quitquitquit`.
//!
//! The guard: a sticky canary of 50 % with `guard: { max_error_rate: 0.2, min_requests: 40,
//! window_s: 5 }`, steady traffic from both workers, and a canary upstream that starts failing at
//! a known instant, answering 503 itself or resetting the connection (Envoy then replies 503 on
//! its own). The proxy must stop sending to it within `window_s` + 2 s of the first failure
//! (each worker hands its counts over once a second),
//! report `reason=guard`, show `switchyard_canary_halted{route="checkout"} 1`, and leave stable
//! traffic untouched.

use crate::harness::{Conn, Envoy, Failure, Filter, Req, Response, Upstreams, users};
use crate::routing::side_in;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio::time::{MissedTickBehavior, interval, sleep};

const STABLE: &str = "checkout-v1";
const CANARY: &str = "checkout-v2";
const SHADOW: &str = "checkout-v3";

/// Asks Envoy to exit, which flushes its access log, and returns its whole log once the
/// access-log lines of `expected` requests are in it. Bounded: 10 s.
async fn quit_and_read_log(envoy: &Envoy, expected: usize) -> String {
    let mut admin = Conn::open(envoy.admin).await.expect("connect to admin");
    let response = admin
        .send(&Req::post("/quitquitquit"))
        .await
        .expect("admin /quitquitquit");
    assert_eq!(response.status, 200, "{response:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = envoy.log();
        let lines = log.lines().filter(|l| access_line(l).is_some()).count();
        if lines >= expected {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "{lines} of {expected} access-log lines within 10 s of /quitquitquit"
        );
        sleep(Duration::from_millis(50)).await;
    }
}

/// An access-log line of `envoy/*.yaml`.
#[derive(Debug)]
struct Access<'a> {
    path: &'a str,
    status: &'a str,
    flags: &'a str,
    upstream: &'a str,
    switchyard: &'a str,
}

/// `[<start>] "<method> <path>" <code> <flags> <duration>ms upstream=<cluster> switchyard=<decision>`.
fn access_line(line: &str) -> Option<Access<'_>> {
    let (_, rest) = line.split_once("] \"")?;
    let (request, rest) = rest.split_once("\" ")?;
    let (_method, path) = request.split_once(' ')?;
    let mut words = rest.split(' ');
    let status = words.next()?;
    let flags = words.next()?;
    let _duration = words.next()?.strip_suffix("ms")?;
    let upstream = words.next()?.strip_prefix("upstream=")?;
    let switchyard = words.next()?.strip_prefix("switchyard=")?;
    Some(Access {
        path,
        status,
        flags,
        upstream,
        switchyard,
    })
}

/// Access-log lines by the `id` query parameter of their path.
fn access_by_id(log: &str) -> HashMap<u64, Access<'_>> {
    log.lines()
        .filter_map(access_line)
        .filter_map(|a| {
            let id = a.path.split_once("?id=")?.1.parse().ok()?;
            Some((id, a))
        })
        .collect()
}

fn field<'a>(decision: &'a str, name: &str) -> Option<&'a str> {
    decision
        .split(';')
        .filter_map(|part| part.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[tokio::test]
async fn the_access_log_carries_the_decision_the_upstream_saw_and_a_dash_when_unmatched() {
    let upstreams = Upstreams::start().await;
    let envoy = Envoy::start(&upstreams, Filter::Static(None)).await;

    // Demo r1 (debug on): 60 users on `/checkout…` and 20 unmatched requests, each on a
    // connection of its own so that both workers log some.
    let people = users(60);
    let matched: Vec<Req> = people
        .iter()
        .enumerate()
        .map(|(i, uid)| {
            Req::get(&format!("/checkout/cart?id={i}"))
                .user(uid)
                .id(i as u64)
        })
        .collect();
    let unmatched: Vec<Req> = (100..120)
        .map(|i| Req::get(&format!("/elsewhere?id={i}")).id(i))
        .collect();
    let responses = envoy.send_fresh(&matched).await;
    let others = envoy.send_fresh(&unmatched).await;
    // Mirrored copies arrive on their own time: wait for them before Envoy exits.
    let shadowed = responses
        .iter()
        .filter(|r| r.decision("shadow") == Some("1"))
        .count();
    assert!(
        upstreams
            .wait_for(SHADOW, shadowed, Duration::from_secs(5))
            .await,
        "{shadowed} mirrored copies"
    );
    let log = quit_and_read_log(&envoy, matched.len() + unmatched.len()).await;
    let logged = access_by_id(&log);
    let by_id = upstreams.by_id();

    let mut sides = HashMap::new();
    for (i, response) in responses.iter().enumerate() {
        let id = i as u64;
        assert_eq!(response.status, 200, "{response:?}");
        let line = logged
            .get(&id)
            .unwrap_or_else(|| panic!("no access-log line for request {id}"));
        let decision = response
            .header("x-switchyard-decision")
            .expect("debug is on in demo r1");
        assert_eq!(
            line.switchyard, decision,
            "request {id}: the access log and the debug header disagree"
        );
        let arrived = &by_id[&id];
        let primary: Vec<_> = arrived.iter().filter(|s| !s.mirrored()).collect();
        assert_eq!(primary.len(), 1, "request {id}");
        let seen = primary[0];
        let cluster = field(line.switchyard, "cluster").expect("cluster=");
        assert_eq!(seen.upstream, cluster, "request {id}");
        assert_eq!(line.upstream, cluster, "request {id}: %UPSTREAM_CLUSTER%");
        assert_eq!(seen.all("x-switchyard-cluster"), [cluster]);
        assert_eq!(
            seen.all("x-switchyard-target"),
            [field(line.switchyard, "target").expect("target=")]
        );
        assert_eq!(
            seen.all("x-switchyard-exp-ranker"),
            [field(line.switchyard, "exp.ranker").expect("exp.ranker=")]
        );
        let mirrored = arrived.iter().any(|s| s.mirrored());
        assert_eq!(
            field(line.switchyard, "shadow"),
            Some(if mirrored { "1" } else { "0" }),
            "request {id}"
        );
        assert_eq!(field(line.switchyard, "route"), Some("checkout"));
        assert_eq!(field(line.switchyard, "rev"), Some("demo-r1"));
        let reason = field(line.switchyard, "reason");
        assert_eq!(
            reason,
            Some(if cluster == CANARY { "sticky" } else { "base" }),
            "request {id}"
        );
        assert_eq!(line.status, "200");
        *sides.entry(cluster).or_insert(0) += 1;
    }
    assert!(
        sides.contains_key(STABLE) && sides.contains_key(CANARY),
        "both sides logged: {sides:?}"
    );
    for (req, response) in unmatched.iter().zip(&others) {
        let id = req.test_id().expect("an id");
        assert_eq!(response.served_by(), "default");
        let line = &logged[&id];
        assert_eq!(line.switchyard, "-", "request {id}: {line:?}");
        assert_eq!(line.upstream, "default");
    }
}

// ----------------------------------------------------------------------------------------------
// The canary guard

const WINDOW_S: u64 = 5;

fn guarded_config(revision: &str) -> String {
    format!(
        r#"{{
  "revision": "{revision}",
  "debug": true,
  "telemetry": {{ "responses": true, "access_log": true }},
  "routes": [
    {{
      "name": "checkout",
      "match": {{ "path_prefix": "/checkout" }},
      "stable": "{STABLE}",
      "canary": {{
        "cluster": "{CANARY}",
        "weight": 50,
        "sticky": ["cookie:uid"],
        "guard": {{ "max_error_rate": 0.2, "min_requests": 40, "window_s": {WINDOW_S} }}
      }}
    }}
  ]
}}"#
    )
}

/// One request of the steady traffic.
struct Sent {
    /// When it was sent, from the start of the traffic.
    at: Duration,
    uid: String,
    id: u64,
    response: Response,
}

/// A lane of steady traffic: one request every 40 ms on a connection of its own (so both
/// workers serve), each from a new user, until `stop`. Bounded: 1,000 requests.
async fn lane(
    envoy_front: std::net::SocketAddr,
    lane: u64,
    start: Instant,
    stop: Arc<AtomicBool>,
    ids: Arc<AtomicU64>,
) -> Vec<Sent> {
    let mut tick = interval(Duration::from_millis(40));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) && out.len() < 1_000 {
        tick.tick().await;
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let uid = format!("guard-{lane}-{id}");
        let req = Req::get(&format!("/checkout/cart?id={id}"))
            .user(&uid)
            .id(id);
        let at = start.elapsed();
        let mut conn = Conn::open(envoy_front)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        let response = conn
            .send(&req)
            .await
            .unwrap_or_else(|e| panic!("request {id} of {uid}: {e}"));
        out.push(Sent {
            at,
            uid,
            id,
            response,
        });
    }
    out
}

async fn a_failing_canary_is_halted_within_the_window_and_stable_traffic_is_untouched(
    how: Failure,
) {
    let revision = "guard-r1";
    let upstreams = Upstreams::start().await;
    let config = guarded_config(revision);
    let envoy = Envoy::start(&upstreams, Filter::Static(Some(&config))).await;
    let workers_before = envoy.worker_connections().await;
    let page = envoy.admin_text("/stats/prometheus").await;
    assert!(
        page.lines()
            .any(|l| l == r#"switchyard_canary_halted{route="checkout"} 0"#),
        "a guarded route's gauge starts at 0"
    );

    // 4 lanes × 25 requests/s, half of the users on the canary: about 50 canary answers a
    // second. Healthy for 1.5 s, then the canary fails; the traffic goes on for window_s + 3 s.
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let ids = Arc::new(AtomicU64::new(0));
    let mut lanes = JoinSet::new();
    for n in 0..4 {
        lanes.spawn(lane(
            envoy.front,
            n,
            start,
            Arc::clone(&stop),
            Arc::clone(&ids),
        ));
    }
    sleep(Duration::from_millis(1_500)).await;
    let healthy_canary = upstreams.count(CANARY);
    upstreams.fail(CANARY, how);
    let failed_at = start.elapsed();
    let limit = failed_at + Duration::from_secs(WINDOW_S + 2);
    sleep(Duration::from_secs(WINDOW_S + 2)).await;
    let reached_by_limit = upstreams.count(CANARY);
    sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut sent = Vec::new();
    while let Some(lane) = lanes.join_next().await {
        sent.extend(lane.expect("a lane"));
    }
    sent.sort_by_key(|s| s.at);
    let workers_after = envoy.worker_connections().await;
    assert!(
        (0..2).all(|w| workers_after[w] > workers_before[w]),
        "both workers served: {workers_before:?} → {workers_after:?}"
    );
    assert!(
        healthy_canary >= 20,
        "the canary answered only {healthy_canary} requests before it failed"
    );

    // No request reached the canary after window_s + 1 s from the failure.
    assert_eq!(
        upstreams.count(CANARY),
        reached_by_limit,
        "requests reached the failing canary later than window_s + 1 s after it began failing"
    );

    // Every request: stable-side users always on stable and never failed; canary-side users on
    // the canary (its answer) until the halt, then on stable with reason=guard.
    let mut first_guard: Option<Duration> = None;
    let mut last_canary: Option<Duration> = None;
    let (mut stable_side, mut canary_failed, mut guarded) = (0, 0, 0);
    for s in &sent {
        let r = &s.response;
        let what = format!("request {} of {} at {:?}: {r:?}", s.id, s.uid, s.at);
        assert_eq!(r.decision("rev"), Some(revision), "{what}");
        if side_in(&s.uid, 50) == STABLE {
            stable_side += 1;
            assert_eq!(r.status, 200, "stable traffic failed: {what}");
            assert_eq!(r.served_by(), STABLE, "{what}");
            assert_eq!(r.decision("reason"), Some("base"), "{what}");
            continue;
        }
        match r.decision("reason") {
            Some("sticky") => {
                assert_eq!(r.decision("target"), Some("canary"), "{what}");
                assert!(
                    s.at <= limit,
                    "sent to the canary later than window_s + 1 s after it began failing: {what}"
                );
                last_canary = Some(s.at);
                match r.status {
                    // A request sent after the failure began cannot find the canary healthy.
                    200 => assert!(s.at < failed_at && r.served_by() == CANARY, "{what}"),
                    503 => canary_failed += 1,
                    _ => panic!("neither the canary's answer nor a 503: {what}"),
                }
            }
            Some("guard") => {
                guarded += 1;
                first_guard.get_or_insert(s.at);
                assert_eq!(r.decision("target"), Some("stable"), "{what}");
                assert_eq!(r.decision("cluster"), Some(STABLE), "{what}");
                assert_eq!((r.status, r.served_by()), (200, STABLE), "{what}");
            }
            other => panic!("reason {other:?}: {what}"),
        }
    }
    let first_guard = first_guard.expect("no request was reported with reason=guard");
    assert!(
        first_guard <= limit,
        "halted {:?} after the failure, more than window_s + 1 s",
        first_guard - failed_at
    );
    assert!(canary_failed > 0, "the canary never answered 503");
    assert!(stable_side > 100, "only {stable_side} stable-side requests");
    assert!(
        guarded > 20,
        "only {guarded} requests reported reason=guard"
    );
    eprintln!(
        "{how:?}: failed at {failed_at:?}; {canary_failed} canary 503s; last request on the \
         canary sent at +{:?}, first reason=guard at +{:?} after the failure; {} requests, \
         {stable_side} stable-side, {guarded} guarded; the canary received {} after the failure",
        last_canary.map(|t| t.saturating_sub(failed_at)),
        first_guard - failed_at,
        sent.len(),
        reached_by_limit - healthy_canary,
    );

    // The gauge, the canary's 5xx answers, and one warning for the whole proxy. Counters reach
    // Envoy on each worker's next tick (every second): polled until both agree, or 5 s.
    const HALTED: &str = r#"switchyard_canary_halted{route="checkout"} 1"#;
    let canary_5xx = |page: &str| {
        page.lines()
            .find(|l| {
                l.starts_with("switchyard_responses_total{")
                    && l.contains(r#"target="canary""#)
                    && l.contains(r#"class="5xx""#)
            })
            .and_then(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .map_or(0, |n| n as u64)
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let page = loop {
        let page = envoy.admin_text("/stats/prometheus").await;
        let agrees = page.lines().any(|l| l == HALTED) && canary_5xx(&page) == canary_failed;
        if agrees || Instant::now() >= deadline {
            break page;
        }
        sleep(Duration::from_millis(100)).await;
    };
    assert!(
        page.lines().any(|l| l == HALTED),
        "no {HALTED} in:\n{}",
        page.lines()
            .filter(|l| l.contains("canary_halted"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        canary_5xx(&page),
        canary_failed,
        "switchyard_responses_total{{class=\"5xx\",target=\"canary\"}}"
    );

    // The access log says the same, line by line.
    let log = quit_and_read_log(&envoy, sent.len()).await;
    let warnings = log
        .matches("guard halted the canary of route checkout")
        .count();
    assert_eq!(warnings, 1, "the halt is logged once per proxy:\n{log}");
    let logged = access_by_id(&log);
    for s in &sent {
        let line = logged
            .get(&s.id)
            .unwrap_or_else(|| panic!("no access-log line for request {}", s.id));
        assert_eq!(
            Some(line.switchyard),
            s.response.header("x-switchyard-decision"),
            "request {}",
            s.id
        );
        if field(line.switchyard, "reason") == Some("guard") {
            assert_eq!((line.status, line.upstream), ("200", STABLE));
        }
        if s.response.status == 503 {
            assert_eq!(line.upstream, CANARY);
            let flags = if how == Failure::Reset { "UC" } else { "-" };
            assert_eq!(line.flags, flags, "request {}: {line:?}", s.id);
        }
    }
}

#[tokio::test]
async fn a_canary_answering_503_is_halted_within_the_window_and_stable_traffic_is_untouched() {
    a_failing_canary_is_halted_within_the_window_and_stable_traffic_is_untouched(
        Failure::Status503,
    )
    .await;
}

#[tokio::test]
async fn a_canary_resetting_connections_is_halted_on_envoys_local_503s() {
    a_failing_canary_is_halted_within_the_window_and_stable_traffic_is_untouched(Failure::Reset)
        .await;
}
