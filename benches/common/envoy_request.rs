//! The request and configuration of the Envoy bench (`bench/envoy.py`), in the module: what one
//! of its requests costs, callback by callback and host call by host call, and what each v1.1
//! feature adds to a route that configures it, and to one that does not.

use serde_json::{Value, json};

/// `bench/envoy/switchyard.json`: 50 routes; the matched one has a sticky canary on a ramp with a
/// latency guard, an experiment and a shadow; another has a shadow comparison.
pub fn config() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/envoy/switchyard.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The headers wrk sends for user `u` (`bench/envoy/request.lua`), as Envoy hands them to the
/// filter: pseudo-headers first, then what Envoy adds.
pub fn request(u: u64) -> Vec<(String, String)> {
    let cookie = format!(
        "_ga=GA1.2.{}.1717171717; theme=dark; lang=en-US; uid={:08x}-{:04x}-4bd1-9c2e-{:012}; \
         session=s{:010}.Zm9vYmFyYmF6cXV4; consent=analytics%3Dyes%26ads%3Dno",
        1_000_000_000 + u,
        u * 2_654_435_761 % 4_294_967_296,
        u % 65_536,
        u,
        (u * 48_271) % 2_147_483_647
    );
    [
        (":authority", "shop.example.com"),
        (":path", "/checkout/cart?step=2"),
        (":method", "GET"),
        (":scheme", "http"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        ),
        (
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("accept-language", "en-US,en;q=0.5"),
        ("accept-encoding", "gzip, deflate, br"),
        ("referer", "https://shop.example.com/catalog/shoes"),
        ("cookie", &cookie),
        ("x-forwarded-for", "127.0.0.1"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", "7d0f8a2e-3b1c-4c55-9a57-2f1e0c9d4b6a"),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect()
}

/// The route the request matches, by name.
const MATCHED: &str = "checkout";
/// A route the request never matches, which carries a feature "elsewhere".
const ELSEWHERE: &str = "route-0";

fn route<'a>(config: &'a mut Value, name: &str) -> &'a mut Value {
    config["routes"]
        .as_array_mut()
        .and_then(|routes| routes.iter_mut().find(|r| r["name"] == name))
        .unwrap_or_else(|| panic!("the bench configuration has no route {name}"))
}

/// v1 only: the bench configuration with the canary at a fixed weight, unguarded, and no shadow
/// comparison anywhere. The baseline every feature is added to.
pub fn v1() -> Value {
    let mut config = config();
    let canary = &mut route(&mut config, MATCHED)["canary"];
    let map = canary.as_object_mut().expect("an object");
    map.remove("ramp");
    map.remove("guard");
    map.insert("weight".into(), json!(10));
    for r in config["routes"].as_array_mut().expect("routes") {
        if let Some(shadow) = r.get_mut("shadow").and_then(Value::as_object_mut) {
            shadow.remove("compare");
        }
    }
    config
}

const RAMP: &str = r#"{"start_at": "2025-12-31T00:00:00Z", "steps": [{"weight": 1, "hold_s": 300}, {"weight": 10}]}"#;

/// The features measured: (what, the configuration). Each is v1 plus one thing.
pub fn features() -> Vec<(&'static str, Value)> {
    let ramp: Value = serde_json::from_str(RAMP).expect("a ramp");
    let errors = json!({"window_s": 30, "min_requests": 50, "max_error_rate": 0.05});
    let max_ms = json!({"window_s": 30, "min_requests": 50, "latency": {"max_ms": 1000}});
    let max_ratio = json!({"window_s": 30, "min_requests": 50, "max_error_rate": 0.05,
        "latency": {"quantile": 0.99, "max_ratio": 5}});
    let compare = json!({"timeout_ms": 1000, "fields": ["/prediction/label"]});
    let with = |name: &str, f: &dyn Fn(&mut Value)| {
        let mut config = v1();
        f(route(&mut config, name));
        config
    };
    let canary = |r: &mut Value, key: &str, value: &Value| {
        let c = r["canary"].as_object_mut().expect("a canary");
        if key == "ramp" {
            c.remove("weight");
        }
        c.insert(key.into(), value.clone());
    };
    vec![
        ("v1 only: fixed weight, no guard, no comparison", v1()),
        (
            "a ramp on another route",
            with(ELSEWHERE, &|r| canary(r, "ramp", &ramp)),
        ),
        (
            "a latency guard on another route",
            with(ELSEWHERE, &|r| canary(r, "guard", &max_ratio)),
        ),
        (
            "a shadow comparison on another route",
            with(ELSEWHERE, &|r| {
                r["shadow"] = json!({"cluster": "shadow", "percent": 10, "compare": compare});
            }),
        ),
        (
            "a ramp on this route",
            with(MATCHED, &|r| canary(r, "ramp", &ramp)),
        ),
        (
            "an error-rate guard on this route",
            with(MATCHED, &|r| canary(r, "guard", &errors)),
        ),
        (
            "a latency guard (`max_ms`) on this route",
            with(MATCHED, &|r| canary(r, "guard", &max_ms)),
        ),
        (
            "a latency guard (`max_ratio`) on this route",
            with(MATCHED, &|r| canary(r, "guard", &max_ratio)),
        ),
        (
            "the Envoy bench's: ramp and `max_ratio` guard here, comparison elsewhere",
            config(),
        ),
    ]
}
