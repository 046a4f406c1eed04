//! Hostile request views against arbitrary valid configurations. Never a panic; the cluster is
//! one the matched route names, and agrees with the target; the shadow cluster is the route's;
//! cohorts are variants of the route's experiments; a halted canary takes nothing; decisions
//! are deterministic, and do not depend on the random draw when the canary is keyed; every
//! routing header the client sent is removed by the filter's skin, and every header the filter
//! writes is one it removes.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use switchyard::filter::spoofable_removed;
use switchyard::plan::{Base, Plan};
use switchyard::request::Request;
use switchyard_fuzz::{FuzzEnv, decide};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(document) = switchyard_fuzz::config(&mut u) else {
        return;
    };
    let Ok(plan) = switchyard::config::load(document.to_string().as_bytes()) else {
        return;
    };
    let (Ok(owned), Ok(env)) = (
        switchyard_fuzz::request(&mut u, Some(&plan)),
        FuzzEnv::arbitrary(&mut u),
    ) else {
        return;
    };
    let pairs: Vec<(&[u8], &[u8])> = owned
        .iter()
        .map(|(n, v)| (n.as_slice(), v.as_slice()))
        .collect();
    check_stripping(&plan, &pairs);

    let first = decide(&plan, &pairs, &mut env.clone());
    let second = decide(&plan, &pairs, &mut env.clone());
    assert_eq!(
        first, second,
        "same request, same proxy state, another decision"
    );
    let Some(outcome) = first else {
        return;
    };
    let route = plan
        .routes
        .get(outcome.route_number as usize)
        .expect("route number in range");
    assert_eq!(&*route.name, outcome.route);

    // The cluster is one the route names, and agrees with the target.
    let variant_clusters: Vec<&str> = route
        .experiments
        .iter()
        .flat_map(|e| e.variants.iter().filter_map(|v| v.cluster.as_deref()))
        .collect();
    let cluster = outcome.cluster.as_str();
    let canary = route.canary.as_ref();
    match (&route.base, outcome.target) {
        (_, "canary") => assert_eq!(
            Some(cluster),
            canary.map(|c| &*c.cluster),
            "canary target, other cluster"
        ),
        (Base::Stable(stable), "stable") => {
            assert!(
                cluster == &**stable || variant_clusters.contains(&cluster),
                "{cluster} is not the route's"
            )
        }
        (Base::BlueGreen(bg), "blue" | "green") => {
            let colour = if outcome.target == "blue" {
                &bg.blue
            } else {
                &bg.green
            };
            assert!(
                cluster == &**colour || variant_clusters.contains(&cluster),
                "{cluster} is not the route's"
            )
        }
        (_, target) => panic!("target {target} on a route with another base"),
    }
    if outcome.reason == "variant" {
        assert!(variant_clusters.contains(&cluster));
    }
    // The shadow cluster is the route's.
    if let Some(shadow) = &outcome.shadow {
        assert_eq!(
            Some(shadow.as_str()),
            route.shadow.as_ref().map(|s| &*s.cluster)
        );
    }
    // Cohorts: each a variant of one of the route's experiments, at most one per experiment.
    for (i, (experiment, variant)) in outcome.cohorts.iter().enumerate() {
        let e = route
            .experiments
            .iter()
            .find(|e| &*e.name == experiment)
            .expect("a route experiment");
        assert!(e.variants.iter().any(|v| &*v.name == variant));
        assert!(
            outcome
                .cohorts
                .iter()
                .skip(i + 1)
                .all(|(other, _)| other != experiment)
        );
    }
    // A halted guarded canary takes no request.
    if env.halted && canary.is_some_and(|c| c.guard.is_some()) {
        assert_ne!(outcome.target, "canary", "a halted canary took a request");
    }
    // Sticky: with the canary's key present, another random draw changes nothing but the
    // (unkeyed) shadow sampling.
    let request = Request::new(&pairs);
    let keyed = canary.is_none_or(|c| request.key(&c.sticky).is_some());
    if keyed {
        let mut other = env.clone();
        other.state = other.state.wrapping_add(0x5DEE_CE66_D1CE_4E5B);
        let again = decide(&plan, &pairs, &mut other).expect("matched once, matches again");
        assert_eq!(
            (
                &again.route,
                again.target,
                &again.cluster,
                again.reason,
                &again.cohorts
            ),
            (
                &outcome.route,
                outcome.target,
                &outcome.cluster,
                outcome.reason,
                &outcome.cohorts
            ),
            "a keyed decision depends on the random draw"
        );
    }
});

/// What the skin removes against what the plan calls spoofable, for every input header.
fn check_stripping(plan: &Plan, pairs: &[(&[u8], &[u8])]) {
    let removed = spoofable_removed(plan, pairs);
    for (name, _) in pairs {
        let gone = removed.iter().any(|r| r.eq_ignore_ascii_case(name));
        assert_eq!(
            plan.is_spoofable(name),
            gone,
            "header {:?}: spoofable and removed disagree",
            String::from_utf8_lossy(name)
        );
    }
    for (i, r) in removed.iter().enumerate() {
        assert!(
            removed
                .iter()
                .skip(i + 1)
                .all(|other| !other.eq_ignore_ascii_case(r)),
            "{} removed twice",
            String::from_utf8_lossy(r)
        );
    }
    // Everything the filter writes on requests is a name it removes from them.
    let h = &plan.headers;
    for name in [
        &h.cluster,
        &h.target,
        &h.shadow,
        &plan.overrides.token_header,
    ] {
        assert!(
            plan.is_spoofable(name.as_bytes()),
            "{name} is written but not spoofable"
        );
        assert!(plan.is_spoofable(name.to_ascii_uppercase().as_bytes()));
    }
    for route in &plan.routes {
        for e in &route.experiments {
            assert!(
                plan.is_spoofable(e.header.as_bytes()),
                "{} is written but not spoofable",
                e.header
            );
        }
    }
}
