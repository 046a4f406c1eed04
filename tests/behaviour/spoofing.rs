//! Anti-spoofing through the compiled module: whatever routing headers a client sends, the
//! upstream request carries only what the filter wrote; with or without a configuration, matched
//! or not; and Envoy is asked to pick the route again exactly when the headers changed.

use crate::host::{Action, Host, SWITCHYARD, Vm};

const TOKEN: &str = "qa-team-token-0123456789abcdef";

/// A matched route (`shop.example.com`) with a canary forced by header, an experiment that puts
/// every keyed request in `treatment`, and no shadow.
const CONFIG: &str = r#"{
  "revision": "spoof-1",
  "overrides": {"tokens": ["qa-team-token-0123456789abcdef"]},
  "routes": [{
    "name": "shop",
    "match": {"hosts": ["shop.example.com"]},
    "stable": "shop-v1",
    "canary": {"cluster": "shop-v2", "weight": 0, "force": {"header": "x-canary"}},
    "experiments": [{
      "name": "ranker",
      "key": ["header:x-user-id"],
      "variants": [{"name": "control", "weight": 0}, {"name": "treatment", "weight": 1}]
    }]
  }]
}"#;

/// The same route with every routing header renamed.
const CUSTOM_NAMES: &str = r#"{
  "headers": {
    "cluster": "x-route-cluster",
    "target": "x-route-target",
    "shadow": "x-route-mirror",
    "cohort_prefix": "x-cohort-",
    "decision": "x-route-decision"
  },
  "overrides": {"token_header": "x-qa-token", "tokens": ["qa-team-token-0123456789abcdef"]},
  "routes": [{
    "name": "shop",
    "match": {"hosts": ["shop.example.com"]},
    "stable": "shop-v1",
    "experiments": [{
      "name": "ranker",
      "key": ["header:x-user-id"],
      "variants": [{"name": "control", "weight": 0}, {"name": "treatment", "weight": 1}]
    }]
  }]
}"#;

const MATCHED: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "https"),
    (":authority", "shop.example.com"),
    (":path", "/cart"),
];

const UNMATCHED: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "https"),
    (":authority", "elsewhere.example.com"),
    (":path", "/cart"),
];

/// Every routing header under its default name, in several cases, some of them twice.
const SPOOFED: [(&str, &str); 11] = [
    ("x-switchyard-cluster", "evil"),
    ("X-Switchyard-Cluster", "evil-again"),
    ("x-switchyard-target", "canary"),
    ("X-SWITCHYARD-TARGET", "green"),
    ("x-switchyard-shadow", "evil-mirror"),
    ("x-switchyard-exp-ranker", "control"),
    ("X-Switchyard-Exp-Ranker", "control"),
    ("x-switchyard-exp-other", "a"),
    ("X-SWITCHYARD-EXP-Another", "b"),
    ("x-switchyard-token", "guessed-token-0123456789"),
    ("X-Switchyard-Token", TOKEN),
];

/// The same, under the custom names of `CUSTOM_NAMES`.
const SPOOFED_CUSTOM: [(&str, &str); 9] = [
    ("x-route-cluster", "evil"),
    ("X-Route-Cluster", "evil-again"),
    ("X-ROUTE-TARGET", "canary"),
    ("x-route-mirror", "evil-mirror"),
    ("x-route-mirror", "evil-mirror-2"),
    ("x-cohort-ranker", "control"),
    ("X-Cohort-Other", "a"),
    ("x-qa-token", TOKEN),
    ("X-QA-Token", "guessed"),
];

/// Headers that are no routing headers and must reach the upstream untouched.
const INNOCENT: [(&str, &str); 5] = [
    ("user-agent", "spoof-test"),
    ("x-user-id", "u-17"),
    ("x-switchyard-cluster-hint", "kept"),
    ("x-switchyard-decision", "kept"),
    ("cookie", "x-switchyard-cluster=kept"),
];

fn request(
    base: &[(&'static str, &'static str)],
    extra: &[&[(&'static str, &'static str)]],
) -> Vec<(&'static str, &'static str)> {
    let mut headers = base.to_vec();
    for part in extra {
        headers.extend_from_slice(part);
    }
    headers
}

/// The upstream request headers after the filter.
fn filtered(vm: &mut Vm, headers: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut stream = vm.stream();
    assert_eq!(stream.request_headers(headers), Action::Continue);
    stream
        .request_header_map()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8(value).expect("UTF-8 values")))
        .collect()
}

/// Every value of `name` in the map.
fn values<'m>(map: &'m [(String, String)], name: &str) -> Vec<&'m str> {
    map.iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

fn names_starting_with<'m>(map: &'m [(String, String)], prefix: &str) -> Vec<&'m str> {
    map.iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| n.to_ascii_lowercase().starts_with(prefix))
        .collect()
}

/// None of the default routing headers, cohorts included, reached the upstream.
fn assert_no_default_routing_headers(map: &[(String, String)]) {
    for name in [
        "x-switchyard-cluster",
        "x-switchyard-target",
        "x-switchyard-shadow",
        "x-switchyard-token",
    ] {
        assert_eq!(values(map, name), Vec::<&str>::new(), "{name}");
    }
    assert_eq!(
        names_starting_with(map, "x-switchyard-exp-"),
        Vec::<&str>::new()
    );
}

fn assert_innocent_headers_kept(map: &[(String, String)]) {
    for (name, value) in INNOCENT {
        assert_eq!(
            values(map, name),
            [value],
            "{name} reaches the upstream as sent"
        );
    }
}

fn configured(host: &Host, configuration: &str) -> Vm {
    let mut vm = host.vm();
    assert!(vm.configure(configuration), "{:?}", vm.logs());
    vm
}

#[test]
fn every_routing_header_a_client_sends_is_replaced_by_the_filters_own_on_a_matched_request() {
    let mut vm = configured(&Host::new(&SWITCHYARD), CONFIG);
    let map = filtered(&mut vm, &request(&MATCHED, &[&SPOOFED, &INNOCENT]));

    assert_eq!(values(&map, "x-switchyard-cluster"), ["shop-v1"]);
    assert_eq!(values(&map, "x-switchyard-target"), ["stable"]);
    assert_eq!(values(&map, "x-switchyard-shadow"), Vec::<&str>::new());
    assert_eq!(
        names_starting_with(&map, "x-switchyard-exp-"),
        ["x-switchyard-exp-ranker"],
        "only the filter's cohort header"
    );
    assert_eq!(values(&map, "x-switchyard-exp-ranker"), ["treatment"]);
    assert_eq!(values(&map, "x-switchyard-token"), Vec::<&str>::new());
    assert_innocent_headers_kept(&map);
}

#[test]
fn an_unmatched_request_carries_no_routing_header_at_all() {
    let mut vm = configured(&Host::new(&SWITCHYARD), CONFIG);
    let map = filtered(&mut vm, &request(&UNMATCHED, &[&SPOOFED, &INNOCENT]));

    assert_no_default_routing_headers(&map);
    assert_innocent_headers_kept(&map);
}

#[test]
fn a_spoofed_routing_header_cannot_move_a_request_even_when_it_names_a_real_cluster() {
    let mut vm = configured(&Host::new(&SWITCHYARD), CONFIG);
    let map = filtered(
        &mut vm,
        &request(
            &MATCHED,
            &[&[
                ("x-switchyard-cluster", "shop-v2"),
                ("x-switchyard-target", "canary"),
            ]],
        ),
    );
    assert_eq!(values(&map, "x-switchyard-cluster"), ["shop-v1"]);
    assert_eq!(values(&map, "x-switchyard-target"), ["stable"]);
}

#[test]
fn with_custom_header_names_the_custom_routing_headers_are_stripped() {
    let mut vm = configured(&Host::new(&SWITCHYARD), CUSTOM_NAMES);

    let map = filtered(&mut vm, &request(&MATCHED, &[&SPOOFED_CUSTOM, &INNOCENT]));
    assert_eq!(values(&map, "x-route-cluster"), ["shop-v1"]);
    assert_eq!(values(&map, "x-route-target"), ["stable"]);
    assert_eq!(values(&map, "x-route-mirror"), Vec::<&str>::new());
    assert_eq!(names_starting_with(&map, "x-cohort-"), ["x-cohort-ranker"]);
    assert_eq!(values(&map, "x-cohort-ranker"), ["treatment"]);
    assert_eq!(values(&map, "x-qa-token"), Vec::<&str>::new());
    assert_innocent_headers_kept(&map);

    let map = filtered(&mut vm, &request(&UNMATCHED, &[&SPOOFED_CUSTOM]));
    for name in [
        "x-route-cluster",
        "x-route-target",
        "x-route-mirror",
        "x-qa-token",
    ] {
        assert_eq!(values(&map, name), Vec::<&str>::new(), "{name}");
    }
    assert_eq!(names_starting_with(&map, "x-cohort-"), Vec::<&str>::new());
}

#[test]
fn before_any_configuration_requests_pass_through_with_the_default_routing_headers_stripped() {
    let mut vm = Host::new(&SWITCHYARD).vm();
    assert_passthrough_strips_defaults(&mut vm);
}

#[test]
fn after_a_first_bad_configuration_requests_pass_through_with_the_default_routing_headers_stripped()
{
    let mut vm = Host::new(&SWITCHYARD).vm();
    assert!(!vm.configure(r#"{"routes": [{"name": "shop", "stable": "shop-v1", "extra": 1}]}"#));
    assert_passthrough_strips_defaults(&mut vm);
}

fn assert_passthrough_strips_defaults(vm: &mut Vm) {
    for base in [&MATCHED, &UNMATCHED] {
        let map = filtered(vm, &request(base, &[&SPOOFED, &INNOCENT]));
        assert_no_default_routing_headers(&map);
        assert_innocent_headers_kept(&map);

        let map = filtered(vm, &request(base, &[&INNOCENT]));
        assert_eq!(
            map.len(),
            base.len() + INNOCENT.len(),
            "nothing added: {map:?}"
        );
    }
}

#[test]
fn the_token_header_never_reaches_the_upstream_even_when_it_is_valid() {
    let mut vm = configured(&Host::new(&SWITCHYARD), CONFIG);
    let map = filtered(
        &mut vm,
        &request(
            &MATCHED,
            &[&[("x-switchyard-token", TOKEN), ("x-canary", "always")]],
        ),
    );
    assert_eq!(
        values(&map, "x-switchyard-cluster"),
        ["shop-v2"],
        "the token was read: the force applied"
    );
    assert_eq!(values(&map, "x-switchyard-token"), Vec::<&str>::new());

    let map = filtered(
        &mut vm,
        &request(&UNMATCHED, &[&[("x-switchyard-token", TOKEN)]]),
    );
    assert_eq!(values(&map, "x-switchyard-token"), Vec::<&str>::new());
}

#[test]
fn envoy_reselects_the_route_itself_so_the_filter_never_asks_it_to() {
    // Envoy clears its route cache after every request-header change made by a module that
    // declares ABI 0.2.1, as the SDK's modules do. A call of `clear_route_cache` would only add a
    // host call to every request. Should an SDK upgrade declare a later ABI, this test says why
    // routing would break (and the Envoy suite would see it).
    let module = std::fs::read(SWITCHYARD.path()).expect("the module");
    assert!(
        module
            .windows(b"proxy_abi_version_0_2_1".len())
            .any(|w| w == b"proxy_abi_version_0_2_1"),
        "the module must declare ABI 0.2.1, or call clear_route_cache after header changes"
    );
    let mut vm = configured(&Host::new(&SWITCHYARD), CONFIG);
    for headers in [
        request(&MATCHED, &[&SPOOFED]),
        request(&UNMATCHED, &[&SPOOFED]),
    ] {
        let mut stream = vm.stream();
        stream.request_headers(&headers);
        assert_eq!(stream.route_cache_clears(), 0);
    }
}
