//! Configuration pushed live over ECDS (`envoy/ecds.yaml`, the resource rendered from
//! `envoy/ecds/switchyard.yaml`, renamed into the watched directory as `switchyard push`
//! does): the demo's push from `envoy/demo/r1.json` to `r2.json` (canary 10 → 50 sticky, blue →
//! green) flips every worker, loses no request under load, and a push the filter rejects is
//! counted while the previous configuration keeps serving.

use crate::harness::{
    Envoy, Filter, Load, Req, Response, Sent, Upstreams, Verdict, demo_config, load_client, users,
};
use crate::routing::{assert_followed, side_in};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio::time::sleep;

/// What demo r1 and r2 decide, checked rather than assumed: (revision, canary weight, colour).
fn assume_demo() -> [(&'static str, u32, &'static str); 2] {
    let expected = [("demo-r1", 10, "blue"), ("demo-r2", 50, "green")];
    for (name, (revision, weight, colour)) in ["r1", "r2"].iter().zip(expected) {
        let config: Value = serde_json::from_str(&demo_config(name)).expect("JSON");
        assert_eq!(config["revision"], revision);
        assert_eq!(config["debug"], true);
        assert_eq!(config["routes"][0]["canary"]["weight"], weight);
        assert_eq!(config["routes"][1]["blue_green"]["active"], colour);
    }
    expected
}

/// The upstream demo r1 or r2 (by revision) sends a request of `uid` on `path` to.
fn answer(revision: &str, uid: &str, path: &str) -> &'static str {
    match (revision, path.starts_with("/web")) {
        ("demo-r1", false) => side_in(uid, 10),
        ("demo-r2", false) => side_in(uid, 50),
        ("demo-r1", true) => "web-blue",
        ("demo-r2", true) => "web-green",
        other => panic!("a response from neither configuration: {other:?}"),
    }
}

/// Each request served as its configuration decides, and as the filter told Envoy.
fn assert_served(upstreams: &Upstreams, reqs: &[Req], responses: &[Response], revision: &str) {
    let by_id = upstreams.by_id();
    for (req, response) in reqs.iter().zip(responses) {
        let uid = req.cookie_value("uid").expect("a user");
        assert_eq!(
            response.decision("rev"),
            Some(revision),
            "{uid} {}",
            req.path
        );
        assert_eq!(
            response.served_by(),
            answer(revision, uid, &req.path),
            "{uid} {}",
            req.path
        );
        let id = req.test_id().expect("an id");
        let seen: Vec<_> = by_id[&id].iter().filter(|s| !s.mirrored()).collect();
        assert_eq!(seen.len(), 1, "request {id} arrived {} times", seen.len());
        assert_followed(response, seen[0]);
    }
}

/// `n` requests from users of the demo, half to `/checkout`, half to `/web`, ids from `first`.
fn mixed(n: usize, first: u64) -> Vec<Req> {
    users(n)
        .iter()
        .enumerate()
        .map(|(i, uid)| {
            let path = if i % 2 == 0 {
                "/checkout/cart"
            } else {
                "/web/"
            };
            Req::get(path).user(uid).id(first + i as u64)
        })
        .collect()
}

#[tokio::test]
async fn a_push_flips_blue_to_green_and_ramps_the_canary_on_both_workers() {
    let [(r1, ..), (r2, ..)] = assume_demo();
    let upstreams = Upstreams::start().await;
    let envoy = Envoy::start(&upstreams, Filter::Ecds(&demo_config("r1"))).await;

    // 100 requests on connections of their own: both workers serve some (each connection is a
    // coin flip, so one worker taking all 100 has probability 2⁻⁹⁹).
    let before = envoy.worker_connections().await;
    let reqs = mixed(100, 0);
    let responses = envoy.send_fresh(&reqs).await;
    assert_served(&upstreams, &reqs, &responses, r1);
    let after = envoy.worker_connections().await;
    assert!(
        (0..2).all(|w| after[w] > before[w]),
        "both workers served: {before:?} → {after:?}"
    );

    assert_eq!(envoy.push(&demo_config("r2")).await, Verdict::Applied);
    envoy
        .settle(&Req::get("/web/").user("user-0001"), r2, 20)
        .await;
    let before = envoy.worker_connections().await;
    let reqs = mixed(100, 1_000);
    let responses = envoy.send_fresh(&reqs).await;
    assert_served(&upstreams, &reqs, &responses, r2);
    let after = envoy.worker_connections().await;
    assert!(
        (0..2).all(|w| after[w] > before[w]),
        "both workers served: {before:?} → {after:?}"
    );
}

/// Every request of a load test was answered 200 by an upstream; the failures otherwise, with a
/// few of them shown.
pub(crate) fn assert_none_failed<'a>(
    sent: impl IntoIterator<Item = (&'a str, &'a str, &'a Result<Response, String>)>,
) {
    let mut total = 0;
    let mut failed = Vec::new();
    for (uid, path, outcome) in sent {
        total += 1;
        match outcome {
            Err(e) => failed.push(format!("{uid} {path}: {e}")),
            Ok(r) if r.status != 200 => {
                failed.push(format!("{uid} {path}: {} {}", r.status, r.body.trim()))
            }
            Ok(_) => {}
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {total} requests failed, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
}

async fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_push_under_load_fails_no_request_and_every_answer_is_the_old_or_the_new_configs() {
    let [(r1, ..), (r2, ..)] = assume_demo();
    let upstreams = Upstreams::start().await;
    let envoy = Envoy::start(&upstreams, Filter::Ecds(&demo_config("r1"))).await;

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let mut clients = JoinSet::new();
    for lane in 0..8 {
        // Connections of 25 keep-alive requests from 500 users, a fifth of them to `/web`, until
        // `stop`. Bounded: 5,000 requests or 30 s.
        let load = Load {
            users: 500,
            seed: 0,
            web_one_in: 5,
            pace: None,
            max: 5_000,
            limit: Duration::from_secs(30),
        };
        let sent = Arc::clone(&sent);
        let mark = move || sent.fetch_add(1, Ordering::Relaxed);
        clients.spawn(load_client(
            envoy.front,
            lane,
            load,
            Arc::clone(&stop),
            mark,
        ));
    }
    let count = || sent.load(Ordering::Relaxed);
    wait_until(
        "500 requests before the push",
        Duration::from_secs(15),
        || count() >= 500,
    )
    .await;
    let pushed = Instant::now();
    assert_eq!(envoy.push(&demo_config("r2")).await, Verdict::Applied);
    let applied = count();
    eprintln!(
        "push applied after {:?}, {applied} requests sent",
        pushed.elapsed()
    );
    wait_until(
        "2,000 requests after the push",
        Duration::from_secs(20),
        || count() >= applied + 2_000,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut lanes = Vec::new();
    while let Some(lane) = clients.join_next().await {
        lanes.push(lane.expect("a client task"));
    }

    let all: Vec<&Sent> = lanes.iter().flatten().collect();
    assert_none_failed(all.iter().map(|s| (s.uid.as_str(), s.path, &s.outcome)));

    let by_id = upstreams.by_id();
    let mut per_revision: HashMap<&str, usize> = HashMap::new();
    for s in &all {
        let response = s.outcome.as_ref().expect("checked above");
        let revision = response.decision("rev").expect("a revision");
        let old = answer(r1, &s.uid, s.path);
        let new = answer(r2, &s.uid, s.path);
        assert!(
            response.served_by() == old || response.served_by() == new,
            "{} {}: served by {}, the old config says {old}, the new one {new}",
            s.uid,
            s.path,
            response.served_by()
        );
        assert_eq!(
            response.served_by(),
            answer(revision, &s.uid, s.path),
            "{} {} under {revision}",
            s.uid,
            s.path
        );
        let seen: Vec<_> = by_id[&s.id].iter().filter(|x| !x.mirrored()).collect();
        assert_eq!(seen.len(), 1);
        assert_followed(response, seen[0]);
        *per_revision.entry(revision).or_default() += 1;
    }
    assert!(
        per_revision.get(r1).is_some_and(|&n| n >= 500),
        "{per_revision:?}"
    );
    assert!(
        per_revision.get(r2).is_some_and(|&n| n > 0),
        "{per_revision:?}"
    );

    // A connection stays on its worker, and a worker swaps configurations once: along each
    // connection the revision never goes back. And every client ended on the new one.
    for lane in &lanes {
        let mut last: HashMap<usize, &str> = HashMap::new();
        for s in lane {
            let revision = s
                .outcome
                .as_ref()
                .ok()
                .and_then(|r| r.decision("rev"))
                .expect("a revision");
            if let Some(&before) = last.get(&s.connection) {
                assert!(
                    !(before == r2 && revision == r1),
                    "a connection went back from {r2} to {r1}"
                );
            }
            last.insert(s.connection, revision);
        }
        let end = lane
            .last()
            .and_then(|s| s.outcome.as_ref().ok())
            .and_then(|r| r.decision("rev"));
        assert_eq!(end, Some(r2), "a client's last request");
    }
    eprintln!("{} requests, none failed: {per_revision:?}", all.len());
}

#[tokio::test]
async fn a_rejected_push_is_counted_and_the_previous_configuration_keeps_serving() {
    let [(r1, ..), (r2, ..)] = assume_demo();
    let upstreams = Upstreams::start().await;
    let envoy = Envoy::start(&upstreams, Filter::Ecds(&demo_config("r1"))).await;

    let reqs = mixed(200, 0);
    let responses = envoy.send_all(&reqs, 4).await;
    assert_served(&upstreams, &reqs, &responses, r1);

    // Two problems in one configuration: both are logged with their JSON paths.
    let mut bad: Value = serde_json::from_str(&demo_config("r1")).expect("JSON");
    bad["revision"] = "bad".into();
    bad["routes"][0]["canary"]["weight"] = 150.into();
    bad["routes"][1]["blue_green"]["active"] = "purple".into();
    let before = envoy.ecds_stats().await;
    assert_eq!(
        envoy
            .push(&serde_json::to_string_pretty(&bad).expect("JSON"))
            .await,
        Verdict::Rejected
    );
    let after = envoy.ecds_stats().await;
    for stat in ["config_fail", "update_rejected"] {
        assert_eq!(
            after.get(stat),
            Some(&(before.get(stat).copied().unwrap_or(0) + 1)),
            "{stat}: {before:?} → {after:?}"
        );
    }
    let log = envoy.log();
    for path in ["routes[0].canary.weight", "routes[1].blue_green.active"] {
        assert!(log.contains(path), "the log names {path}:\n{log}");
    }

    // The previous configuration keeps serving, on new connections and on kept-alive ones.
    let reqs = mixed(200, 1_000);
    let responses = envoy.send_all(&reqs, 4).await;
    assert_served(&upstreams, &reqs, &responses, r1);
    let reqs = mixed(50, 2_000);
    let responses = envoy.send_fresh(&reqs).await;
    assert_served(&upstreams, &reqs, &responses, r1);

    // Not JSON at all: rejected as well.
    assert_eq!(
        envoy.push("{ \"revision\": \"broken\", ").await,
        Verdict::Rejected
    );
    let reqs = mixed(50, 3_000);
    let responses = envoy.send_fresh(&reqs).await;
    assert_served(&upstreams, &reqs, &responses, r1);

    // A good push after the rejected ones still applies.
    assert_eq!(envoy.push(&demo_config("r2")).await, Verdict::Applied);
    envoy
        .settle(&Req::get("/web/").user("user-0001"), r2, 20)
        .await;
    let reqs = mixed(200, 4_000);
    let responses = envoy.send_all(&reqs, 4).await;
    assert_served(&upstreams, &reqs, &responses, r2);
}
