//! Canary through the compiled module: the per-request split, sticky keys across workers and
//! proxies, weight ramps pushed as new configurations, force overrides and who may use them, and
//! the headers a matched request leaves the filter with.
//!
//! Expected sides of sticky keys come from `crate::growthbook`, an independent
//! transcription of GrowthBook's arithmetic, never from `src/hash.rs`. Statistical tests are
//! seeded (`Host::with_seed`) and bounded by the binomial mean ± 6 standard deviations of their
//! sample size (`assert_within`), stated next to each.

use crate::growthbook as gb;
use crate::host::{Action, Host, SWITCHYARD, Vm};
pub(crate) use crate::stats::assert_within;
use serde_json::{Value, json};

// ----------------------------------------------------------------------------------------------
// Helpers shared by the canary, experiments and shadow suites.

/// The request headers as the filter forwards them upstream.
pub(crate) struct Upstream(pub(crate) Vec<(String, Vec<u8>)>);

impl Upstream {
    /// The first value of `name`, as text.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| std::str::from_utf8(v).expect("a header the filter wrote is UTF-8"))
    }

    pub(crate) fn count(&self, name: &str) -> usize {
        self.0.iter().filter(|(n, _)| n == name).count()
    }

    pub(crate) fn target(&self) -> &str {
        self.get("x-switchyard-target")
            .expect("a matched request carries the target header")
    }

    pub(crate) fn cluster(&self) -> &str {
        self.get("x-switchyard-cluster")
            .expect("a matched request carries the cluster header")
    }

    pub(crate) fn in_canary(&self) -> bool {
        match self.target() {
            "canary" => true,
            "stable" => false,
            other => panic!("unexpected target {other:?}"),
        }
    }
}

/// One request through a fresh stream of `vm`, from client address `source` if given; the request
/// headers as the filter leaves them.
pub(crate) fn send_from(vm: &mut Vm, headers: &[(&str, &str)], source: Option<&str>) -> Upstream {
    let mut stream = vm.stream();
    if let Some(source) = source {
        stream.set_property(&["source", "address"], source);
    }
    assert_eq!(stream.request_headers(headers), Action::Continue);
    let upstream = Upstream(stream.request_header_map());
    stream.finish();
    upstream
}

pub(crate) fn send(vm: &mut Vm, headers: &[(&str, &str)]) -> Upstream {
    send_from(vm, headers, None)
}

/// A request line for `shop.example.com` plus `extra` headers.
pub(crate) fn request<'a>(
    method: &'a str,
    path: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![
        (":method", method),
        (":scheme", "https"),
        (":authority", "shop.example.com"),
        (":path", path),
        ("user-agent", "behaviour-tests"),
    ];
    headers.extend_from_slice(extra);
    headers
}

pub(crate) fn get<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    request("GET", "/", extra)
}

/// A VM of `host` with `config` applied.
pub(crate) fn configured(host: &Host, config: &Value) -> Vm {
    let mut vm = host.vm();
    assert!(
        vm.configure(config.to_string()),
        "configuration refused: {:?}",
        vm.logs()
    );
    vm
}

/// Sweep keys: ASCII ids and non-ASCII ones (Latin accents, combining marks, CJK, emoji outside
/// the BMP) so that hashing bytes instead of UTF-16 code units shows.
pub(crate) fn keys(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 6 {
            0 => format!("user-{i}"),
            1 => format!("café-é-{i}"),
            2 => format!("日本-ユーザー{i}"),
            3 => format!("😀{i}🚀"),
            4 => format!("e\u{301}{i}"),
            _ => format!("{i:08x}-𝒳"),
        })
        .collect()
}

// ----------------------------------------------------------------------------------------------
// Configurations

const STABLE: &str = "checkout-v1";
const CANARY: &str = "checkout-v2";
const TOKEN: &str = "qa-team-token-0123456789abcdef";

/// One route `checkout` with `canary`, overrides from `overrides`.
fn checkout(canary: Value, overrides: Value) -> Value {
    json!({
        "revision": "r1",
        "overrides": overrides,
        "routes": [{ "name": "checkout", "stable": STABLE, "canary": canary }]
    })
}

fn sticky(weight: f64) -> Value {
    checkout(
        json!({ "cluster": CANARY, "weight": weight, "sticky": ["header:x-user"] }),
        json!({}),
    )
}

/// Whether the reference puts `key` in a sticky canary of `weight` percent seeded with `seed`.
fn expected_in_canary(seed: &str, key: &str, weight_basis_points: u32) -> bool {
    gb::basis_points_v2(seed, key) < weight_basis_points
}

// ----------------------------------------------------------------------------------------------
// The split

#[test]
fn without_a_key_each_request_draws_its_side_and_the_share_follows_the_weight() {
    let host = Host::new(&SWITCHYARD).with_seed(20);
    let config = checkout(json!({ "cluster": CANARY, "weight": 20 }), json!({}));
    // 5 workers × 1,000 requests = 5,000 draws of p = 0.2: mean 1,000, sd = √(5000·0.2·0.8) ≈ 28.3,
    // so 1,000 ± 170.
    let mut sequences = Vec::new();
    let mut in_canary = 0;
    for _ in 0..5 {
        let mut vm = configured(&host, &config);
        let sides: Vec<bool> = (0..1_000)
            .map(|_| {
                let upstream = send(&mut vm, &get(&[("x-user", "same-user-every-time")]));
                let side = upstream.in_canary();
                let cluster = if side { CANARY } else { STABLE };
                assert_eq!(upstream.cluster(), cluster);
                side
            })
            .collect();
        in_canary += sides.iter().filter(|&&s| s).count();
        sequences.push(sides);
    }
    assert_within(in_canary, 5_000, 0.2, "requests in the canary at weight 20");
    // Each worker draws its own sequence: two equal sequences of 1,000 draws would mean the
    // workers share a seed (chance of a coincidence: 0.68^1000).
    for (i, a) in sequences.iter().enumerate() {
        for b in &sequences[i + 1..] {
            assert_ne!(a, b, "two workers drew the same sequence of sides");
        }
    }
}

#[test]
fn a_request_without_its_sticky_key_draws_its_side_at_random() {
    let host = Host::new(&SWITCHYARD).with_seed(21);
    let mut vm = configured(&host, &sticky(40.0));
    // 3,000 requests without x-user (or with it empty) at p = 0.4: mean 1,200, sd ≈ 26.8, so
    // 1,200 ± 161.
    let in_canary = (0..3_000)
        .filter(|i| {
            let extra = if i % 2 == 0 {
                vec![]
            } else {
                vec![("x-user", "")]
            };
            send(&mut vm, &get(&extra)).in_canary()
        })
        .count();
    assert_within(
        in_canary,
        3_000,
        0.4,
        "keyless requests in the canary at weight 40",
    );
}

#[test]
fn weights_of_0_and_100_send_nothing_and_everything_to_the_canary() {
    let host = Host::new(&SWITCHYARD).with_seed(1);
    for (weight, expected) in [(0.0, "stable"), (100.0, "canary")] {
        let mut vm = configured(
            &host,
            &checkout(json!({ "cluster": CANARY, "weight": weight }), json!({})),
        );
        for _ in 0..500 {
            assert_eq!(
                send(&mut vm, &get(&[])).target(),
                expected,
                "weight {weight}"
            );
        }
    }
}

#[test]
fn a_sticky_key_gets_the_same_side_on_every_worker_of_every_proxy() {
    // 500 users × 3 workers × 2 proxies (hosts with different entropy).
    let users = keys(500);
    let weight = 30;
    let mut sides_by_proxy = Vec::new();
    for seed in [101, 202] {
        let host = Host::new(&SWITCHYARD).with_seed(seed);
        let mut vms: Vec<Vm> = (0..3)
            .map(|_| configured(&host, &sticky(f64::from(weight))))
            .collect();
        let sides: Vec<bool> = users
            .iter()
            .map(|user| {
                let seen: Vec<bool> = vms
                    .iter_mut()
                    .map(|vm| send(vm, &get(&[("x-user", user)])).in_canary())
                    .collect();
                assert!(
                    seen.iter().all(|&s| s == seen[0]),
                    "user {user:?} got different sides on the workers of one proxy: {seen:?}"
                );
                assert_eq!(
                    seen[0],
                    expected_in_canary("checkout", user, weight * 100),
                    "user {user:?}: side differs from bucket(v2, \"checkout\", key) < 0.30"
                );
                seen[0]
            })
            .collect();
        sides_by_proxy.push(sides);
    }
    assert_eq!(
        sides_by_proxy[0], sides_by_proxy[1],
        "the two proxies disagree"
    );
    // 500 users at p = 0.3: mean 150, sd = √(500·0.3·0.7) ≈ 10.2, so 150 ± 61.5.
    let in_canary = sides_by_proxy[0].iter().filter(|&&s| s).count();
    assert_within(
        in_canary,
        500,
        0.3,
        "sticky users in the canary at weight 30",
    );
}

#[test]
fn a_sticky_key_in_a_cookie_or_query_parameter_gets_the_side_of_its_value() {
    let host = Host::new(&SWITCHYARD).with_seed(3);
    let mut vm = configured(
        &host,
        &checkout(
            json!({ "cluster": CANARY, "weight": 50,
                    "sticky": ["header:x-user", "cookie:session", "query:uid"] }),
            json!({}),
        ),
    );
    for i in 0..300 {
        let user = format!("u{i}");
        let expected = expected_in_canary("checkout", &user, 5_000);
        let cookie = format!("theme=dark; session={user}");
        let path = format!("/cart?uid={user}&x=1");
        let by_header = send(&mut vm, &get(&[("x-user", &user)])).in_canary();
        let by_cookie = send(&mut vm, &get(&[("x-user", ""), ("cookie", &cookie)])).in_canary();
        let by_query = send(&mut vm, &request("GET", &path, &[])).in_canary();
        assert_eq!(
            [by_header, by_cookie, by_query],
            [expected; 3],
            "user {user:?}"
        );
    }
}

#[test]
fn a_configured_seed_and_weights_in_hundredths_decide_sticky_sides_exactly() {
    // Keys whose reference bucket is exactly 1234 basis points: in the canary at 12.35, not at
    // 12.34 (`bucket < weight`).
    let seed = "checkout-2026";
    let boundary: Vec<String> = (0..200_000)
        .map(|i| format!("edge-{i}"))
        .filter(|k| gb::basis_points_v2(seed, k) == 1234)
        .take(5)
        .collect();
    assert!(
        boundary.len() >= 3,
        "the reference found too few boundary keys"
    );
    let host = Host::new(&SWITCHYARD).with_seed(4);
    let users = keys(1_000);
    for (weight, basis_points) in [(12.34, 1234), (12.35, 1235)] {
        let mut vm = configured(
            &host,
            &checkout(
                json!({ "cluster": CANARY, "weight": weight, "seed": seed,
                        "sticky": ["header:x-user"] }),
                json!({}),
            ),
        );
        for user in users.iter().chain(&boundary) {
            assert_eq!(
                send(&mut vm, &get(&[("x-user", user)])).in_canary(),
                expected_in_canary(seed, user, basis_points),
                "user {user:?} at weight {weight} with seed {seed:?}"
            );
        }
    }
    // The seed matters: with the route name as seed some of these users change side.
    let differ = users
        .iter()
        .filter(|u| expected_in_canary(seed, u, 1234) != expected_in_canary("checkout", u, 1234))
        .count();
    assert!(differ > 50, "the seeds barely differ ({differ} users)");
}

#[test]
fn ramping_1_5_25_100_never_moves_a_user_back_to_stable_and_each_step_has_its_share() {
    // One proxy with two workers; each step is a configuration push to both.
    let host = Host::new(&SWITCHYARD).with_seed(5);
    let users = keys(2_000);
    let mut vms = [host.vm(), host.vm()];
    let mut previous = vec![false; users.len()];
    for (step, weight) in [1u32, 5, 25, 100].into_iter().enumerate() {
        let mut config = sticky(f64::from(weight));
        config["revision"] = json!(format!("ramp-{step}"));
        for vm in &mut vms {
            assert!(vm.configure(config.to_string()), "push of weight {weight}");
        }
        let mut in_canary = 0;
        for (i, user) in users.iter().enumerate() {
            let side = send(&mut vms[i % 2], &get(&[("x-user", user)])).in_canary();
            assert!(
                side || !previous[i],
                "user {user:?} moved back from canary to stable when the weight rose to {weight}"
            );
            assert_eq!(
                side,
                expected_in_canary("checkout", user, weight * 100),
                "user {user:?} at weight {weight}"
            );
            previous[i] = side;
            in_canary += usize::from(side);
        }
        if weight == 25 {
            // A rejected push mid-ramp changes nothing: weight 25 keeps serving.
            let mut bad = sticky(25.0);
            bad["routes"][0]["canary"]["weight"] = json!(150);
            for vm in &mut vms {
                assert!(!vm.configure(bad.to_string()), "weight 150 is refused");
            }
            for (i, user) in users.iter().enumerate().step_by(7) {
                let side = send(&mut vms[i % 2], &get(&[("x-user", user)])).in_canary();
                assert_eq!(side, previous[i], "user {user:?} after a rejected push");
            }
        }
        // 2,000 users: at 1 %: 20 ± 26.7; at 5 %: 100 ± 58.5; at 25 %: 500 ± 116.2; at 100 %
        // the bound is exact (sd 0).
        assert_within(
            in_canary,
            users.len(),
            f64::from(weight) / 100.0,
            &format!("users in the canary at weight {weight}"),
        );
    }
}

// ----------------------------------------------------------------------------------------------
// Force overrides

/// The target of a request carrying `extra` (from `source`) under a forcible canary of `weight`.
fn forced_target(
    host: &Host,
    overrides: &Value,
    weight: f64,
    extra: &[(&str, &str)],
    source: Option<&str>,
) -> String {
    let config = checkout(
        json!({ "cluster": CANARY, "weight": weight,
                "force": { "header": "x-canary", "cookie": "canary" } }),
        overrides.clone(),
    );
    let mut vm = configured(host, &config);
    let upstream = send_from(&mut vm, &get(extra), source);
    let cluster = if upstream.in_canary() { CANARY } else { STABLE };
    assert_eq!(
        upstream.cluster(),
        cluster,
        "the cluster follows the target"
    );
    upstream.target().to_string()
}

/// Asserts that `always` and `never`, by header and by cookie, are honoured (`honoured`) or
/// ignored for requests with `extra` headers from `source`.
fn assert_force(overrides: Value, extra: &[(&str, &str)], source: Option<&str>, honoured: bool) {
    let host = Host::new(&SWITCHYARD).with_seed(6);
    let with = |force: (&'static str, &'static str)| {
        let mut headers = extra.to_vec();
        headers.push(force);
        headers
    };
    for (force, weight, if_honoured, if_ignored) in [
        (("x-canary", "always"), 0.0, "canary", "stable"),
        (("x-canary", "never"), 100.0, "stable", "canary"),
        (("cookie", "canary=always"), 0.0, "canary", "stable"),
        (("cookie", "a=1; canary=never"), 100.0, "stable", "canary"),
    ] {
        let expected = if honoured { if_honoured } else { if_ignored };
        assert_eq!(
            forced_target(&host, &overrides, weight, &with(force), source),
            expected,
            "force {force:?} at weight {weight}, overrides {overrides}, extra {extra:?}, source {source:?}"
        );
    }
}

#[test]
fn force_is_ignored_with_the_default_overrides() {
    assert_force(json!({}), &[], None, false);
    assert_force(json!({}), &[("x-switchyard-token", TOKEN)], None, false);
    assert_force(json!({}), &[], Some("10.1.2.3:5555"), false);
}

#[test]
fn force_is_honoured_from_anyone_when_overrides_come_from_anyone() {
    let anyone = json!({ "from": "anyone" });
    assert_force(anyone.clone(), &[], None, true);
    assert_force(anyone.clone(), &[], Some("203.0.113.9:443"), true);

    // The header wins over the cookie; a value other than always/never forces nothing.
    let host = Host::new(&SWITCHYARD).with_seed(7);
    let both = [("x-canary", "never"), ("cookie", "canary=always")];
    assert_eq!(forced_target(&host, &anyone, 0.0, &both, None), "stable");
    let both = [("x-canary", "always"), ("cookie", "canary=never")];
    assert_eq!(forced_target(&host, &anyone, 100.0, &both, None), "canary");
    for value in ["Always", "yes", "1", ""] {
        assert_eq!(
            forced_target(&host, &anyone, 0.0, &[("x-canary", value)], None),
            "stable",
            "{value:?}"
        );
    }
}

#[test]
fn force_is_honoured_only_with_a_valid_token() {
    let tokens = json!({ "tokens": ["another-token-abcdefghijkl", TOKEN] });
    assert_force(tokens.clone(), &[("x-switchyard-token", TOKEN)], None, true);
    for wrong in [
        "qa-team-token-0123456789abcdeF",
        "qa-team-token-0123456789abcde",
        "",
    ] {
        assert_force(
            tokens.clone(),
            &[("x-switchyard-token", wrong)],
            None,
            false,
        );
    }
    assert_force(tokens.clone(), &[], None, false);
    // The token in another header than the configured one does not count.
    let custom = json!({ "token_header": "x-qa-token", "tokens": [TOKEN] });
    assert_force(custom.clone(), &[("x-qa-token", TOKEN)], None, true);
    assert_force(custom, &[("x-switchyard-token", TOKEN)], None, false);
}

#[test]
fn force_is_honoured_only_from_a_listed_source_range() {
    let cidrs = json!({ "source_cidrs": ["10.0.0.0/8", "2001:db8::/32"] });
    for inside in [
        "10.1.2.3:5555",
        "10.255.255.255:1",
        "[2001:db8::1]:443",
        "[::ffff:10.1.2.3]:5555",
    ] {
        assert_force(cidrs.clone(), &[], Some(inside), true);
    }
    for outside in [
        "11.1.2.3:5555",
        "192.168.1.1:80",
        "[2001:db9::1]:443",
        "[::ffff:11.1.2.3]:5555",
    ] {
        assert_force(cidrs.clone(), &[], Some(outside), false);
    }
    // No client address at all is not trusted.
    assert_force(cidrs, &[], None, false);
}

#[test]
fn the_token_header_never_reaches_upstream_valid_or_not() {
    let host = Host::new(&SWITCHYARD).with_seed(8);
    for (overrides, header) in [
        (json!({ "tokens": [TOKEN] }), "x-switchyard-token"),
        (json!({}), "x-switchyard-token"),
        (
            json!({ "token_header": "x-qa-token", "tokens": [TOKEN] }),
            "x-qa-token",
        ),
    ] {
        let config = checkout(
            json!({ "cluster": CANARY, "weight": 0, "force": { "header": "x-canary" } }),
            overrides.clone(),
        );
        let mut vm = configured(&host, &config);
        for token in [TOKEN, "not-a-valid-token-at-all", ""] {
            for extra in [
                vec![(header, token)],
                vec![(header, token), ("x-canary", "always")],
                vec![(header, token), (header, "second-copy-of-the-token")],
            ] {
                let upstream = send(&mut vm, &get(&extra));
                assert_eq!(
                    upstream.count(header),
                    0,
                    "{header} forwarded with {overrides} and {extra:?}"
                );
            }
        }
        // Unmatched requests lose it too.
        let unmatched = json!({ "overrides": overrides, "routes": [
            { "name": "other", "match": { "hosts": ["other.example.com"] }, "stable": STABLE }
        ] });
        let mut vm = configured(&host, &unmatched);
        let upstream = send(&mut vm, &get(&[(header, TOKEN)]));
        assert_eq!(upstream.count(header), 0, "{header} forwarded unmatched");
        assert_eq!(upstream.get("x-switchyard-cluster"), None);
    }
}

// ----------------------------------------------------------------------------------------------
// What a matched request leaves with

#[test]
fn a_canary_request_gains_exactly_the_cluster_and_target_headers() {
    let host = Host::new(&SWITCHYARD).with_seed(9);
    let config = checkout(
        json!({ "cluster": CANARY, "weight": 50, "sticky": ["header:x-user"],
                "force": { "header": "x-canary" } }),
        json!({ "tokens": [TOKEN] }),
    );
    let mut vm = configured(&host, &config);
    let mut seen = [false; 2];
    for i in 0..200 {
        let user = format!("user-{i}");
        let mut extra = vec![
            ("x-user", user.as_str()),
            ("accept", "text/html"),
            ("cookie", "session=abc"),
        ];
        if i % 3 == 0 {
            extra.push(("x-canary", "always"));
        }
        let sent = get(&extra);
        let upstream = send(&mut vm, &sent);
        // Without a token the force header is ignored (and forwarded as any other header).
        let expected_side = expected_in_canary("checkout", &user, 5_000);
        let (target, cluster) = if expected_side {
            ("canary", CANARY)
        } else {
            ("stable", STABLE)
        };
        seen[usize::from(expected_side)] = true;
        let mut expected: Vec<(String, Vec<u8>)> = sent
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect();
        expected.push(("x-switchyard-cluster".into(), cluster.into()));
        expected.push(("x-switchyard-target".into(), target.into()));
        assert_eq!(
            upstream.0, expected,
            "user {user:?}: the filter must add exactly the cluster and target headers"
        );
    }
    assert_eq!(seen, [true, true], "both sides were exercised");

    // With a valid token the force works and only the token header goes.
    let sent = get(&[
        ("x-user", "user-1"),
        ("x-switchyard-token", TOKEN),
        ("x-canary", "always"),
    ]);
    let upstream = send(&mut vm, &sent);
    let mut expected: Vec<(String, Vec<u8>)> = sent
        .iter()
        .filter(|(n, _)| *n != "x-switchyard-token")
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect();
    expected.push(("x-switchyard-cluster".into(), CANARY.into()));
    expected.push(("x-switchyard-target".into(), "canary".into()));
    assert_eq!(upstream.0, expected);
}
