//! A/B experiments through the compiled module: the cohort headers `x-switchyard-exp-<name>:
//! <variant>` against an independent GrowthBook reference on thousands of keys (ASCII, accents,
//! CJK, emoji, and keys that are not UTF-8), coverage, namespaces, hash versions 1 and 2, requests
//! without a key, and variant clusters (off the canary only, first qualifying experiment wins).
//!
//! The reference (`tests/common/growthbook.rs`) is transcribed from GrowthBook's JS SDK
//! (`packages/sdk-js/src/util.ts`) and shares no code with `src/hash.rs`; it is itself checked
//! against GrowthBook's published vectors and against values the JS SDK printed under Node.

use crate::canary::{Upstream, assert_within, configured, get, keys, request, send};
use crate::host::{Host, SWITCHYARD};
use serde_json::{Value, json};

use crate::growthbook as gb;

// ----------------------------------------------------------------------------------------------
// An experiment as the test sees it, with what the reference expects of it.

struct Experiment {
    name: &'static str,
    seed: Option<&'static str>,
    version: u8,
    coverage: f64,
    namespace: Option<(&'static str, f64, f64)>,
    variants: &'static [(&'static str, f64, Option<&'static str>)],
}

impl Experiment {
    fn json(&self, key: &[&str]) -> Value {
        let mut e = json!({
            "name": self.name,
            "key": key,
            "hash_version": self.version,
            "coverage": self.coverage,
            "variants": self.variants.iter().map(|&(name, weight, cluster)| {
                let mut v = json!({ "name": name, "weight": weight });
                if let Some(cluster) = cluster {
                    v["cluster"] = json!(cluster);
                }
                v
            }).collect::<Vec<_>>(),
        });
        if let Some(seed) = self.seed {
            e["seed"] = json!(seed);
        }
        if let Some((id, start, end)) = self.namespace {
            e["namespace"] = json!({ "id": id, "start": start, "end": end });
        }
        e
    }

    /// The variant GrowthBook enrolls `key` in, if any.
    fn expected(&self, key: &[u8]) -> Option<usize> {
        if let Some((id, start, end)) = self.namespace
            && !gb::in_namespace(key, id, start, end)
        {
            return None;
        }
        let weights: Vec<f64> = self.variants.iter().map(|v| v.1).collect();
        let n = gb::hash_bytes(self.seed.unwrap_or(self.name), key, self.version);
        gb::choose(n, &gb::ranges(self.coverage, &weights))
    }
}

/// A route `shop` (stable `shop-v1`) with these experiments keyed on `key`, and `extra` fields.
fn shop(experiments: &[Experiment], key: &[&str], extra: Value) -> Value {
    let mut route = json!({
        "name": "shop",
        "stable": "shop-v1",
        "experiments": experiments.iter().map(|e| e.json(key)).collect::<Vec<_>>(),
    });
    for (k, v) in extra.as_object().expect("an object") {
        route[k] = v.clone();
    }
    json!({ "revision": "exp", "routes": [route] })
}

/// The cohort headers a request left with, as (experiment, variant), sorted.
fn cohorts(upstream: &Upstream) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = upstream
        .0
        .iter()
        .filter_map(|(name, value)| {
            let experiment = name.strip_prefix("x-switchyard-exp-")?;
            let variant = String::from_utf8(value.clone()).expect("a variant name is UTF-8");
            Some((experiment.to_string(), variant))
        })
        .collect();
    out.sort();
    out
}

fn expected_cohorts(experiments: &[Experiment], key: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = experiments
        .iter()
        .filter_map(|e| {
            let variant = e.expected(key)?;
            Some((e.name.to_string(), e.variants[variant].0.to_string()))
        })
        .collect();
    out.sort();
    out
}

/// Percent-encodes every byte that is not an ASCII letter or digit.
fn percent_encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Keys that are not UTF-8: a few named ones (Latin-1 `café`, a truncated `日`, an encoded
/// surrogate, a lone continuation byte) and `n` generated ones (SplitMix64, seeded).
fn non_utf8_keys(n: usize) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = vec![
        b"caf\xe9".to_vec(),
        b"\xff\xfeA".to_vec(),
        b"\xe6\x97".to_vec(),
        b"\xed\xa0\x80user".to_vec(),
        b"\x80".to_vec(),
        b"user-\xc3".to_vec(),
    ];
    let mut state = 0x5eed_u64;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for _ in 0..n {
        let len = 1 + (next() % 12) as usize;
        let mut key: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if std::str::from_utf8(&key).is_ok() {
            key.push(0xff);
        }
        keys.push(key);
    }
    for key in &keys {
        assert!(std::str::from_utf8(key).is_err(), "{key:?} is UTF-8");
    }
    keys
}

// ----------------------------------------------------------------------------------------------
// The reference itself

const RANKER_VARIANTS: &[(&str, f64, Option<&str>)] =
    &[("control", 0.2, None), ("a", 0.3, None), ("b", 0.5, None)];

#[test]
fn the_reference_reproduces_growthbook_vectors() {
    // GrowthBook's `packages/sdk-js/test/cases.json`, section "hash": seed, value, version.
    let cases: &[(&str, &str, u8, f64)] = &[
        ("", "a", 1, 0.22),
        ("b", "a", 1, 0.946),
        ("ef", "d", 1, 0.652),
        ("asdf", "8952klfjas09ujk", 1, 0.549),
        ("", "___)((*\":&", 1, 0.563),
        ("seed", "a", 2, 0.0505),
        ("foo", "def", 2, 0.2019),
        ("89123klj", "8952klfjas09ujkasdf", 2, 0.124),
        ("90850943850283058242805", "123", 2, 0.7516),
        ("()**(%$##$%#$#", "___)((*\":&", 2, 0.0128),
    ];
    for &(seed, value, version, expected) in cases {
        assert_eq!(
            gb::hash(seed, value, version),
            expected,
            "hash({seed:?}, {value:?}, {version})"
        );
    }
    let ranges = gb::ranges(0.8, &[0.2, 0.3, 0.5]);
    let names = ["control", "a", "b"];
    for &(key, v1, v2, in_v1, in_v2, in_ns) in gb::PRINTED_BY_THE_SDK {
        assert_eq!(gb::hash("ranker", key, 1), v1, "v1 {key:?}");
        assert_eq!(gb::hash("ranker", key, 2), v2, "v2 {key:?}");
        assert_eq!(gb::choose(v1, &ranges).map(|i| names[i]), in_v1);
        assert_eq!(gb::choose(v2, &ranges).map(|i| names[i]), in_v2);
        assert_eq!(
            gb::in_namespace(key.as_bytes(), "search", 0.25, 0.75),
            in_ns,
            "{key:?}"
        );
    }
    // JS `hash("bytes", "\xff\xfeA", 2)`, each byte one code unit: 0.8994.
    assert_eq!(gb::hash_bytes("bytes", b"\xff\xfeA", 2), 0.8994);
    // A Latin-1 byte string hashes as the JS string of the same code units.
    assert_eq!(
        gb::hash_bytes("s", b"caf\xe9", 1),
        gb::hash("s", "caf\u{e9}", 1)
    );
}

// ----------------------------------------------------------------------------------------------
// Cohorts through the module

#[test]
fn the_module_assigns_the_variants_the_growthbook_sdk_printed() {
    let host = Host::new(&SWITCHYARD).with_seed(30);
    let experiments = [
        Experiment {
            name: "ranker",
            seed: None,
            version: 2,
            coverage: 0.8,
            namespace: None,
            variants: RANKER_VARIANTS,
        },
        Experiment {
            name: "ranker1",
            seed: Some("ranker"),
            version: 1,
            coverage: 0.8,
            namespace: None,
            variants: RANKER_VARIANTS,
        },
        Experiment {
            name: "search",
            seed: None,
            version: 2,
            coverage: 1.0,
            namespace: Some(("search", 0.25, 0.75)),
            variants: &[("in", 1.0, None), ("never", 0.0, None)],
        },
    ];
    let mut vm = configured(&host, &shop(&experiments, &["header:x-user"], json!({})));
    for &(key, _, _, in_v1, in_v2, in_ns) in gb::PRINTED_BY_THE_SDK {
        let upstream = send(&mut vm, &get(&[("x-user", key)]));
        assert_eq!(upstream.get("x-switchyard-exp-ranker"), in_v2, "v2 {key:?}");
        assert_eq!(
            upstream.get("x-switchyard-exp-ranker1"),
            in_v1,
            "v1 {key:?}"
        );
        assert_eq!(
            upstream.get("x-switchyard-exp-search"),
            in_ns.then_some("in"),
            "namespace {key:?}"
        );
    }
}

/// Hash v2 with three variants; v1 with a seed and coverage < 1; v2 with a namespace and
/// coverage; v1 with a namespace.
const SWEEP: [Experiment; 4] = [
    Experiment {
        name: "layout",
        seed: None,
        version: 2,
        coverage: 1.0,
        namespace: None,
        variants: &[
            ("control", 0.34, None),
            ("Wide.v2", 0.33, None),
            ("narrow_B", 0.33, None),
        ],
    },
    Experiment {
        name: "ranker",
        seed: Some("ranker-2026"),
        version: 1,
        coverage: 0.6,
        namespace: None,
        variants: &[("control", 0.5, None), ("treatment", 0.5, None)],
    },
    Experiment {
        name: "checkout-flow",
        seed: None,
        version: 2,
        coverage: 0.8,
        namespace: Some(("checkout", 0.2, 0.7)),
        variants: &[("a", 0.25, None), ("b", 0.25, None), ("c", 0.5, None)],
    },
    Experiment {
        name: "pricing",
        seed: Some("pricing.v1"),
        version: 1,
        coverage: 1.0,
        namespace: Some(("pricing", 0.5, 1.0)),
        variants: &[("old", 0.9, None), ("new", 0.1, None)],
    },
];

#[test]
fn cohort_headers_equal_growthbook_assignments_for_ten_thousand_keys() {
    let host = Host::new(&SWITCHYARD).with_seed(31);
    let config = shop(&SWEEP, &["header:x-user", "query:uid"], json!({}));
    let mut vms = [configured(&host, &config), configured(&host, &config)];

    // Counts per experiment: enrolled, and per variant, to show the sweep is not vacuous.
    let mut enrolled = [0usize; SWEEP.len()];
    let mut variants_seen = [[false; 3]; SWEEP.len()];
    let mut check = |key: &[u8], upstream: &Upstream| {
        let expected = expected_cohorts(&SWEEP, key);
        assert_eq!(
            cohorts(upstream),
            expected,
            "key {:?} ({:?})",
            String::from_utf8_lossy(key),
            key
        );
        for (i, e) in SWEEP.iter().enumerate() {
            if let Some(v) = e.expected(key) {
                enrolled[i] += 1;
                variants_seen[i][v] = true;
            }
        }
        assert_eq!(upstream.cluster(), "shop-v1");
        assert_eq!(upstream.target(), "stable");
    };

    // 10,000 UTF-8 keys (ASCII, é, 日本, emoji, combining marks) in a header.
    let utf8 = keys(10_000);
    for (i, key) in utf8.iter().enumerate() {
        let upstream = send(&mut vms[i % 2], &get(&[("x-user", key)]));
        check(key.as_bytes(), &upstream);
    }
    // The same kinds of keys percent-encoded in the query string: decoded, then hashed as UTF-16.
    for key in utf8.iter().step_by(10) {
        let path = format!("/search?q=shoes&uid={}", percent_encode(key.as_bytes()));
        let upstream = send(&mut vms[0], &request("GET", &path, &[]));
        check(key.as_bytes(), &upstream);
    }
    // Keys that are not UTF-8 (only the query string can carry them here): hashed over bytes.
    for key in non_utf8_keys(2_000) {
        let path = format!("/search?uid={}&q=1", percent_encode(&key));
        let upstream = send(&mut vms[1], &request("GET", &path, &[]));
        check(&key, &upstream);
    }

    for (i, e) in SWEEP.iter().enumerate() {
        assert!(
            variants_seen[i][..e.variants.len()].iter().all(|&s| s),
            "{}: some variant never assigned",
            e.name
        );
    }
    // The shares enrolled: 12,006 keys in all. layout: everyone. ranker: coverage 0.6 (±6 sd =
    // ±322). checkout-flow: namespace 0.5 × coverage 0.8 = 0.4 (±322). pricing: namespace 0.5
    // (±329).
    let n = utf8.len() + utf8.len() / 10 + 2_006;
    assert_eq!(enrolled[0], n, "layout enrolls every keyed request");
    assert_within(enrolled[1], n, 0.6, "ranker enrolled");
    assert_within(enrolled[2], n, 0.4, "checkout-flow enrolled");
    assert_within(enrolled[3], n, 0.5, "pricing enrolled");
}

#[test]
fn a_request_without_a_key_gets_no_cohort_header() {
    let host = Host::new(&SWITCHYARD).with_seed(32);
    let mut vm = configured(
        &host,
        &shop(
            &SWEEP,
            &["header:x-user", "cookie:uid", "query:uid"],
            json!({}),
        ),
    );
    let without_key: [Vec<(&str, &str)>; 6] = [
        get(&[]),
        get(&[("x-user", "")]),
        get(&[("x-user", ""), ("cookie", "uid=; other=1")]),
        request("GET", "/?uid=&x=1", &[("cookie", "user=alice")]),
        request("GET", "/?user=alice", &[("x-other", "alice")]),
        // A cohort header the client sends itself does not enroll it.
        get(&[("x-switchyard-exp-layout", "narrow_B")]),
    ];
    for headers in &without_key {
        let upstream = send(&mut vm, headers);
        assert_eq!(cohorts(&upstream), Vec::new(), "{headers:?}");
        assert_eq!(upstream.cluster(), "shop-v1");
        assert_eq!(upstream.target(), "stable");
    }
    // The first present, non-empty source is the key, used as received.
    for (headers, key) in [
        (get(&[("x-user", ""), ("cookie", "uid=alice")]), "alice"),
        (request("GET", "/?uid=first+last", &[]), "first last"),
        (
            request("GET", "/?uid=q", &[("cookie", "a=1; uid=\"quoted\"")]),
            "quoted",
        ),
        (get(&[("x-user", " Alice ")]), " Alice "),
    ] {
        let upstream = send(&mut vm, &headers);
        assert_eq!(
            cohorts(&upstream),
            expected_cohorts(&SWEEP, key.as_bytes()),
            "{headers:?}"
        );
    }
}

#[test]
fn a_variant_cluster_serves_only_outside_the_canary_and_the_first_such_experiment_wins() {
    let experiments = [
        Experiment {
            name: "banner",
            seed: None,
            version: 2,
            coverage: 1.0,
            namespace: None,
            variants: &[("on", 0.5, None), ("off", 0.5, None)],
        },
        Experiment {
            name: "search",
            seed: None,
            version: 2,
            coverage: 1.0,
            namespace: None,
            variants: &[("new", 0.4, Some("search-v2")), ("old", 0.6, None)],
        },
        Experiment {
            name: "pricing",
            seed: None,
            version: 1,
            coverage: 0.5,
            namespace: None,
            variants: &[("a", 0.5, Some("pricing-a")), ("b", 0.5, Some("pricing-b"))],
        },
    ];
    let config = shop(
        &experiments,
        &["header:x-user"],
        json!({ "canary": { "cluster": "shop-v2", "weight": 30, "sticky": ["header:x-user"] } }),
    );
    let host = Host::new(&SWITCHYARD).with_seed(33);
    let mut vm = configured(&host, &config);
    // Which rule served: canary, search, pricing, stable.
    let mut served = [0usize; 4];
    for key in keys(3_000) {
        let upstream = send(&mut vm, &get(&[("x-user", &key)]));
        let bytes = key.as_bytes();
        assert_eq!(
            cohorts(&upstream),
            expected_cohorts(&experiments, bytes),
            "cohorts of {key:?}, in the canary or not"
        );
        let in_canary = gb::basis_points_v2("shop", &key) < 3000;
        let (target, cluster, rule) = if in_canary {
            ("canary", "shop-v2", 0)
        } else {
            let search = experiments[1].expected(bytes);
            let pricing = experiments[2].expected(bytes);
            match (search, pricing) {
                (Some(0), _) => ("stable", "search-v2", 1),
                (_, Some(0)) => ("stable", "pricing-a", 2),
                (_, Some(1)) => ("stable", "pricing-b", 2),
                _ => ("stable", "shop-v1", 3),
            }
        };
        served[rule] += 1;
        assert_eq!(
            (upstream.target(), upstream.cluster()),
            (target, cluster),
            "key {key:?}"
        );
    }
    assert!(
        served.iter().all(|&n| n > 100),
        "every rule served: {served:?}"
    );
}

#[test]
fn a_variant_cluster_keeps_the_base_target_and_yields_to_the_canary() {
    let host = Host::new(&SWITCHYARD).with_seed(34);
    let experiments = [Experiment {
        name: "engine",
        seed: None,
        version: 2,
        coverage: 1.0,
        namespace: None,
        variants: &[("v2", 1.0, Some("shop-engine-v2")), ("v1", 0.0, None)],
    }];
    for weight in [0, 100] {
        let mut config = shop(
            &experiments,
            &["header:x-user"],
            json!({
                "blue_green": { "active": "blue", "blue": "shop-blue", "green": "shop-green" },
                "canary": { "cluster": "shop-canary", "weight": weight,
                            "force": { "header": "x-canary" } }
            }),
        );
        config["routes"][0]
            .as_object_mut()
            .expect("a route")
            .remove("stable");
        config["overrides"] = json!({ "from": "anyone" });
        let mut vm = configured(&host, &config);

        // (extra headers, expected target and cluster, enrolled)
        let in_canary = ("canary", "shop-canary");
        let off_canary = ("blue", "shop-engine-v2");
        let cases = [
            (
                vec![("x-user", "alice")],
                if weight == 100 { in_canary } else { off_canary },
                true,
            ),
            (
                vec![("x-user", "alice"), ("x-canary", "always")],
                in_canary,
                true,
            ),
            (
                vec![("x-user", "alice"), ("x-canary", "never")],
                off_canary,
                true,
            ),
            (vec![("x-canary", "never")], ("blue", "shop-blue"), false),
        ];
        for (extra, expected, enrolled) in cases {
            let upstream = send(&mut vm, &get(&extra));
            assert_eq!(
                (upstream.target(), upstream.cluster()),
                expected,
                "weight {weight}, {extra:?}"
            );
            assert_eq!(
                upstream.get("x-switchyard-exp-engine"),
                enrolled.then_some("v2"),
                "cohorts are written in the canary too: weight {weight}, {extra:?}"
            );
        }
    }
}

#[test]
fn a_configured_cohort_prefix_names_the_cohort_headers() {
    let host = Host::new(&SWITCHYARD).with_seed(35);
    let mut config = shop(&SWEEP[..1], &["header:x-user"], json!({}));
    config["headers"] = json!({ "cohort_prefix": "x-ab-" });
    let mut vm = configured(&host, &config);
    for key in keys(100) {
        let upstream = send(&mut vm, &get(&[("x-user", &key)]));
        let expected = SWEEP[0]
            .expected(key.as_bytes())
            .map(|v| SWEEP[0].variants[v].0);
        assert_eq!(upstream.get("x-ab-layout"), expected, "{key:?}");
        assert_eq!(
            upstream.count("x-ab-layout"),
            usize::from(expected.is_some())
        );
        assert!(
            upstream
                .0
                .iter()
                .all(|(n, _)| !n.starts_with("x-switchyard-exp-")),
            "the default prefix is not used"
        );
    }
}

#[test]
fn a_coverage_of_0_or_an_empty_namespace_range_enrolls_nobody() {
    let host = Host::new(&SWITCHYARD).with_seed(36);
    let variants: &[(&str, f64, Option<&str>)] =
        &[("a", 0.5, Some("shop-a")), ("b", 0.5, Some("shop-b"))];
    let experiments = [
        Experiment {
            name: "uncovered",
            seed: None,
            version: 2,
            coverage: 0.0,
            namespace: None,
            variants,
        },
        Experiment {
            name: "empty-ns",
            seed: None,
            version: 1,
            coverage: 1.0,
            namespace: Some(("ns", 0.4, 0.4)),
            variants,
        },
        Experiment {
            name: "full-ns",
            seed: None,
            version: 1,
            coverage: 1.0,
            namespace: Some(("ns", 0.0, 1.0)),
            variants: &[("all", 1.0, None), ("none", 0.0, None)],
        },
    ];
    let mut vm = configured(&host, &shop(&experiments, &["header:x-user"], json!({})));
    for key in keys(1_000) {
        let upstream = send(&mut vm, &get(&[("x-user", &key)]));
        assert_eq!(
            cohorts(&upstream),
            [("full-ns".to_string(), "all".to_string())],
            "{key:?}"
        );
        assert_eq!(upstream.cluster(), "shop-v1", "{key:?}");
    }
}
