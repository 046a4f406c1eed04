//! Structured configurations, biased toward valid ones: `load` never panics, and a configuration
//! that compiles re-serializes (serde) to a document that compiles to the same plan: same
//! summary, revision, header names and overrides, same decisions for a few fixed requests.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use switchyard::config;
use switchyard_fuzz::{FuzzEnv, decide, fixed_requests};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(document) = switchyard_fuzz::config(&mut u) else {
        return;
    };
    let bytes = serde_json::to_vec(&document).expect("a Value serializes");
    let Ok(plan) = config::load(&bytes) else {
        return;
    };
    let parsed = config::parse(&bytes).expect("loads but does not parse");
    assert!(
        parsed.problems.is_empty(),
        "loads with problems: {:?}",
        parsed.problems
    );

    let again = serde_json::to_vec(&parsed.config).expect("a Config serializes");
    let reparsed = config::parse(&again)
        .unwrap_or_else(|p| panic!("re-serialized config does not parse: {p:?}"));
    assert!(
        reparsed.problems.is_empty(),
        "re-serialized config has problems: {:?}",
        reparsed.problems
    );
    // Not `reparsed.config == parsed.config`: serde_json without its `float_roundtrip` feature
    // may read a float back one ULP off (4.0728551739243185e-66 came back as
    // 4.072855173924318e-66). The plans, below, must still agree.
    let replan = config::load(&again)
        .unwrap_or_else(|p| panic!("re-serialized config does not compile: {p:?}"));

    assert_eq!(plan.summary(), replan.summary());
    assert_eq!(plan.revision, replan.revision);
    assert_eq!(plan.debug, replan.debug);
    assert_eq!(plan.headers, replan.headers);
    assert_eq!(plan.overrides.token_header, replan.overrides.token_header);
    assert_eq!(plan.overrides.anyone, replan.overrides.anyone);
    assert_eq!(plan.overrides.tokens, replan.overrides.tokens);
    let names = |p: &switchyard::plan::Plan| {
        p.routes
            .iter()
            .map(|r| r.name.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&plan), names(&replan));
    for (i, request) in fixed_requests().iter().enumerate() {
        let (mut a, mut b) = (FuzzEnv::fixed(i as u64), FuzzEnv::fixed(i as u64));
        assert_eq!(
            decide(&plan, request, &mut a),
            decide(&replan, request, &mut b),
            "request {i} decided differently after the round trip"
        );
    }
});
