//! Anti-spoofing in Envoy: routing headers a client sends (`x-switchyard-cluster`, `-target`,
//! `-shadow`, `-exp-*`, the override token) never reach an upstream, never pick a cluster and
//! never cause a mirrored copy, whether the filter's routes match the request or not. Envoy's
//! routes are the ones users copy (`envoy/envoy.yaml`), so a spoofed cluster header that got
//! through would route the request.

use crate::harness::{Envoy, Filter, Req, Seen, Upstreams, users};
use crate::routing::{assert_followed, side_in};
use serde_json::{Value, json};
use std::collections::HashMap;

const TOKEN: &str = "qa-team-token-0123456789abcdef";

/// Demo r1 with a token that may force the canary through the `x-canary` header.
fn r1_with_token() -> String {
    let mut config: Value = serde_json::from_str(&crate::harness::demo_config("r1")).expect("JSON");
    config["overrides"] = json!({ "tokens": [TOKEN] });
    config["routes"][0]["canary"]["force"] = json!({ "header": "x-canary" });
    serde_json::to_string_pretty(&config).expect("JSON")
}

/// Every routing header, some repeated or in other cases, with values that would matter.
fn spoofed(req: Req) -> Req {
    req.header("x-switchyard-cluster", "web-green")
        .header("X-Switchyard-Cluster", "checkout-v2")
        .header("x-switchyard-target", "green")
        .header("X-SWITCHYARD-SHADOW", "checkout-v3")
        .header("x-switchyard-shadow", "checkout-v3")
        .header("x-switchyard-exp-ranker", "bogus")
        .header("x-switchyard-exp-other", "1")
        .header("x-switchyard-token", TOKEN)
        .header("X-Switchyard-Token", "another-token-0123456789")
}

/// The `x-switchyard-*` headers an upstream received, by name.
fn routing_headers(seen: &Seen) -> HashMap<&str, Vec<&str>> {
    let mut map: HashMap<&str, Vec<&str>> = HashMap::new();
    for (name, value) in &seen.headers {
        if name.starts_with("x-switchyard-") {
            map.entry(name.as_str()).or_default().push(value.as_str());
        }
    }
    map
}

#[tokio::test]
async fn routing_headers_sent_by_a_client_never_reach_an_upstream() {
    let upstreams = Upstreams::start().await;
    let config = r1_with_token();
    let envoy = Envoy::start(&upstreams, Filter::Static(Some(&config))).await;

    // 0..300 matched GETs; 300..400 matched POSTs; 400..500 unmatched GETs; 500..520 matched GETs
    // that use the valid token to force the canary; 520..540 unmatched with a cluster that
    // doesn't exist.
    let people = users(300);
    let mut reqs = Vec::new();
    for (i, uid) in people.iter().enumerate() {
        reqs.push(spoofed(Req::get("/checkout/cart").user(uid).id(i as u64)));
    }
    for (i, uid) in people[..100].iter().enumerate() {
        reqs.push(spoofed(
            Req::post("/checkout/pay").user(uid).id(300 + i as u64),
        ));
    }
    for (i, uid) in people[..100].iter().enumerate() {
        reqs.push(spoofed(
            Req::get("/static/logo.png").user(uid).id(400 + i as u64),
        ));
    }
    for (i, uid) in people[..20].iter().enumerate() {
        reqs.push(
            Req::get("/checkout/cart")
                .user(uid)
                .id(500 + i as u64)
                .header("x-switchyard-token", TOKEN)
                .header("x-canary", "always"),
        );
    }
    for i in 0..20 {
        reqs.push(
            Req::get("/static/x")
                .id(520 + i)
                .header("x-switchyard-cluster", "no-such-cluster"),
        );
    }
    let responses = envoy.send_all(&reqs, 4).await;

    let picked = responses
        .iter()
        .filter(|r| r.decision("shadow") == Some("1"))
        .count();
    // A marker request, mirrored after all of them, tells when every copy is in.
    let markers = envoy
        .mirror_marker(&upstreams, "checkout-v3", 10_000, |id| {
            Req::get("/checkout/cart")
                .user(&format!("marker-{id}"))
                .id(id)
        })
        .await;
    let by_id = upstreams.by_id();

    for (i, response) in responses.iter().enumerate() {
        let id = i as u64;
        let arrived = by_id.get(&id).cloned().unwrap_or_default();
        let (copies, primaries): (Vec<Seen>, Vec<Seen>) =
            arrived.into_iter().partition(Seen::mirrored);
        assert_eq!(
            primaries.len(),
            1,
            "request {id} arrived {} times",
            primaries.len()
        );
        let seen = &primaries[0];
        let headers = routing_headers(seen);
        assert!(
            !headers.contains_key("x-switchyard-token"),
            "request {id}: the token went upstream"
        );
        assert!(
            !headers.contains_key("x-switchyard-exp-other"),
            "request {id}: a spoofed cohort went upstream"
        );
        match i {
            0..400 | 500..520 => {
                assert_followed(response, seen);
                let uid = &people[i % 300];
                let expected = if i >= 500 {
                    "checkout-v2"
                } else {
                    side_in(uid, 10)
                };
                assert_eq!(response.served_by(), expected, "request {id} ({uid})");
                assert_ne!(
                    headers["x-switchyard-exp-ranker"],
                    ["bogus"],
                    "request {id}: spoofed cohort"
                );
                assert_eq!(headers["x-switchyard-exp-ranker"].len(), 1);
                let shadow = response.decision("shadow") == Some("1");
                assert!(
                    !(shadow && (300..400).contains(&i)),
                    "request {id}: a POST was picked for shadowing"
                );
                let expected_shadow: &[&str] = if shadow { &["checkout-v3"] } else { &[] };
                assert_eq!(
                    headers
                        .get("x-switchyard-shadow")
                        .cloned()
                        .unwrap_or_default(),
                    expected_shadow,
                    "request {id}"
                );
                assert_eq!(
                    copies.len(),
                    usize::from(shadow),
                    "request {id}: mirrored copies"
                );
            }
            _ => {
                assert_eq!(response.status, 200, "request {id}: {response:?}");
                assert_eq!(
                    response.served_by(),
                    "default",
                    "request {id}: an unmatched request was routed"
                );
                assert!(
                    headers.is_empty(),
                    "request {id}: routing headers reached {}: {headers:?}",
                    seen.upstream
                );
                assert!(
                    copies.is_empty(),
                    "request {id}: an unmatched request was mirrored"
                );
                assert_eq!(response.decision("route"), Some(""));
            }
        }
    }
    // Nothing but marked copies of picked requests at the shadow upstream.
    let at_shadow: Vec<Seen> = upstreams
        .seen()
        .into_iter()
        .filter(|s| s.upstream == "checkout-v3" && !s.id().is_some_and(|id| markers.contains(&id)))
        .collect();
    assert_eq!(at_shadow.len(), picked);
    assert!(at_shadow.iter().all(Seen::mirrored));
}
