//! The `switchyard` command line (`spec/CLI.md`): `check` and `explain` run as the built binary
//! on valid, invalid and broken inputs, with their exit codes and messages; and `explain` equals
//! the module: for thousands of seeded random requests, the headers it gives are those the
//! compiled module writes in the wasmtime host.

use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, UNIX_EPOCH};
use switchyard::cli::explain;
use switchyard_test_host::{Host, SWITCHYARD};

fn switchyard(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn scratch(name: &str, content: &str) -> String {
    let dir = std::env::temp_dir().join(format!("switchyard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn check_accepts_valid_files_and_reports_every_problem_as_the_module_logs_it() {
    let ok = switchyard(
        &[
            "check",
            "examples/configs/canary.json",
            "examples/configs/compare.json",
        ],
        None,
    );
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let out = text(&ok.stdout);
    assert!(
        out.contains(r#"examples/configs/canary.json: valid, revision "checkout-canary-10""#),
        "{out}"
    );
    assert!(out.contains("compare.json: valid"), "{out}");

    let bad = r#"{"routes": [{"name": "a", "stable": "s", "canary": {"cluster": "c", "weight": 150}},
                              {"name": "b"}], "debgu": true}"#;
    let expected: Vec<String> = switchyard::config::load(bad.as_bytes())
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(expected.len(), 3);
    let invalid = switchyard(&["check", "-"], Some(bad.as_bytes()));
    assert_eq!(invalid.status.code(), Some(1));
    let lines: Vec<String> = text(&invalid.stderr).lines().map(String::from).collect();
    assert_eq!(lines[0], "-: invalid, 3 problems; fix each at its path:");
    assert_eq!(
        lines[1..],
        expected[..],
        "one `PATH: message` line per problem, as the module's"
    );

    let broken = switchyard(&["check", "-"], Some(b"{\"routes\": [}"));
    assert_eq!(broken.status.code(), Some(1));
    assert!(text(&broken.stderr).contains("$: invalid JSON: expected value at line 1 column 13"));

    let json = switchyard(&["check", "--json", "-"], Some(bad.as_bytes()));
    assert_eq!(json.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["files"][0]["valid"], false);
    assert_eq!(doc["files"][0]["problems"][0]["path"], "debgu");
}

#[test]
fn usage_and_io_errors_exit_2() {
    let missing = switchyard(&["check", "/no/such/file.json"], None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).starts_with("switchyard: cannot read /no/such/file.json: "));
    for args in [
        &["frobnicate"][..],
        &["check"],
        &["explain"],
        &["check", "--nope", "x"],
    ] {
        assert_eq!(switchyard(args, None).status.code(), Some(2), "{args:?}");
    }
    let config = "examples/configs/canary.json";
    for (flag, value, message) in [
        ("--random", "1.5", "--random 1.5: give a number in [0, 1)"),
        ("--at", "yesterday", "--at \"yesterday\": "),
        (
            "--header",
            "no-colon",
            "--header \"no-colon\": give NAME:VALUE",
        ),
        (
            "--cookie",
            "no-equals",
            "--cookie \"no-equals\": give NAME=VALUE",
        ),
        (
            "--source",
            "10.0.0",
            "--source \"10.0.0\": give an IP address",
        ),
    ] {
        let out = switchyard(&["explain", config, flag, value], None);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        assert!(
            text(&out.stderr).contains(message),
            "{flag}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(switchyard(&["--help"], None).status.code(), Some(0));
    // Envoy's admin unreachable: an I/O error, with the address in the message.
    let status = switchyard(&["status", "--admin", "http://127.0.0.1:9"], None);
    assert_eq!(status.status.code(), Some(2));
    assert!(text(&status.stderr).contains("Envoy's admin at http://127.0.0.1:9"));
    let bad_url = switchyard(&["status", "--admin", "127.0.0.1:9901"], None);
    assert_eq!(bad_url.status.code(), Some(2));
    assert!(text(&bad_url.stderr).contains("give an http:// URL"));
}

#[test]
fn explain_prints_the_decision_and_the_headers_as_the_contract_shows() {
    let config = scratch(
        "shop.json",
        &json!({"revision": "r1", "routes": [{"name": "shop", "match": {"hosts": ["shop.example.com"]},
            "stable": "shop-v1", "canary": {"cluster": "shop-v2", "weight": 100, "sticky": ["cookie:uid"]},
            "experiments": [{"name": "ranker", "key": ["cookie:uid"],
                "variants": [{"name": "treatment", "weight": 1}, {"name": "control", "weight": 0}]}]}]})
        .to_string(),
    );
    let out = switchyard(
        &[
            "explain",
            &config,
            "--host",
            "shop.example.com",
            "--cookie",
            "uid=u1",
            "--json",
            "--header",
            "x-switchyard-cluster:evil",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc,
        json!({"matched": true, "route": "shop", "cluster": "shop-v2", "target": "canary",
               "reason": "sticky", "shadow": null, "compared": false,
               "cohorts": {"ranker": "treatment"},
               "headers": {"x-switchyard-cluster": "shop-v2", "x-switchyard-target": "canary",
                           "x-switchyard-exp-ranker": "treatment"},
               "removed": ["x-switchyard-cluster"]})
    );
    let unmatched = switchyard(
        &["explain", &config, "--host", "other.example.com", "--json"],
        None,
    );
    let doc: Value = serde_json::from_slice(&unmatched.stdout).unwrap();
    assert_eq!(doc["matched"], false);
    assert_eq!(doc["reason"], "unmatched");
    assert_eq!(doc["headers"], json!({}));

    let human = switchyard(
        &[
            "explain",
            &config,
            "--host",
            "shop.example.com",
            "--cookie",
            "uid=u1",
        ],
        None,
    );
    let out = text(&human.stdout);
    assert!(
        out.contains("target    canary (the sticky key's bucket)\n"),
        "{out}"
    );
    assert!(
        out.contains("writes    x-switchyard-cluster: shop-v2\n"),
        "{out}"
    );

    let invalid = scratch("invalid.json", r#"{"routes": [{"name": "x"}]}"#);
    let out = switchyard(&["explain", &invalid], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("routes[0].stable: required unless blue_green is given"));
}

/// SplitMix64: the test's own seeded generator.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// Every strategy keyed (no per-request draw, which only the module's own generator knows),
/// overrides from trusted sources, a scheduled blue-green switch and a ramp, on three routes.
fn everything() -> Value {
    json!({
        "revision": "cli-eq",
        "overrides": {"from": "trusted", "tokens": ["qa-token-0123456789"], "source_cidrs": ["10.0.0.0/8"]},
        "routes": [
            {"name": "shop", "match": {"hosts": ["shop.example.com", "*.shop.example.com"], "path_prefix": "/checkout"},
             "stable": "shop-v1",
             "canary": {"cluster": "shop-v2", "sticky": ["cookie:uid", "header:x-user"],
                        "ramp": {"start_at": "2026-12-01T00:00:00Z",
                                 "steps": [{"weight": 10, "hold_s": 3600}, {"weight": 50}]},
                        "force": {"header": "x-canary", "cookie": "canary"}},
             "experiments": [{"name": "ranker", "key": ["cookie:uid", "query:u"],
                "variants": [{"name": "a", "weight": 0.5, "cluster": "ranker-a"}, {"name": "b", "weight": 0.5}]}],
             "shadow": {"cluster": "shop-v3", "percent": 30, "key": ["cookie:uid", "header:x-user"],
                        "methods": ["GET", "POST"]}},
            {"name": "web", "match": {"path_prefix": "/web"},
             "blue_green": {"active": "blue", "blue": "web-blue", "green": "web-green",
                            "switch_at": {"active": "green", "at": "2026-12-01T12:00:00Z"},
                            "preview": {"header": "x-preview", "cookie": "preview"}}},
            {"name": "rank", "match": {"path_prefix": "/rank", "methods": ["POST"]}, "stable": "rank-v1",
             "shadow": {"cluster": "rank-v2", "percent": 50, "key": ["header:x-user"], "methods": ["POST"],
                        "compare": {"fields": ["/label"]}}}
        ]
    })
}

#[test]
fn explain_writes_exactly_the_headers_the_module_writes_for_seeded_random_requests() {
    let config = everything().to_string();
    let plan = switchyard::config::load(config.as_bytes()).unwrap();
    let host = Host::new(&SWITCHYARD).with_seed(3);
    let mut vm = host.vm();
    assert!(vm.configure(&config), "{:?}", vm.logs());
    let mut rng = Seeded(2026);
    let hosts = [
        "shop.example.com",
        "eu.shop.example.com",
        "SHOP.example.com:8443",
        "other.example.com",
        "",
    ];
    let paths = [
        "/checkout/cart",
        "/checkout?u=k1",
        "/web/",
        "/web?x=1",
        "/rank",
        "/",
        "/checkoutx",
    ];
    let methods = ["GET", "POST", "PUT"];
    // Never empty: without a key the canary and the shadow draw per request, which only the
    // module's own generator knows.
    let users = ["u1", "u2", "user-77", "ü-unicode", "k9"];
    let sources = ["10.1.2.3", "192.168.0.1", "::1"];
    // Around the ramp's step and the switch: 2026-12-01T00:00Z + 0 .. 24 h.
    let start_s = 1_764_547_200;
    let mut matched = 0;
    for i in 0..3000 {
        let at_s = start_s + rng.next() % 86_400;
        host.clock()
            .set_wall_time(UNIX_EPOCH + Duration::from_secs(at_s));
        let (h, path, method) = (rng.pick(&hosts), rng.pick(&paths), rng.pick(&methods));
        let mut headers = vec![("x-user".to_string(), rng.pick(&users).to_string())];
        for (name, values) in [
            ("x-canary", &["always", "never", "maybe"][..]),
            ("x-preview", &["green", "blue"][..]),
            ("x-switchyard-token", &["qa-token-0123456789", "guess"][..]),
            ("x-switchyard-cluster", &["evil"][..]),
        ] {
            if rng.next().is_multiple_of(3) {
                headers.push((name.to_string(), rng.pick(values).to_string()));
            }
        }
        let cookies = vec![
            format!("uid={}", rng.pick(&users)),
            format!("preview={}", rng.pick(&["green", "x"])),
        ];
        let source = rng.pick(&sources);

        let owned = explain::request_pairs(h, path, method, &headers, &cookies);
        let pairs: Vec<(&[u8], &[u8])> = owned
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect();
        let mut env = explain::Given::new((at_s * 1000) as i64, source.parse().ok(), None);
        let (decision, written, _) = explain::explain(&plan, &pairs, &mut env);
        if decision.is_some() {
            matched += 1;
        }

        let mut stream = vm.stream();
        stream.set_property(&["source", "address"], format!("{source}:5555"));
        let strings: Vec<(String, String)> = owned
            .iter()
            .map(|(n, v)| {
                (
                    String::from_utf8(n.clone()).unwrap(),
                    String::from_utf8(v.clone()).unwrap(),
                )
            })
            .collect();
        let refs: Vec<(&str, &str)> = strings
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        stream.request_headers_with(&refs, method != "POST");
        let after = stream.request_header_map();
        let routing = |name: &str| plan.is_spoofable(name.as_bytes());
        let written_by_module: Vec<(String, String)> = after
            .into_iter()
            .filter(|(n, _)| routing(n))
            .map(|(n, v)| (n, String::from_utf8(v).unwrap()))
            .collect();
        let mut module = written_by_module;
        let mut ours: Vec<(String, String)> = written
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        module.sort();
        ours.sort();
        assert_eq!(
            ours, module,
            "request {i}: {h} {method} {path} {headers:?} {cookies:?} from {source} at {at_s}"
        );
    }
    assert!(matched > 1000, "most requests match a route: {matched}");
}

/// What `diff` says for OLD → NEW at `at_ms`, and what counting 100,000 seeded keys through the
/// engine finds: (moves by (from, to), moved back, reassigned by experiment).
type Shares = (Vec<((String, String), f64)>, f64, Vec<(String, f64)>);

fn shares_by_diff(old: &Value, new: &Value, at_ms: i64) -> Shares {
    let (old, new) = (plan_of(old), plan_of(new));
    let routes = switchyard::cli::diff::diff(&old, &new, at_ms);
    let route = &routes[0];
    let moves = route
        .moves
        .iter()
        .map(|(f, t, s)| ((f.as_str().to_string(), t.as_str().to_string()), *s))
        .collect();
    let experiments = route
        .experiments
        .iter()
        .map(|(n, _, s)| (n.clone(), *s))
        .collect();
    (moves, route.moved_back, experiments)
}

fn plan_of(config: &Value) -> switchyard::plan::Plan {
    switchyard::config::load(config.to_string().as_bytes()).unwrap()
}

fn shares_by_counting(old: &Value, new: &Value, at_ms: i64, n: usize) -> Shares {
    let (old, new) = (plan_of(old), plan_of(new));
    let mut moves: std::collections::BTreeMap<(String, String), usize> = Default::default();
    let mut back = 0;
    let mut reassigned: std::collections::BTreeMap<String, usize> = Default::default();
    let mut rng = Seeded(99);
    for _ in 0..n {
        let key = format!("uid={:016x}", rng.next());
        let owned = explain::request_pairs("shop.example.com", "/", "GET", &[], &[key]);
        let pairs: Vec<(&[u8], &[u8])> = owned
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect();
        let decide = |plan| {
            let mut env = explain::Given::new(at_ms, None, Some(0));
            explain::explain(plan, &pairs, &mut env).0.unwrap()
        };
        let (a, b) = (decide(&old), decide(&new));
        if a.target != b.target {
            *moves
                .entry((a.target.as_str().to_string(), b.target.as_str().to_string()))
                .or_default() += 1;
        }
        if a.target.as_str() == "canary" && b.target.as_str() != "canary" {
            back += 1;
        }
        for (e, v) in a.cohorts() {
            if let Some((_, w)) = b.cohorts().find(|(f, _)| f.name == e.name) {
                let entry = reassigned.entry(e.name.to_string()).or_default();
                *entry += usize::from(w.name != v.name);
            }
        }
    }
    let share = |count: usize| count as f64 / n as f64;
    (
        moves.into_iter().map(|(k, c)| (k, share(c))).collect(),
        share(back),
        reassigned.into_iter().map(|(k, c)| (k, share(c))).collect(),
    )
}

/// Within the binomial mean ± 6 standard deviations of `n` draws.
fn close(counted: f64, exact: f64, n: usize, what: &str) {
    let sd = (exact * (1.0 - exact) / n as f64).sqrt();
    assert!(
        (counted - exact).abs() <= 6.0 * sd + 1.0 / n as f64,
        "{what}: counted {counted}, diff says {exact} (sd {sd})"
    );
}

fn assert_agree(old: &Value, new: &Value, at_ms: i64) {
    let n = 100_000;
    let (moves, back, experiments) = shares_by_diff(old, new, at_ms);
    let (counted_moves, counted_back, counted_experiments) = shares_by_counting(old, new, at_ms, n);
    close(counted_back, back, n, "moved back");
    for ((from, to), share) in &moves {
        let counted = counted_moves
            .iter()
            .find(|(k, _)| k.0 == *from && k.1 == *to)
            .map_or(0.0, |(_, s)| *s);
        close(counted, *share, n, &format!("{from} → {to}"));
    }
    for ((from, to), counted) in &counted_moves {
        assert!(
            moves.iter().any(|(k, _)| k.0 == *from && k.1 == *to),
            "counting moves {from} → {to} ({counted}), diff does not"
        );
    }
    for (name, share) in &experiments {
        let counted = counted_experiments
            .iter()
            .find(|(k, _)| k == name)
            .map_or(0.0, |(_, s)| *s);
        close(counted, *share, n, &format!("{name} reassigned"));
    }
}

fn shop(canary: Value, experiments: Value, base: Value) -> Value {
    let mut route = json!({"name": "shop", "experiments": experiments});
    for (k, v) in base.as_object().unwrap() {
        route[k] = v.clone();
    }
    if !canary.is_null() {
        route["canary"] = canary;
    }
    json!({"routes": [route]})
}

fn ranker(weights: [f64; 2], coverage: f64, namespace: Value, seed: &str) -> Value {
    let mut e = json!({"name": "ranker", "key": ["cookie:uid"], "coverage": coverage, "seed": seed,
        "variants": [{"name": "a", "weight": weights[0]}, {"name": "b", "weight": weights[1]}]});
    if !namespace.is_null() {
        e["namespace"] = namespace;
    }
    json!([e])
}

#[test]
fn diff_equals_counting_over_100000_seeded_keys() {
    let stable = json!({"stable": "shop-v1"});
    let sticky = |w: f64, seed: &str| json!({"cluster": "shop-v2", "weight": w, "sticky": ["cookie:uid"], "seed": seed});
    let plain = ranker([0.5, 0.5], 1.0, Value::Null, "r");
    // A weight raised: users move on, none back.
    assert_agree(
        &shop(sticky(10.0, "s"), plain.clone(), stable.clone()),
        &shop(sticky(50.0, "s"), plain.clone(), stable.clone()),
        0,
    );
    // Lowered: users move back (the unsafe case).
    assert_agree(
        &shop(sticky(50.0, "s"), plain.clone(), stable.clone()),
        &shop(sticky(20.0, "s"), plain.clone(), stable.clone()),
        0,
    );
    // Another seed: a new draw of users, independent of the old one.
    assert_agree(
        &shop(sticky(30.0, "s"), plain.clone(), stable.clone()),
        &shop(sticky(30.0, "t"), plain.clone(), stable.clone()),
        0,
    );
    // Experiments reweighted, reshaped by coverage, moved between namespaces, reseeded.
    let ns = |a: f64, b: f64| json!({"id": "ns1", "start": a, "end": b});
    for (old, new) in [
        (plain.clone(), ranker([0.3, 0.7], 1.0, Value::Null, "r")),
        (plain.clone(), ranker([0.5, 0.5], 0.5, Value::Null, "r")),
        (
            ranker([0.5, 0.5], 1.0, ns(0.0, 0.5), "r"),
            ranker([0.5, 0.5], 1.0, ns(0.25, 0.75), "r"),
        ),
        (plain.clone(), ranker([0.5, 0.5], 1.0, Value::Null, "r2")),
    ] {
        assert_agree(
            &shop(Value::Null, old, stable.clone()),
            &shop(Value::Null, new, stable.clone()),
            0,
        );
    }
    // A blue-green flip at its instant, and a ramp read at two instants.
    let bg = json!({"blue_green": {"active": "blue", "blue": "b", "green": "g",
                                     "switch_at": {"active": "green", "at": "2026-12-01T12:00:00Z"}}});
    let noon = 1_764_590_400_000;
    assert_agree(
        &shop(
            sticky(10.0, "s"),
            json!([]),
            json!({"blue_green": {"active": "blue", "blue": "b", "green": "g"}}),
        ),
        &shop(sticky(10.0, "s"), json!([]), bg.clone()),
        noon + 1,
    );
    let ramp = json!({"cluster": "shop-v2", "sticky": ["cookie:uid"], "seed": "s",
        "ramp": {"start_at": "2026-12-01T12:00:00Z", "steps": [{"weight": 5, "hold_s": 60}, {"weight": 40}]}});
    for at in [noon + 30_000, noon + 120_000] {
        assert_agree(
            &shop(sticky(1.0, "s"), json!([]), stable.clone()),
            &shop(ramp.clone(), json!([]), stable.clone()),
            at,
        );
    }
}

#[test]
fn diff_exits_3_on_an_unsafe_change_unless_allowed() {
    let old = scratch(
        "old.json",
        &shop(
            json!({"cluster": "c", "weight": 50, "sticky": ["cookie:uid"]}),
            json!([]),
            json!({"stable": "s"}),
        )
        .to_string(),
    );
    let new = scratch(
        "new.json",
        &shop(
            json!({"cluster": "c", "weight": 10, "sticky": ["cookie:uid"]}),
            json!([]),
            json!({"stable": "s"}),
        )
        .to_string(),
    );
    let forward = switchyard(&["diff", &new, &old, "--json"], None);
    assert_eq!(forward.status.code(), Some(0), "{}", text(&forward.stderr));
    let doc: Value = serde_json::from_slice(&forward.stdout).unwrap();
    assert_eq!(doc["unsafe"], false);
    assert_eq!(
        doc["routes"][0]["moves"],
        json!([{"from": "stable", "to": "canary", "share": 0.4}])
    );
    let back = switchyard(&["diff", &old, &new], None);
    assert_eq!(back.status.code(), Some(3));
    assert!(text(&back.stderr).contains("run again with --allow-unsafe"));
    assert!(
        text(&back.stdout).contains("canary → stable 40.00%"),
        "{}",
        text(&back.stdout)
    );
    assert_eq!(
        switchyard(&["diff", &old, &new, "--allow-unsafe"], None)
            .status
            .code(),
        Some(0)
    );
    let invalid = scratch("bad.json", r#"{"routes": [{"name": "x"}]}"#);
    assert_eq!(
        switchyard(&["diff", &old, &invalid], None).status.code(),
        Some(1)
    );
}

#[test]
fn explain_batch_answers_each_line_as_explain_json_does() {
    let config = "envoy/demo/r1.json";
    let lines = "{\"path\": \"/checkout/cart\", \"cookies\": [\"uid=user-0001\"]}\n\n\
                 {\"path\": \"/web/\", \"headers\": [[\"x-switchyard-target\", \"evil\"]]}\n";
    // A fixed draw: r1's shadow is not keyed.
    let batch = switchyard(
        &["explain", config, "--batch", "--random", "0.5"],
        Some(lines.as_bytes()),
    );
    assert_eq!(batch.status.code(), Some(0), "{}", text(&batch.stderr));
    let answers: Vec<Value> = text(&batch.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let one = |args: &[&str]| -> Value {
        let mut all = vec!["explain", config, "--json", "--random", "0.5"];
        all.extend_from_slice(args);
        serde_json::from_slice(&switchyard(&all, None).stdout).unwrap()
    };
    assert_eq!(
        answers[0],
        one(&["--path", "/checkout/cart", "--cookie", "uid=user-0001"])
    );
    assert_eq!(
        answers[1],
        one(&["--path", "/web/", "--header", "x-switchyard-target:evil"])
    );
    assert_eq!(answers[1]["removed"], json!(["x-switchyard-target"]));
    let broken = switchyard(&["explain", config, "--batch"], Some(b"not json\n"));
    assert_eq!(broken.status.code(), Some(2));
}
