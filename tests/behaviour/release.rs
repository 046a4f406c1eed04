//! The release loop through the compiled module, in simulated time: a ramp walks through its
//! steps by the host's clock (membership, gauges, one log line per proxy per step), and the
//! latency guard halts a canary on simulated response times, absolute and relative to stable,
//! with the counts of several workers adding up.

use crate::guard::{hand_over, warnings};
use crate::host::{Host, LogLevel, SWITCHYARD, Vm};
use std::time::Duration;
use switchyard::hash::bucket_v2_basis_points;

fn workers(host: &Host, config: &str, n: usize) -> Vec<Vm> {
    (0..n)
        .map(|_| {
            let mut vm = host.vm();
            assert!(vm.configure(config));
            vm
        })
        .collect()
}

/// The host clock as an RFC 3339 instant `offset_s` from now.
fn instant(host: &Host, offset_s: u64) -> String {
    crate::rfc3339::rfc3339(host.clock().wall_time() + Duration::from_secs(offset_s))
}

/// Where a request of user `uid` goes on `vm`; the request gets no answer.
fn side_of(vm: &mut Vm, uid: &str) -> String {
    let mut stream = vm.stream();
    let cookie = format!("uid={uid}");
    stream.request_headers(&[(":method", "GET"), (":path", "/rank"), ("cookie", &cookie)]);
    let target = stream
        .request_header("x-switchyard-target")
        .unwrap_or_default();
    stream.finish();
    target
}

#[test]
fn a_ramp_walks_through_its_steps_by_the_clock_and_nobody_moves_back() {
    let host = Host::new(&SWITCHYARD);
    let config = format!(
        r#"{{"revision": "ramp1", "routes": [{{"name": "ranker", "match": {{"path_prefix": "/rank"}},
            "stable": "ranker-v1",
            "canary": {{"cluster": "ranker-v2", "sticky": ["cookie:uid"],
              "ramp": {{"start_at": "{}", "steps": [{{"weight": 5, "hold_s": 60}},
                {{"weight": 20, "hold_s": 120}}, {{"weight": 50, "hold_s": 60}}, {{"weight": 100}}]}}}}}}]}}"#,
        instant(&host, 30)
    );
    let mut vms = workers(&host, &config, 2);
    let users: Vec<String> = (0..3_000).map(|i| format!("u{i}")).collect();
    let mut in_canary = vec![false; users.len()];
    // Each step (0: before start_at, 30 s from now) and its weight, visited at its first second.
    for (step, weight) in [(0, 0), (1, 500), (2, 2_000), (3, 5_000), (4, 10_000)] {
        hand_over(&mut vms);
        for (i, uid) in users.iter().enumerate() {
            let canary = side_of(&mut vms[i % 2], uid) == "canary";
            let bucket = bucket_v2_basis_points("ranker", uid.as_bytes());
            assert_eq!(canary, bucket < weight, "{uid} at step {step}");
            assert!(!in_canary[i] || canary, "{uid} moved back at step {step}");
            in_canary[i] = canary;
        }
        assert_eq!(
            host.gauge("switchyard_canary_step;route=ranker"),
            Some(step)
        );
        assert_eq!(
            host.gauge("switchyard_canary_weight;route=ranker"),
            Some(weight.into())
        );
        // To the next step's first second.
        let next = match step {
            0 => 30,
            1 => 60,
            2 => 120,
            3 => 60,
            _ => 0,
        };
        host.clock().advance(Duration::from_secs(next));
    }
    let steps_logged: Vec<String> = vms
        .iter()
        .flat_map(|vm| vm.logs_at(LogLevel::Info))
        .filter(|l| l.contains("canary at step"))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        steps_logged,
        [
            "switchyard: route ranker canary at step 1 of 4: weight 5%",
            "switchyard: route ranker canary at step 2 of 4: weight 20%",
            "switchyard: route ranker canary at step 3 of 4: weight 50%",
            "switchyard: route ranker canary at step 4 of 4: weight 100%",
        ],
        "one line per step for the whole proxy"
    );
}

/// A guarded canary that testers force (`x-canary: always` / `never`), so each side gets
/// exactly the traffic a test sends it. The window (10 minutes) outlasts every test's simulated
/// latencies, which move the one clock forward.
fn guarded(latency: &str, min_requests: u32) -> String {
    format!(
        r#"{{"revision": "lat1", "overrides": {{"from": "anyone"}}, "routes": [{{"name": "ranker",
            "stable": "ranker-v1",
            "canary": {{"cluster": "ranker-v2", "weight": 50, "force": {{"header": "x-canary"}},
              "guard": {{"window_s": 600, "min_requests": {min_requests}, "latency": {latency}}}}}}}]}}"#
    )
}

/// `n` answers on `side` ("always": the canary, "never": stable), each `ms` late, spread over
/// the workers.
fn answers(host: &Host, vms: &mut [Vm], side: &str, n: usize, ms: u64) {
    for i in 0..n {
        let len = vms.len();
        let mut stream = vms[i % len].stream();
        stream.request_headers(&[
            (":method", "POST"),
            (":path", "/predict"),
            ("x-canary", side),
        ]);
        host.clock().advance(Duration::from_millis(ms));
        stream.response_headers(&[(":status", "200")]);
        stream.finish();
    }
}

fn halted(host: &Host) -> bool {
    host.gauge("switchyard_canary_halted;route=ranker") == Some(1)
}

#[test]
fn a_canary_slower_than_max_ms_is_halted_and_one_below_it_is_not() {
    let host = Host::new(&SWITCHYARD);
    let mut vms = workers(
        &host,
        &guarded(r#"{"quantile": 0.9, "max_ms": 500}"#, 20),
        2,
    );
    answers(&host, &mut vms, "always", 20, 450);
    hand_over(&mut vms);
    assert!(!halted(&host), "p90 of 450 ms is within 500 ms");

    answers(&host, &mut vms, "always", 5, 900);
    hand_over(&mut vms);
    assert!(halted(&host), "p90 is now 900 ms");
    let warnings = warnings(&vms);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    // The first worker's hand-over (3 of the 5 slow answers) already tips it; 900 ms reads as
    // its histogram bin's upper bound, within 10 %.
    assert!(
        warnings[0].starts_with(
            "switchyard: guard halted the canary of route ranker: p90 latency 949.4 ms over 23 \
             answers, above max_ms 500 ms"
        ),
        "{warnings:?}"
    );
    assert_eq!(
        side_of_forced(&mut vms[0]),
        "stable",
        "a halt beats a force"
    );
}

fn side_of_forced(vm: &mut Vm) -> String {
    let mut stream = vm.stream();
    stream.request_headers(&[(":path", "/predict"), ("x-canary", "always")]);
    let target = stream
        .request_header("x-switchyard-target")
        .unwrap_or_default();
    stream.finish();
    target
}

#[test]
fn a_canary_slower_than_max_ratio_times_stable_is_halted_but_not_when_both_are_equally_slow() {
    let equally = Host::new(&SWITCHYARD);
    let mut vms = workers(&equally, &guarded(r#"{"max_ratio": 1.5}"#, 10), 3);
    answers(&equally, &mut vms, "never", 30, 400);
    answers(&equally, &mut vms, "always", 30, 400);
    hand_over(&mut vms);
    assert!(!halted(&equally), "both sides 400 ms: a ratio of 1");

    let slower = Host::new(&SWITCHYARD);
    let mut vms = workers(&slower, &guarded(r#"{"max_ratio": 1.5}"#, 10), 3);
    answers(&slower, &mut vms, "never", 30, 100);
    answers(&slower, &mut vms, "always", 30, 200);
    hand_over(&mut vms);
    assert!(halted(&slower), "200 ms against stable's 100 ms");
    let warnings = warnings(&vms);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("p99 latency") && warnings[0].contains("above 1.5 × stable's"),
        "{warnings:?}"
    );
}

#[test]
fn min_requests_is_respected_on_both_sides() {
    // The canary has too few answers: nothing is judged, however slow.
    let host = Host::new(&SWITCHYARD);
    let mut vms = workers(
        &host,
        &guarded(r#"{"max_ms": 100, "max_ratio": 1.5}"#, 10),
        1,
    );
    answers(&host, &mut vms, "never", 50, 10);
    answers(&host, &mut vms, "always", 9, 5_000);
    hand_over(&mut vms);
    assert!(
        !halted(&host),
        "9 canary answers are fewer than min_requests"
    );

    // Stable has too few: the ratio is not judged (but max_ms would be).
    let host = Host::new(&SWITCHYARD);
    let mut vms = workers(&host, &guarded(r#"{"max_ratio": 1.5}"#, 10), 1);
    answers(&host, &mut vms, "never", 9, 10);
    answers(&host, &mut vms, "always", 50, 500);
    hand_over(&mut vms);
    assert!(
        !halted(&host),
        "9 stable answers are fewer than min_requests"
    );
    answers(&host, &mut vms, "never", 1, 10);
    hand_over(&mut vms);
    assert!(halted(&host), "10 stable answers: the ratio is judged");
}

#[test]
fn the_counts_of_several_workers_add_up() {
    let host = Host::new(&SWITCHYARD);
    // Four workers with 5 slow canary answers each: none alone reaches min_requests 20.
    let mut vms = workers(&host, &guarded(r#"{"max_ms": 200}"#, 20), 4);
    answers(&host, &mut vms, "always", 19, 300);
    hand_over(&mut vms);
    assert!(!halted(&host), "19 answers in all");
    answers(&host, &mut vms, "always", 1, 300);
    hand_over(&mut vms);
    assert!(
        halted(&host),
        "the twentieth, on any worker, halts the canary for all"
    );
    for vm in &mut vms {
        assert_eq!(side_of_forced(vm), "stable");
    }
}

#[test]
fn stable_answers_are_not_timed_without_max_ratio() {
    let host = Host::new(&SWITCHYARD);
    let mut vms = workers(&host, &guarded(r#"{"max_ms": 200}"#, 5), 1);
    answers(&host, &mut vms, "never", 50, 10);
    hand_over(&mut vms);
    assert_eq!(
        host.shared_data("switchyard.guard.ranker"),
        None,
        "nothing to count: stable is not measured"
    );
}

/// A ramped canary with a guard on 5xx and on latency against stable: every kind of shared
/// counting (the window's slots, both sides' histograms, the ramp's step).
fn everything(revision: &str, start_at: &str) -> String {
    format!(
        r#"{{"revision": "{revision}", "overrides": {{"from": "anyone"}}, "routes": [{{"name": "ranker",
            "stable": "ranker-v1",
            "canary": {{"cluster": "ranker-v2", "force": {{"header": "x-canary"}},
              "ramp": {{"start_at": "{start_at}", "steps": [{{"weight": 10, "hold_s": 1}}, {{"weight": 50}}]}},
              "guard": {{"window_s": 600, "min_requests": 10, "max_error_rate": 0.5,
                "latency": {{"max_ms": 250, "max_ratio": 2}}}}}}}}]}}"#
    )
}

#[test]
fn a_thousand_revisions_leave_shared_data_as_large_as_one() {
    let host = Host::new(&SWITCHYARD);
    let start_at = instant(&host, 0);
    let mut vms = workers(&host, &everything("r000", &start_at), 2);
    let mut sizes = Vec::new();
    for revision in 0..1_000 {
        let revision = format!("r{revision:03}");
        for vm in &mut vms {
            assert!(vm.configure(everything(&revision, &start_at)));
        }
        // Both sides answer, with latencies over several histogram bins; every other revision's
        // canary is slow enough to be halted.
        let slow = if revision.ends_with(['0', '2', '4', '6', '8']) {
            300
        } else {
            20
        };
        answers(&host, &mut vms, "never", 10, 10);
        answers(&host, &mut vms, "always", 10, slow);
        hand_over(&mut vms);
        assert_eq!(halted(&host), slow == 300, "revision {revision}");
        sizes.push(host.shared_data_size());
    }
    // Two keys, and values that depend on this revision's counts only (a slot or two, a few
    // histogram bins): what the last 500 revisions leave is no larger than what the first 500 did.
    assert!(
        sizes.iter().all(|&(keys, _)| keys == 2),
        "{:?}",
        &sizes[..3]
    );
    let largest = |range: &[(usize, usize)]| range.iter().map(|&(_, b)| b).max().unwrap();
    let (first, last) = sizes.split_at(500);
    assert!(
        largest(last) <= largest(first) && largest(first) < 256,
        "shared data grew: at most {} bytes, then {}",
        largest(first),
        largest(last)
    );
}

#[test]
fn a_halted_ramp_stays_at_weight_zero_until_another_revision() {
    let host = Host::new(&SWITCHYARD);
    let start_at = instant(&host, 0);
    let mut vms = workers(&host, &everything("h1", &start_at), 2);
    hand_over(&mut vms);
    assert_eq!(
        host.gauge("switchyard_canary_weight;route=ranker"),
        Some(1_000)
    );
    answers(&host, &mut vms, "always", 10, 400);
    hand_over(&mut vms);
    assert!(halted(&host));
    for _ in 0..3 {
        // Past the last step's start: the ramp would be at 50 %.
        host.clock().advance(Duration::from_secs(5));
        hand_over(&mut vms);
        assert_eq!(host.gauge("switchyard_canary_weight;route=ranker"), Some(0));
        assert_eq!(host.gauge("switchyard_canary_step;route=ranker"), Some(2));
        assert_eq!(side_of_forced(&mut vms[0]), "stable");
    }
    for vm in &mut vms {
        assert!(vm.configure(everything("h2", &start_at)));
    }
    hand_over(&mut vms);
    assert!(!halted(&host));
    assert_eq!(
        host.gauge("switchyard_canary_weight;route=ranker"),
        Some(5_000)
    );
    assert_eq!(side_of_forced(&mut vms[1]), "canary");
}

/// A gauge a previous plan set must not keep its value once the canary behind it has lost its
/// ramp. The VM remembers which it set (Envoy builds a new root context for each push, so the
/// previous plan is not at hand there).
#[test]
fn a_canary_that_loses_its_ramp_shows_weight_0_and_step_0_again() {
    let host = Host::new(&SWITCHYARD);
    let ramped = format!(
        r#"{{"revision": "g1", "routes": [{{"name": "ranker", "stable": "v1",
            "canary": {{"cluster": "v2", "sticky": ["cookie:uid"],
              "ramp": {{"start_at": "{}", "steps": [{{"weight": 40}}]}}}}}}]}}"#,
        instant(&host, 0)
    );
    let mut vm = host.vm();
    assert!(vm.configure(&ramped));
    vm.tick();
    assert_eq!(
        host.gauge("switchyard_canary_weight;route=ranker"),
        Some(4000)
    );
    assert_eq!(host.gauge("switchyard_canary_step;route=ranker"), Some(1));
    let fixed = r#"{"revision": "g2", "routes": [{"name": "ranker", "stable": "v1",
        "canary": {"cluster": "v2", "weight": 40, "sticky": ["cookie:uid"]}}]}"#;
    assert!(vm.configure(fixed));
    assert_eq!(host.gauge("switchyard_canary_weight;route=ranker"), Some(0));
    assert_eq!(host.gauge("switchyard_canary_step;route=ranker"), Some(0));
}
