//! Blue-green through the compiled module: the active colour picks the cluster and the target,
//! `switch_at` flips it by the proxy clock on every VM at once, a preview reaches the idle colour
//! only for requests allowed to override, and a push flips the colour for new streams.

use std::time::{Duration, UNIX_EPOCH};

use crate::host::{Action, Host, SWITCHYARD, Vm};

/// The host clock starts at 2026-01-01T00:00:00Z; the switch is ten minutes later.
const START_SECS: u64 = 1_767_225_600;
const SWITCH_SECS: u64 = START_SECS + 600;
const TOKEN: &str = "qa-team-token-0123456789abcdef";

/// Blue active, green scheduled at 00:10, previews by header and cookie for allowed requests.
fn config(active: &str, from: &str, switch: Option<(&str, &str)>) -> String {
    let switch_at = switch
        .map(|(colour, at)| format!(r#", "switch_at": {{"active": "{colour}", "at": "{at}"}}"#))
        .unwrap_or_default();
    format!(
        r#"{{
          "revision": "bg-{active}",
          "debug": true,
          "overrides": {{"from": "{from}", "tokens": ["{TOKEN}"], "source_cidrs": ["10.0.0.0/8"]}},
          "routes": [{{
            "name": "payments",
            "match": {{"hosts": ["pay.example.com"]}},
            "blue_green": {{
              "active": "{active}",
              "blue": "payments-blue",
              "green": "payments-green",
              "preview": {{"header": "x-preview", "cookie": "preview"}}{switch_at}
            }}
          }}]
        }}"#
    )
}

fn scheduled() -> String {
    config("blue", "trusted", Some(("green", "2026-01-01T00:10:00Z")))
}

/// Extra request headers.
type Headers<'a> = &'a [(&'a str, &'a str)];

fn configured(host: &Host, configuration: &str) -> Vm {
    let mut vm = host.vm();
    assert!(vm.configure(configuration), "{:?}", vm.logs());
    vm
}

/// What the filter wrote for one request: (cluster, target, reason from the decision header).
#[derive(Debug, PartialEq, Eq)]
struct Routed {
    cluster: String,
    target: String,
    reason: String,
}

impl Routed {
    fn new(cluster: &str, target: &str, reason: &str) -> Routed {
        Routed {
            cluster: cluster.into(),
            target: target.into(),
            reason: reason.into(),
        }
    }
}

/// One request to the payments host with `extra` headers, from `source` when given.
fn send(vm: &mut Vm, extra: &[(&str, &str)], source: Option<&str>) -> Routed {
    let mut headers = vec![
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "pay.example.com"),
        (":path", "/pay"),
    ];
    headers.extend_from_slice(extra);
    let mut stream = vm.stream();
    if let Some(source) = source {
        stream.set_property(&["source", "address"], source);
    }
    assert_eq!(stream.request_headers(&headers), Action::Continue);
    assert_eq!(
        stream.response_headers_with(&[(":status", "200")], true),
        Action::Continue
    );
    let decision = stream
        .response_header("x-switchyard-decision")
        .expect("debug is on: a decision header");
    let reason = decision
        .split(';')
        .find_map(|field| field.strip_prefix("reason="))
        .expect("a reason in the decision header")
        .to_string();
    Routed {
        cluster: stream
            .request_header("x-switchyard-cluster")
            .expect("a matched request has a cluster header"),
        target: stream
            .request_header("x-switchyard-target")
            .expect("a matched request has a target header"),
        reason,
    }
}

fn blue(reason: &str) -> Routed {
    Routed::new("payments-blue", "blue", reason)
}

fn green(reason: &str) -> Routed {
    Routed::new("payments-green", "green", reason)
}

#[test]
fn the_active_colour_selects_the_cluster_and_the_target() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = configured(&host, &config("blue", "trusted", None));
    assert_eq!(send(&mut vm, &[], None), blue("base"));

    let mut vm = configured(&host, &config("green", "trusted", None));
    assert_eq!(send(&mut vm, &[], None), green("base"));
}

#[test]
fn a_scheduled_switch_flips_the_colour_at_its_instant_on_every_vm_of_the_proxy_at_once() {
    let host = Host::new(&SWITCHYARD);
    let mut vms: Vec<Vm> = (0..3).map(|_| configured(&host, &scheduled())).collect();

    for vm in &mut vms {
        assert_eq!(send(vm, &[], None), blue("base"), "before the instant");
    }

    host.clock()
        .set_wall_time(UNIX_EPOCH + Duration::from_secs(SWITCH_SECS) - Duration::from_millis(1));
    for vm in &mut vms {
        assert_eq!(send(vm, &[], None), blue("base"), "a millisecond before");
    }

    host.clock().advance(Duration::from_millis(1));
    for vm in &mut vms {
        assert_eq!(send(vm, &[], None), green("scheduled"), "at the instant");
    }

    host.clock().advance(Duration::from_secs(86_400));
    for vm in &mut vms {
        assert_eq!(send(vm, &[], None), green("scheduled"), "a day later");
    }
}

#[test]
fn a_vm_started_after_the_instant_serves_the_scheduled_colour_from_its_first_request() {
    let host = Host::new(&SWITCHYARD);
    host.clock().advance(Duration::from_secs(3_600));
    let mut vm = configured(&host, &scheduled());
    assert_eq!(send(&mut vm, &[], None), green("scheduled"));
}

#[test]
fn a_switch_instant_with_an_offset_or_fractional_seconds_flips_at_that_moment() {
    let switch = UNIX_EPOCH + Duration::from_secs(SWITCH_SECS);
    for (at, instant) in [
        ("2026-01-01T01:10:00+01:00", switch),
        ("2025-12-31T19:10:00-05:00", switch),
        (
            "2026-01-01T00:09:59.999Z",
            switch - Duration::from_millis(1),
        ),
        (
            "2026-01-01T00:10:00.250Z",
            switch + Duration::from_millis(250),
        ),
    ] {
        let host = Host::new(&SWITCHYARD);
        let mut vm = configured(&host, &config("blue", "trusted", Some(("green", at))));
        host.clock()
            .set_wall_time(instant - Duration::from_millis(1));
        assert_eq!(
            send(&mut vm, &[], None),
            blue("base"),
            "a millisecond before {at}"
        );
        host.clock().advance(Duration::from_millis(1));
        assert_eq!(send(&mut vm, &[], None), green("scheduled"), "at {at}");
    }
}

#[test]
fn a_schedule_naming_the_colour_already_active_changes_nothing() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = configured(
        &host,
        &config("green", "trusted", Some(("green", "2026-01-01T00:10:00Z"))),
    );
    assert_eq!(send(&mut vm, &[], None).cluster, "payments-green");
    host.clock().advance(Duration::from_secs(3_600));
    let after = send(&mut vm, &[], None);
    assert_eq!(
        (after.cluster.as_str(), after.target.as_str()),
        ("payments-green", "green")
    );
}

#[test]
fn a_preview_is_honoured_for_a_request_with_a_valid_token() {
    let mut vm = configured(&Host::new(&SWITCHYARD), &scheduled());
    assert_eq!(
        send(
            &mut vm,
            &[("x-switchyard-token", TOKEN), ("x-preview", "green")],
            None
        ),
        green("preview")
    );
    assert_eq!(
        send(
            &mut vm,
            &[
                ("x-switchyard-token", TOKEN),
                ("cookie", "lang=en; preview=green")
            ],
            None
        ),
        green("preview"),
        "by cookie"
    );
    assert_eq!(
        send(
            &mut vm,
            &[("x-switchyard-token", TOKEN), ("x-preview", "blue")],
            None
        ),
        blue("preview"),
        "previewing the active colour is a preview too"
    );
}

#[test]
fn a_preview_is_honoured_for_a_client_in_a_trusted_source_range() {
    let mut vm = configured(&Host::new(&SWITCHYARD), &scheduled());
    for source in ["10.1.2.3:41000", "10.255.0.1", "[::ffff:10.1.2.3]:41000"] {
        assert_eq!(
            send(&mut vm, &[("x-preview", "green")], Some(source)),
            green("preview"),
            "from {source}"
        );
    }
}

#[test]
fn a_preview_is_honoured_from_anyone_when_overrides_are_open_to_anyone() {
    let mut vm = configured(&Host::new(&SWITCHYARD), &config("blue", "anyone", None));
    assert_eq!(
        send(&mut vm, &[("x-preview", "green")], None),
        green("preview")
    );
    assert_eq!(
        send(
            &mut vm,
            &[("cookie", "preview=green")],
            Some("192.0.2.7:1234")
        ),
        green("preview")
    );
}

#[test]
fn a_preview_is_ignored_for_a_request_not_allowed_to_override() {
    let mut vm = configured(&Host::new(&SWITCHYARD), &scheduled());
    let cases: &[(Headers, Option<&str>)] = &[
        (&[("x-preview", "green")], None),
        (&[("cookie", "preview=green")], None),
        (
            &[
                ("x-preview", "green"),
                ("x-switchyard-token", "qa-team-token-0123456789abcdeF"),
            ],
            None,
        ),
        (
            &[("x-preview", "green"), ("x-switchyard-token", "short")],
            None,
        ),
        (&[("x-preview", "green")], Some("192.168.1.9:5000")),
        (&[("x-preview", "green")], Some("[2001:db8::1]:5000")),
    ];
    for (headers, source) in cases {
        assert_eq!(
            send(&mut vm, headers, *source),
            blue("base"),
            "{headers:?} from {source:?}"
        );
    }
}

#[test]
fn with_the_default_overrides_nobody_can_preview() {
    let configuration = scheduled().replace(
        &format!(r#""overrides": {{"from": "trusted", "tokens": ["{TOKEN}"], "source_cidrs": ["10.0.0.0/8"]}},"#),
        "",
    );
    assert!(!configuration.contains("overrides"));
    let mut vm = configured(&Host::new(&SWITCHYARD), &configuration);
    assert_eq!(
        send(
            &mut vm,
            &[("x-switchyard-token", TOKEN), ("x-preview", "green")],
            Some("10.0.0.1:80")
        ),
        blue("base")
    );
    assert_eq!(
        send(
            &mut vm,
            &[("cookie", "preview=green")],
            Some("127.0.0.1:80")
        ),
        blue("base")
    );
}

#[test]
fn a_preview_value_other_than_blue_or_green_is_ignored() {
    let mut vm = configured(&Host::new(&SWITCHYARD), &scheduled());
    for value in ["purple", "Green", "GREEN", " green", ""] {
        assert_eq!(
            send(
                &mut vm,
                &[("x-switchyard-token", TOKEN), ("x-preview", value)],
                None
            ),
            blue("base"),
            "x-preview: {value:?}"
        );
    }
    assert_eq!(
        send(
            &mut vm,
            &[
                ("x-switchyard-token", TOKEN),
                ("x-preview", "purple"),
                ("cookie", "preview=green")
            ],
            None
        ),
        green("preview"),
        "a meaningless header does not hide a meaningful cookie"
    );
    assert_eq!(
        send(
            &mut vm,
            &[
                ("x-switchyard-token", TOKEN),
                ("x-preview", "blue"),
                ("cookie", "preview=green")
            ],
            None
        ),
        blue("preview"),
        "the header wins over the cookie"
    );
}

#[test]
fn a_preview_reaches_the_old_colour_after_the_scheduled_switch() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = configured(&host, &scheduled());
    host.clock().advance(Duration::from_secs(601));
    assert_eq!(send(&mut vm, &[], None), green("scheduled"));
    assert_eq!(
        send(
            &mut vm,
            &[("x-switchyard-token", TOKEN), ("x-preview", "blue")],
            None
        ),
        blue("preview")
    );
}

#[test]
fn a_push_flips_the_colour_for_new_streams() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = configured(&host, &config("blue", "trusted", None));
    assert_eq!(send(&mut vm, &[], None), blue("base"));

    assert!(vm.configure(config("green", "trusted", None)));
    for _ in 0..3 {
        assert_eq!(send(&mut vm, &[], None), green("base"));
    }

    assert!(vm.configure(config("blue", "trusted", None)));
    assert_eq!(send(&mut vm, &[], None), blue("base"), "and back");
}
