//! `envoy/envoy.yaml` exactly as shipped, its inline plugin configuration being `envoy/demo/r1.json`
//! (`validate.rs` checks that they agree): the sticky canary split across Envoy's two workers,
//! experiment cohorts, and shadow copies, each judged by what the upstreams received.
//!
//! Expected sides and variants come from `crate::growthbook`, an independent transcription of
//! GrowthBook's arithmetic. Demo r1: route `checkout` (`/checkout…`) has a canary of 10 % to
//! `checkout-v2`, sticky on cookie `uid` with the default seed `checkout`; experiment `ranker`
//! (key cookie `uid`, seed `ranker`, hash v2) with control 0.6 / treatment 0.4; shadow of 20 % of
//! GETs, drawn per request, to `checkout-v3`.

use crate::growthbook as gb;
use crate::harness::{Envoy, Filter, MARKER, Req, Response, Seen, Upstreams, users};
use crate::stats::assert_within;
use serde_json::Value;
use std::collections::HashMap;

const STABLE: &str = "checkout-v1";
const CANARY: &str = "checkout-v2";
const SHADOW: &str = "checkout-v3";

/// The route of demo r1 that these tests rely on, checked rather than assumed.
fn assume_demo_r1() {
    let r1: Value = serde_json::from_str(&crate::harness::demo_config("r1")).expect("r1 is JSON");
    let checkout = &r1["routes"][0];
    assert_eq!(checkout["name"], "checkout");
    assert_eq!(checkout["canary"]["weight"], 10);
    assert_eq!(checkout["canary"]["sticky"][0], "cookie:uid");
    assert_eq!(checkout["experiments"][0]["name"], "ranker");
    assert_eq!(checkout["shadow"]["percent"], 20);
    assert_eq!(r1["debug"], true);
}

/// GrowthBook's answer for a user of demo r1: the cluster the canary puts them on.
pub fn side_in(uid: &str, weight_percent: u32) -> &'static str {
    if gb::basis_points_v2("checkout", uid) < weight_percent * 100 {
        CANARY
    } else {
        STABLE
    }
}

/// GrowthBook's variant of `ranker` for a user.
fn variant(uid: &str) -> &'static str {
    let ranges = gb::ranges(1.0, &[0.6, 0.4]);
    match gb::choose(gb::hash("ranker", uid, 2), &ranges) {
        Some(0) => "control",
        Some(1) => "treatment",
        other => panic!("full coverage enrols everyone, got {other:?}"),
    }
}

/// The response came from the cluster the filter decided, and that upstream received the
/// filter's cluster and target headers, once each.
pub fn assert_followed(response: &Response, seen: &Seen) {
    assert_eq!(response.status, 200, "{response:?}");
    let cluster = response
        .decision("cluster")
        .expect("a matched request's decision names its cluster");
    assert_eq!(
        response.served_by(),
        cluster,
        "Envoy did not route by the filter's cluster header"
    );
    assert_eq!(seen.upstream, cluster);
    assert_eq!(seen.all("x-switchyard-cluster"), [cluster]);
    assert_eq!(
        seen.all("x-switchyard-target"),
        [response.decision("target").expect("a target")]
    );
}

/// The one request (not a mirrored copy) that arrived upstream with `id`.
fn primary(by_id: &HashMap<u64, Vec<Seen>>, id: u64) -> &Seen {
    let arrived: Vec<&Seen> = by_id
        .get(&id)
        .map_or(Vec::new(), |v| v.iter().filter(|s| !s.mirrored()).collect());
    assert_eq!(
        arrived.len(),
        1,
        "request {id} reached the upstreams {} times",
        arrived.len()
    );
    arrived[0]
}

#[tokio::test]
async fn every_user_keeps_one_side_on_both_workers_and_the_canary_share_follows_the_weight() {
    assume_demo_r1();
    let upstreams = Upstreams::start().await;
    let envoy = Envoy::start(&upstreams, Filter::Static(None)).await;

    // Part 1, stickiness across workers: 40 users × 5 connections of their own, round-robin, each
    // attributed to the worker whose accepted-connections counter moved.
    let people = users(40);
    let mut workers_of: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut before = envoy.worker_connections().await;
    assert_eq!(before.len(), 2, "two workers (--concurrency 2)");
    let mut id = 0;
    for _round in 0..5 {
        for uid in &people {
            id += 1;
            let response = envoy
                .send(&Req::get("/checkout/cart").user(uid).id(id))
                .await;
            let after = envoy.worker_connections().await;
            let moved: Vec<usize> = (0..2).filter(|&w| after[w] > before[w]).collect();
            assert_eq!(
                moved.len(),
                1,
                "one worker accepted the connection: {before:?} → {after:?}"
            );
            before = after;
            workers_of.entry(uid).or_default().push(moved[0]);
            assert_eq!(
                response.served_by(),
                side_in(uid, 10),
                "{uid} on worker {}: not GrowthBook's side",
                moved[0]
            );
            assert_followed(&response, primary(&upstreams.by_id(), id));
        }
    }
    // Connections are spread by the kernel (SO_REUSEPORT, a keyed hash of the 4-tuple), like
    // coin flips: each worker's share of 200 connections is 100 ± 42, and a user's 5 connections
    // land on both workers with probability 1 − 2·0.5⁵ = 0.9375 (40 users: 37.5 ± 9.2).
    let on_worker_0 = workers_of.values().flatten().filter(|&&w| w == 0).count();
    assert_within(on_worker_0, 200, 0.5, "connections accepted by worker 0");
    let on_both = workers_of
        .values()
        .filter(|ws| ws.contains(&0) && ws.contains(&1))
        .count();
    assert_within(
        on_both,
        40,
        0.9375,
        "users whose connections both workers served",
    );

    // Part 2, the share: 2,000 users, one request each over 8 keep-alive connections. Each must
    // be on GrowthBook's side; as a sample of users the canary holds 10 %: 200 ± 80.
    let many = users(2000);
    let reqs: Vec<Req> = many
        .iter()
        .enumerate()
        .map(|(i, uid)| Req::get("/checkout/cart").user(uid).id(10_000 + i as u64))
        .collect();
    let responses = envoy.send_all(&reqs, 8).await;
    let by_id = upstreams.by_id();
    let mut in_canary = 0;
    for (i, (uid, response)) in many.iter().zip(&responses).enumerate() {
        assert_eq!(response.served_by(), side_in(uid, 10), "{uid}");
        assert_followed(response, primary(&by_id, 10_000 + i as u64));
        in_canary += usize::from(response.served_by() == CANARY);
    }
    assert_within(in_canary, 2000, 0.10, "users on the canary at weight 10");
}

#[tokio::test]
async fn cohort_headers_reach_the_upstream_as_growthbook_assigns_them() {
    assume_demo_r1();
    let upstreams = Upstreams::start().await;
    let envoy = Envoy::start(&upstreams, Filter::Static(None)).await;

    let many = users(2000);
    let mut reqs: Vec<Req> = many
        .iter()
        .enumerate()
        .map(|(i, uid)| Req::get("/checkout/list").user(uid).id(i as u64))
        .collect();
    // 50 requests without a uid: no key, not enrolled.
    reqs.extend((0..50).map(|i| {
        Req::get("/checkout/list")
            .cookie("theme", "dark")
            .id(5_000 + i)
    }));
    let responses = envoy.send_all(&reqs, 8).await;
    let by_id = upstreams.by_id();

    let mut treatment = 0;
    for (i, (uid, response)) in many.iter().zip(&responses).enumerate() {
        let seen = primary(&by_id, i as u64);
        assert_followed(response, seen);
        let expected = variant(uid);
        assert_eq!(
            seen.all("x-switchyard-exp-ranker"),
            [expected],
            "{uid}: the cohort upstream"
        );
        assert_eq!(
            response.decision("exp.ranker"),
            Some(expected),
            "{uid}: the decision"
        );
        treatment += usize::from(expected == "treatment");
    }
    // 2,000 users at p = 0.4: 800 ± 131.
    assert_within(treatment, 2000, 0.4, "users in treatment");
    for (i, response) in responses[many.len()..].iter().enumerate() {
        let seen = primary(&by_id, 5_000 + i as u64);
        assert_followed(response, seen);
        let cohorts: Vec<&str> = seen
            .headers
            .iter()
            .filter(|(n, _)| n.starts_with("x-switchyard-exp-"))
            .map(|(n, _)| n.as_str())
            .collect();
        assert!(
            cohorts.is_empty(),
            "a request without a key was enrolled: {cohorts:?}"
        );
        assert_eq!(response.decision("exp.ranker"), None);
    }
}

#[tokio::test]
async fn shadow_copies_reach_the_shadow_upstream_marked_and_never_for_post() {
    assume_demo_r1();
    let upstreams = Upstreams::start().await;
    let envoy = Envoy::start(&upstreams, Filter::Static(None)).await;

    let many = users(1000);
    let mut reqs: Vec<Req> = many
        .iter()
        .enumerate()
        .map(|(i, uid)| Req::get("/checkout/cart").user(uid).id(i as u64))
        .collect();
    reqs.extend(
        many[..300]
            .iter()
            .enumerate()
            .map(|(i, uid)| Req::post("/checkout/pay").user(uid).id(1_000 + i as u64)),
    );
    let responses = envoy.send_all(&reqs, 8).await;

    let picked: Vec<u64> = (0..1000)
        .filter(|&i| responses[i].decision("shadow") == Some("1"))
        .map(|i| i as u64)
        .collect();
    // A fresh draw per GET at 20 %: 1,000 GETs give 200 ± 76.
    assert_within(picked.len(), 1000, 0.2, "GETs picked for shadowing");
    // Copies travel beside the requests and may land after the responses: a marker request,
    // mirrored after all of them, tells when every copy is in.
    let markers = envoy
        .mirror_marker(&upstreams, SHADOW, 10_000, |id| {
            Req::get("/checkout/cart")
                .user(&format!("marker-{id}"))
                .id(id)
        })
        .await;

    let by_id = upstreams.by_id();
    for (i, response) in responses.iter().enumerate() {
        let id = i as u64;
        let seen = primary(&by_id, id);
        assert_followed(response, seen);
        assert_ne!(
            seen.upstream, SHADOW,
            "a request was served by the shadow cluster"
        );
        let copies: Vec<&Seen> = by_id[&id].iter().filter(|s| s.mirrored()).collect();
        if picked.contains(&id) {
            assert_eq!(seen.all("x-switchyard-shadow"), [SHADOW]);
            assert_eq!(copies.len(), 1, "request {id}: {} copies", copies.len());
            let copy = copies[0];
            assert_eq!(copy.upstream, SHADOW);
            assert_eq!(copy.all(MARKER), ["true"]);
            assert_eq!(
                (copy.method.as_str(), copy.path.as_str()),
                ("GET", "/checkout/cart")
            );
            assert_eq!(copy.header("host"), Some("shop.example.com-shadow"));
        } else {
            assert!(
                copies.is_empty(),
                "request {id} not picked, yet copied: {copies:?}"
            );
            assert!(seen.all("x-switchyard-shadow").is_empty());
            if i >= 1000 {
                assert_eq!(response.decision("shadow"), Some("0"), "a POST was picked");
            }
        }
    }
    let shadow_seen: Vec<Seen> = upstreams
        .seen()
        .into_iter()
        .filter(|s| s.upstream == SHADOW && !s.id().is_some_and(|id| markers.contains(&id)))
        .collect();
    assert_eq!(
        shadow_seen.len(),
        picked.len(),
        "the shadow upstream received exactly the copies"
    );
    assert!(
        shadow_seen.iter().all(Seen::mirrored),
        "an unmarked request reached the shadow upstream"
    );
    assert!(
        upstreams
            .seen()
            .iter()
            .filter(|s| s.upstream != SHADOW)
            .all(|s| !s.mirrored()),
        "the marker reached a primary request"
    );
}
