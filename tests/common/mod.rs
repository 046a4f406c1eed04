//! Shared by the contract suites: loading configurations, a scriptable `Env`, an owned view of a
//! decision, and an independent GrowthBook reference (written from the JS SDK's `util.ts`, not
//! from `src/hash.rs`) so that a wrong hash in the crate cannot agree with itself.

#![allow(dead_code, reason = "each suite uses a different part of the helpers")]

use serde_json::Value;
use std::net::IpAddr;
use switchyard::engine::{self, Env};
use switchyard::plan::Plan;
use switchyard::request::Request;

/// The plan of a configuration that must be valid; the problems otherwise.
pub fn load(config: &Value) -> Plan {
    match switchyard::config::load(config.to_string().as_bytes()) {
        Ok(plan) => plan,
        Err(problems) => panic!(
            "configuration refused:\n{}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// Every problem of a configuration that must be invalid, as `path: message` lines.
pub fn problems_of_bytes(bytes: &[u8]) -> Vec<String> {
    match switchyard::config::load(bytes) {
        Ok(plan) => panic!("configuration accepted: {}", plan.summary()),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

pub fn problems(config: &Value) -> Vec<String> {
    problems_of_bytes(config.to_string().as_bytes())
}

/// `{"routes": [route]}`.
pub fn one_route(route: Value) -> Value {
    serde_json::json!({ "routes": [route] })
}

/// The proxy as the engine sees it: a clock, a client address and a seeded SplitMix64 generator
/// (its own, not the crate's), counting how often each is asked.
#[derive(Debug, Clone)]
pub struct TestEnv {
    pub now_ms: i64,
    pub source_ip: Option<IpAddr>,
    state: u64,
    pub random_calls: u64,
}

impl TestEnv {
    pub fn seeded(seed: u64) -> TestEnv {
        TestEnv {
            now_ms: 0,
            source_ip: None,
            state: seed,
            random_calls: 0,
        }
    }

    pub fn at(now_ms: i64) -> TestEnv {
        TestEnv {
            now_ms,
            ..TestEnv::seeded(1)
        }
    }

    pub fn from_ip(ip: &str) -> TestEnv {
        TestEnv {
            source_ip: Some(ip.parse().expect("a test IP address")),
            ..TestEnv::seeded(1)
        }
    }
}

impl Env for TestEnv {
    fn now_ms(&mut self) -> i64 {
        self.now_ms
    }

    fn source_ip(&mut self) -> Option<IpAddr> {
        self.source_ip
    }

    fn random(&mut self) -> u64 {
        self.random_calls += 1;
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A decision with everything owned, so that tests compare plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub route: String,
    pub target: &'static str,
    pub cluster: String,
    pub shadow: Option<String>,
    pub reason: &'static str,
    /// (experiment, variant) in the order the decision reports them.
    pub cohorts: Vec<(String, String)>,
}

impl Outcome {
    pub fn cohort(&self, experiment: &str) -> Option<&str> {
        self.cohorts
            .iter()
            .find(|(e, _)| e == experiment)
            .map(|(_, v)| v.as_str())
    }
}

/// Decide for a request given as header pairs (pseudo-headers included).
pub fn decide(plan: &Plan, headers: &[(&str, &str)], env: &mut TestEnv) -> Option<Outcome> {
    let pairs: Vec<(&[u8], &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    decide_bytes(plan, &pairs, env)
}

pub fn decide_bytes(plan: &Plan, pairs: &[(&[u8], &[u8])], env: &mut TestEnv) -> Option<Outcome> {
    let request = Request::new(pairs);
    engine::decide(plan, &request, env).map(|d| Outcome {
        route: d.route.name.to_string(),
        target: d.target.as_str(),
        cluster: d.cluster.to_string(),
        shadow: d.shadow.map(str::to_string),
        reason: d.reason.as_str(),
        cohorts: d
            .cohorts()
            .map(|(e, v)| (e.name.to_string(), v.name.to_string()))
            .collect(),
    })
}

/// A GET for `host` + `path` with extra headers.
pub fn get<'a>(
    host: &'a str,
    path: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![(":authority", host), (":path", path), (":method", "GET")];
    headers.extend_from_slice(extra);
    headers
}

pub mod growthbook;
pub mod stats;

/// Keys for the sweeps: ASCII ids plus non-ASCII ones (BMP, astral, combining) so that hashing
/// bytes instead of UTF-16 code units shows.
pub fn keys(n: u32) -> Vec<String> {
    (0..n)
        .map(|i| match i % 5 {
            0 => format!("user-{i}"),
            1 => format!("ユーザー{i}"),
            2 => format!("naïve-café-{i}"),
            3 => format!("😀{i}𝒳"),
            _ => format!("e\u{301}{i}"),
        })
        .collect()
}
