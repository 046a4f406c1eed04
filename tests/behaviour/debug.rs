//! The decision header through the compiled module: with `debug` every response says how its
//! request was routed (`route=..;target=..;cluster=..;shadow=0|1;exp.<name>=<variant>;rev=..;
//! reason=..`, or `route=;rev=..` when no route matched); without `debug` nothing is added.

use crate::host::{Action, Host, SWITCHYARD, Vm};

/// Routes that reach every reason: `/checkout` (canary for all by a draw, an experiment, a full
/// shadow), `/search` (a variant cluster, force by header), `/sticky` (a sticky canary for all),
/// `/web` (stable only). Anything else is unmatched.
fn config(debug: bool, revision: &str, decision_header: Option<&str>) -> String {
    let headers = decision_header
        .map(|name| format!(r#""headers": {{"decision": "{name}"}},"#))
        .unwrap_or_default();
    format!(
        r#"{{
      "revision": "{revision}",
      "debug": {debug},
      {headers}
      "overrides": {{"from": "anyone"}},
      "routes": [
        {{
          "name": "checkout",
          "match": {{"path_prefix": "/checkout"}},
          "stable": "checkout-v1",
          "canary": {{"cluster": "checkout-v2", "weight": 100}},
          "experiments": [{{
            "name": "ranker",
            "key": ["header:x-user-id"],
            "variants": [{{"name": "treatment", "weight": 1}}, {{"name": "control", "weight": 0}}]
          }}],
          "shadow": {{"cluster": "checkout-v3", "percent": 100}}
        }},
        {{
          "name": "search",
          "match": {{"path_prefix": "/search"}},
          "stable": "search-v1",
          "canary": {{"cluster": "search-v2", "weight": 0, "force": {{"header": "x-canary"}}}},
          "experiments": [
            {{
              "name": "ranker",
              "key": ["header:x-user-id"],
              "variants": [
                {{"name": "control", "weight": 0}},
                {{"name": "treatment", "weight": 1, "cluster": "search-ranker"}}
              ]
            }},
            {{
              "name": "layout",
              "key": ["cookie:uid"],
              "variants": [{{"name": "wide", "weight": 1}}, {{"name": "narrow", "weight": 0}}]
            }}
          ]
        }},
        {{
          "name": "sticky",
          "match": {{"path_prefix": "/sticky"}},
          "stable": "sticky-v1",
          "canary": {{"cluster": "sticky-v2", "weight": 100, "sticky": ["cookie:session"]}}
        }},
        {{"name": "web", "match": {{"path_prefix": "/web"}}, "stable": "web-v1"}}
      ]
    }}"#
    )
}

/// Headers as (name, text) pairs, in order.
type Map = Vec<(String, String)>;
/// Extra request headers.
type Headers<'a> = &'a [(&'a str, &'a str)];

fn configured(configuration: &str) -> Vm {
    let mut vm = Host::new(&SWITCHYARD).vm();
    assert!(vm.configure(configuration), "{:?}", vm.logs());
    vm
}

/// One GET of `path` with `extra` headers; the stream's request headers after the filter and the
/// response headers Envoy would send downstream.
fn exchange(
    vm: &mut Vm,
    path: &str,
    extra: &[(&str, &str)],
    upstream: &[(&str, &str)],
) -> (Map, Map) {
    let mut request = vec![
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "shop.example.com"),
        (":path", path),
    ];
    request.extend_from_slice(extra);
    let mut response = vec![(":status", "200")];
    response.extend_from_slice(upstream);

    let mut stream = vm.stream();
    assert_eq!(stream.request_headers(&request), Action::Continue);
    assert_eq!(
        stream.response_headers_with(&response, true),
        Action::Continue
    );
    let text = |map: Vec<(String, Vec<u8>)>| {
        map.into_iter()
            .map(|(name, value)| (name, String::from_utf8(value).expect("UTF-8 values")))
            .collect()
    };
    (
        text(stream.request_header_map()),
        text(stream.response_header_map()),
    )
}

fn values<'m>(map: &'m [(String, String)], name: &str) -> Vec<&'m str> {
    map.iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The decision header of one response, which must be there exactly once.
fn decision(vm: &mut Vm, path: &str, extra: &[(&str, &str)]) -> String {
    let (_, response) = exchange(vm, path, extra, &[]);
    match values(&response, "x-switchyard-decision").as_slice() {
        [one] => one.to_string(),
        other => panic!("{path}: expected one decision header, got {other:?}"),
    }
}

#[test]
fn with_debug_the_response_carries_the_decision_with_the_contracts_fields_and_the_revision() {
    let mut vm = configured(&config(true, "r42", None));
    let user = [("x-user-id", "u-1")];
    let cases: &[(&str, Headers, &str)] = &[
        (
            "/checkout/pay",
            &user,
            "route=checkout;target=canary;cluster=checkout-v2;shadow=1;exp.ranker=treatment;rev=r42;reason=random",
        ),
        (
            "/checkout/pay",
            &[],
            "route=checkout;target=canary;cluster=checkout-v2;shadow=1;rev=r42;reason=random",
        ),
        (
            "/search?q=x",
            &[("x-user-id", "u-1"), ("cookie", "uid=7")],
            "route=search;target=stable;cluster=search-ranker;shadow=0;exp.ranker=treatment;exp.layout=wide;rev=r42;reason=variant",
        ),
        (
            "/search",
            &[("x-user-id", "u-1"), ("x-canary", "always")],
            "route=search;target=canary;cluster=search-v2;shadow=0;exp.ranker=treatment;rev=r42;reason=forced",
        ),
        (
            "/search",
            &[],
            "route=search;target=stable;cluster=search-v1;shadow=0;rev=r42;reason=base",
        ),
        (
            "/sticky",
            &[("cookie", "session=abc")],
            "route=sticky;target=canary;cluster=sticky-v2;shadow=0;rev=r42;reason=sticky",
        ),
        (
            "/web/index.html",
            &[],
            "route=web;target=stable;cluster=web-v1;shadow=0;rev=r42;reason=base",
        ),
    ];
    for (path, extra, expected) in cases {
        assert_eq!(
            decision(&mut vm, path, extra),
            *expected,
            "{path} {extra:?}"
        );
    }
}

#[test]
fn the_decision_header_agrees_with_the_routing_headers_the_request_carried() {
    let mut vm = configured(&config(true, "r42", None));
    let requests: &[(&str, Headers)] = &[
        ("/checkout", &[("x-user-id", "u-2")]),
        ("/search", &[("x-user-id", "u-3"), ("cookie", "uid=4")]),
        ("/sticky", &[("cookie", "session=s")]),
        ("/web", &[]),
    ];
    for (path, extra) in requests {
        let (request, response) = exchange(&mut vm, path, extra, &[]);
        let decision = values(&response, "x-switchyard-decision")[0].to_string();
        let field = |name: &str| {
            decision
                .split(';')
                .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("{decision}: no {name}"))
                .to_string()
        };
        assert_eq!(values(&request, "x-switchyard-cluster"), [field("cluster")]);
        assert_eq!(values(&request, "x-switchyard-target"), [field("target")]);
        let shadowed = !values(&request, "x-switchyard-shadow").is_empty();
        assert_eq!(field("shadow"), if shadowed { "1" } else { "0" });
        let cohorts: Vec<String> = request
            .iter()
            .filter_map(|(n, v)| Some(format!("exp.{}={v}", n.strip_prefix("x-switchyard-exp-")?)))
            .collect();
        let described: Vec<String> = decision
            .split(';')
            .filter(|f| f.starts_with("exp."))
            .map(str::to_string)
            .collect();
        assert_eq!(cohorts, described, "{path}");
    }
}

#[test]
fn an_unmatched_request_is_described_by_the_revision_alone() {
    let mut vm = configured(&config(true, "r42", None));
    assert_eq!(
        decision(&mut vm, "/nothing", &[("x-user-id", "u-1")]),
        "route=;rev=r42"
    );
    assert_eq!(decision(&mut vm, "/", &[]), "route=;rev=r42");
}

#[test]
fn without_debug_no_decision_header_is_added() {
    let mut vm = configured(&config(false, "r42", None));
    for path in ["/checkout", "/search", "/sticky", "/web", "/nothing"] {
        let (request, response) = exchange(&mut vm, path, &[("x-user-id", "u-1")], &[]);
        assert_eq!(
            values(&response, "x-switchyard-decision"),
            Vec::<&str>::new(),
            "{path}"
        );
        assert_eq!(response.len(), 1, "{path}: {response:?}");
        assert_eq!(
            values(&request, "x-switchyard-decision"),
            Vec::<&str>::new()
        );
    }
}

#[test]
fn the_decision_header_takes_the_configured_name() {
    let mut vm = configured(&config(true, "r42", Some("x-route-decision")));
    let (_, response) = exchange(&mut vm, "/web", &[], &[]);
    assert_eq!(
        values(&response, "x-route-decision"),
        ["route=web;target=stable;cluster=web-v1;shadow=0;rev=r42;reason=base"]
    );
    assert_eq!(
        values(&response, "x-switchyard-decision"),
        Vec::<&str>::new()
    );
}

#[test]
fn the_decision_replaces_one_the_upstream_sent() {
    let mut vm = configured(&config(true, "r42", None));
    let (_, response) = exchange(
        &mut vm,
        "/web",
        &[],
        &[
            ("x-switchyard-decision", "route=forged"),
            ("server", "upstream"),
        ],
    );
    assert_eq!(
        values(&response, "x-switchyard-decision"),
        ["route=web;target=stable;cluster=web-v1;shadow=0;rev=r42;reason=base"]
    );
    assert_eq!(values(&response, "server"), ["upstream"]);
}

#[test]
fn a_push_changes_the_revision_reported_and_can_turn_debug_off() {
    let mut vm = configured(&config(true, "r42", None));
    assert_eq!(decision(&mut vm, "/nothing", &[]), "route=;rev=r42");

    assert!(vm.configure(config(true, "r43", None)));
    assert_eq!(decision(&mut vm, "/nothing", &[]), "route=;rev=r43");
    assert_eq!(
        decision(&mut vm, "/web", &[]),
        "route=web;target=stable;cluster=web-v1;shadow=0;rev=r43;reason=base"
    );

    assert!(vm.configure(config(false, "r44", None)));
    let (_, response) = exchange(&mut vm, "/web", &[], &[]);
    assert_eq!(
        values(&response, "x-switchyard-decision"),
        Vec::<&str>::new()
    );
}
