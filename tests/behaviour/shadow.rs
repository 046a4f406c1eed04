//! Shadow through the compiled module: the share of requests tagged for mirroring, keyed
//! sampling that mirrors a fixed set of users on every worker, the methods allow-list, and the
//! shadow header's value.
//!
//! Expected keyed decisions come from `crate::growthbook` (independent of
//! `src/hash.rs`). Statistical tests are seeded (`Host::with_seed`) and bounded by the binomial
//! mean ± 6 standard deviations of their sample size (`assert_within`), stated next to each.

use crate::canary::{Upstream, assert_within, configured, get, keys, request, send};
use crate::growthbook as gb;
use crate::host::{Host, SWITCHYARD, Vm};
use serde_json::{Value, json};

const STABLE: &str = "catalog-v1";
const SHADOW: &str = "catalog-v2-shadow";

/// One route `catalog` with `shadow`, and `extra` route fields.
fn catalog(shadow: Value, extra: Value) -> Value {
    let mut route = json!({ "name": "catalog", "stable": STABLE, "shadow": shadow });
    for (k, v) in extra.as_object().expect("an object") {
        route[k] = v.clone();
    }
    json!({ "revision": "shadow", "routes": [route] })
}

/// Whether the request was tagged for mirroring; when it was, the header names the shadow cluster
/// exactly once, and the primary cluster is untouched.
fn mirrored(upstream: &Upstream, shadow_cluster: &str) -> bool {
    match upstream.get("x-switchyard-shadow") {
        None => false,
        Some(value) => {
            assert_eq!(value, shadow_cluster, "the shadow header names the cluster");
            assert_eq!(upstream.count("x-switchyard-shadow"), 1);
            true
        }
    }
}

fn send_method(vm: &mut Vm, method: &str, extra: &[(&str, &str)]) -> Upstream {
    send(vm, &request(method, "/items?page=2", extra))
}

#[test]
fn without_a_key_the_mirrored_share_follows_the_percent() {
    let host = Host::new(&SWITCHYARD).with_seed(40);
    let config = catalog(json!({ "cluster": SHADOW, "percent": 10 }), json!({}));
    let mut vms: Vec<Vm> = (0..4).map(|_| configured(&host, &config)).collect();
    // 5,000 GETs at p = 0.1: mean 500, sd = √(5000·0.1·0.9) ≈ 21.2, so 500 ± 127.
    let mut count = 0;
    for i in 0..5_000 {
        let upstream = send(&mut vms[i % 4], &get(&[("x-user", "same-user")]));
        assert_eq!(
            upstream.cluster(),
            STABLE,
            "mirroring never moves the request"
        );
        assert_eq!(upstream.target(), "stable");
        count += usize::from(mirrored(&upstream, SHADOW));
    }
    assert_within(count, 5_000, 0.1, "requests mirrored at 10 percent");

    // A share in hundredths: 2,000 GETs at p = 0.0125: mean 25, sd ≈ 4.97, so 25 ± 29.8.
    let mut vm = configured(
        &host,
        &catalog(json!({ "cluster": SHADOW, "percent": 1.25 }), json!({})),
    );
    let count = (0..2_000)
        .filter(|_| mirrored(&send(&mut vm, &get(&[])), SHADOW))
        .count();
    assert_within(count, 2_000, 0.0125, "requests mirrored at 1.25 percent");
}

#[test]
fn percents_of_0_and_100_mirror_nothing_and_every_allowed_request() {
    let host = Host::new(&SWITCHYARD).with_seed(41);
    for (percent, expected) in [(0.0, false), (100.0, true)] {
        let mut vm = configured(
            &host,
            &catalog(json!({ "cluster": SHADOW, "percent": percent }), json!({})),
        );
        for _ in 0..300 {
            assert_eq!(mirrored(&send(&mut vm, &get(&[])), SHADOW), expected);
        }
    }
}

#[test]
fn keyed_shadowing_mirrors_the_same_users_on_every_worker_of_every_proxy() {
    let users = keys(600);
    let mut by_proxy = Vec::new();
    for seed in [42, 43] {
        let host = Host::new(&SWITCHYARD).with_seed(seed);
        let config = catalog(
            json!({ "cluster": SHADOW, "percent": 20, "key": ["header:x-user", "cookie:sid"] }),
            json!({}),
        );
        let mut vms: Vec<Vm> = (0..3).map(|_| configured(&host, &config)).collect();
        let sides: Vec<bool> = users
            .iter()
            .map(|user| {
                let cookie = format!("sid={user}");
                let seen: Vec<bool> = vms
                    .iter_mut()
                    .enumerate()
                    .map(|(i, vm)| {
                        // The key's value decides, whichever source carries it.
                        let extra = if i == 2 {
                            [("cookie", cookie.as_str())]
                        } else {
                            [("x-user", user.as_str())]
                        };
                        mirrored(&send(vm, &get(&extra)), SHADOW)
                    })
                    .collect();
                // Default seed: route name + ".shadow".
                let expected = gb::basis_points_v2("catalog.shadow", user) < 2000;
                assert_eq!(seen, [expected; 3], "user {user:?}");
                expected
            })
            .collect();
        by_proxy.push(sides);
    }
    assert_eq!(
        by_proxy[0], by_proxy[1],
        "the proxies mirror different users"
    );
    // 600 users at p = 0.2: mean 120, sd ≈ 9.8, so 120 ± 58.8.
    let count = by_proxy[0].iter().filter(|&&m| m).count();
    assert_within(count, 600, 0.2, "users mirrored at 20 percent");
}

#[test]
fn a_keyed_shadow_draws_requests_without_the_key_at_random() {
    let host = Host::new(&SWITCHYARD).with_seed(48);
    let mut vm = configured(
        &host,
        &catalog(
            json!({ "cluster": SHADOW, "percent": 30, "key": ["header:x-user"] }),
            json!({}),
        ),
    );
    // 3,000 GETs without x-user at p = 0.3: mean 900, sd ≈ 25.1, so 900 ± 150.6.
    let count = (0..3_000)
        .filter(|_| mirrored(&send(&mut vm, &get(&[])), SHADOW))
        .count();
    assert_within(count, 3_000, 0.3, "keyless requests mirrored at 30 percent");
}

#[test]
fn a_configured_shadow_seed_replaces_the_route_name_dot_shadow() {
    let host = Host::new(&SWITCHYARD).with_seed(44);
    let mut vm = configured(
        &host,
        &catalog(
            json!({ "cluster": SHADOW, "percent": 37.5, "key": ["header:x-user"],
                    "seed": "mirror-2026" }),
            json!({}),
        ),
    );
    let users = keys(1_000);
    for user in &users {
        assert_eq!(
            mirrored(&send(&mut vm, &get(&[("x-user", user)])), SHADOW),
            gb::basis_points_v2("mirror-2026", user) < 3750,
            "user {user:?}"
        );
    }
    let differ = users
        .iter()
        .filter(|u| {
            (gb::basis_points_v2("mirror-2026", u) < 3750)
                != (gb::basis_points_v2("catalog.shadow", u) < 3750)
        })
        .count();
    assert!(differ > 100, "the seeds barely differ ({differ} users)");
}

#[test]
fn by_default_get_head_and_options_are_mirrored_and_writes_are_not() {
    let host = Host::new(&SWITCHYARD).with_seed(45);
    let mut vm = configured(
        &host,
        &catalog(json!({ "cluster": SHADOW, "percent": 100 }), json!({})),
    );
    for method in ["GET", "HEAD", "OPTIONS"] {
        for _ in 0..20 {
            let upstream = send_method(&mut vm, method, &[]);
            assert!(mirrored(&upstream, SHADOW), "{method} is mirrored");
            assert_eq!(upstream.cluster(), STABLE);
        }
    }
    for method in ["POST", "PUT", "PATCH", "DELETE", "CONNECT", "get", "Get"] {
        for _ in 0..20 {
            let upstream = send_method(&mut vm, method, &[]);
            assert!(!mirrored(&upstream, SHADOW), "{method} is not mirrored");
            assert_eq!(upstream.cluster(), STABLE, "{method} is still routed");
        }
    }
    // Keyed sampling does not change the allow-list: a user mirrored on GET is not on POST.
    let mut vm = configured(
        &host,
        &catalog(
            json!({ "cluster": SHADOW, "percent": 50, "key": ["header:x-user"] }),
            json!({}),
        ),
    );
    for user in keys(200)
        .iter()
        .filter(|u| gb::basis_points_v2("catalog.shadow", u) < 5000)
    {
        assert!(mirrored(
            &send_method(&mut vm, "GET", &[("x-user", user)]),
            SHADOW
        ));
        assert!(!mirrored(
            &send_method(&mut vm, "POST", &[("x-user", user)]),
            SHADOW
        ));
    }
}

#[test]
fn configured_methods_replace_the_default_allow_list() {
    let host = Host::new(&SWITCHYARD).with_seed(46);
    let mut vm = configured(
        &host,
        &catalog(
            json!({ "cluster": SHADOW, "percent": 100, "methods": ["POST", "GET"] }),
            json!({}),
        ),
    );
    for (method, expected) in [
        ("POST", true),
        ("GET", true),
        ("HEAD", false),
        ("OPTIONS", false),
        ("PUT", false),
    ] {
        assert_eq!(
            mirrored(&send_method(&mut vm, method, &[]), SHADOW),
            expected,
            "{method}"
        );
    }
}

#[test]
fn the_shadow_header_carries_the_shadow_cluster_whatever_the_primary_decision() {
    let host = Host::new(&SWITCHYARD).with_seed(47);
    let istio = "outbound|8080|v2|catalog.default.svc.cluster.local";
    let config = catalog(
        json!({ "cluster": istio, "percent": 100 }),
        json!({ "canary": { "cluster": "catalog-v3", "weight": 50 } }),
    );
    let mut vm = configured(&host, &config);
    let mut targets = [0usize; 2];
    for _ in 0..200 {
        let upstream = send(&mut vm, &get(&[]));
        assert!(mirrored(&upstream, istio));
        let in_canary = upstream.in_canary();
        assert_eq!(
            upstream.cluster(),
            if in_canary { "catalog-v3" } else { STABLE }
        );
        targets[usize::from(in_canary)] += 1;
    }
    assert!(targets.iter().all(|&n| n > 0), "both sides mirrored");

    // A configured shadow header name carries it instead.
    let mut config = catalog(json!({ "cluster": SHADOW, "percent": 100 }), json!({}));
    config["headers"] = json!({ "shadow": "x-mirror-to" });
    let mut vm = configured(&host, &config);
    let upstream = send(&mut vm, &get(&[]));
    assert_eq!(upstream.get("x-mirror-to"), Some(SHADOW));
    assert_eq!(upstream.get("x-switchyard-shadow"), None);

    // A request that is not mirrored carries no shadow header, even one the client sent.
    let mut vm = configured(
        &host,
        &catalog(json!({ "cluster": SHADOW, "percent": 0 }), json!({})),
    );
    let upstream = send(
        &mut vm,
        &get(&[("x-switchyard-shadow", "attacker-cluster")]),
    );
    assert_eq!(upstream.get("x-switchyard-shadow"), None);
}
