//! The configuration contract (`shared/spec/CONFIG.md`), rule by rule: what is refused, with the
//! exact `path: message` line an operator reads in the Envoy log, what is accepted, and the
//! defaults a valid configuration compiles to.

mod common;

use common::{TestEnv, decide, load, one_route, problems, problems_of_bytes};
use serde_json::{Value, json};
use switchyard::config::{MAX_CONFIG_BYTES, Problem};
use switchyard::plan::{Base, Colour, HashVersion, KeySource, Weight};

/// A configuration that uses every field of the contract once.
fn everything() -> Value {
    json!({
        "revision": "r42",
        "debug": true,
        "telemetry": { "responses": true, "access_log": true },
        "headers": {
            "cluster": "x-route-cluster",
            "target": "x-route-target",
            "shadow": "x-route-shadow",
            "cohort_prefix": "x-cohort-",
            "decision": "x-route-decision"
        },
        "overrides": {
            "from": "trusted",
            "token_header": "x-qa-token",
            "tokens": ["0123456789abcdef0123"],
            "source_cidrs": ["10.0.0.0/8", "2001:db8::/32"]
        },
        "routes": [
            {
                "name": "checkout",
                "match": {
                    "hosts": ["shop.example.com", "*.shop.example.com"],
                    "path_prefix": "/checkout",
                    "methods": ["GET", "POST"],
                    "headers": [
                        { "name": "x-tenant", "exact": "acme" },
                        { "name": "user-agent", "prefix": "Mozilla/" },
                        { "name": "x-user-id", "present": true },
                        { "name": "x-debug", "present": false }
                    ]
                },
                "stable": "checkout-v1",
                "canary": {
                    "cluster": "checkout-v2",
                    "weight": 12.5,
                    "sticky": ["header:x-user-id", "cookie:uid", "query:uid"],
                    "seed": "checkout-2026",
                    "force": { "header": "x-canary", "cookie": "canary" },
                    "guard": { "max_error_rate": 0.2, "min_requests": 40, "window_s": 10 }
                },
                "experiments": [
                    {
                        "name": "ranker",
                        "key": ["header:x-user-id"],
                        "hash_version": 1,
                        "seed": "ranker-seed",
                        "coverage": 0.9,
                        "namespace": { "id": "checkout", "start": 0.25, "end": 0.75 },
                        "variants": [
                            { "name": "control", "weight": 0.5 },
                            { "name": "treatment", "weight": 0.5, "cluster": "checkout-ranker" }
                        ]
                    },
                    {
                        "name": "layout",
                        "key": ["cookie:uid"],
                        "variants": [
                            { "name": "A", "weight": 0.25 },
                            { "name": "B", "weight": 0.75 }
                        ]
                    }
                ],
                "shadow": {
                    "cluster": "checkout-v3",
                    "percent": 25,
                    "key": ["header:x-user-id"],
                    "seed": "checkout-mirror",
                    "methods": ["GET", "HEAD"],
                    "compare": {
                        "timeout_ms": 500,
                        "max_body_bytes": 4096,
                        "fields": ["/prediction/label", "/prediction/score"],
                        "tolerance": 0.001,
                        "headers": ["content-type"],
                        "noise_cluster": "checkout-v1-b",
                        "log_per_s": 2
                    }
                }
            },
            {
                "name": "web",
                "match": { "path_exact": "/" },
                "blue_green": {
                    "active": "blue",
                    "blue": "web-blue",
                    "green": "web-green",
                    "preview": { "header": "x-preview", "cookie": "preview" },
                    "switch_at": { "active": "green", "at": "2026-12-01T10:00:00Z" }
                }
            }
        ]
    })
}

/// `everything()` with the value at a JSON pointer replaced.
fn everything_with(pointer: &str, value: Value) -> Value {
    let mut config = everything();
    *config
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the fixture")) = value;
    config
}

/// A route with a stable cluster and the given extra fields.
fn route(extra: Value) -> Value {
    let mut route = json!({ "name": "r", "stable": "s" });
    for (k, v) in extra.as_object().expect("an object").clone() {
        route[k] = v;
    }
    route
}

/// The problems of a configuration with one route made of `extra` fields.
fn route_problems(extra: Value) -> Vec<String> {
    problems(&one_route(route(extra)))
}

/// An experiment with two even variants and the given fields on top.
fn experiment(extra: Value) -> Value {
    let mut e = json!({
        "name": "e",
        "key": ["header:x-user"],
        "variants": [{ "name": "a", "weight": 0.5 }, { "name": "b", "weight": 0.5 }]
    });
    for (k, v) in extra.as_object().expect("an object").clone() {
        e[k] = v;
    }
    e
}

fn experiment_problems(extra: Value) -> Vec<String> {
    route_problems(json!({ "experiments": [experiment(extra)] }))
}

fn top_level_problems(extra: Value) -> Vec<String> {
    let mut config = json!({ "routes": [] });
    for (k, v) in extra.as_object().expect("an object").clone() {
        config[k] = v;
    }
    problems(&config)
}

// ----------------------------------------------------------------------------------------------
// Whole documents

#[test]
fn a_full_configuration_using_every_field_compiles() {
    let plan = load(&everything());
    assert_eq!(&*plan.revision, "r42");
    assert!(plan.debug);
    assert_eq!(plan.routes.len(), 2);
    assert_eq!(&*plan.routes[0].name, "checkout");
    assert_eq!(&*plan.routes[1].name, "web");
    assert_eq!(
        plan.summary(),
        "routes=2 canaries=1 experiments=2 shadows=1"
    );
}

#[test]
fn the_summary_counts_routes_canaries_experiments_and_shadows() {
    let config = json!({ "routes": [
        route(json!({ "name": "a", "canary": { "cluster": "c", "weight": 1 } })),
        route(json!({ "name": "b", "canary": { "cluster": "c", "weight": 2 },
                      "experiments": [experiment(json!({ "name": "x" })), experiment(json!({ "name": "y" }))] })),
        route(json!({ "name": "c", "experiments": [experiment(json!({ "name": "z" }))],
                      "shadow": { "cluster": "m", "percent": 5 } })),
        route(json!({ "name": "d" })),
    ]});
    assert_eq!(
        load(&config).summary(),
        "routes=4 canaries=2 experiments=3 shadows=1"
    );
    assert_eq!(
        load(&json!({ "routes": [] })).summary(),
        "routes=0 canaries=0 experiments=0 shadows=0"
    );
}

#[test]
fn every_shipped_example_configuration_compiles() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/configs") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let bytes = std::fs::read(&path).expect("readable example");
            if let Err(problems) = switchyard::config::load(&bytes) {
                panic!("{}: {problems:?}", path.display());
            }
            seen += 1;
        }
    }
    assert!(seen > 0, "no example configuration in {}", dir.display());
}

#[test]
fn routes_may_be_an_empty_array() {
    let plan = load(&json!({ "routes": [] }));
    assert!(plan.routes.is_empty());
}

#[test]
fn routes_are_required() {
    assert_eq!(
        problems(&json!({})),
        ["routes: required (may be an empty array)"]
    );
    assert_eq!(
        problems(&json!({ "revision": "r1", "debug": true })),
        ["routes: required (may be an empty array)"]
    );
}

#[test]
fn a_document_that_is_not_json_is_refused_at_the_root() {
    let found = problems_of_bytes(b"{\"routes\": [");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("$: invalid JSON: "), "{found:?}");
}

#[test]
fn a_document_that_is_not_an_object_is_refused_at_the_root() {
    assert_eq!(
        problems(&json!([])),
        ["$: invalid type: an array, expected an object"]
    );
    assert_eq!(
        problems(&json!("routes")),
        ["$: invalid type: string \"routes\", expected an object"]
    );
}

#[test]
fn a_document_over_the_size_limit_is_refused_before_parsing() {
    let mut bytes = br#"{"routes": []}"#.to_vec();
    bytes.resize(MAX_CONFIG_BYTES + 1, b' ');
    assert_eq!(
        problems_of_bytes(&bytes),
        [format!(
            "$: configuration is {} bytes, more than the limit of {MAX_CONFIG_BYTES}",
            MAX_CONFIG_BYTES + 1
        )]
    );
}

#[test]
fn a_problem_displays_as_path_colon_message() {
    let problem = Problem {
        path: "routes[2].canary.weight".into(),
        message: "must be within 0..=100, got 150".into(),
    };
    assert_eq!(
        problem.to_string(),
        "routes[2].canary.weight: must be within 0..=100, got 150"
    );
}

#[test]
fn a_configuration_with_several_problems_reports_all_of_them() {
    let config = json!({
        "revision": "r;1",
        "debgu": true,
        "overrides": { "tokens": ["short"], "source_cidrs": ["10.0.0.1/8"] },
        "routes": [
            route(json!({ "name": "a", "canary": { "cluster": "c", "weight": 12.345 } })),
            { "name": "b" },
            route(json!({ "name": "c", "experiments": [experiment(json!({ "hash_version": 3 }))] })),
            route(json!({ "name": "d", "match": { "path_prefix": "api" } })),
            route(json!({ "name": "e", "shadow": { "cluster": "m", "percent": 5, "wieght": 1 } })),
        ]
    });
    assert_eq!(
        problems(&config),
        [
            "routes[4].shadow.wieght: unknown field `wieght`, expected one of `cluster`, `percent`, `key`, `seed`, `methods`, `compare`",
            "debgu: unknown field `debgu`, expected one of `revision`, `debug`, `headers`, `overrides`, `telemetry`, `routes`",
            "overrides.tokens[0]: must be at least 16 characters (value not shown)",
            "overrides.source_cidrs[0]: `10.0.0.1/8` has host bits set after the first 8 bits; did you mean `10.0.0.0/8`?, got \"10.0.0.1/8\"",
            "revision: must be printable ASCII without ';', at most 256 characters, got \"r;1\"",
            "routes[0].canary.weight: resolution is 0.01, got 12.345",
            "routes[1].stable: required unless blue_green is given",
            "routes[2].experiments[0].hash_version: must be 1 or 2, got 3",
            "routes[3].match.path_prefix: must start with '/' and hold no query or fragment, got \"api\"",
        ]
    );
}

// ----------------------------------------------------------------------------------------------
// Unknown fields and wrong types

#[test]
fn an_unknown_field_is_refused_at_every_nesting_level() {
    let levels: &[(&str, &str, &[&str])] = &[
        (
            "",
            "",
            &[
                "revision",
                "debug",
                "headers",
                "overrides",
                "telemetry",
                "routes",
            ],
        ),
        ("/telemetry", "telemetry.", &["responses", "access_log"]),
        (
            "/headers",
            "headers.",
            &["cluster", "target", "shadow", "cohort_prefix", "decision"],
        ),
        (
            "/overrides",
            "overrides.",
            &["from", "token_header", "tokens", "source_cidrs"],
        ),
        (
            "/routes/0",
            "routes[0].",
            &[
                "name",
                "match",
                "stable",
                "blue_green",
                "canary",
                "experiments",
                "shadow",
            ],
        ),
        (
            "/routes/0/match",
            "routes[0].match.",
            &["hosts", "path_prefix", "path_exact", "methods", "headers"],
        ),
        (
            "/routes/0/match/headers/2",
            "routes[0].match.headers[2].",
            &["name", "exact", "prefix", "present"],
        ),
        (
            "/routes/0/canary",
            "routes[0].canary.",
            &[
                "cluster", "weight", "ramp", "sticky", "seed", "force", "guard",
            ],
        ),
        (
            "/routes/0/canary/guard",
            "routes[0].canary.guard.",
            &["max_error_rate", "min_requests", "window_s", "latency"],
        ),
        (
            "/routes/0/canary/force",
            "routes[0].canary.force.",
            &["header", "cookie"],
        ),
        (
            "/routes/0/experiments/1",
            "routes[0].experiments[1].",
            &[
                "name",
                "key",
                "hash_version",
                "seed",
                "coverage",
                "namespace",
                "variants",
            ],
        ),
        (
            "/routes/0/experiments/0/namespace",
            "routes[0].experiments[0].namespace.",
            &["id", "start", "end"],
        ),
        (
            "/routes/0/experiments/0/variants/1",
            "routes[0].experiments[0].variants[1].",
            &["name", "weight", "cluster"],
        ),
        (
            "/routes/0/shadow",
            "routes[0].shadow.",
            &["cluster", "percent", "key", "seed", "methods", "compare"],
        ),
        (
            "/routes/0/shadow/compare",
            "routes[0].shadow.compare.",
            &[
                "timeout_ms",
                "max_body_bytes",
                "fields",
                "tolerance",
                "headers",
                "noise_cluster",
                "log_per_s",
            ],
        ),
        (
            "/routes/1/blue_green",
            "routes[1].blue_green.",
            &["active", "blue", "green", "preview", "switch_at"],
        ),
        (
            "/routes/1/blue_green/preview",
            "routes[1].blue_green.preview.",
            &["header", "cookie"],
        ),
        (
            "/routes/1/blue_green/switch_at",
            "routes[1].blue_green.switch_at.",
            &["active", "at"],
        ),
    ];
    for (pointer, path, known) in levels {
        let mut config = everything();
        config
            .pointer_mut(pointer)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("no object at {pointer:?}"))
            .insert("typo".into(), json!(true));
        let expected: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
        assert_eq!(
            problems(&config),
            [format!(
                "{path}typo: unknown field `typo`, expected one of {}",
                expected.join(", ")
            )],
            "unknown field under {pointer:?}"
        );
    }
}

#[test]
fn a_value_of_the_wrong_type_is_refused_once_at_its_path() {
    // Each wrong value is reported alone: the "required" that its absence would also cause is a
    // consequence, not news.
    let cases: &[(&str, Value, &str)] = &[
        (
            "/revision",
            json!(5),
            "revision: invalid type: number `5`, expected a string",
        ),
        (
            "/debug",
            json!("yes"),
            "debug: invalid type: string \"yes\", expected a boolean",
        ),
        (
            "/headers",
            json!([]),
            "headers: invalid type: an array, expected an object",
        ),
        (
            "/overrides/from",
            json!("everyone"),
            "overrides.from: unknown variant `everyone`, expected `anyone` or `trusted`",
        ),
        (
            "/overrides/tokens",
            json!("0123456789abcdef0123"),
            "overrides.tokens: invalid type: string \"0123456789abcdef0123\", expected an array",
        ),
        (
            "/routes",
            json!({}),
            "routes: invalid type: an object, expected an array",
        ),
        (
            "/routes/0",
            json!("checkout"),
            "routes[0]: invalid type: string \"checkout\", expected an object",
        ),
        (
            "/routes/0/name",
            json!(7),
            "routes[0].name: invalid type: number `7`, expected a string",
        ),
        (
            "/routes/0/match/hosts",
            json!("shop.example.com"),
            "routes[0].match.hosts: invalid type: string \"shop.example.com\", expected an array",
        ),
        (
            "/routes/0/match/headers/0/name",
            json!(["x-tenant"]),
            "routes[0].match.headers[0].name: invalid type: an array, expected a string",
        ),
        (
            "/routes/0/canary/weight",
            json!("5"),
            "routes[0].canary.weight: invalid type: string \"5\", expected a number",
        ),
        (
            "/routes/0/canary/sticky/0",
            json!(1),
            "routes[0].canary.sticky[0]: invalid type: number `1`, expected a string",
        ),
        (
            "/routes/0/experiments/0/hash_version",
            json!(1.5),
            "routes[0].experiments[0].hash_version: invalid type: number `1.5`, expected an integer from 0 to 255",
        ),
        (
            "/routes/0/experiments/0/variants/0/weight",
            json!(true),
            "routes[0].experiments[0].variants[0].weight: invalid type: boolean `true`, expected a number",
        ),
        (
            "/routes/0/shadow",
            json!(25),
            "routes[0].shadow: invalid type: number `25`, expected an object",
        ),
        (
            "/routes/1/blue_green/active",
            json!("red"),
            "routes[1].blue_green.active: unknown variant `red`, expected `blue` or `green`",
        ),
        (
            "/routes/1/blue_green/switch_at/at",
            json!(1_796_119_200),
            "routes[1].blue_green.switch_at.at: invalid type: number `1796119200`, expected a string",
        ),
    ];
    for (pointer, value, expected) in cases {
        assert_eq!(
            problems(&everything_with(pointer, value.clone())),
            [*expected],
            "{pointer} = {value}"
        );
    }
}

// ----------------------------------------------------------------------------------------------
// Top level: revision, headers, overrides

#[test]
fn defaults_apply_when_optional_top_level_fields_are_absent() {
    let plan = load(&json!({ "routes": [] }));
    assert_eq!(&*plan.revision, "");
    assert!(!plan.debug);
    assert_eq!(&*plan.headers.cluster, "x-switchyard-cluster");
    assert_eq!(&*plan.headers.target, "x-switchyard-target");
    assert_eq!(&*plan.headers.shadow, "x-switchyard-shadow");
    assert_eq!(&*plan.headers.cohort_prefix, "x-switchyard-exp-");
    assert_eq!(&*plan.headers.decision, "x-switchyard-decision");
    assert!(!plan.overrides.anyone, "overrides default to trusted");
    assert_eq!(&*plan.overrides.token_header, "x-switchyard-token");
    assert!(plan.overrides.tokens.is_empty());
    assert!(plan.overrides.source_cidrs.is_empty());
}

#[test]
fn header_names_given_in_the_configuration_are_used_lower_cased() {
    let plan = load(&json!({
        "headers": { "cluster": "X-Route", "cohort_prefix": "X-Cohort-" },
        "overrides": { "from": "anyone", "token_header": "X-QA-Token" },
        "routes": []
    }));
    assert_eq!(&*plan.headers.cluster, "x-route");
    assert_eq!(&*plan.headers.cohort_prefix, "x-cohort-");
    assert_eq!(
        &*plan.headers.target, "x-switchyard-target",
        "others keep their default"
    );
    assert_eq!(&*plan.overrides.token_header, "x-qa-token");
    assert!(plan.overrides.anyone);
}

#[test]
fn the_revision_must_be_printable_ascii_without_semicolons() {
    assert_eq!(
        top_level_problems(json!({ "revision": "r;42" })),
        ["revision: must be printable ASCII without ';', at most 256 characters, got \"r;42\""]
    );
    assert_eq!(
        top_level_problems(json!({ "revision": "r\n42" })),
        [
            "revision: must be printable ASCII without ';', at most 256 characters, got \"r\\u000a42\""
        ]
    );
    let long = "r".repeat(257);
    assert_eq!(
        top_level_problems(json!({ "revision": long })),
        [format!(
            "revision: must be printable ASCII without ';', at most 256 characters, got \"{long}\""
        )]
    );
    assert_eq!(
        &*load(&json!({ "revision": "payments bg-7 (2026)", "routes": [] })).revision,
        "payments bg-7 (2026)"
    );
}

#[test]
fn written_header_names_must_be_valid_http_header_names() {
    assert_eq!(
        top_level_problems(json!({ "headers": { "cluster": "x cluster" } })),
        ["headers.cluster: must be a valid HTTP header name, got \"x cluster\""]
    );
    assert_eq!(
        top_level_problems(json!({ "headers": { "decision": "" } })),
        ["headers.decision: must be a valid HTTP header name, got \"\""]
    );
    assert_eq!(
        top_level_problems(json!({ "overrides": { "token_header": "x:token" } })),
        ["overrides.token_header: must be a valid HTTP header name, got \"x:token\""]
    );
}

#[test]
fn two_written_headers_may_not_share_a_name() {
    assert_eq!(
        top_level_problems(json!({ "headers": { "target": "X-Switchyard-Cluster" } })),
        ["headers.target: \"x-switchyard-cluster\" is already used by another header"]
    );
    assert_eq!(
        top_level_problems(json!({ "headers": { "decision": "x-switchyard-shadow" } })),
        ["headers.decision: \"x-switchyard-shadow\" is already used by another header"]
    );
}

#[test]
fn a_written_header_may_not_start_with_the_cohort_prefix() {
    assert_eq!(
        top_level_problems(json!({ "headers": { "shadow": "x-switchyard-exp-shadow" } })),
        [
            "headers.shadow: \"x-switchyard-exp-shadow\" starts with cohort_prefix \"x-switchyard-exp-\""
        ]
    );
    assert_eq!(
        top_level_problems(json!({ "headers": { "cohort_prefix": "x-switchyard-" } })),
        [
            "headers.cluster: \"x-switchyard-cluster\" starts with cohort_prefix \"x-switchyard-\"",
            "headers.target: \"x-switchyard-target\" starts with cohort_prefix \"x-switchyard-\"",
            "headers.shadow: \"x-switchyard-shadow\" starts with cohort_prefix \"x-switchyard-\"",
            "headers.decision: \"x-switchyard-decision\" starts with cohort_prefix \"x-switchyard-\"",
            "overrides.token_header: \"x-switchyard-token\" is a header Switchyard writes",
        ]
    );
}

#[test]
fn the_token_header_may_not_be_a_header_the_filter_writes() {
    assert_eq!(
        top_level_problems(json!({ "overrides": { "token_header": "x-switchyard-cluster" } })),
        ["overrides.token_header: \"x-switchyard-cluster\" is a header Switchyard writes"]
    );
    assert_eq!(
        top_level_problems(json!({ "overrides": { "token_header": "X-Switchyard-Exp-Token" } })),
        ["overrides.token_header: \"x-switchyard-exp-token\" is a header Switchyard writes"]
    );
}

#[test]
fn tokens_shorter_than_16_characters_are_refused_without_showing_them() {
    let short = "s3cr3t-15-chars";
    assert_eq!(short.len(), 15);
    let found =
        top_level_problems(json!({ "overrides": { "tokens": ["0123456789abcdef", short] } }));
    assert_eq!(
        found,
        ["overrides.tokens[1]: must be at least 16 characters (value not shown)"]
    );
    assert!(found.iter().all(|line| !line.contains(short)), "{found:?}");

    let plan = load(&json!({ "overrides": { "tokens": ["0123456789abcdef"] }, "routes": [] }));
    assert_eq!(plan.overrides.tokens.len(), 1, "16 characters are enough");
}

#[test]
fn tokens_that_cannot_travel_in_a_header_are_refused_without_showing_them() {
    let spaced = "qa team token 0123456789";
    let found = top_level_problems(json!({ "overrides": { "tokens": [spaced] } }));
    assert_eq!(
        found,
        ["overrides.tokens[0]: must be visible ASCII to travel in a header (value not shown)"]
    );
    assert!(found.iter().all(|line| !line.contains(spaced)), "{found:?}");
}

#[test]
fn a_source_cidr_that_is_not_an_address_range_is_refused() {
    assert_eq!(
        top_level_problems(json!({ "overrides": { "source_cidrs": ["office"] } })),
        [
            "overrides.source_cidrs[0]: `office` is not a valid address range: `office` is not an IPv4 or IPv6 address (expected e.g. 10.0.0.0/8, 2001:db8::/32 or 192.0.2.7), got \"office\""
        ]
    );
    assert_eq!(
        top_level_problems(json!({ "overrides": { "source_cidrs": ["10.0.0.0/33"] } })),
        [
            "overrides.source_cidrs[0]: `10.0.0.0/33` is not a valid address range: prefix /33 is longer than the 32 bits of an IPv4 address, got \"10.0.0.0/33\""
        ]
    );
    assert_eq!(
        top_level_problems(json!({ "overrides": { "source_cidrs": ["10.0.0.0/"] } })),
        [
            "overrides.source_cidrs[0]: `10.0.0.0/` is not a valid address range: the prefix length after `/` must be a number from 0 to 32, got \"10.0.0.0/\""
        ]
    );
}

#[test]
fn a_source_cidr_with_host_bits_set_is_refused_with_the_network_it_meant() {
    assert_eq!(
        top_level_problems(json!({ "overrides": { "source_cidrs": ["192.168.1.7/24"] } })),
        [
            "overrides.source_cidrs[0]: `192.168.1.7/24` has host bits set after the first 24 bits; did you mean `192.168.1.0/24`?, got \"192.168.1.7/24\""
        ]
    );
    assert_eq!(
        top_level_problems(json!({ "overrides": { "source_cidrs": ["2001:db8::1/32"] } })),
        [
            "overrides.source_cidrs[0]: `2001:db8::1/32` has host bits set after the first 32 bits; did you mean `2001:db8::/32`?, got \"2001:db8::1/32\""
        ]
    );
}

#[test]
fn source_cidrs_accept_ipv4_ipv6_and_single_addresses() {
    let plan = load(&json!({
        "overrides": { "source_cidrs": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7", "::1/128", "0.0.0.0/0"] },
        "routes": []
    }));
    assert_eq!(plan.overrides.source_cidrs.len(), 5);
}

// ----------------------------------------------------------------------------------------------
// Routes

#[test]
fn route_names_must_be_unique() {
    let config = json!({ "routes": [route(json!({ "name": "a" })), route(json!({ "name": "b" })), route(json!({ "name": "a" }))] });
    assert_eq!(
        problems(&config),
        ["routes[2].name: duplicate route name \"a\""]
    );
}

#[test]
fn route_names_must_match_the_pattern() {
    for bad in [
        "Checkout",
        "check out",
        "",
        "chéckout",
        "a/b",
        &"a".repeat(65),
    ] {
        assert_eq!(
            route_problems(json!({ "name": bad })),
            [format!(
                "routes[0].name: must match [a-z0-9_.-]{{1,64}}, got \"{bad}\""
            )],
            "{bad:?}"
        );
    }
    for good in ["checkout", "a", "v2_api.ping-1", &"a".repeat(64)] {
        assert_eq!(
            &*load(&one_route(route(json!({ "name": good })))).routes[0].name,
            good
        );
    }
}

#[test]
fn a_route_without_a_name_is_refused() {
    assert_eq!(
        problems(&one_route(json!({ "stable": "s" }))),
        ["routes[0].name: required"]
    );
}

#[test]
fn a_route_needs_a_stable_cluster_unless_it_is_blue_green() {
    assert_eq!(
        problems(&one_route(json!({ "name": "r" }))),
        ["routes[0].stable: required unless blue_green is given"]
    );
    let plan = load(&one_route(
        json!({ "name": "r", "blue_green": { "active": "blue", "blue": "b", "green": "g" } }),
    ));
    assert!(matches!(plan.routes[0].base, Base::BlueGreen(_)));
}

#[test]
fn cluster_names_must_be_visible_ascii_without_semicolons() {
    assert_eq!(
        route_problems(json!({ "stable": "checkout v1" })),
        [
            "routes[0].stable: must be a cluster name of 1 to 256 visible ASCII characters without ';', got \"checkout v1\""
        ]
    );
    assert_eq!(
        route_problems(json!({ "canary": { "cluster": "a;b", "weight": 1 } })),
        [
            "routes[0].canary.cluster: must be a cluster name of 1 to 256 visible ASCII characters without ';', got \"a;b\""
        ]
    );
    assert_eq!(
        route_problems(json!({ "stable": "" })),
        [
            "routes[0].stable: must be a cluster name of 1 to 256 visible ASCII characters without ';', got \"\""
        ]
    );
    // Envoy cluster names such as Istio's are accepted as they are.
    load(&one_route(route(
        json!({ "stable": "outbound|8080||checkout.shop.svc.cluster.local" }),
    )));
}

// ----------------------------------------------------------------------------------------------
// match

#[test]
fn hosts_must_be_names_without_port_or_wildcard_subdomains() {
    for bad in [
        "shop.example.com:8080",
        "shop example.com",
        "*example.com",
        "shop.*.com",
        "",
        "*.",
        "http://shop.example.com",
    ] {
        assert_eq!(
            route_problems(json!({ "match": { "hosts": ["ok.example.com", bad] } })),
            [format!(
                "routes[0].match.hosts[1]: must be a host name without port, `*.` + a domain, or `*`, got \"{bad}\""
            )],
            "{bad:?}"
        );
    }
}

#[test]
fn a_lone_star_is_accepted_as_any_host() {
    let matches = |hosts: Value, authority: &str| {
        let plan = load(&one_route(route(json!({ "match": { "hosts": hosts } }))));
        let request = [(":authority", authority), (":path", "/")];
        decide(&plan, &request, &mut TestEnv::seeded(1)).is_some()
    };
    for authority in ["shop.example.com", "other.test:8080", "[::1]", ""] {
        assert!(matches(json!(["*"]), authority), "{authority:?}");
        assert!(
            matches(json!(["shop.example.com", "*"]), authority),
            "{authority:?}"
        );
    }
    let named = json!(["Shop.Example.COM", "*.example.com", "[::1]"]);
    for authority in ["shop.example.com", "a.b.example.com:443", "[::1]:8080"] {
        assert!(matches(named.clone(), authority), "{authority:?}");
    }
    for authority in ["example.com", "other.test", "[::2]"] {
        assert!(!matches(named.clone(), authority), "{authority:?}");
    }
}

#[test]

fn a_bad_host_after_a_lone_star_is_still_reported() {
    assert_eq!(
        route_problems(json!({ "match": { "hosts": ["*", "shop.example.com:8080"] } })),
        [
            "routes[0].match.hosts[1]: must be a host name without port, `*.` + a domain, or `*`, got \"shop.example.com:8080\""
        ]
    );
}

#[test]
fn path_prefix_and_path_exact_are_exclusive() {
    assert_eq!(
        route_problems(json!({ "match": { "path_prefix": "/api", "path_exact": "/api/v1" } })),
        ["routes[0].match: path_prefix and path_exact are exclusive; give at most one"]
    );
}

#[test]
fn paths_must_start_with_a_slash_and_hold_no_query() {
    assert_eq!(
        route_problems(json!({ "match": { "path_prefix": "api" } })),
        [
            "routes[0].match.path_prefix: must start with '/' and hold no query or fragment, got \"api\""
        ]
    );
    assert_eq!(
        route_problems(json!({ "match": { "path_exact": "/search?q=1" } })),
        [
            "routes[0].match.path_exact: must start with '/' and hold no query or fragment, got \"/search?q=1\""
        ]
    );
    assert_eq!(
        route_problems(json!({ "match": { "path_exact": "/a#top" } })),
        [
            "routes[0].match.path_exact: must start with '/' and hold no query or fragment, got \"/a#top\""
        ]
    );
    assert_eq!(
        route_problems(json!({ "match": { "path_prefix": "" } })),
        [
            "routes[0].match.path_prefix: must start with '/' and hold no query or fragment, got \"\""
        ]
    );
}

#[test]
fn methods_must_be_upper_case_http_methods() {
    assert_eq!(
        route_problems(json!({ "match": { "methods": ["GET", "post"] } })),
        ["routes[0].match.methods[1]: must be an upper-case HTTP method such as GET, got \"post\""]
    );
    assert_eq!(
        route_problems(json!({ "match": { "methods": ["GET POST"] } })),
        [
            "routes[0].match.methods[0]: must be an upper-case HTTP method such as GET, got \"GET POST\""
        ]
    );
}

#[test]
fn header_conditions_need_a_valid_name() {
    assert_eq!(
        route_problems(json!({ "match": { "headers": [{ "name": "x tenant", "exact": "a" }] } })),
        ["routes[0].match.headers[0].name: must be a valid HTTP header name, got \"x tenant\""]
    );
    assert_eq!(
        route_problems(json!({ "match": { "headers": [{ "exact": "a" }] } })),
        ["routes[0].match.headers[0].name: required"]
    );
    // Pseudo-headers are headers Envoy matches on too.
    load(&one_route(route(
        json!({ "match": { "headers": [{ "name": ":authority", "prefix": "shop." }] } }),
    )));
}

#[test]

fn a_header_test_of_the_wrong_type_is_reported_once() {
    assert_eq!(
        problems(&everything_with(
            "/routes/0/match/headers/2/present",
            json!("yes")
        )),
        ["routes[0].match.headers[2].present: invalid type: string \"yes\", expected a boolean"]
    );
}

#[test]
fn header_conditions_give_exactly_one_test() {
    for bad in [
        json!({ "name": "x-a", "exact": "1", "prefix": "1" }),
        json!({ "name": "x-a", "exact": "1", "present": true }),
        json!({ "name": "x-a" }),
    ] {
        assert_eq!(
            route_problems(json!({ "match": { "headers": [bad.clone()] } })),
            ["routes[0].match.headers[0]: give exactly one of exact, prefix, present"],
            "{bad}"
        );
    }
}

// ----------------------------------------------------------------------------------------------
// Inputs that would read what the filter writes

#[test]
fn no_input_may_read_a_header_the_filter_writes() {
    let cases: &[(Value, &str)] = &[
        (
            json!({ "canary": { "cluster": "c", "weight": 5, "sticky": ["header:x-switchyard-cluster"] } }),
            "routes[0].canary.sticky[0]: \"x-switchyard-cluster\" is written or removed by Switchyard and cannot be read",
        ),
        (
            json!({ "canary": { "cluster": "c", "weight": 5, "force": { "header": "X-Switchyard-Target" } } }),
            "routes[0].canary.force.header: \"x-switchyard-target\" is written or removed by Switchyard and cannot be read",
        ),
        (
            json!({ "match": { "headers": [{ "name": "x-switchyard-shadow", "present": true }] } }),
            "routes[0].match.headers[0].name: \"x-switchyard-shadow\" is written or removed by Switchyard and cannot be read",
        ),
        (
            json!({ "experiments": [experiment(json!({ "key": ["header:x-switchyard-exp-ranker"] }))] }),
            "routes[0].experiments[0].key[0]: \"x-switchyard-exp-ranker\" is written or removed by Switchyard and cannot be read",
        ),
        (
            json!({ "shadow": { "cluster": "m", "percent": 5, "key": ["header:x-switchyard-token"] } }),
            "routes[0].shadow.key[0]: \"x-switchyard-token\" is written or removed by Switchyard and cannot be read",
        ),
    ];
    for (extra, expected) in cases {
        assert_eq!(route_problems(extra.clone()), [*expected], "{extra}");
    }
    assert_eq!(
        problems(&one_route(json!({ "name": "r", "blue_green": {
            "active": "blue", "blue": "b", "green": "g", "preview": { "header": "x-switchyard-target" }
        } }))),
        [
            "routes[0].blue_green.preview.header: \"x-switchyard-target\" is written or removed by Switchyard and cannot be read"
        ]
    );
}

#[test]
fn the_headers_refused_as_inputs_follow_the_configured_names() {
    let config = |sticky: &str| {
        json!({
            "headers": { "cluster": "x-route" },
            "overrides": { "token_header": "x-qa" },
            "routes": [route(json!({ "canary": { "cluster": "c", "weight": 5, "sticky": [sticky] } }))]
        })
    };
    assert_eq!(
        problems(&config("header:x-route")),
        [
            "routes[0].canary.sticky[0]: \"x-route\" is written or removed by Switchyard and cannot be read"
        ]
    );
    assert_eq!(
        problems(&config("header:x-qa")),
        [
            "routes[0].canary.sticky[0]: \"x-qa\" is written or removed by Switchyard and cannot be read"
        ]
    );
    load(&config("header:x-switchyard-cluster"));
}

#[test]
fn key_sources_must_name_a_header_a_cookie_or_a_query_parameter() {
    for bad in [
        "x-user",
        "header:",
        "body:uid",
        "query:",
        "cookie:",
        "Header:x-user",
    ] {
        let found = route_problems(
            json!({ "canary": { "cluster": "c", "weight": 5, "sticky": ["header:x-ok", bad] } }),
        );
        assert_eq!(found.len(), 1, "{bad:?}: {found:?}");
        assert!(
            found[0].starts_with("routes[0].canary.sticky[1]: "),
            "{bad:?}: {found:?}"
        );
    }
    assert_eq!(
        route_problems(json!({ "canary": { "cluster": "c", "weight": 5, "sticky": ["user"] } })),
        [
            "routes[0].canary.sticky[0]: must be header:<name>, cookie:<name> or query:<name>, got \"user\""
        ]
    );
    assert_eq!(
        route_problems(
            json!({ "canary": { "cluster": "c", "weight": 5, "sticky": ["cookie:a b"] } })
        ),
        ["routes[0].canary.sticky[0]: must be a valid cookie name, got \"a b\""]
    );
}

#[test]
fn key_sources_compile_in_order_with_header_names_lower_cased() {
    let plan = load(&one_route(route(json!({
        "canary": { "cluster": "c", "weight": 5, "sticky": ["header:X-User", "cookie:UID", "query:Uid"] }
    }))));
    let canary = plan.routes[0].canary.as_ref().expect("a canary");
    assert_eq!(
        canary.sticky,
        [
            KeySource::Header("x-user".into()),
            KeySource::Cookie("UID".into()),
            KeySource::Query("Uid".into()),
        ]
    );
}

// ----------------------------------------------------------------------------------------------
// blue_green

#[test]
fn blue_green_needs_an_active_colour_and_both_clusters() {
    assert_eq!(
        problems(&one_route(json!({ "name": "r", "blue_green": {} }))),
        [
            "routes[0].blue_green.active: required",
            "routes[0].blue_green.blue: required",
            "routes[0].blue_green.green: required",
        ]
    );
}

#[test]
fn switch_at_must_be_an_rfc_3339_instant() {
    let with_at = |at: &str| {
        problems(&one_route(json!({ "name": "r", "blue_green": {
            "active": "blue", "blue": "b", "green": "g", "switch_at": { "active": "green", "at": at }
        } })))
    };
    assert_eq!(
        with_at("tomorrow"),
        [
            "routes[0].blue_green.switch_at.at: expected an RFC 3339 timestamp like 2026-12-01T10:00:00Z, got \"tomorrow\""
        ]
    );
    assert_eq!(
        with_at("2026-12-01T10:00:00"),
        [
            "routes[0].blue_green.switch_at.at: missing UTC offset (add Z or an offset like +01:00), got \"2026-12-01T10:00:00\""
        ]
    );
    assert_eq!(
        with_at("2026-02-30T10:00:00Z"),
        [
            "routes[0].blue_green.switch_at.at: day out of range for the month, got \"2026-02-30T10:00:00Z\""
        ]
    );
    assert_eq!(
        problems(&one_route(json!({ "name": "r", "blue_green": {
            "active": "blue", "blue": "b", "green": "g", "switch_at": { "at": "2026-12-01T10:00:00Z" }
        } }))),
        ["routes[0].blue_green.switch_at.active: required"]
    );
}

#[test]
fn switch_at_compiles_to_the_instant_in_unix_milliseconds() {
    let plan = load(&one_route(json!({ "name": "r", "blue_green": {
        "active": "blue", "blue": "b", "green": "g",
        "switch_at": { "active": "green", "at": "2026-12-01T11:00:00+01:00" }
    } })));
    let Base::BlueGreen(bg) = &plan.routes[0].base else {
        panic!("not blue-green")
    };
    assert_eq!(bg.active, Colour::Blue);
    // `date -u -d 2026-12-01T10:00:00Z +%s` = 1796119200.
    assert_eq!(bg.switch_at, Some((Colour::Green, 1_796_119_200_000)));
}

#[test]
fn an_override_selector_names_a_header_or_a_cookie() {
    assert_eq!(
        problems(&one_route(json!({ "name": "r", "blue_green": {
            "active": "blue", "blue": "b", "green": "g", "preview": {}
        } }))),
        ["routes[0].blue_green.preview: give a header, a cookie, or both"]
    );
    assert_eq!(
        route_problems(json!({ "canary": { "cluster": "c", "weight": 5, "force": {} } })),
        ["routes[0].canary.force: give a header, a cookie, or both"]
    );
    assert_eq!(
        route_problems(
            json!({ "canary": { "cluster": "c", "weight": 5, "force": { "cookie": "can ary" } } })
        ),
        ["routes[0].canary.force.cookie: must be a valid cookie name, got \"can ary\""]
    );
}

// ----------------------------------------------------------------------------------------------
// canary

#[test]
fn a_canary_needs_a_cluster_and_a_weight() {
    assert_eq!(
        route_problems(json!({ "canary": {} })),
        [
            "routes[0].canary.cluster: required",
            "routes[0].canary.weight: required"
        ]
    );
}

#[test]
fn a_canary_weight_above_100_is_refused_at_its_path() {
    let found = route_problems(json!({ "canary": { "cluster": "c", "weight": 150 } }));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("routes[0].canary.weight: must be within 0..=100, got 150"),
        "{found:?}"
    );
    let found = route_problems(json!({ "canary": { "cluster": "c", "weight": -0.5 } }));
    assert_eq!(
        found,
        ["routes[0].canary.weight: must be within 0..=100, got -0.5"]
    );
    let found = route_problems(json!({ "canary": { "cluster": "c", "weight": 100.01 } }));
    assert_eq!(
        found,
        ["routes[0].canary.weight: must be within 0..=100, got 100.01"]
    );
}

#[test]

fn a_canary_weight_of_150_reads_exactly_as_the_contract_example() {
    let config = json!({ "routes": [
        route(json!({ "name": "a" })),
        route(json!({ "name": "b" })),
        route(json!({ "name": "c", "canary": { "cluster": "c", "weight": 150 } })),
    ]});
    assert_eq!(
        problems(&config),
        ["routes[2].canary.weight: must be within 0..=100, got 150"]
    );
}

#[test]
fn a_canary_weight_has_a_resolution_of_one_hundredth_of_a_percent() {
    assert_eq!(
        route_problems(json!({ "canary": { "cluster": "c", "weight": 12.345 } })),
        ["routes[0].canary.weight: resolution is 0.01, got 12.345"]
    );
    assert_eq!(
        route_problems(json!({ "canary": { "cluster": "c", "weight": 0.001 } })),
        ["routes[0].canary.weight: resolution is 0.01, got 0.001"]
    );
    for (weight, basis_points) in [
        (0.0, 0),
        (0.01, 1),
        (12.5, 1250),
        (33.33, 3333),
        (99.99, 9999),
        (100.0, 10_000),
    ] {
        let plan = load(&one_route(route(
            json!({ "canary": { "cluster": "c", "weight": weight } }),
        )));
        let canary = plan.routes[0].canary.as_ref().expect("a canary");
        assert_eq!(
            canary.weight,
            Weight::Fixed(basis_points),
            "weight {weight}"
        );
    }
}

#[test]
fn the_canary_seed_defaults_to_the_route_name() {
    let plan = load(&one_route(route(
        json!({ "name": "checkout", "canary": { "cluster": "c", "weight": 5 } }),
    )));
    assert_eq!(
        &*plan.routes[0].canary.as_ref().expect("a canary").seed,
        "checkout"
    );
    let plan = load(&one_route(route(
        json!({ "canary": { "cluster": "c", "weight": 5, "seed": "s-2026" } }),
    )));
    assert_eq!(
        &*plan.routes[0].canary.as_ref().expect("a canary").seed,
        "s-2026"
    );
}

#[test]
fn seeds_longer_than_256_bytes_are_refused() {
    assert_eq!(
        route_problems(
            json!({ "canary": { "cluster": "c", "weight": 5, "seed": "s".repeat(257) } })
        ),
        ["routes[0].canary.seed: at most 256 bytes, got 257"]
    );
}

// ----------------------------------------------------------------------------------------------
// experiments

#[test]
fn experiment_defaults_are_version_2_the_name_as_seed_and_full_coverage() {
    let plan = load(&one_route(route(
        json!({ "experiments": [experiment(json!({ "name": "ranker" }))] }),
    )));
    let e = &plan.routes[0].experiments[0];
    assert_eq!(e.hash_version, HashVersion::V2);
    assert_eq!(&*e.seed, "ranker");
    assert!(e.namespace.is_none());
    assert_eq!(e.ranges, [(0.0, 0.5), (0.5, 1.0)]);
    assert_eq!(
        &*e.header, "x-switchyard-exp-ranker",
        "cohort prefix + name"
    );
}

#[test]
fn experiment_names_must_match_the_pattern_and_be_unique_within_the_route() {
    assert_eq!(
        experiment_problems(json!({ "name": "Ranker" })),
        ["routes[0].experiments[0].name: must match [a-z0-9_.-]{1,64}, got \"Ranker\""]
    );
    assert_eq!(
        route_problems(json!({ "experiments": [experiment(json!({})), experiment(json!({}))] })),
        ["routes[0].experiments[1].name: duplicate experiment name \"e\""]
    );
    // The same name on two routes is fine.
    load(&json!({ "routes": [
        route(json!({ "name": "a", "experiments": [experiment(json!({}))] })),
        route(json!({ "name": "b", "experiments": [experiment(json!({}))] })),
    ]}));
}

#[test]
fn an_experiment_needs_at_least_one_key_source() {
    let mut e = experiment(json!({}));
    e.as_object_mut().expect("an object").remove("key");
    assert_eq!(
        route_problems(json!({ "experiments": [e] })),
        ["routes[0].experiments[0].key: required"]
    );
    assert_eq!(
        experiment_problems(json!({ "key": [] })),
        ["routes[0].experiments[0].key: give at least one key source"]
    );
    assert_eq!(
        experiment_problems(json!({ "key": ["uid"] })),
        [
            "routes[0].experiments[0].key[0]: must be header:<name>, cookie:<name> or query:<name>, got \"uid\""
        ]
    );
}

#[test]
fn hash_version_must_be_1_or_2() {
    assert_eq!(
        experiment_problems(json!({ "hash_version": 3 })),
        ["routes[0].experiments[0].hash_version: must be 1 or 2, got 3"]
    );
    assert_eq!(
        experiment_problems(json!({ "hash_version": 0 })),
        ["routes[0].experiments[0].hash_version: must be 1 or 2, got 0"]
    );
    let plan = load(&one_route(route(
        json!({ "experiments": [experiment(json!({ "hash_version": 1 }))] }),
    )));
    assert_eq!(plan.routes[0].experiments[0].hash_version, HashVersion::V1);
}

#[test]
fn coverage_must_be_within_0_and_1() {
    assert_eq!(
        experiment_problems(json!({ "coverage": 1.5 })),
        ["routes[0].experiments[0].coverage: must be within 0..=1, got 1.5"]
    );
    assert_eq!(
        experiment_problems(json!({ "coverage": -0.25 })),
        ["routes[0].experiments[0].coverage: must be within 0..=1, got -0.25"]
    );
    let plan = load(&one_route(route(
        json!({ "experiments": [experiment(json!({ "coverage": 0.5 }))] }),
    )));
    assert_eq!(
        plan.routes[0].experiments[0].ranges,
        [(0.0, 0.25), (0.5, 0.75)]
    );
}

#[test]
fn a_namespace_needs_an_id_and_a_start_not_past_its_end() {
    assert_eq!(
        experiment_problems(json!({ "namespace": { "id": "n", "start": 0.6, "end": 0.4 } })),
        ["routes[0].experiments[0].namespace: start must not exceed end, got 0.6 > 0.4"]
    );
    assert_eq!(
        experiment_problems(json!({ "namespace": { "id": "", "start": 0, "end": 0.5 } })),
        ["routes[0].experiments[0].namespace.id: must not be empty"]
    );
    assert_eq!(
        experiment_problems(json!({ "namespace": { "id": "n", "start": 0 } })),
        ["routes[0].experiments[0].namespace.end: required"]
    );
    assert_eq!(
        experiment_problems(json!({ "namespace": { "id": "n", "start": 0, "end": 1.5 } })),
        ["routes[0].experiments[0].namespace.end: must be within 0..=1, got 1.5"]
    );
    load(&one_route(route(
        json!({ "experiments": [experiment(json!({ "namespace": { "id": "n", "start": 0.5, "end": 0.5 } }))] }),
    )));
}

#[test]
fn an_experiment_has_2_to_32_variants() {
    assert_eq!(
        experiment_problems(json!({ "variants": [{ "name": "only", "weight": 1 }] })),
        ["routes[0].experiments[0].variants: give 2 to 32 variants, got 1"]
    );
    let many: Vec<Value> = (0..33)
        .map(|i| json!({ "name": format!("v{i}"), "weight": 1.0 / 33.0 }))
        .collect();
    assert_eq!(
        experiment_problems(json!({ "variants": many })),
        ["routes[0].experiments[0].variants: give 2 to 32 variants, got 33"]
    );
    let most: Vec<Value> = (0..32)
        .map(|i| json!({ "name": format!("v{i}"), "weight": 1.0 / 32.0 }))
        .collect();
    load(&one_route(route(
        json!({ "experiments": [experiment(json!({ "variants": most }))] }),
    )));
    let mut e = experiment(json!({}));
    e.as_object_mut().expect("an object").remove("variants");
    assert_eq!(
        route_problems(json!({ "experiments": [e] })),
        ["routes[0].experiments[0].variants: required"]
    );
}

#[test]
fn variant_weights_must_sum_to_1_within_a_thousandth() {
    assert_eq!(
        experiment_problems(
            json!({ "variants": [{ "name": "a", "weight": 0.25 }, { "name": "b", "weight": 0.5 }] })
        ),
        ["routes[0].experiments[0].variants: variant weights must sum to 1 (±0.001), got 0.75"]
    );
    assert_eq!(
        experiment_problems(
            json!({ "variants": [{ "name": "a", "weight": 0.5 }, { "name": "b", "weight": 0.5 }, { "name": "c", "weight": 0.125 }] })
        ),
        ["routes[0].experiments[0].variants: variant weights must sum to 1 (±0.001), got 1.125"]
    );
    // 0.333 × 3 = 0.999 is within the tolerance.
    load(&one_route(route(
        json!({ "experiments": [experiment(json!({ "variants": [
        { "name": "a", "weight": 0.333 }, { "name": "b", "weight": 0.333 }, { "name": "c", "weight": 0.334 }
    ] }))] }),
    )));
    load(&one_route(route(
        json!({ "experiments": [experiment(json!({ "variants": [
        { "name": "a", "weight": 0.3333 }, { "name": "b", "weight": 0.3333 }, { "name": "c", "weight": 0.3333 }
    ] }))] }),
    )));
}

#[test]
fn variant_weights_must_be_non_negative() {
    assert_eq!(
        experiment_problems(
            json!({ "variants": [{ "name": "a", "weight": -0.5 }, { "name": "b", "weight": 1.5 }] })
        ),
        [
            "routes[0].experiments[0].variants[0].weight: must be within 0..=1, got -0.5",
            "routes[0].experiments[0].variants[1].weight: must be within 0..=1, got 1.5",
        ]
    );
    // A zero weight is a valid (empty) variant.
    load(&one_route(route(
        json!({ "experiments": [experiment(json!({ "variants": [
        { "name": "a", "weight": 0 }, { "name": "b", "weight": 1 }
    ] }))] }),
    )));
}

#[test]
fn variant_names_match_their_pattern_and_are_unique() {
    assert_eq!(
        experiment_problems(
            json!({ "variants": [{ "name": "a b", "weight": 0.5 }, { "name": "b", "weight": 0.5 }] })
        ),
        ["routes[0].experiments[0].variants[0].name: must match [A-Za-z0-9_.-]{1,64}, got \"a b\""]
    );
    assert_eq!(
        experiment_problems(
            json!({ "variants": [{ "name": "A", "weight": 0.5 }, { "name": "A", "weight": 0.5 }] })
        ),
        ["routes[0].experiments[0].variants[1].name: duplicate variant name \"A\""]
    );
    assert_eq!(
        experiment_problems(
            json!({ "variants": [{ "name": "a", "weight": 0.5, "cluster": "x y" }, { "name": "b", "weight": 0.5 }] })
        ),
        [
            "routes[0].experiments[0].variants[0].cluster: must be a cluster name of 1 to 256 visible ASCII characters without ';', got \"x y\""
        ]
    );
}

// ----------------------------------------------------------------------------------------------
// shadow

#[test]
fn a_shadow_needs_a_cluster_and_a_percent_within_0_and_100() {
    assert_eq!(
        route_problems(json!({ "shadow": {} })),
        [
            "routes[0].shadow.cluster: required",
            "routes[0].shadow.percent: required"
        ]
    );
    let found = route_problems(json!({ "shadow": { "cluster": "m", "percent": 101 } }));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("routes[0].shadow.percent: must be within 0..=100, got 101"),
        "{found:?}"
    );
    assert_eq!(
        route_problems(json!({ "shadow": { "cluster": "m", "percent": 0.125 } })),
        ["routes[0].shadow.percent: resolution is 0.01, got 0.125"]
    );
}

#[test]
fn shadow_defaults_mirror_safe_methods_with_the_route_name_dot_shadow_as_seed() {
    let plan = load(&one_route(route(
        json!({ "name": "checkout", "shadow": { "cluster": "m", "percent": 5 } }),
    )));
    let shadow = plan.routes[0].shadow.as_ref().expect("a shadow");
    assert_eq!(&*shadow.seed, "checkout.shadow");
    let methods: Vec<&[u8]> = shadow.methods.iter().map(|m| &**m).collect();
    assert_eq!(methods, [&b"GET"[..], b"HEAD", b"OPTIONS"]);
    assert!(shadow.key.is_empty());
    assert_eq!(shadow.percent, 500);
}

#[test]
fn shadow_methods_must_be_upper_case_http_methods() {
    assert_eq!(
        route_problems(
            json!({ "shadow": { "cluster": "m", "percent": 5, "methods": ["GET", "delete"] } })
        ),
        [
            "routes[0].shadow.methods[1]: must be an upper-case HTTP method such as GET, got \"delete\""
        ]
    );
}

#[test]
fn telemetry_that_costs_host_calls_is_off_unless_asked_for() {
    let plan = switchyard::config::load(br#"{"routes": []}"#).unwrap();
    assert!(!plan.telemetry.responses && !plan.telemetry.access_log);
    let plan = switchyard::config::load(
        br#"{"routes": [], "telemetry": {"responses": true, "access_log": true}}"#,
    )
    .unwrap();
    assert!(plan.telemetry.responses && plan.telemetry.access_log);
    assert_eq!(
        problems(&json!({"routes": [], "telemetry": {"responses": "yes"}})),
        ["telemetry.responses: invalid type: string \"yes\", expected a boolean"]
    );
}
