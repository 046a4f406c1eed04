//! `shadow.compare` in the contract: every field refused with the exact `path: message` line an
//! operator reads, the defaults a valid comparison compiles to, and the contract's own example.

mod common;

use common::{load, one_route, problems};
use serde_json::{Value, json};

fn compared(compare: Value) -> Value {
    one_route(json!({
        "name": "rank",
        "stable": "ranker-v2",
        "shadow": { "cluster": "ranker-v3", "percent": 20, "methods": ["POST"], "compare": compare }
    }))
}

const AT: &str = "routes[0].shadow.compare";

#[test]
fn the_contract_example_compiles_and_an_empty_compare_takes_the_defaults() {
    let plan = load(&compared(json!({
        "timeout_ms": 1000, "max_body_bytes": 65536,
        "fields": ["/prediction/label", "/prediction/score"], "tolerance": 0.001,
        "noise_cluster": "ranker-v1-b", "log_per_s": 2
    })));
    let compare = plan.routes[0]
        .shadow
        .as_ref()
        .unwrap()
        .compare
        .as_ref()
        .unwrap();
    let fields: Vec<_> = compare.fields.iter().map(|f| &*f.name).collect();
    assert_eq!(fields, ["/prediction/label", "/prediction/score"]);
    assert_eq!(compare.tolerance, 0.001);
    assert_eq!(compare.noise_cluster.as_deref(), Some("ranker-v1-b"));
    assert_eq!(compare.log_per_s, 2);

    let plan = load(&compared(json!({})));
    let compare = plan.routes[0]
        .shadow
        .as_ref()
        .unwrap()
        .compare
        .as_ref()
        .unwrap();
    assert_eq!(
        (
            compare.timeout_ms,
            compare.max_body_bytes,
            compare.log_per_s
        ),
        (1000, 65536, 1)
    );
    assert!(compare.fields.is_empty() && compare.headers.is_empty());
    assert_eq!(
        (compare.tolerance, compare.noise_cluster.is_none()),
        (0.0, true)
    );
}

#[test]
fn a_field_must_be_a_json_pointer() {
    assert_eq!(
        problems(&compared(
            json!({ "fields": ["prediction", "/ok", "/a~2", "/x;y", "/ok"] })
        )),
        [
            format!(
                r#"{AT}.fields[0]: must be a JSON Pointer starting with "/", got "prediction""#
            ),
            format!(
                r#"{AT}.fields[2]: must be a JSON Pointer: '~' is followed by 0 or 1 (RFC 6901), got "/a~2""#
            ),
            format!(
                r#"{AT}.fields[3]: must be at most 256 visible ASCII characters without ';' (it names a metric label), got "/x;y""#
            ),
            format!(r#"{AT}.fields[4]: duplicate field "/ok""#),
        ]
    );
    assert_eq!(
        problems(&compared(json!({ "fields": [] }))),
        [format!(
            "{AT}.fields: give 1 to 32 JSON Pointers, or leave fields out to compare bodies byte for byte; got 0"
        )]
    );
}

#[test]
fn out_of_range_values_are_refused_at_their_paths() {
    assert_eq!(
        problems(&compared(json!({
            "timeout_ms": 0, "max_body_bytes": 2_000_000, "tolerance": -0.5, "log_per_s": 1001
        }))),
        [
            format!("{AT}.timeout_ms: must be within 1..=60000, got 0"),
            format!("{AT}.max_body_bytes: must be within 0..=1048576, got 2000000"),
            format!("{AT}.log_per_s: must be within 0..=1000, got 1001"),
            format!("{AT}.tolerance: must be at least 0, got -0.5"),
        ]
    );
    assert_eq!(
        problems(&compared(json!({ "timeout_ms": 60001 }))),
        [format!(
            "{AT}.timeout_ms: must be within 1..=60000, got 60001"
        )]
    );
}

#[test]
fn headers_and_the_noise_cluster_are_checked() {
    assert_eq!(
        problems(&compared(json!({
            "headers": ["Content-Type", "content-type", "bad header"],
            "noise_cluster": "ranker-v3"
        }))),
        [
            format!(r#"{AT}.headers[1]: duplicate header "content-type""#),
            format!(r#"{AT}.headers[2]: must be a valid HTTP header name, got "bad header""#),
            format!(
                r#"{AT}.noise_cluster: must name another instance of the live version, not the shadow cluster "ranker-v3""#
            ),
        ]
    );
    assert_eq!(
        problems(&compared(json!({ "noise_cluster": "a;b" }))),
        [format!(
            r#"{AT}.noise_cluster: must be a cluster name of 1 to 256 visible ASCII characters without ';', got "a;b""#
        )]
    );
}

#[test]
fn an_unknown_field_or_a_wrong_type_is_refused_whole() {
    assert_eq!(
        problems(&compared(json!({ "feilds": ["/a"] }))),
        [format!(
            "{AT}.feilds: unknown field `feilds`, expected one of `timeout_ms`, `max_body_bytes`, `fields`, `tolerance`, `headers`, `noise_cluster`, `log_per_s`"
        )]
    );
    assert_eq!(
        problems(&compared(json!({ "fields": "/a" }))),
        [format!(
            r#"{AT}.fields: invalid type: string "/a", expected an array"#
        )]
    );
}
