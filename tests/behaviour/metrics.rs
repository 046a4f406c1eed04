//! Metrics through the compiled module: what Envoy's stats (and, through the `stats_tags` in
//! `envoy/`, Prometheus) see. Labels travel in the name as `;label=value` pairs.

use crate::host::{Host, SWITCHYARD};

const CONFIG: &str = r#"{
  "revision": "m1",
  "routes": [
    {
      "name": "checkout.v2",
      "match": { "path_prefix": "/checkout" },
      "stable": "checkout-v1",
      "canary": { "cluster": "checkout-v2", "weight": 100, "force": { "header": "x-canary" } },
      "experiments": [
        { "name": "ranker", "key": ["header:x-user"],
          "variants": [{ "name": "control", "weight": 0 }, { "name": "treatment", "weight": 1 }] }
      ],
      "shadow": { "cluster": "checkout-v3", "percent": 100 }
    },
    { "name": "web", "stable": "web-v1" }
  ],
  "overrides": { "from": "anyone" },
  "telemetry": { "responses": true }
}"#;

fn exchange(vm: &mut crate::host::Vm, request: &[(&str, &str)], status: &str) {
    let mut stream = vm.stream();
    stream.request_headers(request);
    stream.response_headers(&[(":status", status)]);
    stream.finish();
}

#[test]
fn requests_and_responses_are_counted_per_route_target_and_class() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = host.vm();
    assert!(vm.configure(CONFIG));
    let checkout = [(":method", "GET"), (":path", "/checkout"), ("x-user", "u1")];
    let never = [
        (":method", "GET"),
        (":path", "/checkout"),
        ("x-canary", "never"),
    ];
    exchange(&mut vm, &checkout, "200");
    exchange(&mut vm, &checkout, "503");
    exchange(&mut vm, &never, "302");
    exchange(&mut vm, &[(":method", "GET"), (":path", "/")], "404");
    exchange(&mut vm, &[(":method", "GET"), (":path", "/")], "200");
    vm.tick();

    let counter = |name: &str| host.counter(name);
    assert_eq!(
        counter("switchyard_requests_total;route=checkout.v2;target=canary"),
        Some(2)
    );
    assert_eq!(
        counter("switchyard_requests_total;route=checkout.v2;target=stable"),
        Some(1)
    );
    assert_eq!(
        counter("switchyard_requests_total;route=web;target=stable"),
        Some(2)
    );
    let responses = "switchyard_responses_total;route=checkout.v2;target=canary;class=";
    assert_eq!(counter(&format!("{responses}2xx")), Some(1));
    assert_eq!(
        counter(&format!("{responses}5xx")),
        Some(1),
        "a 503 local reply counts as 5xx"
    );
    assert_eq!(
        counter("switchyard_responses_total;route=checkout.v2;target=stable;class=3xx"),
        Some(1)
    );
    assert_eq!(
        counter("switchyard_responses_total;route=web;target=stable;class=4xx"),
        Some(1)
    );
    let latency =
        host.histogram("switchyard_request_duration_milliseconds;route=checkout.v2;target=canary");
    assert_eq!(
        latency.map(|v| v.len()),
        Some(2),
        "one latency sample per response"
    );
}

#[test]
fn the_latency_is_the_time_from_request_headers_to_response_headers() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = host.vm();
    assert!(vm.configure(CONFIG));
    let mut stream = vm.stream();
    stream.request_headers(&[(":method", "GET"), (":path", "/")]);
    host.clock().advance(std::time::Duration::from_millis(250));
    stream.response_headers(&[(":status", "200")]);
    stream.finish();
    let latency =
        host.histogram("switchyard_request_duration_milliseconds;route=web;target=stable");
    assert_eq!(latency, Some(vec![250]));
}

#[test]
fn enrolments_and_shadowed_requests_are_counted_per_route_experiment_and_variant() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = host.vm();
    assert!(vm.configure(CONFIG));
    for user in ["a", "b", "c"] {
        exchange(
            &mut vm,
            &[
                (":method", "GET"),
                (":path", "/checkout/x"),
                ("x-user", user),
            ],
            "200",
        );
    }
    exchange(
        &mut vm,
        &[(":method", "POST"), (":path", "/checkout/x")],
        "200",
    );
    vm.tick();
    let enrolled =
        "switchyard_enrolled_total;route=checkout.v2;experiment=ranker;variant=treatment";
    assert_eq!(
        host.counter(enrolled),
        Some(3),
        "the request without a key is not enrolled"
    );
    assert_eq!(
        host.counter("switchyard_shadowed_total;route=checkout.v2"),
        Some(3),
        "POST is not mirrored"
    );
    assert_eq!(host.counter("switchyard_shadowed_total;route=web"), None);
}

#[test]
fn configurations_applied_and_rejected_are_counted_and_the_active_revision_is_a_gauge() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = host.vm();
    assert!(vm.configure(CONFIG));
    assert!(!vm.configure(r#"{"routes": [{"name": "BAD"}]}"#));
    assert!(vm.configure(CONFIG.replace("\"m1\"", "\"m2\"")));
    assert_eq!(host.counter("switchyard_config_applied_total"), Some(2));
    assert_eq!(host.counter("switchyard_config_rejected_total"), Some(1));
    assert_eq!(host.gauge("switchyard_revision_info;revision=m1"), Some(0));
    assert_eq!(host.gauge("switchyard_revision_info;revision=m2"), Some(1));
}

#[test]
fn a_thousand_pushes_define_no_metric_twice() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = host.vm();
    let traffic = |vm: &mut crate::host::Vm| {
        exchange(
            vm,
            &[(":method", "GET"), (":path", "/checkout"), ("x-user", "u")],
            "200",
        );
        exchange(vm, &[(":method", "GET"), (":path", "/")], "200");
    };
    assert!(vm.configure(CONFIG));
    traffic(&mut vm);
    let after_first = host.metric_definitions();
    for _ in 0..1_000 {
        assert!(vm.configure(CONFIG));
        traffic(&mut vm);
    }
    assert_eq!(
        host.metric_definitions(),
        after_first,
        "pushes must reuse the metrics they name"
    );
    vm.tick();
    assert_eq!(
        host.counter("switchyard_requests_total;route=web;target=stable"),
        Some(1_001)
    );
}

#[test]
fn counts_reach_the_host_each_second_and_when_a_push_replaces_the_plan() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = host.vm();
    assert!(vm.configure(CONFIG));
    assert_eq!(vm.tick_period(), Some(std::time::Duration::from_secs(1)));
    let web = "switchyard_requests_total;route=web;target=stable";
    exchange(&mut vm, &[(":method", "GET"), (":path", "/")], "200");
    exchange(&mut vm, &[(":method", "GET"), (":path", "/")], "200");
    assert_eq!(
        host.counter(web).unwrap_or(0),
        0,
        "kept in the VM until the tick"
    );
    vm.tick();
    assert_eq!(host.counter(web), Some(2));
    vm.tick();
    assert_eq!(
        host.counter(web),
        Some(2),
        "a tick hands over each count once"
    );

    // A push replaces the plan: what the old one counted is handed over with it.
    exchange(&mut vm, &[(":method", "GET"), (":path", "/")], "200");
    assert!(vm.configure(CONFIG.replace("\"m1\"", "\"m2\"")));
    assert_eq!(host.counter(web), Some(3));
}

#[test]
fn by_default_a_matched_request_costs_one_read_of_the_headers_and_one_write_per_header() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = host.vm();
    let quiet = CONFIG.replace(r#""telemetry": { "responses": true }"#, r#""debug": false"#);
    assert!(vm.configure(&quiet));
    // Warm: the first request of a series defines its metrics.
    let checkout = [(":method", "GET"), (":path", "/checkout"), ("x-user", "u1")];
    exchange(&mut vm, &checkout, "200");
    vm.count_host_calls();
    exchange(&mut vm, &checkout, "200");
    // Cluster, target, shadow and the cohort header: four writes, and nothing else asked of
    // the proxy, the response included.
    assert_eq!(
        vm.host_calls(),
        [
            ("proxy_add_header_map_value", 4),
            ("proxy_get_header_map_pairs", 1)
        ]
    );
    vm.tick();
    assert_eq!(
        host.counter("switchyard_requests_total;route=checkout.v2;target=canary"),
        Some(2)
    );
    assert_eq!(
        host.counter("switchyard_responses_total;route=checkout.v2;target=canary;class=2xx"),
        None,
        "responses are measured when telemetry.responses asks for it"
    );
    assert_eq!(
        host.histogram("switchyard_request_duration_milliseconds;route=checkout.v2;target=canary"),
        None
    );
}
