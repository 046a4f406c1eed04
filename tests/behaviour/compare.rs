//! Shadow comparison through the compiled module: the copy the filter sends itself (from the root
//! context, so that it outlives the user's stream), every result kind, the metrics and the log
//! line, and the bounds. The host answers HTTP calls on the context that made them and cancels a
//! stream's own calls when it finishes, as Envoy does; the tests drive the answers, the clock and
//! `on_queue_ready` by hand.

use crate::host::{Action, Host, HttpCall, LogLevel, SWITCHYARD, Vm};
use serde_json::{Value, json};
use std::time::Duration;

const STABLE: &str = "ranker-v2";
const SHADOW: &str = "ranker-v3";
const NOISE: &str = "ranker-v2-b";
const ROOT: u32 = 1;

fn config(compare: Value) -> Value {
    json!({
        "revision": "cmp",
        "overrides": { "from": "anyone", "tokens": ["qa-token-0123456789"] },
        "routes": [{
            "name": "rank",
            "stable": STABLE,
            "shadow": { "cluster": SHADOW, "percent": 100, "methods": ["POST"], "compare": compare }
        }]
    })
}

fn vm(host: &Host, compare: Value) -> Vm {
    let mut vm = host.vm();
    assert!(vm.configure(config(compare).to_string()), "{:?}", vm.logs());
    vm
}

fn fields() -> Value {
    json!({ "fields": ["/prediction/label", "/prediction/score"], "tolerance": 0.01 })
}

const REQUEST: &[(&str, &str)] = &[
    (":method", "POST"),
    (":path", "/v1/rank?explain=1"),
    (":authority", "ranker.example.com"),
    (":scheme", "http"),
    ("content-type", "application/json"),
    ("content-length", "16"),
    ("x-request-id", "req-1"),
    ("connection", "keep-alive"),
    ("te", "trailers"),
    ("x-switchyard-token", "qa-token-0123456789"),
    ("x-switchyard-cluster", "spoofed"),
    ("x-switchyard-mirrored", "false"),
    ("cookie", "uid=u1"),
];
const BODY: &[u8] = br#"{"features":[1]}"#;

fn result(host: &Host, kind: &str) -> u64 {
    host.counter(&format!(
        "switchyard_shadow_compared_total;route=rank;result={kind}"
    ))
    .unwrap_or(0)
}

fn field_mismatches(host: &Host, field: &str) -> u64 {
    host.counter(&format!(
        "switchyard_shadow_field_mismatch_total;route=rank;field={field}"
    ))
    .unwrap_or(0)
}

/// Every result counter, in the order of the contract.
fn results(host: &Host) -> [u64; 6] {
    [
        "match",
        "mismatch",
        "noise",
        "timeout",
        "shadow_error",
        "skipped",
    ]
    .map(|k| result(host, k))
}

/// A compared request whose live answer is `live` (status, body): the user's stream runs to its
/// end first. Returns the calls the root context then made.
fn compared(vm: &mut Vm, live: (&str, &str)) -> Vec<HttpCall> {
    let before = vm.http_calls().len();
    {
        let mut stream = vm.stream();
        assert_eq!(stream.request_headers(REQUEST), Action::Continue);
        assert_eq!(stream.request_body(BODY, true), Action::Continue);
        assert_eq!(
            stream.request_body_bytes(),
            BODY,
            "the user's body is untouched"
        );
        assert_eq!(stream.request_header("x-switchyard-shadow"), None);
        stream.vm().deliver_queue_ready();
        let headers = [(":status", live.0), ("content-type", "application/json")];
        assert_eq!(stream.response_headers(&headers), Action::Continue);
        assert_eq!(
            stream.response_body(live.1.as_bytes(), true),
            Action::Continue
        );
        assert_eq!(stream.response_body_bytes(), live.1.as_bytes());
        stream.finish();
    }
    vm.http_calls()[before..].to_vec()
}

fn answer(vm: &mut Vm, call: &HttpCall, status: &str, body: &str) {
    vm.respond_to_http_call(call.token, &[(":status", status)], body.as_bytes(), &[]);
}

const CAT: &str = r#"{"prediction": {"label": "cat", "score": 0.91}, "took_ms": 12}"#;
const CAT_CLOSE: &str = r#"{"prediction": {"label": "cat", "score": 0.915}, "took_ms": 40}"#;
const DOG: &str = r#"{"prediction": {"label": "dog", "score": 0.52}}"#;

#[test]
fn the_copy_goes_from_the_root_context_with_the_request_as_the_contract_lists() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = vm(&host, fields());
    let calls = compared(&mut vm, ("200", CAT));
    assert_eq!(calls.len(), 1, "one copy per sampled request");
    let call = &calls[0];
    assert_eq!(call.upstream, SHADOW);
    assert_eq!(
        call.context_id, ROOT,
        "made by the root context, which outlives the stream"
    );
    assert_eq!(call.body, BODY, "the whole body");
    assert_eq!(call.timeout, Duration::from_millis(1000));
    let header = |name: &str| -> Vec<String> {
        call.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    };
    assert_eq!(header(":method"), ["POST"]);
    assert_eq!(header(":path"), ["/v1/rank?explain=1"]);
    assert_eq!(header(":authority"), ["ranker.example.com"]);
    assert_eq!(header("x-request-id"), ["req-1"]);
    assert_eq!(header("cookie"), ["uid=u1"]);
    assert_eq!(header("x-switchyard-mirrored"), ["true"], "marked, once");
    for absent in [
        "connection",
        "te",
        "content-length",
        "x-switchyard-token",
        "x-switchyard-cluster",
        "x-switchyard-shadow",
    ] {
        assert!(header(absent).is_empty(), "{absent} is not copied");
    }
    // The stream is over; the answer still comes to the root context and is compared.
    answer(&mut vm, call, "200", CAT_CLOSE);
    assert_eq!(results(&host), [1, 0, 0, 0, 0, 0]);
    assert_eq!(
        host.histogram("switchyard_shadow_latency_ms;route=rank;side=shadow")
            .map(|h| h.len()),
        Some(1)
    );
    assert_eq!(
        host.histogram("switchyard_shadow_latency_ms;route=rank;side=live")
            .map(|h| h.len()),
        Some(1)
    );
}

#[test]
fn a_shadow_that_disagrees_is_counted_by_field_and_logged_without_the_token() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = vm(&host, fields());
    let calls = compared(&mut vm, ("200", CAT));
    answer(&mut vm, &calls[0], "200", DOG);
    assert_eq!(results(&host), [0, 1, 0, 0, 0, 0]);
    assert_eq!(field_mismatches(&host, "/prediction/label"), 1);
    assert_eq!(field_mismatches(&host, "/prediction/score"), 1);
    let logs = vm.logs_at(LogLevel::Info);
    let line = logs
        .iter()
        .find(|l| l.contains("shadow mismatch"))
        .expect("a mismatch line");
    assert_eq!(
        *line,
        r#"switchyard: shadow mismatch on route "rank" request req-1: /prediction/label live "cat" shadow "dog""#
    );
    assert!(!vm.logs().iter().any(|l| l.message.contains("qa-token")));
}

#[test]
fn the_status_and_listed_headers_are_compared_and_bodies_byte_for_byte_without_fields() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = vm(&host, json!({ "headers": ["content-type"] }));
    let calls = compared(&mut vm, ("200", CAT));
    vm.respond_to_http_call(
        calls[0].token,
        &[(":status", "200"), ("content-type", "application/json")],
        CAT.as_bytes(),
        &[],
    );
    let calls = compared(&mut vm, ("200", CAT));
    vm.respond_to_http_call(
        calls[0].token,
        &[(":status", "200"), ("content-type", "text/plain")],
        CAT.as_bytes(),
        &[],
    );
    let calls = compared(&mut vm, ("200", CAT));
    answer(&mut vm, &calls[0], "500", CAT);
    let calls = compared(&mut vm, ("200", CAT));
    vm.respond_to_http_call(
        calls[0].token,
        &[(":status", "200"), ("content-type", "application/json")],
        CAT_CLOSE.as_bytes(),
        &[],
    );
    assert_eq!(results(&host), [1, 3, 0, 0, 0, 0]);
    assert_eq!(
        field_mismatches(&host, "content-type"),
        2,
        "text/plain, and absent"
    );
    assert_eq!(field_mismatches(&host, ":status"), 1);
    assert_eq!(field_mismatches(&host, "body"), 1);
}

#[test]
fn a_field_that_differs_between_two_live_instances_is_noise() {
    let host = Host::new(&SWITCHYARD);
    let compare = json!({ "fields": ["/prediction/label", "/took_ms"], "noise_cluster": NOISE });
    let mut vm = vm(&host, compare);
    let calls = compared(&mut vm, ("200", CAT));
    let upstreams: Vec<_> = calls.iter().map(|c| c.upstream.as_str()).collect();
    assert_eq!(upstreams, [SHADOW, NOISE]);
    assert_eq!(calls[1].body, BODY, "the noise copy is the same copy");
    // took_ms differs live against shadow, and live against noise: noise.
    answer(&mut vm, &calls[0], "200", CAT_CLOSE);
    answer(
        &mut vm,
        &calls[1],
        "200",
        r#"{"prediction": {"label": "cat"}, "took_ms": 30}"#,
    );
    // The label differs only against the shadow: a mismatch, whatever the noise does.
    let calls = compared(&mut vm, ("200", CAT));
    answer(
        &mut vm,
        &calls[1],
        "200",
        r#"{"prediction": {"label": "cat"}, "took_ms": 30}"#,
    );
    answer(&mut vm, &calls[0], "200", DOG);
    assert_eq!(results(&host), [0, 1, 1, 0, 0, 0]);
    assert_eq!(
        field_mismatches(&host, "/took_ms"),
        0,
        "noise is not a field mismatch"
    );
    assert_eq!(field_mismatches(&host, "/prediction/label"), 1);
}

#[test]
fn no_answer_in_time_is_a_timeout_and_a_failed_call_a_shadow_error() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = vm(&host, json!({ "timeout_ms": 200 }));
    // Envoy's own reply when its timer fires first, after the timeout.
    let calls = compared(&mut vm, ("200", CAT));
    host.clock().advance(Duration::from_millis(200));
    answer(&mut vm, &calls[0], "504", "upstream request timeout");
    // A reset after the timeout.
    let calls = compared(&mut vm, ("200", CAT));
    host.clock().advance(Duration::from_millis(250));
    vm.reset_http_call(calls[0].token);
    // A reset before it: the shadow failed.
    let calls = compared(&mut vm, ("200", CAT));
    vm.reset_http_call(calls[0].token);
    // Envoy's reply for a shadow it cannot connect to, which the shadow never wrote.
    let calls = compared(&mut vm, ("200", CAT));
    answer(
        &mut vm,
        &calls[0],
        "503",
        "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
    );
    // The shadow's own 503 is an answer, and differs.
    let calls = compared(&mut vm, ("200", CAT));
    answer(&mut vm, &calls[0], "503", "model overloaded");
    assert_eq!(results(&host), [0, 1, 0, 2, 2, 0]);
}

#[test]
fn bodies_over_the_limit_and_streams_without_an_answer_are_skipped() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = vm(&host, json!({ "max_body_bytes": 32 }));
    // The request body over the limit: no copy is sent.
    {
        let mut stream = vm.stream();
        stream.request_headers(REQUEST);
        stream.request_body(&[b'x'; 20], false);
        stream.request_body(&[b'y'; 20], true);
        assert_eq!(
            stream.request_body_bytes(),
            [b'y'; 20],
            "the chunk passes as it is"
        );
        stream.vm().deliver_queue_ready();
        stream.response_headers_with(&[(":status", "200")], true);
    }
    assert!(vm.http_calls().is_empty());
    // The live response over the limit.
    let calls = compared(&mut vm, ("200", &"z".repeat(40)));
    answer(&mut vm, &calls[0], "200", "{}");
    // The shadow's response over the limit.
    let calls = compared(&mut vm, ("200", "{}"));
    answer(&mut vm, &calls[0], "200", &"z".repeat(40));
    // The user's stream ends (a client reset) before any answer.
    {
        let mut stream = vm.stream();
        stream.request_headers(REQUEST);
        stream.request_body(BODY, true);
        stream.vm().deliver_queue_ready();
    }
    let late = vm.http_calls().last().expect("a copy was sent").clone();
    answer(&mut vm, &late, "200", "{}");
    // The upstream answers before the request is whole, and Envoy ends the stream: no copy.
    let calls = vm.http_calls().len();
    {
        let mut stream = vm.stream();
        stream.request_headers(REQUEST);
        stream.request_body(&BODY[..4], false);
        stream.response_headers_with(&[(":status", "413")], true);
        stream.vm().deliver_queue_ready();
    }
    assert_eq!(vm.http_calls().len(), calls);
    assert_eq!(results(&host), [0, 0, 0, 0, 0, 5]);
}

#[test]
fn methods_outside_the_list_are_neither_copied_nor_compared() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = vm(&host, fields());
    {
        let mut stream = vm.stream();
        let get: Vec<_> = REQUEST
            .iter()
            .map(|&(n, v)| if n == ":method" { (n, "GET") } else { (n, v) })
            .collect();
        stream.request_headers_with(&get, true);
        stream.vm().deliver_queue_ready();
        stream.response_headers_with(&[(":status", "200")], true);
    }
    assert!(vm.http_calls().is_empty());
    assert_eq!(results(&host), [0; 6]);
}

#[test]
fn a_comparison_started_before_a_push_completes_after_it() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = vm(&host, fields());
    let calls = compared(&mut vm, ("200", CAT));
    let mut next = config(json!({ "fields": ["/other"] }));
    next["revision"] = json!("cmp-2");
    assert!(vm.configure(next.to_string()));
    // Compared by the revision it was sampled under: its fields, not the new ones.
    answer(&mut vm, &calls[0], "200", DOG);
    assert_eq!(results(&host), [0, 1, 0, 0, 0, 0]);
    assert_eq!(field_mismatches(&host, "/prediction/label"), 1);
    // A push that removes the comparison altogether loses nothing either.
    let calls = compared(&mut vm, ("200", CAT));
    let plain = json!({ "revision": "none", "routes": [] });
    assert!(vm.configure(plain.to_string()));
    answer(&mut vm, &calls[0], "200", CAT);
    assert_eq!(results(&host), [1, 1, 0, 0, 0, 0]);
}

#[test]
fn a_root_context_with_calls_in_flight_waits_for_them_before_it_is_done() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = vm(&host, fields());
    let calls = compared(&mut vm, ("200", CAT));
    assert!(!vm.shutdown(), "on_done defers while a call is in flight");
    answer(&mut vm, &calls[0], "200", CAT);
    assert!(vm.root_deleted(), "done once the last answer is in");
    assert_eq!(results(&host), [1, 0, 0, 0, 0, 0]);
}

#[test]
fn comparisons_in_flight_are_capped_per_worker_and_memory_stays_flat() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = vm(&host, fields());
    // Never answered: the cap (256 in flight) holds, the rest is skipped.
    for _ in 0..300 {
        compared(&mut vm, ("200", CAT));
    }
    assert_eq!(vm.http_calls().len(), 256);
    assert_eq!(results(&host)[5], 44);
    // Past the timeout and its grace, a tick ends them; the cap frees up.
    host.clock().advance(Duration::from_secs(62));
    vm.tick();
    assert_eq!(results(&host)[3], 256);
    // 100,000 compared requests, answered as they come, after 50,000 of warm-up (the allocator
    // settles within the first 20,000, one page here): memory does not grow.
    const WARM_UP: usize = 50_000;
    let mut pages = 0;
    for i in 0..WARM_UP + 100_000 {
        let calls = compared(&mut vm, ("200", CAT));
        let body = if i % 3 == 0 { DOG } else { CAT_CLOSE };
        answer(&mut vm, calls.last().expect("a call"), "200", body);
        if i == WARM_UP {
            pages = vm.memory_pages();
        }
    }
    assert_eq!(
        vm.memory_pages(),
        pages,
        "linear memory is flat after warm-up"
    );
    let [matched, mismatched, ..] = results(&host);
    assert_eq!(matched + mismatched, 150_000);
    assert_eq!(mismatched, 50_000);
}
