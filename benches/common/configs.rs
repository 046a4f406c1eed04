//! The configurations and the request both benches measure: route tables of any size, whose last
//! route is the one the request matches, and one single-route configuration per strategy.
//!
//! The routes before the matched one mix what the route index keys on: exact hosts, `*.suffix`
//! hosts, path prefixes and exact paths, a quarter of them on the matched route's own host.

// Each bench includes this file with `#[path]` and uses its own part of it.
#![allow(dead_code)]

use serde_json::{Value, json};

/// The route-table sizes measured.
pub const SIZES: [usize; 4] = [1, 100, 1_000, 10_000];

/// A browser's request for the matched route as Envoy hands it to the filter: pseudo-headers,
/// the headers Envoy adds, and a `cookie` header of several cookies, `uid` among them.
pub const REQUEST: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":authority", "shop.example.com"),
    (":path", "/checkout/cart?item=42&ref=home"),
    (
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    ),
    ("accept", "text/html,application/xhtml+xml"),
    ("accept-encoding", "gzip, br"),
    ("accept-language", "en-GB,en;q=0.8"),
    (
        "cookie",
        "lang=en-GB; theme=dark; session=5f2c9a7e41d3; uid=user-4242; _ga=GA1.2.1234567890.1700000000",
    ),
    ("x-forwarded-proto", "https"),
    ("x-request-id", "7d0f8a2e-3b1c-4c55-9a57-2f1e0c9d4b6a"),
];

/// The upstream's answer to [`REQUEST`], headers only.
pub const RESPONSE: &[(&str, &str)] = &[
    (":status", "200"),
    ("content-type", "text/html; charset=utf-8"),
    ("content-length", "5120"),
];

/// The name of the route [`REQUEST`] matches in every configuration here.
pub const MATCHED_ROUTE: &str = "checkout";

/// The clusters the matched route of [`routes`] can send [`REQUEST`] to.
pub const MATCHED_CLUSTERS: &[&str] = &["checkout-v1", "checkout-v2", "checkout-ranker"];

/// A configuration of `n` routes (at least 1); [`REQUEST`] matches only the last one, which has
/// a sticky canary, two experiments and a shadow, all keyed on the `uid` cookie.
pub fn routes(n: usize) -> String {
    assert!(n >= 1, "a table has at least the matched route");
    let mut routes: Vec<Value> = (0..n - 1).map(other_route).collect();
    routes.push(matched_route(
        json!({"hosts": ["shop.example.com", "*.shop.example.com"], "path_prefix": "/checkout"}),
        json!({"stable": "checkout-v1"}),
        &["canary", "experiments", "shadow"],
    ));
    document(routes)
}

/// The strategies measured one at a time, each the single route of its configuration.
pub const STRATEGIES: [&str; 6] = [
    "canary_random",
    "canary_sticky",
    "experiments",
    "shadow",
    "blue_green",
    "everything",
];

/// A one-route configuration that [`REQUEST`] matches, exercising `strategy` (one of
/// [`STRATEGIES`]): a canary drawn per request or sticky on `uid`, two experiments, a keyed
/// shadow, blue-green with a scheduled switch and a preview selector, or all of them together.
pub fn strategy(strategy: &str) -> String {
    let stable = json!({"stable": "checkout-v1"});
    let (base, parts): (Value, &[&str]) = match strategy {
        "canary_random" => (stable, &["canary_random"]),
        "canary_sticky" => (stable, &["canary"]),
        "experiments" => (stable, &["experiments"]),
        "shadow" => (stable, &["shadow"]),
        "blue_green" => (blue_green(), &[]),
        "everything" => (blue_green(), &["canary", "experiments", "shadow"]),
        other => panic!("no strategy named {other}"),
    };
    let matcher = json!({"hosts": ["shop.example.com"], "path_prefix": "/checkout"});
    document(vec![matched_route(matcher, base, parts)])
}

fn document(routes: Vec<Value>) -> String {
    json!({
        "revision": "bench",
        "overrides": {"tokens": ["bench-token-0123456789abcdef"], "source_cidrs": ["10.0.0.0/8"]},
        "routes": routes,
    })
    .to_string()
}

/// Route `i` of the table before the matched route: four kinds in turn, every eighth with a
/// sticky canary of its own. None of them matches [`REQUEST`].
fn other_route(i: usize) -> Value {
    let matcher = match i % 4 {
        0 => {
            json!({"hosts": [format!("api-{i}.example.com")], "path_prefix": format!("/api/v{}/", i % 3)})
        }
        1 => json!({"hosts": [format!("*.tenant-{i}.example.net")], "path_exact": "/login"}),
        2 => json!({"path_prefix": format!("/svc-{i}/")}),
        _ => json!({"hosts": ["shop.example.com"], "path_exact": format!("/assets/{i}.js")}),
    };
    let mut route =
        json!({"name": format!("route-{i}"), "match": matcher, "stable": format!("svc-{i}")});
    if i.is_multiple_of(8) {
        route["canary"] = json!({
            "cluster": format!("svc-{i}-canary"),
            "weight": 5,
            "sticky": ["header:x-user-id"],
        });
    }
    route
}

/// The route [`REQUEST`] matches: `base` (`stable` or `blue_green`) and the named parts.
fn matched_route(matcher: Value, base: Value, parts: &[&str]) -> Value {
    let mut route = json!({"name": MATCHED_ROUTE, "match": matcher});
    if let (Value::Object(route), Value::Object(base)) = (&mut route, base) {
        route.extend(base);
    }
    for part in parts {
        match *part {
            "canary" => {
                route["canary"] = json!({
                    "cluster": "checkout-v2",
                    "weight": 20,
                    "sticky": ["cookie:uid", "header:x-user-id"],
                    "force": {"header": "x-canary", "cookie": "canary"},
                });
            }
            "canary_random" => {
                route["canary"] = json!({"cluster": "checkout-v2", "weight": 20});
            }
            "experiments" => {
                route["experiments"] = json!([
                    {
                        "name": "ranker",
                        "key": ["cookie:uid", "header:x-user-id"],
                        "variants": [
                            {"name": "control", "weight": 0.5},
                            {"name": "treatment", "weight": 0.5, "cluster": "checkout-ranker"},
                        ],
                    },
                    {
                        "name": "layout",
                        "key": ["cookie:uid"],
                        "hash_version": 1,
                        "seed": "layout-2026",
                        "coverage": 0.8,
                        "namespace": {"id": "ui", "start": 0, "end": 0.5},
                        "variants": [
                            {"name": "a", "weight": 0.34},
                            {"name": "b", "weight": 0.33},
                            {"name": "c", "weight": 0.33},
                        ],
                    },
                ]);
            }
            "shadow" => {
                route["shadow"] =
                    json!({"cluster": "checkout-v3", "percent": 25, "key": ["cookie:uid"]});
            }
            other => panic!("no route part named {other}"),
        }
    }
    route
}

fn blue_green() -> Value {
    json!({"blue_green": {
        "active": "blue",
        "blue": "checkout-blue",
        "green": "checkout-green",
        "preview": {"header": "x-preview", "cookie": "preview"},
        "switch_at": {"active": "green", "at": "2030-01-01T00:00:00Z"},
    }})
}
