//! The canary guard through the compiled module: several workers' VMs count a guarded canary's
//! answers and hand them over each second (their tick) to one shared window (shared data with
//! compare-and-swap) under the host's clock, and halt the canary for every worker once too many
//! are 5xx; only another revision resumes it. Also the decision left for access logs
//! (`wasm.switchyard.decision`).

use crate::host::{Host, LogLevel, SWITCHYARD, Vm};
use std::time::Duration;

/// `checkout` sends every request to its guarded canary (10 answers, more than 20% 5xx, 10 s);
/// `web` has an unguarded canary; nothing else matches.
fn config(revision: &str) -> String {
    r#"{
  "revision": "REV",
  "debug": true,
  "telemetry": { "access_log": true },
  "overrides": { "from": "anyone" },
  "routes": [
    {
      "name": "checkout",
      "match": { "path_prefix": "/checkout" },
      "stable": "checkout-v1",
      "canary": {
        "cluster": "checkout-v2", "weight": 100, "sticky": ["header:x-user"],
        "force": { "header": "x-canary" },
        "guard": { "max_error_rate": 0.2, "min_requests": 10, "window_s": 10 }
      }
    },
    {
      "name": "web",
      "match": { "path_prefix": "/web" },
      "stable": "web-v1",
      "canary": { "cluster": "web-v2", "weight": 100 }
    }
  ]
}"#
    .replace("REV", revision)
}

const CHECKOUT: &[(&str, &str)] = &[(":method", "GET"), (":path", "/checkout")];
const HALTED: &str = "switchyard_canary_halted;route=checkout";
/// The route's shared window, whatever the revision.
const KEY: &str = "switchyard.guard.checkout";

/// Three workers of one proxy, configured with revision `revision`.
fn workers(host: &Host, revision: &str) -> Vec<Vm> {
    (0..3)
        .map(|_| {
            let mut vm = host.vm();
            assert!(vm.configure(config(revision)));
            vm
        })
        .collect()
}

/// One request and its answer; the cluster it was sent to and the decision header.
fn exchange(vm: &mut Vm, request: &[(&str, &str)], status: u16) -> (String, String) {
    let mut stream = vm.stream();
    stream.request_headers(request);
    let cluster = stream
        .request_header("x-switchyard-cluster")
        .unwrap_or_default();
    stream.response_headers(&[(":status", &status.to_string())]);
    let decision = stream
        .response_header("x-switchyard-decision")
        .unwrap_or_default();
    stream.finish();
    (cluster, decision)
}

/// `answers` requests to `checkout`, spread over the workers in turn, the first `errors` of them
/// answered 503 (a local reply, as when the canary is unreachable) and the rest 200.
fn traffic(vms: &mut [Vm], answers: usize, errors: usize) {
    for i in 0..answers {
        let status = if i < errors { 503 } else { 200 };
        let n = vms.len();
        exchange(&mut vms[i % n], CHECKOUT, status);
    }
}

/// Where each worker sends its next `checkout` request; the request gets no answer, so that
/// looking does not count.
fn clusters_of_checkout(vms: &mut [Vm]) -> Vec<String> {
    vms.iter_mut()
        .map(|vm| {
            let mut stream = vm.stream();
            stream.request_headers(CHECKOUT);
            let cluster = stream.request_header("x-switchyard-cluster");
            stream.finish();
            cluster.unwrap_or_default()
        })
        .collect()
}

/// Each worker's once-a-second tick, twice over: the first round hands every worker's counts to
/// the shared window (the last hand-over judges them all), the second lets every worker learn
/// what was decided.
pub(crate) fn hand_over(vms: &mut [Vm]) {
    for _ in 0..2 {
        for vm in vms.iter_mut() {
            vm.tick();
        }
    }
}

/// The shared value that says `revision`'s canary is halted, as another worker writes it.
fn halted_value(revision: &str) -> Vec<u8> {
    let mut value = vec![3, 1];
    value.extend((revision.len() as u16).to_le_bytes());
    value.extend(revision.as_bytes());
    value.extend(0_i64.to_le_bytes());
    value.push(0);
    value
}

pub(crate) fn warnings(vms: &[Vm]) -> Vec<String> {
    vms.iter()
        .flat_map(|vm| vm.logs_at(LogLevel::Warn))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_canary_answering_too_many_5xx_across_workers_is_halted_for_every_worker() {
    let host = Host::new(&SWITCHYARD);
    let mut vms = workers(&host, "g1");
    // 3 of 10 (30%) answers are 5xx, each worker having seen only 3 or 4 of them.
    traffic(&mut vms, 10, 3);
    assert_eq!(
        clusters_of_checkout(&mut vms),
        ["checkout-v2"; 3],
        "nothing is judged before the counts are handed over"
    );
    hand_over(&mut vms);

    assert_eq!(clusters_of_checkout(&mut vms), ["checkout-v1"; 3]);
    let (_, decision) = exchange(&mut vms[1], CHECKOUT, 200);
    assert_eq!(
        decision,
        "route=checkout;target=stable;cluster=checkout-v1;shadow=0;rev=g1;reason=guard"
    );
    let sticky = [(":path", "/checkout/cart"), ("x-user", "u1")];
    let forced = [(":path", "/checkout"), ("x-canary", "always")];
    assert_eq!(
        exchange(&mut vms[2], &sticky, 200).0,
        "checkout-v1",
        "sticky users leave the canary too"
    );
    assert_eq!(
        exchange(&mut vms[0], &forced, 200).0,
        "checkout-v1",
        "a halt beats a force override"
    );
    assert_eq!(host.gauge(HALTED), Some(1));
    let warned = warnings(&vms);
    assert_eq!(
        warned.len(),
        1,
        "the halt is logged once per proxy: {warned:?}"
    );
    assert!(
        warned[0].contains("guard halted the canary of route checkout: 3 of 10 answers were 5xx"),
        "{warned:?}"
    );
}

#[test]
fn the_rate_is_not_judged_below_min_requests_nor_at_the_rate_itself() {
    let host = Host::new(&SWITCHYARD);
    let mut vms = workers(&host, "g1");
    traffic(&mut vms, 9, 9);
    hand_over(&mut vms);
    assert_eq!(
        clusters_of_checkout(&mut vms),
        ["checkout-v2"; 3],
        "9 answers, all 5xx, are fewer than min_requests"
    );

    let host = Host::new(&SWITCHYARD);
    let mut vms = workers(&host, "g1");
    traffic(&mut vms, 10, 2);
    hand_over(&mut vms);
    assert_eq!(
        clusters_of_checkout(&mut vms),
        ["checkout-v2"; 3],
        "2 of 10 is the rate, not more than it"
    );
    assert_eq!(host.gauge(HALTED), Some(0));
    assert!(warnings(&vms).is_empty());
}

#[test]
fn answers_older_than_the_window_no_longer_count() {
    // Nine 5xx answers, then one more `later`: the tenth halts only while the nine are in the
    // 10-second window.
    let halted_after = |later: Duration| {
        let host = Host::new(&SWITCHYARD);
        let mut vms = workers(&host, "g1");
        traffic(&mut vms, 9, 9);
        hand_over(&mut vms);
        host.clock().advance(later);
        exchange(&mut vms[0], CHECKOUT, 503);
        hand_over(&mut vms);
        clusters_of_checkout(&mut vms) == ["checkout-v1"; 3]
    };
    assert!(halted_after(Duration::from_secs(9)));
    assert!(!halted_after(Duration::from_secs(10)));
}

#[test]
fn only_a_configuration_with_another_revision_resumes_the_canary() {
    let host = Host::new(&SWITCHYARD);
    let mut vms = workers(&host, "g1");
    traffic(&mut vms, 10, 10);
    hand_over(&mut vms);
    assert_eq!(clusters_of_checkout(&mut vms), ["checkout-v1"; 3]);

    for vm in &mut vms {
        assert!(vm.configure(config("g1")));
    }
    assert_eq!(
        clusters_of_checkout(&mut vms),
        ["checkout-v1"; 3],
        "the same revision pushed again stays halted"
    );
    assert_eq!(host.gauge(HALTED), Some(1));

    for vm in &mut vms {
        assert!(vm.configure(config("g2")));
    }
    assert_eq!(clusters_of_checkout(&mut vms), ["checkout-v2"; 3]);
    assert_eq!(host.gauge(HALTED), Some(0));
    traffic(&mut vms, 10, 1);
    hand_over(&mut vms);
    let (value, _) = host.shared_data(KEY).expect("the route's window");
    assert!(
        value.windows(2).any(|w| w == b"g2") && !value.windows(2).any(|w| w == b"g1"),
        "the new revision counts afresh under the same key"
    );
    assert_eq!(clusters_of_checkout(&mut vms), ["checkout-v2"; 3]);
}

#[test]
fn a_worker_that_a_push_has_not_reached_yet_leaves_the_new_revisions_window_alone() {
    let host = Host::new(&SWITCHYARD);
    let mut vms = workers(&host, "g1");
    // The push of g2 reaches the first worker; the others still serve g1 for a moment.
    host.clock().advance(Duration::from_millis(10));
    assert!(vms[0].configure(config("g2")));
    traffic(&mut vms[..1], 10, 10);
    vms[0].tick();
    assert_eq!(
        clusters_of_checkout(&mut vms[..1]),
        ["checkout-v1"],
        "g2 is halted"
    );
    // g1's workers answer and hand over: their counts go nowhere, g2's halt stays.
    traffic(&mut vms[1..], 10, 0);
    hand_over(&mut vms[1..]);
    let (value, _) = host.shared_data(KEY).expect("g2's window");
    assert!(value.windows(2).any(|w| w == b"g2"), "g1 wrote over g2");
    for vm in &mut vms[1..] {
        assert!(vm.configure(config("g2")));
    }
    assert_eq!(
        clusters_of_checkout(&mut vms),
        ["checkout-v1"; 3],
        "every worker on g2 finds it halted"
    );
}

#[test]
fn stable_traffic_and_unguarded_canaries_are_untouched() {
    let host = Host::new(&SWITCHYARD);
    let mut vms = workers(&host, "g1");
    let never = [(":path", "/checkout"), ("x-canary", "never")];
    for _ in 0..20 {
        exchange(&mut vms[0], &never, 503);
        exchange(&mut vms[1], &[(":path", "/web")], 503);
    }
    assert_eq!(
        clusters_of_checkout(&mut vms),
        ["checkout-v2"; 3],
        "5xx from stable do not count against the canary"
    );
    assert_eq!(host.shared_data(KEY), None);

    traffic(&mut vms, 10, 10);
    hand_over(&mut vms);
    let (cluster, decision) = exchange(&mut vms[0], &never, 200);
    assert_eq!(cluster, "checkout-v1");
    assert!(decision.ends_with("reason=base"), "{decision}");
    assert_eq!(exchange(&mut vms[1], &[(":path", "/web")], 200).0, "web-v2");
}

#[test]
fn the_decision_is_left_for_access_logs_on_matched_requests() {
    let host = Host::new(&SWITCHYARD);
    let mut vm = host.vm();
    assert!(vm.configure(config("g1")));
    {
        let mut stream = vm.stream();
        stream.request_headers(CHECKOUT);
        let property = stream
            .filter_state("switchyard.decision")
            .map(|v| String::from_utf8(v.to_vec()).unwrap());
        stream.response_headers(&[(":status", "200")]);
        assert_eq!(
            property.as_deref(),
            Some("route=checkout;target=canary;cluster=checkout-v2;shadow=0;rev=g1;reason=random")
        );
        assert_eq!(property, stream.response_header("x-switchyard-decision"));
        stream.finish();
    }

    let mut stream = vm.stream();
    stream.request_headers(&[(":path", "/elsewhere")]);
    assert_eq!(stream.filter_state("switchyard.decision"), None);
    stream.finish();
}

#[test]
fn a_damaged_shared_value_neither_traps_nor_halts_and_a_halt_written_there_is_obeyed() {
    let host = Host::new(&SWITCHYARD);
    let mut vms = workers(&host, "g1");
    host.set_shared_data(KEY, vec![0, 1, 2]);
    traffic(&mut vms, 5, 5);
    hand_over(&mut vms);
    assert_eq!(clusters_of_checkout(&mut vms), ["checkout-v2"; 3]);
    assert_eq!(host.gauge(HALTED), Some(0));

    // What another worker writes when its hand-over halts the canary.
    host.set_shared_data(KEY, halted_value("g1"));
    hand_over(&mut vms);
    assert_eq!(clusters_of_checkout(&mut vms), ["checkout-v1"; 3]);
    assert_eq!(host.gauge(HALTED), Some(1));
}
