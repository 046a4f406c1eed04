//! The decision engine natively, with criterion: a decision per request against route tables of
//! 1 to 10,000 routes, each strategy on its own, and compiling a 10,000-route configuration.
//! Writes `target/bench/engine.md` from criterion's estimates.

#[path = "common/configs.rs"]
mod configs;
#[path = "common/report.rs"]
mod report;

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, SamplingMode};
use switchyard::config;
use switchyard::engine::{self, Env};
use switchyard::plan::Plan;
use switchyard::request::Request;

use configs::{MATCHED_ROUTE, REQUEST, SIZES, STRATEGIES};

const WARM_UP: Duration = Duration::from_millis(500);
const MEASUREMENT: Duration = Duration::from_secs(2);
const SAMPLES: usize = 30;
/// Compiling 10,000 routes takes tens of milliseconds: criterion's fewest samples, each of the
/// same number of iterations (flat sampling), to stay within a few seconds.
const COMPILE_SAMPLES: usize = 10;
const COMPILE_MEASUREMENT: Duration = Duration::from_secs(3);
const COMPILE_ROUTES: usize = 10_000;

/// Criterion's groups, also the directories of its estimates under `target/criterion/`.
const DECIDE: &str = "decide";
const STRATEGY: &str = "strategy";
const COMPILE: &str = "config_load";

/// A proxy with a stopped clock and a fixed sequence of random numbers, so that every run makes
/// the same decisions.
struct FixedEnv {
    state: u64,
}

impl FixedEnv {
    fn new() -> FixedEnv {
        FixedEnv {
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl Env for FixedEnv {
    fn now_ms(&mut self) -> i64 {
        1_780_000_000_000 // 2026-05-28, before the blue-green switch
    }

    fn source_ip(&mut self) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)))
    }

    fn random(&mut self) -> u64 {
        // xorshift64
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }
}

fn load(json: &str) -> Plan {
    config::load(json.as_bytes())
        .unwrap_or_else(|problems| panic!("a bench configuration is invalid: {problems:?}"))
}

/// The request's headers as the engine borrows them.
fn request_headers() -> Vec<(&'static [u8], &'static [u8])> {
    REQUEST
        .iter()
        .map(|(name, value)| (name.as_bytes(), value.as_bytes()))
        .collect()
}

/// Decides once outside the measurement, to check that the request matches the route meant.
fn check_matches(plan: &Plan, request: &Request<'_>, what: &str) {
    let decision = engine::decide(plan, request, &mut FixedEnv::new());
    let route = decision.as_ref().map(|d| &*d.route.name);
    assert_eq!(route, Some(MATCHED_ROUTE), "{what}: the request must match");
}

fn bench_decide(c: &mut Criterion, plan: &Plan, group: &str, id: &str) {
    let headers = request_headers();
    let request = Request::new(&headers);
    check_matches(plan, &request, &format!("{group}/{id}"));
    let mut env = FixedEnv::new();
    let mut group = c.benchmark_group(group);
    group.bench_function(id, |b| {
        b.iter(|| {
            engine::decide(black_box(plan), black_box(&request), &mut env)
                .map(|decision| (decision.route_number, decision.cluster.len()))
        });
    });
    group.finish();
}

fn decision_per_table_size(c: &mut Criterion) {
    for n in SIZES {
        let plan = load(&configs::routes(n));
        assert_eq!(plan.routes.len(), n);
        bench_decide(c, &plan, DECIDE, &n.to_string());
    }
}

fn decision_per_strategy(c: &mut Criterion) {
    for strategy in STRATEGIES {
        let plan = load(&configs::strategy(strategy));
        bench_decide(c, &plan, STRATEGY, strategy);
    }
}

fn config_load(c: &mut Criterion) {
    let json = configs::routes(COMPILE_ROUTES);
    assert_eq!(load(&json).routes.len(), COMPILE_ROUTES);
    let mut group = c.benchmark_group(COMPILE);
    group
        .sample_size(COMPILE_SAMPLES)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(COMPILE_MEASUREMENT);
    group.bench_function(COMPILE_ROUTES.to_string(), |b| {
        b.iter(|| config::load(black_box(json.as_bytes())).map(|plan| plan.routes.len()));
    });
    group.finish();
}

fn main() {
    let started = SystemTime::now();
    let mut criterion = Criterion::default()
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .sample_size(SAMPLES)
        .output_directory(&report::target_dir().join("criterion"))
        .configure_from_args();
    decision_per_table_size(&mut criterion);
    decision_per_strategy(&mut criterion);
    config_load(&mut criterion);
    criterion.final_summary();
    if report::bench_mode() {
        report::write_fragment("engine.md", &markdown(started));
    }
}

/// Criterion's median and its 95% confidence interval, in nanoseconds, for one benchmark, if it
/// ran in this process (an older estimate left by an earlier run does not count).
struct Estimate {
    median: f64,
    low: f64,
    high: f64,
}

fn estimate(group: &str, id: &str, since: SystemTime) -> Option<Estimate> {
    let path = report::target_dir()
        .join("criterion")
        .join(group)
        .join(id)
        .join("new/estimates.json");
    let fresh = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .is_ok_and(|modified| modified >= since);
    if !fresh {
        return None;
    }
    read_median(&path)
}

fn read_median(path: &Path) -> Option<Estimate> {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let median = &json["median"];
    let interval = &median["confidence_interval"];
    Some(Estimate {
        median: median["point_estimate"].as_f64()?,
        low: interval["lower_bound"].as_f64()?,
        high: interval["upper_bound"].as_f64()?,
    })
}

fn cells(estimate: Option<&Estimate>) -> (String, String) {
    match estimate {
        Some(e) => (
            report::duration(e.median),
            format!("{} – {}", report::duration(e.low), report::duration(e.high)),
        ),
        None => ("not run".into(), String::new()),
    }
}

fn markdown(since: SystemTime) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "## The engine, natively\n");
    let _ = writeln!(
        w,
        "`benches/engine.rs` calls `switchyard::engine::decide` on a compiled plan, natively, with \
         criterion: {SAMPLES} samples over {} s after {} s of warm-up, in the bench profile \
         (opt-level 3; the module itself is built for size). Times are criterion's median with its \
         95% confidence interval. The request is a browser's `GET /checkout/cart` for \
         `shop.example.com` with {} headers, among them a `cookie` header of five cookies; the \
         proxy is fixed (a stopped clock, a fixed sequence of random numbers). The route tables \
         (`benches/common/configs.rs`) mix exact hosts, `*.suffix` hosts, path prefixes and exact \
         paths; the request matches only the last route, which has a canary sticky on the `uid` \
         cookie, two experiments and a shadow keyed on it. Measured on {}, commit {}.\n",
        MEASUREMENT.as_secs(),
        WARM_UP.as_secs_f64(),
        REQUEST.len(),
        report::machine(),
        report::revision(),
    );

    let _ = writeln!(w, "### A decision per request, by routes in the table\n");
    let _ = writeln!(w, "| routes | median | 95% interval | vs 1 route |");
    let _ = writeln!(w, "|---:|---:|---:|---:|");
    let one = estimate(DECIDE, "1", since);
    for n in SIZES {
        let e = estimate(DECIDE, &n.to_string(), since);
        let (median, interval) = cells(e.as_ref());
        let ratio = match (&e, &one) {
            (Some(e), Some(one)) => format!("{:.2}×", e.median / one.median),
            _ => String::new(),
        };
        let _ = writeln!(
            w,
            "| {} | {median} | {interval} | {ratio} |",
            report::thousands(n as u64)
        );
    }

    let _ = writeln!(w, "\n### A decision per request, by strategy (one route)\n");
    let _ = writeln!(w, "| strategy | median | 95% interval |");
    let _ = writeln!(w, "|---|---:|---:|");
    for strategy in STRATEGIES {
        let (median, interval) = cells(estimate(STRATEGY, strategy, since).as_ref());
        let what = match strategy {
            "canary_random" => "canary, drawn per request",
            "canary_sticky" => "canary, sticky on a cookie",
            "experiments" => "two experiments on a cookie",
            "shadow" => "shadow, keyed on a cookie",
            "blue_green" => "blue-green, scheduled switch",
            "everything" => "blue-green + sticky canary + two experiments + shadow",
            other => other,
        };
        let _ = writeln!(w, "| {what} | {median} | {interval} |");
    }

    let bytes = configs::routes(COMPILE_ROUTES).len() as u64;
    let (median, interval) = cells(estimate(COMPILE, &COMPILE_ROUTES.to_string(), since).as_ref());
    let _ = writeln!(w, "\n### Compiling a configuration\n");
    let _ = writeln!(
        w,
        "`switchyard::config::load`, from the JSON bytes to the plan, for the largest table above: \
         {COMPILE_SAMPLES} samples of equal iteration counts over {} s.\n",
        COMPILE_MEASUREMENT.as_secs()
    );
    let _ = writeln!(w, "| `config::load` | JSON bytes | median | 95% interval |");
    let _ = writeln!(w, "|---|---:|---:|---:|");
    let _ = writeln!(
        w,
        "| {} routes | {} | {median} | {interval} |",
        report::thousands(COMPILE_ROUTES as u64),
        report::thousands(bytes),
    );
    md
}
