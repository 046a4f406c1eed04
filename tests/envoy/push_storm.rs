//! A minute of configuration pushes under load: four clients on keep-alive connections while a
//! new ECDS configuration arrives every 2 seconds, 30 in all. The valid ones ramp the sticky
//! canary 0 → 100 in steps, flip blue-green each time and change the `ranker` experiment's
//! variants, weights and coverage; every fifth one is invalid and must be rejected while the
//! previous one keeps serving. Consistency, not latency, is asserted: no request fails, no wasm
//! VM fails, and every answer is what the accepted configuration named by its `rev=` decides for
//! that user, as `crate::growthbook` computes it, judged by the response and by what the
//! upstream received.

use crate::growthbook as gb;
use crate::harness::{Envoy, Filter, Load, Sent, Upstreams, Verdict, demo_config, load_client};
use crate::hostile::assert_no_wasm_failure;
use crate::pushes::assert_none_failed;
use crate::routing::{assert_followed, side_in};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until};

const PUSHES: usize = 30;
const EVERY: Duration = Duration::from_secs(2);
const CLIENTS: u64 = 4;
/// Each client sends at most one request per `PACE` (250/s): about 60,000 requests in all, as
/// many as a loaded 2-core machine can check, and the same shape on a fast one.
const PACE: Duration = Duration::from_millis(4);
/// Per client: a bound on requests that 75 s at `PACE` stays under.
const MAX_PER_CLIENT: usize = 20_000;

/// What a valid configuration of the storm decides (all else is demo r1's).
#[derive(Clone, Debug)]
struct Model {
    revision: String,
    /// Sticky canary weight, percent.
    weight: u32,
    colour: &'static str,
    coverage: f64,
    variants: Vec<(&'static str, f64)>,
}

impl Model {
    /// The `k`-th valid configuration (0 is the one Envoy starts with): canary `round(k·100/24)`
    /// %, blue on even `k`, the experiment cycling through four shapes.
    fn valid(k: usize) -> Model {
        let shapes: [(f64, &[(&'static str, f64)]); 4] = [
            (1.0, &[("control", 0.6), ("treatment", 0.4)]),
            (1.0, &[("control", 0.5), ("treatment", 0.5)]),
            (0.5, &[("control", 0.2), ("treatment", 0.8)]),
            (
                0.8,
                &[("control", 0.25), ("treatment", 0.25), ("holdout", 0.5)],
            ),
        ];
        let (coverage, variants) = shapes[k % shapes.len()];
        Model {
            revision: format!("storm-{k:02}"),
            weight: u32::try_from((k * 100 + 12) / 24).expect("a percent"),
            colour: if k.is_multiple_of(2) { "blue" } else { "green" },
            coverage,
            variants: variants.to_vec(),
        }
    }

    /// The configuration: demo r1 with this revision, canary weight, colour and experiment.
    fn config(&self) -> Value {
        let mut config: Value = serde_json::from_str(&demo_config("r1")).expect("JSON");
        assert_eq!(config["debug"], true);
        assert_eq!(config["routes"][0]["name"], "checkout");
        assert_eq!(config["routes"][0]["canary"]["sticky"][0], "cookie:uid");
        assert_eq!(config["routes"][0]["experiments"][0]["name"], "ranker");
        assert_eq!(config["routes"][1]["name"], "web");
        config["revision"] = self.revision.clone().into();
        config["routes"][0]["canary"]["weight"] = self.weight.into();
        config["routes"][1]["blue_green"]["active"] = self.colour.into();
        let experiment = &mut config["routes"][0]["experiments"][0];
        experiment["coverage"] = self.coverage.into();
        experiment["variants"] = self
            .variants
            .iter()
            .map(|(name, weight)| json!({ "name": name, "weight": weight }))
            .collect();
        config
    }

    /// (cluster, target, variant of `ranker`) for `uid` on `path`.
    fn decides(&self, uid: &str, path: &str) -> (&'static str, &'static str, Option<&'static str>) {
        if path.starts_with("/web") {
            let cluster = if self.colour == "blue" {
                "web-blue"
            } else {
                "web-green"
            };
            return (cluster, self.colour, None);
        }
        let cluster = side_in(uid, self.weight);
        let target = if cluster == "checkout-v2" {
            "canary"
        } else {
            "stable"
        };
        let weights: Vec<f64> = self.variants.iter().map(|(_, w)| *w).collect();
        let ranges = gb::ranges(self.coverage, &weights);
        let variant = gb::choose(gb::hash("ranker", uid, 2), &ranges).map(|i| self.variants[i].0);
        (cluster, target, variant)
    }
}

/// The `n`-th invalid push (1-based), built on `base`: each breaks a different rule.
fn invalid(n: usize, base: &Model) -> String {
    let mut config = base.config();
    config["revision"] = format!("storm-bad-{n}").into();
    match n % 5 {
        1 => config["routes"][0]["canary"]["weight"] = 150.into(),
        2 => config["routes"][0]["canary"]["wieght"] = 20.into(),
        3 => config["routes"][1]["blue_green"]["active"] = "purple".into(),
        4 => config["routes"][0]["experiments"][0]["variants"][0]["weight"] = 0.9.into(),
        _ => return "{ \"revision\": \"storm-bad\", \"routes\": [".into(),
    }
    serde_json::to_string_pretty(&config).expect("JSON")
}

#[tokio::test]
async fn a_minute_of_traffic_through_thirty_pushes_fails_nothing_and_every_answer_is_an_accepted_configs()
 {
    let began = Instant::now();
    let upstreams = Upstreams::start().await;
    let first = Model::valid(0);
    let envoy = Envoy::start(
        &upstreams,
        Filter::Ecds(&serde_json::to_string_pretty(&first.config()).expect("JSON")),
    )
    .await;
    let stats_before = envoy.ecds_stats().await;

    // Accepted configurations by revision, and their order (the index `written` refers to).
    let mut accepted: HashMap<String, (usize, Model)> = HashMap::new();
    accepted.insert(first.revision.clone(), (0, first.clone()));
    let written = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = JoinSet::new();
    for lane in 0..CLIENTS {
        // Connections of 25 keep-alive requests from 1,000 users, a quarter to `/web`, at most
        // one per `PACE`, until `stop` (or `MAX_PER_CLIENT` requests, or 90 s). Each request
        // records the index of the last configuration written before its response arrived.
        let load = Load {
            users: 1000,
            seed: 7,
            web_one_in: 4,
            pace: Some(PACE),
            max: MAX_PER_CLIENT,
            limit: Duration::from_secs(90),
        };
        let written = Arc::clone(&written);
        let mark = move || written.load(Ordering::SeqCst);
        clients.spawn(load_client(
            envoy.front,
            lane,
            load,
            Arc::clone(&stop),
            mark,
        ));
    }

    // A push every 2 s; every fifth is invalid. `written` is raised before a valid one is
    // renamed into place: no response can carry a revision before its file exists.
    let start = tokio::time::Instant::now();
    let (mut applied, mut rejected, mut valid) = (0, 0, 0);
    let mut last = first.clone();
    for push in 1..=PUSHES {
        sleep_until(start + EVERY * u32::try_from(push).expect("small")).await;
        if push.is_multiple_of(5) {
            let config = invalid(push / 5, &Model::valid(valid + 1));
            assert_eq!(envoy.push(&config).await, Verdict::Rejected, "push {push}");
            rejected += 1;
        } else {
            valid += 1;
            let model = Model::valid(valid);
            accepted.insert(model.revision.clone(), (valid, model.clone()));
            written.store(valid, Ordering::SeqCst);
            let config = serde_json::to_string_pretty(&model.config()).expect("JSON");
            assert_eq!(envoy.push(&config).await, Verdict::Applied, "push {push}");
            applied += 1;
            last = model;
        }
    }
    // A last second of traffic on the final configuration.
    sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lanes = Vec::new();
    while let Some(lane) = clients.join_next().await {
        lanes.push(lane.expect("a client task"));
    }
    let stats_after = envoy.ecds_stats().await;

    // Every invalid push counted as a failure and a rejection, exactly.
    let grew = |stat: &str| {
        stats_after.get(stat).copied().unwrap_or(0) - stats_before.get(stat).copied().unwrap_or(0)
    };
    for stat in ["config_fail", "update_rejected"] {
        assert_eq!(
            grew(stat),
            rejected as u64,
            "{stat}: {stats_before:?} → {stats_after:?}"
        );
    }
    assert_eq!((applied, rejected), (24, 6));

    // No request failed.
    let all: Vec<&Sent> = lanes.iter().flatten().collect();
    assert_none_failed(all.iter().map(|s| (s.uid.as_str(), s.path, &s.outcome)));

    // Every answer is what an accepted configuration, already written, decides for that user;
    // the upstream received it once, with the filter's headers.
    let by_id = upstreams.by_id();
    let mut per_revision: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &all {
        let response = s.outcome.as_ref().expect("checked above");
        let revision = response.decision("rev").expect("a revision");
        let Some((index, model)) = accepted.get(revision) else {
            panic!(
                "{} {}: served by revision {revision}, never accepted: {response:?}",
                s.uid, s.path
            );
        };
        assert!(
            *index <= s.mark,
            "{} {}: {revision} answered before it was pushed (last written: {})",
            s.uid,
            s.path,
            s.mark
        );
        let (cluster, target, variant) = model.decides(&s.uid, s.path);
        let at = format!("{} {} under {revision}: {response:?}", s.uid, s.path);
        assert_eq!(response.served_by(), cluster, "{at}");
        assert_eq!(response.decision("cluster"), Some(cluster), "{at}");
        assert_eq!(response.decision("target"), Some(target), "{at}");
        assert_eq!(response.decision("exp.ranker"), variant, "{at}");
        let seen: Vec<_> = by_id[&s.id].iter().filter(|x| !x.mirrored()).collect();
        assert_eq!(
            seen.len(),
            1,
            "request {} arrived {} times",
            s.id,
            seen.len()
        );
        assert_followed(response, seen[0]);
        assert_eq!(
            seen[0].all("x-switchyard-exp-ranker"),
            variant.into_iter().collect::<Vec<_>>(),
            "{at}"
        );
        *per_revision.entry(revision).or_default() += 1;
    }

    // A connection stays on its worker and a worker only moves forward: along a connection the
    // revision never goes back. Every client ended on the last accepted configuration.
    for lane in &lanes {
        let mut on: HashMap<usize, usize> = HashMap::new();
        for s in lane {
            let revision = s.outcome.as_ref().ok().and_then(|r| r.decision("rev"));
            let index = accepted[revision.expect("a revision")].0;
            if let Some(&before) = on.get(&s.connection) {
                assert!(
                    index >= before,
                    "connection {} went back from config {before} to {index}",
                    s.connection
                );
            }
            on.insert(s.connection, index);
        }
        let end = lane
            .last()
            .and_then(|s| s.outcome.as_ref().ok())
            .and_then(|r| r.decision("rev"));
        assert_eq!(end, Some(last.revision.as_str()), "a client's last request");
    }

    assert_no_wasm_failure(&envoy).await;
    // Every accepted configuration served (each had about 2 s of traffic, the ones before a
    // rejected push about 4 s).
    assert_eq!(
        per_revision.len(),
        accepted.len(),
        "revisions that served: {per_revision:?}"
    );
    eprintln!(
        "{} requests in {:?}, none failed; {applied} pushes applied, {rejected} rejected; \
         ECDS {stats_before:?} → {stats_after:?}; per revision {per_revision:?}",
        all.len(),
        began.elapsed()
    );
}
