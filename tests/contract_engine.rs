//! The decision rules of the contract (`shared/spec/CONFIG.md`), request by request: matching,
//! blue-green, canary, experiments, shadow, key sources and the order in which they apply.
//!
//! Hashes are checked against GrowthBook's arithmetic twice: against values printed by the JS
//! SDK's own functions (run under Node), and against `common::growthbook`, a transcription that
//! shares no code with `src/hash.rs`. Statistical tests are seeded; their bounds are the binomial
//! mean ± 6 standard deviations for the sample size (see `common::stats::six_sigma`).

mod common;

use common::growthbook as gb;
use common::stats::assert_within;
use common::{Outcome, TestEnv, decide, decide_bytes, get, keys, load};
use serde_json::{Value, json};
use switchyard::hash;
use switchyard::plan::Plan;

/// 2026-12-01T10:00:00Z in Unix milliseconds (`date -u -d 2026-12-01T10:00:00Z +%s`).
const SWITCH_AT_MS: i64 = 1_796_119_200_000;
const TOKEN: &str = "qa-team-token-0123456789abcdef";

fn plan_of(routes: Value) -> Plan {
    load(&json!({ "routes": routes }))
}

/// A plan whose overrides are honoured from everyone.
fn plan_for_anyone(routes: Value) -> Plan {
    load(&json!({ "overrides": { "from": "anyone" }, "routes": routes }))
}

fn decide_get(plan: &Plan, extra: &[(&str, &str)]) -> Outcome {
    decide(
        plan,
        &get("shop.example.com", "/", extra),
        &mut TestEnv::seeded(7),
    )
    .expect("the route matches")
}

fn matched_route(plan: &Plan, headers: &[(&str, &str)]) -> Option<String> {
    decide(plan, headers, &mut TestEnv::seeded(1)).map(|o| o.route)
}

/// Percent-encode every byte that is not an ASCII letter or digit.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ----------------------------------------------------------------------------------------------
// Matching

#[test]
fn hosts_match_exactly_ignoring_case_and_port() {
    let plan = plan_of(
        json!([{ "name": "shop", "match": { "hosts": ["Shop.Example.com"] }, "stable": "s" }]),
    );
    for host in [
        "shop.example.com",
        "SHOP.example.COM",
        "shop.example.com:8443",
    ] {
        let headers = get(host, "/", &[]);
        assert_eq!(
            matched_route(&plan, &headers).as_deref(),
            Some("shop"),
            "{host}"
        );
    }
    for host in [
        "example.com",
        "www.shop.example.com",
        "shop.example.org",
        "shop.example.com.evil.net",
        "",
    ] {
        let headers = get(host, "/", &[]);
        assert_eq!(matched_route(&plan, &headers), None, "{host}");
    }
}

#[test]
fn a_wildcard_host_matches_any_subdomain_but_not_the_domain_itself() {
    let plan = plan_of(
        json!([{ "name": "wild", "match": { "hosts": ["*.example.com"] }, "stable": "s" }]),
    );
    for host in ["a.example.com", "a.b.example.com", "API.Example.COM:80"] {
        let headers = get(host, "/", &[]);
        assert_eq!(
            matched_route(&plan, &headers).as_deref(),
            Some("wild"),
            "{host}"
        );
    }
    for host in [
        "example.com",
        "aexample.com",
        "example.com.au",
        "a.example.org",
    ] {
        let headers = get(host, "/", &[]);
        assert_eq!(matched_route(&plan, &headers), None, "{host}");
    }
}

#[test]
fn a_lone_star_or_no_hosts_at_all_match_every_host() {
    let plan = plan_of(json!([
        { "name": "star", "match": { "hosts": ["*"], "path_prefix": "/star" }, "stable": "s" },
        { "name": "any", "match": {}, "stable": "s" }
    ]));
    for host in [
        "shop.example.com",
        "10.0.0.1:8080",
        "[::1]:443",
        "localhost",
    ] {
        assert_eq!(
            matched_route(&plan, &get(host, "/star/x", &[])).as_deref(),
            Some("star"),
            "{host}"
        );
        assert_eq!(
            matched_route(&plan, &get(host, "/other", &[])).as_deref(),
            Some("any"),
            "{host}"
        );
    }
}

#[test]
fn path_prefix_matches_the_path_without_its_query_string() {
    let plan =
        plan_of(json!([{ "name": "api", "match": { "path_prefix": "/api" }, "stable": "s" }]));
    for path in ["/api", "/api/v1/cart", "/api?x=1", "/apis"] {
        assert_eq!(
            matched_route(&plan, &get("h", path, &[])).as_deref(),
            Some("api"),
            "{path}"
        );
    }
    for path in ["/", "/ap", "/v1/api", "/API", "/other?next=/api"] {
        assert_eq!(matched_route(&plan, &get("h", path, &[])), None, "{path}");
    }
}

#[test]
fn path_exact_matches_the_whole_path_without_its_query_string() {
    let plan = plan_of(
        json!([{ "name": "health", "match": { "path_exact": "/healthz" }, "stable": "s" }]),
    );
    for path in ["/healthz", "/healthz?verbose=1"] {
        assert_eq!(
            matched_route(&plan, &get("h", path, &[])).as_deref(),
            Some("health"),
            "{path}"
        );
    }
    for path in ["/healthz/", "/healthz2", "/health", "/x?/healthz"] {
        assert_eq!(matched_route(&plan, &get("h", path, &[])), None, "{path}");
    }
}

#[test]
fn methods_restrict_the_match() {
    let plan = plan_of(
        json!([{ "name": "reads", "match": { "methods": ["GET", "HEAD"] }, "stable": "s" }]),
    );
    let with_method = |m: &'static str| vec![(":authority", "h"), (":path", "/"), (":method", m)];
    assert_eq!(
        matched_route(&plan, &with_method("GET")).as_deref(),
        Some("reads")
    );
    assert_eq!(
        matched_route(&plan, &with_method("HEAD")).as_deref(),
        Some("reads")
    );
    assert_eq!(matched_route(&plan, &with_method("POST")), None);
    assert_eq!(
        matched_route(&plan, &with_method("get")),
        None,
        "methods are case-sensitive"
    );
}

#[test]
fn header_conditions_test_exact_prefix_presence_and_absence_and_must_all_hold() {
    let plan = plan_of(json!([{ "name": "beta", "match": { "headers": [
        { "name": "X-Tenant", "exact": "acme" },
        { "name": "user-agent", "prefix": "Mozilla/" },
        { "name": "x-user-id", "present": true },
        { "name": "x-debug", "present": false }
    ] }, "stable": "s" }]));
    let all = [
        ("x-tenant", "acme"),
        ("User-Agent", "Mozilla/5.0"),
        ("x-user-id", ""),
    ];
    assert_eq!(
        matched_route(&plan, &get("h", "/", &all)).as_deref(),
        Some("beta")
    );
    let variations: [&[(&str, &str)]; 6] = [
        &[
            ("x-tenant", "Acme"),
            ("user-agent", "Mozilla/5.0"),
            ("x-user-id", "1"),
        ],
        &[
            ("x-tenant", "acme2"),
            ("user-agent", "Mozilla/5.0"),
            ("x-user-id", "1"),
        ],
        &[
            ("x-tenant", "acme"),
            ("user-agent", "curl/8 Mozilla/"),
            ("x-user-id", "1"),
        ],
        &[("x-tenant", "acme"), ("user-agent", "Mozilla/5.0")],
        &[
            ("x-tenant", "acme"),
            ("user-agent", "Mozilla/5.0"),
            ("x-user-id", "1"),
            ("x-debug", "1"),
        ],
        &[("user-agent", "Mozilla/5.0"), ("x-user-id", "1")],
    ];
    for extra in variations {
        assert_eq!(
            matched_route(&plan, &get("h", "/", extra)),
            None,
            "{extra:?}"
        );
    }
}

#[test]
fn the_first_matching_route_in_configuration_order_wins() {
    let plan = plan_of(json!([
        { "name": "v2", "match": { "path_prefix": "/api/v2" }, "stable": "s" },
        { "name": "shop", "match": { "hosts": ["shop.example.com"] }, "stable": "s" },
        { "name": "wild", "match": { "hosts": ["*.example.com"], "path_exact": "/cart" }, "stable": "s" },
        { "name": "posts", "match": { "methods": ["POST"] }, "stable": "s" },
        { "name": "all", "stable": "s" },
        { "name": "never", "match": { "path_exact": "/cart" }, "stable": "s" }
    ]));
    let cases = [
        ("shop.example.com", "/api/v2/cart", "GET", "v2"),
        ("shop.example.com", "/cart", "GET", "shop"),
        ("x.example.com", "/api/v2", "GET", "v2"),
        ("x.example.com", "/cart", "GET", "wild"),
        ("x.example.com", "/cart", "POST", "wild"),
        ("x.example.com", "/checkout", "POST", "posts"),
        ("other.org", "/cart", "GET", "all"),
    ];
    for (host, path, method, route) in cases {
        let headers = [(":authority", host), (":path", path), (":method", method)];
        assert_eq!(
            matched_route(&plan, &headers).as_deref(),
            Some(route),
            "{method} {host}{path}"
        );
    }
}

#[test]
fn a_route_rejected_by_its_method_or_headers_lets_the_next_one_match() {
    let plan = plan_of(json!([
        { "name": "beta", "match": { "hosts": ["shop.example.com"], "headers": [{ "name": "x-beta", "present": true }] }, "stable": "s" },
        { "name": "writes", "match": { "hosts": ["shop.example.com"], "methods": ["POST"] }, "stable": "s" },
        { "name": "shop", "match": { "hosts": ["shop.example.com"] }, "stable": "s" }
    ]));
    assert_eq!(
        matched_route(&plan, &get("shop.example.com", "/", &[("x-beta", "1")])).as_deref(),
        Some("beta")
    );
    assert_eq!(
        matched_route(&plan, &get("shop.example.com", "/", &[])).as_deref(),
        Some("shop")
    );
    let post = [
        (":authority", "shop.example.com"),
        (":path", "/"),
        (":method", "POST"),
    ];
    assert_eq!(matched_route(&plan, &post).as_deref(), Some("writes"));
}

#[test]
fn an_unmatched_request_gets_no_decision() {
    let plan = plan_of(
        json!([{ "name": "shop", "match": { "hosts": ["shop.example.com"] }, "stable": "s",
        "canary": { "cluster": "c", "weight": 100 }, "shadow": { "cluster": "m", "percent": 100 } }]),
    );
    let mut env = TestEnv::seeded(1);
    assert_eq!(
        decide(&plan, &get("other.example.com", "/", &[]), &mut env),
        None
    );
    assert_eq!(
        decide(
            &plan_of(json!([])),
            &get("shop.example.com", "/", &[]),
            &mut env
        ),
        None
    );
}

#[test]
fn a_matched_request_without_strategies_goes_to_stable() {
    let plan = plan_of(json!([{ "name": "shop", "stable": "shop-v1" }]));
    let outcome = decide_get(&plan, &[]);
    assert_eq!(
        outcome,
        Outcome {
            route: "shop".into(),
            target: "stable",
            cluster: "shop-v1".into(),
            shadow: None,
            reason: "base",
            cohorts: vec![],
        }
    );
}

// ----------------------------------------------------------------------------------------------
// Blue-green

fn blue_green_route() -> Value {
    json!({ "name": "web", "blue_green": {
        "active": "blue", "blue": "web-blue", "green": "web-green",
        "preview": { "header": "x-preview", "cookie": "preview" },
        "switch_at": { "active": "green", "at": "2026-12-01T10:00:00Z" }
    } })
}

fn decide_at(plan: &Plan, now_ms: i64, extra: &[(&str, &str)]) -> Outcome {
    decide(plan, &get("h", "/", extra), &mut TestEnv::at(now_ms)).expect("the route matches")
}

#[test]
fn the_active_colour_serves_before_switch_at() {
    let plan = plan_of(json!([blue_green_route()]));
    let outcome = decide_at(&plan, SWITCH_AT_MS - 1, &[]);
    assert_eq!(
        (outcome.target, outcome.cluster.as_str(), outcome.reason),
        ("blue", "web-blue", "base")
    );
}

#[test]
fn switch_at_makes_the_other_colour_active_from_that_instant() {
    let plan = plan_of(json!([blue_green_route()]));
    for now in [
        SWITCH_AT_MS,
        SWITCH_AT_MS + 1,
        SWITCH_AT_MS + 365 * 86_400_000,
    ] {
        let outcome = decide_at(&plan, now, &[]);
        assert_eq!(
            (outcome.target, outcome.cluster.as_str(), outcome.reason),
            ("green", "web-green", "scheduled"),
            "at {now}"
        );
    }
    // And the schedule names the colour, it does not toggle.
    let plan = plan_of(json!([{ "name": "web", "blue_green": {
        "active": "green", "blue": "web-blue", "green": "web-green",
        "switch_at": { "active": "blue", "at": "2026-12-01T11:00:00+01:00" }
    } }]));
    assert_eq!(decide_at(&plan, SWITCH_AT_MS - 1, &[]).cluster, "web-green");
    assert_eq!(decide_at(&plan, SWITCH_AT_MS, &[]).cluster, "web-blue");
}

#[test]
fn a_preview_is_ignored_with_the_default_overrides() {
    let plan = plan_of(json!([blue_green_route()]));
    let outcome = decide_at(
        &plan,
        0,
        &[("x-preview", "green"), ("cookie", "preview=green")],
    );
    assert_eq!(
        (outcome.cluster.as_str(), outcome.reason),
        ("web-blue", "base")
    );
}

#[test]
fn a_preview_from_anyone_sends_the_request_to_that_colour() {
    let plan = plan_for_anyone(json!([blue_green_route()]));
    let outcome = decide_at(&plan, 0, &[("x-preview", "green")]);
    assert_eq!(
        (outcome.target, outcome.cluster.as_str(), outcome.reason),
        ("green", "web-green", "preview")
    );
    let outcome = decide_at(&plan, 0, &[("cookie", "a=1; preview=green")]);
    assert_eq!(
        (outcome.target, outcome.cluster.as_str(), outcome.reason),
        ("green", "web-green", "preview")
    );
    // After the switch, a preview reaches the colour that is no longer active.
    let outcome = decide_at(&plan, SWITCH_AT_MS, &[("x-preview", "blue")]);
    assert_eq!(
        (outcome.target, outcome.cluster.as_str(), outcome.reason),
        ("blue", "web-blue", "preview")
    );
}

#[test]
fn a_preview_header_wins_over_a_preview_cookie() {
    let plan = plan_for_anyone(json!([blue_green_route()]));
    let outcome = decide_at(
        &plan,
        SWITCH_AT_MS,
        &[("x-preview", "blue"), ("cookie", "preview=green")],
    );
    assert_eq!(outcome.cluster, "web-blue");
    let outcome = decide_at(
        &plan,
        0,
        &[("x-preview", "green"), ("cookie", "preview=blue")],
    );
    assert_eq!(outcome.cluster, "web-green");
}

#[test]
fn a_preview_value_other_than_blue_or_green_is_ignored() {
    let plan = plan_for_anyone(json!([blue_green_route()]));
    for value in [
        "Green",
        "GREEN",
        "purple",
        "",
        " green",
        "web-green",
        "canary",
    ] {
        let outcome = decide_at(&plan, 0, &[("x-preview", value)]);
        assert_eq!(
            (outcome.cluster.as_str(), outcome.reason),
            ("web-blue", "base"),
            "{value:?}"
        );
    }
}

#[test]
fn a_preview_is_honoured_with_a_valid_token_only() {
    let plan = load(
        &json!({ "overrides": { "tokens": ["another-token-0123456789", TOKEN] }, "routes": [blue_green_route()] }),
    );
    let preview = decide_at(
        &plan,
        0,
        &[("x-preview", "green"), ("x-switchyard-token", TOKEN)],
    );
    assert_eq!(
        (preview.cluster.as_str(), preview.reason),
        ("web-green", "preview")
    );
    let wrong = format!("{}X", &TOKEN[..TOKEN.len() - 1]);
    let longer = format!("{TOKEN}0");
    for token in [wrong.as_str(), longer.as_str(), &TOKEN[..16], ""] {
        let outcome = decide_at(
            &plan,
            0,
            &[("x-preview", "green"), ("x-switchyard-token", token)],
        );
        assert_eq!(outcome.cluster, "web-blue", "token {token:?}");
    }
    let in_cookie = format!("x-switchyard-token={TOKEN}");
    let outcome = decide_at(&plan, 0, &[("x-preview", "green"), ("cookie", &in_cookie)]);
    assert_eq!(
        outcome.cluster, "web-blue",
        "a token travels in its header only"
    );
}

#[test]
fn a_preview_is_honoured_from_a_listed_source_range_only() {
    let plan = load(
        &json!({ "overrides": { "source_cidrs": ["10.0.0.0/8", "2001:db8::/32"] }, "routes": [blue_green_route()] }),
    );
    let from = |ip: Option<&str>| {
        let mut env = match ip {
            Some(ip) => TestEnv::from_ip(ip),
            None => TestEnv::seeded(1),
        };
        decide(&plan, &get("h", "/", &[("x-preview", "green")]), &mut env)
            .expect("matched")
            .cluster
    };
    assert_eq!(from(Some("10.1.2.3")), "web-green");
    assert_eq!(
        from(Some("::ffff:10.1.2.3")),
        "web-green",
        "an IPv4-mapped client is in the IPv4 range"
    );
    assert_eq!(from(Some("2001:db8::5")), "web-green");
    assert_eq!(from(Some("11.1.2.3")), "web-blue");
    assert_eq!(from(Some("2001:db9::5")), "web-blue");
    assert_eq!(from(None), "web-blue", "no known source, no trust");
}

// ----------------------------------------------------------------------------------------------
// Canary

fn canary_route(canary: Value) -> Value {
    json!({ "name": "checkout", "stable": "checkout-v1", "canary": canary })
}

fn in_canary(plan: &Plan, extra: &[(&str, &str)], env: &mut TestEnv) -> bool {
    let outcome = decide(plan, &get("h", "/", extra), env).expect("the route matches");
    match outcome.target {
        "canary" => {
            assert_eq!(outcome.cluster, "checkout-v2");
            true
        }
        "stable" => {
            assert_eq!(outcome.cluster, "checkout-v1");
            false
        }
        other => panic!("target {other}"),
    }
}

#[test]
fn a_weight_of_0_never_and_a_weight_of_100_always_selects_the_canary() {
    let never = plan_of(json!([canary_route(
        json!({ "cluster": "checkout-v2", "weight": 0, "sticky": ["header:x-user"] })
    )]));
    let always = plan_of(json!([canary_route(
        json!({ "cluster": "checkout-v2", "weight": 100, "sticky": ["header:x-user"] })
    )]));
    let mut env = TestEnv::seeded(3);
    for key in keys(2_000) {
        assert!(!in_canary(&never, &[("x-user", &key)], &mut env), "{key}");
        assert!(in_canary(&always, &[("x-user", &key)], &mut env), "{key}");
        assert!(!in_canary(&never, &[], &mut env));
        assert!(in_canary(&always, &[], &mut env));
    }
}

#[test]
fn without_a_key_each_request_draws_its_side_from_the_proxy_random_source() {
    // 40,000 draws at 25 %: mean 10,000, sd = sqrt(40,000 × 0.25 × 0.75) ≈ 86.6; ±6 sd.
    let plan = plan_of(json!([canary_route(
        json!({ "cluster": "checkout-v2", "weight": 25 })
    )]));
    let mut env = TestEnv::seeded(0x5eed);
    let n: u32 = 40_000;
    let mut hits = 0;
    for _ in 0..n {
        let outcome = decide(&plan, &get("h", "/", &[]), &mut env).expect("matched");
        if outcome.target == "canary" {
            assert_eq!(outcome.reason, "random");
            hits += 1;
        } else {
            assert_eq!(outcome.reason, "base");
        }
    }
    assert_within(hits, n, 0.25, "requests in the canary");
    assert!(
        env.random_calls >= u64::from(n),
        "each request drew: {}",
        env.random_calls
    );
}

#[test]
fn a_weight_with_hundredths_is_honoured_by_the_random_split() {
    // 200,000 draws at 0.05 %: mean 100, sd ≈ 10; ±6 sd excludes 0.04 % and 0.1 %.
    let plan = plan_of(json!([canary_route(
        json!({ "cluster": "checkout-v2", "weight": 0.05 })
    )]));
    let mut env = TestEnv::seeded(99);
    let n = 200_000;
    let hits = (0..n).filter(|_| in_canary(&plan, &[], &mut env)).count();
    assert_within(
        u32::try_from(hits).expect("small"),
        n,
        0.0005,
        "requests in the canary",
    );
}

#[test]
fn a_sticky_key_always_gets_the_same_side() {
    let plan = plan_of(json!([canary_route(
        json!({ "cluster": "checkout-v2", "weight": 50, "sticky": ["header:x-user"] })
    )]));
    for key in keys(1_000) {
        let first = in_canary(&plan, &[("x-user", &key)], &mut TestEnv::seeded(1));
        for seed in 2..6 {
            assert_eq!(
                in_canary(&plan, &[("x-user", &key)], &mut TestEnv::seeded(seed)),
                first,
                "{key}"
            );
        }
    }
}

#[test]
fn a_sticky_key_is_in_the_canary_exactly_when_its_version_2_bucket_is_under_the_weight() {
    // The seed defaults to the route name. 10,000 keys at 37.5 %: sd ≈ 48.4; ±6 sd.
    let plan = plan_of(json!([canary_route(
        json!({ "cluster": "checkout-v2", "weight": 37.5, "sticky": ["header:x-user"] })
    )]));
    let mut env = TestEnv::seeded(1);
    let mut hits = 0;
    for key in keys(10_000) {
        let expected = gb::basis_points_v2("checkout", &key) < 3750;
        assert_eq!(
            hash::bucket_v2_basis_points("checkout", key.as_bytes()) < 3750,
            expected,
            "{key}"
        );
        let outcome =
            decide(&plan, &get("h", "/", &[("x-user", &key)]), &mut env).expect("matched");
        assert_eq!(outcome.target == "canary", expected, "{key}");
        if expected {
            assert_eq!(outcome.reason, "sticky");
            hits += 1;
        }
    }
    assert_within(hits, 10_000, 0.375, "keys in the canary");
    assert_eq!(env.random_calls, 0, "a keyed decision draws nothing");
}

#[test]
fn a_configured_canary_seed_replaces_the_route_name() {
    let plan = plan_of(json!([canary_route(
        json!({ "cluster": "checkout-v2", "weight": 50, "sticky": ["header:x-user"], "seed": "checkout-2026" })
    )]));
    let mut env = TestEnv::seeded(1);
    let mut differs_from_default = false;
    for key in keys(2_000) {
        let expected = gb::basis_points_v2("checkout-2026", &key) < 5000;
        assert_eq!(
            in_canary(&plan, &[("x-user", &key)], &mut env),
            expected,
            "{key}"
        );
        differs_from_default |= expected != (gb::basis_points_v2("checkout", &key) < 5000);
    }
    assert!(differs_from_default);
}

#[test]
fn raising_the_weight_never_moves_a_user_back_to_stable() {
    // Ramp 1 → 5 → 25 → 100 over 10,000 keys; each step's share within ±6 sd of its weight.
    let ramp = [1.0, 5.0, 25.0, 100.0];
    let plans: Vec<Plan> = ramp
        .iter()
        .map(|w| {
            plan_of(json!([canary_route(
                json!({ "cluster": "checkout-v2", "weight": w, "sticky": ["cookie:uid"] })
            )]))
        })
        .collect();
    let mut env = TestEnv::seeded(1);
    let mut counts = [0u32; 4];
    for key in keys(10_000) {
        let cookie = format!("uid={key}");
        let mut was_in = false;
        for (step, plan) in plans.iter().enumerate() {
            let now_in = in_canary(plan, &[("cookie", &cookie)], &mut env);
            assert!(
                !was_in || now_in,
                "{key} left the canary at {}%",
                ramp[step]
            );
            was_in = now_in;
            counts[step] += u32::from(now_in);
        }
    }
    for (step, weight) in ramp.iter().enumerate().take(3) {
        assert_within(
            counts[step],
            10_000,
            weight / 100.0,
            &format!("keys in at {weight}%"),
        );
    }
    assert_eq!(counts[3], 10_000);
}

#[test]
fn without_a_sticky_key_present_the_canary_falls_back_to_a_random_draw() {
    // 20,000 requests at 50 %: sd ≈ 70.7; ±6 sd.
    let plan = plan_of(json!([canary_route(
        json!({ "cluster": "checkout-v2", "weight": 50, "sticky": ["header:x-user", "cookie:uid"] })
    )]));
    let mut env = TestEnv::seeded(11);
    let n = 20_000;
    let mut hits = 0;
    for _ in 0..n {
        let outcome = decide(
            &plan,
            &get("h", "/", &[("x-user", ""), ("cookie", "other=1")]),
            &mut env,
        )
        .expect("matched");
        if outcome.target == "canary" {
            assert_eq!(outcome.reason, "random");
            hits += 1;
        }
    }
    assert_within(hits, n, 0.5, "requests in the canary");
}

fn forced_canary(overrides: Value, weight: f64) -> Plan {
    load(
        &json!({ "overrides": overrides, "routes": [canary_route(json!({
        "cluster": "checkout-v2", "weight": weight, "sticky": ["header:x-user"],
        "force": { "header": "x-canary", "cookie": "canary" }
    }))] }),
    )
}

#[test]
fn force_always_and_never_are_honoured_where_overrides_are_allowed() {
    let low = forced_canary(json!({ "from": "anyone" }), 0.0);
    let high = forced_canary(json!({ "from": "anyone" }), 100.0);
    let outcome = decide_get(&low, &[("x-canary", "always")]);
    assert_eq!(
        (outcome.target, outcome.cluster.as_str(), outcome.reason),
        ("canary", "checkout-v2", "forced")
    );
    let outcome = decide_get(&low, &[("cookie", "canary=always")]);
    assert_eq!((outcome.target, outcome.reason), ("canary", "forced"));
    let outcome = decide_get(&high, &[("x-canary", "never")]);
    assert_eq!(
        (outcome.target, outcome.cluster.as_str()),
        ("stable", "checkout-v1")
    );
    let outcome = decide_get(&high, &[("cookie", "canary=never")]);
    assert_eq!(outcome.target, "stable");
}

#[test]
fn force_is_ignored_where_overrides_are_not_allowed() {
    let low = forced_canary(json!({}), 0.0);
    let high = forced_canary(json!({}), 100.0);
    assert_eq!(decide_get(&low, &[("x-canary", "always")]).target, "stable");
    assert_eq!(
        decide_get(&low, &[("cookie", "canary=always")]).target,
        "stable"
    );
    assert_eq!(decide_get(&high, &[("x-canary", "never")]).target, "canary");

    let trusted = json!({ "tokens": [TOKEN], "source_cidrs": ["192.0.2.0/24"] });
    let low = forced_canary(trusted.clone(), 0.0);
    assert_eq!(
        decide_get(
            &low,
            &[("x-canary", "always"), ("x-switchyard-token", TOKEN)]
        )
        .target,
        "canary"
    );
    assert_eq!(
        decide_get(
            &low,
            &[
                ("x-canary", "always"),
                ("x-switchyard-token", "not-the-token-0000000")
            ]
        )
        .target,
        "stable"
    );
    let from = |ip: &str| {
        decide(
            &low,
            &get("h", "/", &[("x-canary", "always")]),
            &mut TestEnv::from_ip(ip),
        )
        .expect("matched")
        .target
    };
    assert_eq!(from("192.0.2.77"), "canary");
    assert_eq!(from("198.51.100.1"), "stable");
}

#[test]
fn a_force_header_wins_over_a_force_cookie() {
    let plan = forced_canary(json!({ "from": "anyone" }), 50.0);
    assert_eq!(
        decide_get(&plan, &[("x-canary", "never"), ("cookie", "canary=always")]).target,
        "stable"
    );
    assert_eq!(
        decide_get(&plan, &[("x-canary", "always"), ("cookie", "canary=never")]).target,
        "canary"
    );
}

#[test]
fn a_force_value_other_than_always_or_never_is_ignored() {
    let plan = forced_canary(json!({ "from": "anyone" }), 0.0);
    for value in ["yes", "Always", "true", "1", "checkout-v2"] {
        assert_eq!(
            decide_get(&plan, &[("x-canary", value)]).target,
            "stable",
            "{value:?}"
        );
    }
}

#[test]
fn a_forced_decision_beats_the_sticky_bucket() {
    // Keys on either side of a 50 % sticky split, each forced the other way.
    let plan = forced_canary(json!({ "from": "anyone" }), 50.0);
    let all = keys(200);
    let inside = all
        .iter()
        .find(|k| gb::basis_points_v2("checkout", k) < 5000)
        .expect("a key in the canary");
    let outside = all
        .iter()
        .find(|k| gb::basis_points_v2("checkout", k) >= 5000)
        .expect("a key out of it");
    assert_eq!(decide_get(&plan, &[("x-user", inside)]).target, "canary");
    assert_eq!(decide_get(&plan, &[("x-user", outside)]).target, "stable");
    let outcome = decide_get(&plan, &[("x-user", inside), ("x-canary", "never")]);
    assert_eq!((outcome.target, outcome.reason), ("stable", "base"));
    let outcome = decide_get(&plan, &[("x-user", outside), ("x-canary", "always")]);
    assert_eq!((outcome.target, outcome.reason), ("canary", "forced"));
    // Not allowed to override: the sticky bucket decides.
    let trusted = forced_canary(json!({}), 50.0);
    assert_eq!(
        decide_get(&trusted, &[("x-user", inside), ("x-canary", "never")]).target,
        "canary"
    );
    assert_eq!(
        decide_get(&trusted, &[("x-user", outside), ("x-canary", "always")]).target,
        "stable"
    );
}

// ----------------------------------------------------------------------------------------------
// Experiments

/// The experiment behind `gb::PRINTED_BY_THE_SDK`, keyed on `x-user`.
fn ranker(extra: Value) -> Value {
    let mut e = json!({
        "name": "ranker", "key": ["header:x-user"], "coverage": 0.8,
        "variants": [
            { "name": "control", "weight": 0.2 },
            { "name": "a", "weight": 0.3 },
            { "name": "b", "weight": 0.5 }
        ]
    });
    for (k, v) in extra.as_object().expect("an object").clone() {
        e[k] = v;
    }
    e
}

fn experiment_plan(experiments: Value) -> Plan {
    plan_of(json!([{ "name": "shop", "stable": "shop-v1", "experiments": experiments }]))
}

fn cohort(plan: &Plan, key: &str, experiment: &str) -> Option<String> {
    decide_get(plan, &[("x-user", key)])
        .cohort(experiment)
        .map(str::to_string)
}

#[test]
fn the_hash_reproduces_growthbook_test_vectors() {
    // From GrowthBook's `packages/sdk-js/test/cases.json`, section "hash": seed, value, version.
    let cases: &[(&str, &str, u8, f64)] = &[
        ("", "a", 1, 0.22),
        ("", "b", 1, 0.077),
        ("b", "a", 1, 0.946),
        ("ef", "d", 1, 0.652),
        ("asdf", "8952klfjas09ujk", 1, 0.549),
        ("", "123", 1, 0.011),
        ("", "___)((*\":&", 1, 0.563),
        ("seed", "a", 2, 0.0505),
        ("seed", "b", 2, 0.2696),
        ("foo", "ab", 2, 0.2575),
        ("foo", "def", 2, 0.2019),
        ("89123klj", "8952klfjas09ujkasdf", 2, 0.124),
        ("90850943850283058242805", "123", 2, 0.7516),
        ("()**(%$##$%#$#", "___)((*\":&", 2, 0.0128),
    ];
    for &(seed, value, version, expected) in cases {
        let crate_bucket = match version {
            1 => hash::bucket_v1(seed, value.as_bytes()),
            _ => hash::bucket_v2(seed, value.as_bytes()),
        };
        assert_eq!(
            crate_bucket, expected,
            "hash({seed:?}, {value:?}, {version})"
        );
        assert_eq!(
            gb::hash(seed, value, version),
            expected,
            "reference hash({seed:?}, {value:?}, {version})"
        );
    }
}

#[test]
fn non_ascii_keys_hash_over_utf16_code_units_as_in_the_growthbook_sdk() {
    for &(key, v1, v2, _, _, in_ns) in gb::PRINTED_BY_THE_SDK {
        assert_eq!(hash::bucket_v1("ranker", key.as_bytes()), v1, "v1 {key}");
        assert_eq!(hash::bucket_v2("ranker", key.as_bytes()), v2, "v2 {key}");
        assert_eq!(
            hash::in_namespace(key.as_bytes(), "search", 0.25, 0.75),
            in_ns,
            "ns {key}"
        );
        assert_eq!(gb::hash("ranker", key, 1), v1, "reference v1 {key}");
        assert_eq!(gb::hash("ranker", key, 2), v2, "reference v2 {key}");
        assert_eq!(
            gb::in_namespace(key, "search", 0.25, 0.75),
            in_ns,
            "reference ns {key}"
        );
    }
}

#[test]
fn a_cohort_is_the_variant_growthbook_assigns() {
    let v2 = experiment_plan(json!([ranker(json!({}))]));
    let v1 = experiment_plan(json!([ranker(json!({ "hash_version": 1 }))]));
    for &(key, _, _, in_v1, in_v2, _) in gb::PRINTED_BY_THE_SDK {
        assert_eq!(cohort(&v2, key, "ranker").as_deref(), in_v2, "v2 {key:?}");
        assert_eq!(cohort(&v1, key, "ranker").as_deref(), in_v1, "v1 {key:?}");
    }
}

#[test]
fn cohorts_follow_the_growthbook_formula_over_ten_thousand_keys() {
    let weights = [0.2, 0.3, 0.5];
    let names = ["control", "a", "b"];
    for (version, seed) in [
        (2u8, "ranker"),
        (1, "ranker"),
        (2, "ranker-2026"),
        (1, "r-1"),
    ] {
        let plan = experiment_plan(json!([ranker(
            json!({ "hash_version": version, "seed": seed })
        )]));
        let reference_ranges = gb::ranges(0.8, &weights);
        let crate_ranges = hash::bucket_ranges(3, 0.8, Some(&weights));
        assert_eq!(crate_ranges, reference_ranges);
        for key in keys(10_000) {
            let n = gb::hash(seed, &key, version);
            let expected = gb::choose(n, &reference_ranges).map(|i| names[i]);
            let crate_n = match version {
                1 => hash::bucket_v1(seed, key.as_bytes()),
                _ => hash::bucket_v2(seed, key.as_bytes()),
            };
            assert_eq!(
                hash::choose_variation(crate_n, &crate_ranges).map(|i| names[i]),
                expected,
                "{key}"
            );
            assert_eq!(
                cohort(&plan, &key, "ranker").as_deref(),
                expected,
                "v{version} seed {seed} {key}"
            );
        }
    }
}

#[test]
fn the_hash_version_changes_assignments() {
    let v2 = experiment_plan(json!([ranker(json!({}))]));
    let v1 = experiment_plan(json!([ranker(json!({ "hash_version": 1 }))]));
    let differing = keys(1_000)
        .iter()
        .filter(|k| cohort(&v2, k, "ranker") != cohort(&v1, k, "ranker"))
        .count();
    assert!(
        differing > 100,
        "only {differing} of 1,000 keys differ between versions 1 and 2"
    );
}

#[test]
fn coverage_limits_the_share_of_enrolled_keys() {
    // 10,000 keys at coverage 0.5 (× weights summing to 1): sd = 50; ±6 sd.
    let even = json!([{ "name": "on", "weight": 0.5 }, { "name": "off", "weight": 0.5 }]);
    let none = experiment_plan(json!([ranker(json!({ "coverage": 0, "variants": even }))]));
    let half = experiment_plan(json!([ranker(
        json!({ "coverage": 0.5, "variants": even })
    )]));
    let full = experiment_plan(json!([ranker(json!({ "coverage": 1, "variants": even }))]));
    let mut enrolled = 0;
    for key in keys(10_000) {
        assert_eq!(cohort(&none, &key, "ranker"), None, "{key}");
        assert!(cohort(&full, &key, "ranker").is_some(), "{key}");
        let n = gb::hash("ranker", &key, 2);
        let expected = gb::choose(n, &gb::ranges(0.5, &[0.5, 0.5])).map(|i| ["on", "off"][i]);
        let got = cohort(&half, &key, "ranker");
        assert_eq!(got.as_deref(), expected, "{key}");
        enrolled += u32::from(got.is_some());
    }
    assert_within(enrolled, 10_000, 0.5, "keys enrolled at coverage 0.5");
}

#[test]
fn a_namespace_enrolls_only_keys_whose_version_1_namespace_bucket_is_in_range() {
    // 10,000 keys in [0.25, 0.75): sd = 50; ±6 sd.
    let plan = experiment_plan(json!([ranker(json!({
        "coverage": 1, "namespace": { "id": "search", "start": 0.25, "end": 0.75 }
    }))]));
    for &(key, _, _, _, _, in_namespace) in gb::PRINTED_BY_THE_SDK {
        assert_eq!(
            cohort(&plan, key, "ranker").is_some(),
            in_namespace,
            "{key:?}"
        );
    }
    let mut enrolled = 0;
    for key in keys(10_000) {
        let in_namespace = gb::in_namespace(&key, "search", 0.25, 0.75);
        let got = cohort(&plan, &key, "ranker");
        assert_eq!(got.is_some(), in_namespace, "{key}");
        enrolled += u32::from(in_namespace);
    }
    assert_within(enrolled, 10_000, 0.5, "keys in the namespace");
}

#[test]
fn a_request_without_a_key_is_not_enrolled() {
    let plan = experiment_plan(json!([ranker(json!({ "coverage": 1 }))]));
    assert_eq!(decide_get(&plan, &[]).cohorts, vec![]);
    assert_eq!(
        decide_get(&plan, &[("x-user", "")]).cohorts,
        vec![],
        "an empty key is no key"
    );
    assert_eq!(decide_get(&plan, &[("x-other", "alice")]).cohorts, vec![]);
}

/// An experiment that enrolls every keyed request in its first variant.
fn certain(name: &str, cluster: Option<&str>) -> Value {
    let mut winner = json!({ "name": "in", "weight": 1 });
    if let Some(cluster) = cluster {
        winner["cluster"] = json!(cluster);
    }
    json!({ "name": name, "key": ["header:x-user"], "variants": [winner, { "name": "out", "weight": 0 }] })
}

#[test]
fn a_variant_cluster_serves_requests_that_are_not_in_the_canary() {
    let route = |weight: f64| {
        plan_of(json!([{ "name": "shop", "stable": "shop-v1",
            "canary": { "cluster": "shop-v2", "weight": weight },
            "experiments": [certain("ranker", Some("shop-ranker"))] }]))
    };
    let outcome = decide_get(&route(0.0), &[("x-user", "alice")]);
    assert_eq!(
        (outcome.target, outcome.cluster.as_str(), outcome.reason),
        ("stable", "shop-ranker", "variant")
    );
    assert_eq!(outcome.cohorts, [("ranker".to_string(), "in".to_string())]);

    let outcome = decide_get(&route(100.0), &[("x-user", "alice")]);
    assert_eq!(
        (outcome.target, outcome.cluster.as_str(), outcome.reason),
        ("canary", "shop-v2", "random")
    );
    assert_eq!(
        outcome.cohorts,
        [("ranker".to_string(), "in".to_string())],
        "the cohort is still reported"
    );
}

#[test]
fn the_first_experiment_with_a_variant_cluster_wins() {
    let plan = experiment_plan(json!([
        certain("plain", None),
        certain("first", Some("first-cluster")),
        certain("second", Some("second-cluster"))
    ]));
    let outcome = decide_get(&plan, &[("x-user", "alice")]);
    assert_eq!(
        (outcome.cluster.as_str(), outcome.reason),
        ("first-cluster", "variant")
    );
    assert_eq!(outcome.cohorts.len(), 3);
}

#[test]
fn a_variant_without_a_cluster_keeps_the_base_cluster() {
    let plan = experiment_plan(json!([certain("plain", None)]));
    let outcome = decide_get(&plan, &[("x-user", "alice")]);
    assert_eq!(
        (outcome.target, outcome.cluster.as_str(), outcome.reason),
        ("stable", "shop-v1", "base")
    );
    assert_eq!(outcome.cohort("plain"), Some("in"));
}

#[test]
fn cohorts_are_reported_in_configuration_order() {
    let plan = experiment_plan(json!([
        certain("zeta", None),
        certain("alpha", None),
        certain("mid", None)
    ]));
    let names: Vec<String> = decide_get(&plan, &[("x-user", "alice")])
        .cohorts
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    assert_eq!(names, ["zeta", "alpha", "mid"]);
}

#[test]
fn experiments_are_evaluated_independently_for_every_matched_request() {
    // Two experiments with different seeds: their assignments must not be the same function.
    let plan = experiment_plan(json!([
        ranker(json!({ "name": "one", "coverage": 1 })),
        ranker(json!({ "name": "two", "coverage": 1 }))
    ]));
    let mut differ = 0;
    for key in keys(1_000) {
        let outcome = decide_get(&plan, &[("x-user", &key)]);
        let names = ["control", "a", "b"];
        let expect = |seed: &str| {
            gb::choose(gb::hash(seed, &key, 2), &gb::ranges(1.0, &[0.2, 0.3, 0.5]))
                .map(|i| names[i])
        };
        assert_eq!(outcome.cohort("one"), expect("one"), "{key}");
        assert_eq!(outcome.cohort("two"), expect("two"), "{key}");
        differ += u32::from(outcome.cohort("one") != outcome.cohort("two"));
    }
    assert!(differ > 100, "{differ}");
}

// ----------------------------------------------------------------------------------------------
// Shadow

fn shadow_route(shadow: Value) -> Value {
    json!({ "name": "checkout", "stable": "checkout-v1", "shadow": shadow })
}

fn mirrored(plan: &Plan, method: &str, extra: &[(&str, &str)], env: &mut TestEnv) -> bool {
    let mut headers = vec![(":authority", "h"), (":path", "/"), (":method", method)];
    headers.extend_from_slice(extra);
    let outcome = decide(plan, &headers, env).expect("the route matches");
    assert_eq!(
        outcome.cluster, "checkout-v1",
        "mirroring never changes the cluster"
    );
    match outcome.shadow.as_deref() {
        Some("checkout-mirror") => true,
        None => false,
        Some(other) => panic!("shadow {other}"),
    }
}

#[test]
fn without_a_key_the_shadow_share_is_drawn_per_request() {
    // 40,000 GETs at 10 %: sd = 60; ±6 sd.
    let plan = plan_of(json!([shadow_route(
        json!({ "cluster": "checkout-mirror", "percent": 10 })
    )]));
    let mut env = TestEnv::seeded(2024);
    let n = 40_000;
    let hits = (0..n)
        .filter(|_| mirrored(&plan, "GET", &[], &mut env))
        .count();
    assert_within(
        u32::try_from(hits).expect("small"),
        n,
        0.10,
        "requests mirrored",
    );
}

#[test]
fn a_shadow_percent_of_0_or_100_mirrors_nothing_or_everything() {
    let none = plan_of(json!([shadow_route(
        json!({ "cluster": "checkout-mirror", "percent": 0 })
    )]));
    let all = plan_of(json!([shadow_route(
        json!({ "cluster": "checkout-mirror", "percent": 100 })
    )]));
    let mut env = TestEnv::seeded(5);
    for _ in 0..1_000 {
        assert!(!mirrored(&none, "GET", &[], &mut env));
        assert!(mirrored(&all, "GET", &[], &mut env));
    }
}

#[test]
fn a_keyed_shadow_mirrors_a_fixed_set_of_users_seeded_with_the_route_name_dot_shadow() {
    // 10,000 keys at 20 %: sd = 40; ±6 sd.
    let plan = plan_of(json!([shadow_route(
        json!({ "cluster": "checkout-mirror", "percent": 20, "key": ["header:x-user"] })
    )]));
    let mut hits = 0;
    for key in keys(10_000) {
        let expected = gb::basis_points_v2("checkout.shadow", &key) < 2000;
        for seed in [1, 2] {
            assert_eq!(
                mirrored(
                    &plan,
                    "GET",
                    &[("x-user", &key)],
                    &mut TestEnv::seeded(seed)
                ),
                expected,
                "{key}"
            );
        }
        hits += u32::from(expected);
    }
    assert_within(hits, 10_000, 0.2, "keys mirrored");
}

#[test]
fn a_configured_shadow_seed_replaces_the_default() {
    let plan = plan_of(json!([shadow_route(
        json!({ "cluster": "checkout-mirror", "percent": 50, "key": ["header:x-user"], "seed": "mirror-seed" })
    )]));
    let mut env = TestEnv::seeded(1);
    for key in keys(2_000) {
        let expected = gb::basis_points_v2("mirror-seed", &key) < 5000;
        assert_eq!(
            mirrored(&plan, "GET", &[("x-user", &key)], &mut env),
            expected,
            "{key}"
        );
    }
}

#[test]
fn only_get_head_and_options_are_mirrored_by_default() {
    let plan = plan_of(json!([shadow_route(
        json!({ "cluster": "checkout-mirror", "percent": 100 })
    )]));
    let mut env = TestEnv::seeded(1);
    for method in ["GET", "HEAD", "OPTIONS"] {
        assert!(mirrored(&plan, method, &[], &mut env), "{method}");
    }
    for method in ["POST", "PUT", "PATCH", "DELETE", "CONNECT"] {
        assert!(!mirrored(&plan, method, &[], &mut env), "{method}");
    }
}

#[test]
fn configured_shadow_methods_replace_the_default() {
    let plan = plan_of(json!([shadow_route(
        json!({ "cluster": "checkout-mirror", "percent": 100, "methods": ["POST"] })
    )]));
    let mut env = TestEnv::seeded(1);
    assert!(mirrored(&plan, "POST", &[], &mut env));
    assert!(!mirrored(&plan, "GET", &[], &mut env));
}

// ----------------------------------------------------------------------------------------------
// Keys

/// A 50 % sticky canary on route `checkout` reading its key from `sources`.
fn keyed_plan(sources: Value) -> Plan {
    plan_of(json!([canary_route(
        json!({ "cluster": "checkout-v2", "weight": 50, "sticky": sources })
    )]))
}

/// Whether `key` belongs in the canary of `keyed_plan`.
fn expected_side(key: &str) -> bool {
    gb::basis_points_v2("checkout", key) < 5000
}

/// Checks over 400 keys that the request built by `headers` is decided on the key `key`
/// (a wrong key source agrees by chance with probability 2^-400).
fn assert_keyed_on(
    plan: &Plan,
    headers: impl Fn(&str) -> Vec<(String, String)>,
    key: impl Fn(&str) -> String,
) {
    let mut env = TestEnv::seeded(1);
    for k in keys(400) {
        let extra = headers(&k);
        let extra: Vec<(&str, &str)> = extra
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            in_canary(plan, &extra, &mut env),
            expected_side(&key(&k)),
            "{extra:?}"
        );
    }
    assert_eq!(env.random_calls, 0, "every request had a key");
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_header_key_is_used_as_received_without_trimming_or_case_folding() {
    let plan = keyed_plan(json!(["header:X-User"]));
    assert_keyed_on(
        &plan,
        |k| owned(&[("x-user", &format!("User-{k}"))]),
        |k| format!("User-{k}"),
    );
    assert_keyed_on(
        &plan,
        |k| owned(&[("X-USER", &format!(" {k} "))]),
        |k| format!(" {k} "),
    );
}

#[test]
fn a_cookie_key_is_found_among_several_cookie_headers_unquoted_and_first_wins() {
    let plan = keyed_plan(json!(["cookie:uid"]));
    assert_keyed_on(
        &plan,
        |k| {
            owned(&[
                ("cookie", "a=1; b=2"),
                ("cookie", &format!("x=9; uid={k}; uid=second")),
                ("cookie", "uid=third"),
            ])
        },
        |k| k.to_string(),
    );
    assert_keyed_on(
        &plan,
        |k| owned(&[("cookie", &format!("uid=\"{k}\""))]),
        |k| k.to_string(),
    );
    assert_keyed_on(
        &plan,
        |k| owned(&[("cookie", &format!("myuid=no; UID=no; uid={k}"))]),
        |k| k.to_string(),
    );
}

#[test]
fn a_query_key_is_percent_decoded() {
    let plan = keyed_plan(json!(["query:uid"]));
    let mut env = TestEnv::seeded(1);
    for k in keys(400) {
        let path = format!("/checkout?x=1&uid={}&uid=second", percent_encode(&k));
        let headers = [
            (":authority", "h"),
            (":path", path.as_str()),
            (":method", "GET"),
        ];
        let outcome = decide(&plan, &headers, &mut env).expect("matched");
        assert_eq!(outcome.target == "canary", expected_side(&k), "{path}");
    }
    assert_eq!(env.random_calls, 0);
}

#[test]
fn the_first_present_non_empty_key_source_wins() {
    let plan = keyed_plan(json!(["header:x-user", "cookie:uid", "query:uid"]));
    let request = |header: Option<&str>, cookie: Option<&str>, query: Option<&str>| {
        let path = match query {
            Some(q) => format!("/p?uid={}", percent_encode(q)),
            None => "/p".into(),
        };
        let mut pairs = vec![
            (":authority".to_string(), "h".to_string()),
            (":path".into(), path),
            (":method".into(), "GET".into()),
        ];
        if let Some(h) = header {
            pairs.push(("x-user".into(), h.into()));
        }
        if let Some(c) = cookie {
            pairs.push(("cookie".into(), format!("uid={c}")));
        }
        pairs
    };
    let mut env = TestEnv::seeded(1);
    for k in keys(300) {
        let (h, c, q) = (format!("h-{k}"), format!("c-{k}"), format!("q-{k}"));
        let cases = [
            (request(Some(&h), Some(&c), Some(&q)), &h),
            (request(Some(""), Some(&c), Some(&q)), &c),
            (request(None, Some(&c), Some(&q)), &c),
            (request(None, Some(""), Some(&q)), &q),
            (request(Some(""), None, Some(&q)), &q),
        ];
        for (pairs, key) in cases {
            let pairs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let outcome = decide(&plan, &pairs, &mut env).expect("matched");
            assert_eq!(outcome.target == "canary", expected_side(key), "{pairs:?}");
        }
    }
    assert_eq!(env.random_calls, 0);
    let none = request(Some(""), Some(""), None);
    let none: Vec<(&str, &str)> = none.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    decide(&plan, &none, &mut env).expect("matched");
    assert_eq!(env.random_calls, 1, "no key at all: a random draw");
}

#[test]
fn a_key_that_is_not_utf8_is_hashed_over_its_bytes() {
    // GrowthBook's JS `hash("bytes", "\u{ff}\u{fe}A", 2)` (each byte as one code unit) = 0.8994.
    let key: &[u8] = b"\xff\xfeA";
    assert_eq!(hash::bucket_v2_basis_points("bytes", key), 8994);
    let plan = plan_of(json!([{ "name": "bytes", "stable": "s",
        "canary": { "cluster": "c", "weight": 89.95, "sticky": ["header:x-user"] } }]));
    let below = plan_of(json!([{ "name": "bytes", "stable": "s",
        "canary": { "cluster": "c", "weight": 89.94, "sticky": ["header:x-user"] } }]));
    let pairs: [(&[u8], &[u8]); 3] = [(b":authority", b"h"), (b":path", b"/"), (b"x-user", key)];
    let mut env = TestEnv::seeded(1);
    assert_eq!(
        decide_bytes(&plan, &pairs, &mut env)
            .expect("matched")
            .target,
        "canary"
    );
    assert_eq!(
        decide_bytes(&below, &pairs, &mut env)
            .expect("matched")
            .target,
        "stable"
    );
    assert_eq!(env.random_calls, 0);
}

// ----------------------------------------------------------------------------------------------
// Decision order

/// Every strategy on one route: blue-green with preview, a forcible canary, an experiment whose
/// only variant names a cluster, and a full shadow; overrides from anyone.
fn layered() -> Plan {
    plan_for_anyone(json!([{
        "name": "web",
        "blue_green": { "active": "blue", "blue": "web-blue", "green": "web-green", "preview": { "header": "x-preview" } },
        "canary": { "cluster": "web-canary", "weight": 0, "force": { "header": "x-canary" } },
        "experiments": [certain("ranker", Some("web-ranker"))],
        "shadow": { "cluster": "web-mirror", "percent": 100 }
    }]))
}

/// Target, cluster, reason, shadow cluster and number of cohorts.
type Summary<'a> = (&'static str, &'a str, &'static str, Option<&'a str>, usize);

fn summary(o: &Outcome) -> Summary<'_> {
    (
        o.target,
        o.cluster.as_str(),
        o.reason,
        o.shadow.as_deref(),
        o.cohorts.len(),
    )
}

#[test]
fn strategies_apply_in_the_contract_order_base_preview_canary_experiments_shadow() {
    let plan = layered();
    let cases: &[(&[(&str, &str)], Summary<'_>)] = &[
        // 1. base: the active colour.
        (&[], ("blue", "web-blue", "base", Some("web-mirror"), 0)),
        // 2. preview replaces the colour.
        (
            &[("x-preview", "green")],
            ("green", "web-green", "preview", Some("web-mirror"), 0),
        ),
        // 3. the canary comes after the preview.
        (
            &[("x-preview", "green"), ("x-canary", "always")],
            ("canary", "web-canary", "forced", Some("web-mirror"), 0),
        ),
        // 4. an enrolled request off the canary gets the variant cluster; the target keeps the colour.
        (
            &[("x-preview", "green"), ("x-user", "alice")],
            ("green", "web-ranker", "variant", Some("web-mirror"), 1),
        ),
        // 4. in the canary, the cohort is reported but the canary serves.
        (
            &[("x-user", "alice"), ("x-canary", "always")],
            ("canary", "web-canary", "forced", Some("web-mirror"), 1),
        ),
    ];
    for (extra, expected) in cases {
        let outcome = decide_get(&plan, extra);
        assert_eq!(summary(&outcome), *expected, "{extra:?}");
    }
    // 5. shadow: decided last and on its own, whatever served the request.
    let post = [
        (":authority", "h"),
        (":path", "/"),
        (":method", "POST"),
        ("x-user", "alice"),
        ("x-canary", "always"),
    ];
    let outcome = decide(&plan, &post, &mut TestEnv::seeded(1)).expect("matched");
    assert_eq!(
        summary(&outcome),
        ("canary", "web-canary", "forced", None, 1)
    );
}

#[test]
fn overrides_never_select_a_cluster_the_route_does_not_name() {
    let plan = layered();
    for (header, value) in [
        ("x-preview", "web-canary"),
        ("x-preview", "elsewhere"),
        ("x-canary", "web-green"),
        ("x-canary", "elsewhere"),
    ] {
        let outcome = decide_get(&plan, &[(header, value)]);
        assert_eq!(outcome.cluster, "web-blue", "{header}: {value}");
    }
}

#[test]
fn the_reason_names_what_chose_the_cluster() {
    let bg = plan_of(json!([blue_green_route()]));
    assert_eq!(decide_at(&bg, 0, &[]).reason, "base");
    assert_eq!(decide_at(&bg, SWITCH_AT_MS, &[]).reason, "scheduled");
    let plan = layered();
    assert_eq!(
        decide_get(&plan, &[("x-preview", "green")]).reason,
        "preview"
    );
    assert_eq!(
        decide_get(&plan, &[("x-canary", "always")]).reason,
        "forced"
    );
    assert_eq!(decide_get(&plan, &[("x-user", "alice")]).reason, "variant");
    let sticky = keyed_plan(json!(["header:x-user"]));
    let inside = keys(100)
        .into_iter()
        .find(|k| expected_side(k))
        .expect("a key in the canary");
    assert_eq!(decide_get(&sticky, &[("x-user", &inside)]).reason, "sticky");
    let random = plan_of(json!([canary_route(
        json!({ "cluster": "checkout-v2", "weight": 100 })
    )]));
    assert_eq!(decide_get(&random, &[]).reason, "random");
}
