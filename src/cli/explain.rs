//! `switchyard explain CONFIG [request]`: the headers the module would write on one request, and
//! why, from the engine the module runs (`Decision::write_headers` is the filter's own list).

use super::USAGE;
use crate::engine::{self, Decision, Env};
use crate::plan::Plan;
use crate::random::Rng;
use crate::request::Request;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "CONFIG")]
    config: PathBuf,
    /// `:authority`, without or with a port.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// The path, with its query if any.
    #[arg(long, default_value = "/")]
    path: String,
    #[arg(long, default_value = "GET")]
    method: String,
    /// A request header, `NAME:VALUE` (repeatable).
    #[arg(long = "header", value_name = "NAME:VALUE")]
    headers: Vec<String>,
    /// A cookie, `NAME=VALUE` (repeatable; joined into one `cookie` header).
    #[arg(long = "cookie", value_name = "NAME=VALUE")]
    cookies: Vec<String>,
    /// The client address (`source.address`), for `overrides.from: trusted`.
    #[arg(long, value_name = "IP")]
    source: Option<String>,
    /// The proxy clock, RFC 3339 (default: now): ramps and `switch_at` are evaluated at it.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// The per-request draw, in [0, 1) (default: drawn): decides unkeyed canaries and shadows.
    #[arg(long, value_name = "U")]
    random: Option<f64>,
    /// One JSON document on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// Many requests: one JSON object per line on stdin (`host`, `path`, `method`, `headers`
    /// as [[name, value]], `cookies` as ["name=value"], `source`, `at`, `random`; each optional,
    /// the flags' values by default), one `--json` answer per line on stdout.
    #[arg(long)]
    batch: bool,
}

/// What `explain` knows of the proxy: the instant, the client and the draw it was given.
pub struct Given {
    pub now_ms: i64,
    pub source: Option<IpAddr>,
    /// The draw in basis points as the engine takes it; None: drawn.
    pub random: Option<u64>,
    rng: Rng,
}

impl Given {
    pub fn new(now_ms: i64, source: Option<IpAddr>, random: Option<u64>) -> Given {
        Given {
            now_ms,
            source,
            random,
            rng: Rng::from_entropy(now_ms.unsigned_abs()),
        }
    }
}

impl Env for Given {
    fn now_ms(&mut self) -> i64 {
        self.now_ms
    }

    fn source_ip(&mut self) -> Option<IpAddr> {
        self.source
    }

    fn random(&mut self) -> u64 {
        self.random.unwrap_or_else(|| self.rng.next_u64())
    }
}

/// The request flags as the module's request view sees them: (name, value) pairs in order.
pub fn request_pairs(
    host: &str,
    path: &str,
    method: &str,
    headers: &[(String, String)],
    cookies: &[String],
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut pairs = vec![
        (b":authority".to_vec(), host.as_bytes().to_vec()),
        (b":path".to_vec(), path.as_bytes().to_vec()),
        (b":method".to_vec(), method.as_bytes().to_vec()),
        (b":scheme".to_vec(), b"http".to_vec()),
    ];
    for (name, value) in headers {
        pairs.push((
            name.to_ascii_lowercase().into_bytes(),
            value.as_bytes().to_vec(),
        ));
    }
    if !cookies.is_empty() {
        pairs.push((b"cookie".to_vec(), cookies.join("; ").into_bytes()));
    }
    pairs
}

/// The headers the module writes on this request (none when no route matches), and the client's
/// headers it removes, from the same code the filter runs.
pub fn explain<'p>(
    plan: &'p Plan,
    pairs: &[(&[u8], &[u8])],
    env: &mut impl Env,
) -> (Option<Decision<'p>>, Vec<(&'p str, &'p str)>, Vec<String>) {
    let request = Request::new(pairs);
    let decision = engine::decide(plan, &request, env);
    let mut written = Vec::new();
    if let Some(decision) = &decision {
        decision.write_headers(&plan.headers, |name, value| written.push((name, value)));
    }
    let mut removed: Vec<String> = Vec::new();
    plan.each_spoofed(pairs, |name| {
        removed.push(String::from_utf8_lossy(name).to_ascii_lowercase());
    });
    (decision, written, removed)
}

/// A draw `u` in [0, 1) as the engine takes it: basis points (it reads a draw modulo 10,000).
fn draw(u: f64) -> Result<u64, String> {
    if (0.0..1.0).contains(&u) {
        Ok((u * 10_000.0).floor() as u64)
    } else {
        Err(format!("{u}: give a number in [0, 1)"))
    }
}

fn usage(message: String) -> u8 {
    eprintln!("switchyard explain: {message}");
    USAGE
}

pub fn run(args: &Args) -> u8 {
    let mut headers = Vec::new();
    for header in &args.headers {
        let Some((name, value)) = header.split_once(':') else {
            return usage(format!(
                "--header {header:?}: give NAME:VALUE, e.g. x-user:alice"
            ));
        };
        headers.push((name.trim().to_string(), value.trim_start().to_string()));
    }
    if let Some(cookie) = args.cookies.iter().find(|c| !c.contains('=')) {
        return usage(format!(
            "--cookie {cookie:?}: give NAME=VALUE, e.g. uid=alice"
        ));
    }
    let now_ms = match super::instant(args.at.as_deref()) {
        Ok(ms) => ms,
        Err(message) => return usage(message),
    };
    let source = match &args.source {
        Some(ip) => match ip.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => return usage(format!("--source {ip:?}: give an IP address")),
        },
        None => None,
    };
    let random = match args.random.map(draw).transpose() {
        Ok(random) => random,
        Err(message) => return usage(format!("--random {message}")),
    };
    let plan = match super::load(&args.config) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    if args.batch {
        return batch(&plan, args, now_ms, source, random);
    }
    let mut env = Given::new(now_ms, source, random);
    let owned = request_pairs(
        &args.host,
        &args.path,
        &args.method,
        &headers,
        &args.cookies,
    );
    let pairs: Vec<(&[u8], &[u8])> = owned
        .iter()
        .map(|(n, v)| (n.as_slice(), v.as_slice()))
        .collect();
    let (decision, written, removed) = explain(&plan, &pairs, &mut env);
    if args.json {
        println!("{}", json(decision.as_ref(), &written, &removed));
    } else {
        print!("{}", text(&plan, decision.as_ref(), &written, &removed));
    }
    0
}

/// `--batch`: a request per stdin line, an answer per stdout line.
fn batch(plan: &Plan, args: &Args, now_ms: i64, source: Option<IpAddr>, random: Option<u64>) -> u8 {
    use std::io::{BufRead, Write};
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let Ok(line) = line else {
            return usage(format!("--batch: cannot read line {}", n + 1));
        };
        if line.trim().is_empty() {
            continue;
        }
        let Ok(request) = serde_json::from_str::<serde_json::Value>(&line) else {
            return usage(format!("--batch: line {} is not a JSON object", n + 1));
        };
        let text = |key: &str, default: &str| {
            request
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or(default)
                .to_string()
        };
        let headers: Vec<(String, String)> = request
            .get("headers")
            .and_then(|v| v.as_array())
            .map_or_else(Vec::new, |items| {
                items
                    .iter()
                    .filter_map(|pair| {
                        let pair = pair.as_array()?;
                        let name = pair.first()?.as_str()?.to_string();
                        Some((name, pair.get(1)?.as_str()?.to_string()))
                    })
                    .collect()
            });
        let cookies: Vec<String> = request
            .get("cookies")
            .and_then(|v| v.as_array())
            .map_or_else(
                || args.cookies.clone(),
                |items| {
                    items
                        .iter()
                        .filter_map(|c| Some(c.as_str()?.to_string()))
                        .collect()
                },
            );
        let at = match request.get("at").and_then(|v| v.as_str()) {
            Some(at) => match super::instant(Some(at)) {
                Ok(ms) => ms,
                Err(message) => return usage(format!("--batch line {}: {message}", n + 1)),
            },
            None => now_ms,
        };
        let random = match request.get("random").and_then(|v| v.as_f64()).map(draw) {
            Some(Ok(drawn)) => Some(drawn),
            Some(Err(message)) => {
                return usage(format!("--batch line {}: random {message}", n + 1));
            }
            None => random,
        };
        let source = request
            .get("source")
            .and_then(|v| v.as_str())
            .and_then(|ip| ip.parse().ok())
            .or(source);
        let mut env = Given::new(at, source, random);
        let owned = request_pairs(
            &text("host", &args.host),
            &text("path", &args.path),
            &text("method", &args.method),
            &headers,
            &cookies,
        );
        let pairs: Vec<(&[u8], &[u8])> = owned
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect();
        let (decision, written, removed) = explain(plan, &pairs, &mut env);
        if writeln!(out, "{}", json(decision.as_ref(), &written, &removed)).is_err() {
            return USAGE;
        }
    }
    0
}

fn json(
    decision: Option<&Decision<'_>>,
    written: &[(&str, &str)],
    removed: &[String],
) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> = written
        .iter()
        .map(|(n, v)| ((*n).to_string(), serde_json::Value::from(*v)))
        .collect();
    match decision {
        None => serde_json::json!({
            "matched": false, "route": null, "cluster": null, "target": null,
            "reason": "unmatched", "shadow": null, "compared": false, "cohorts": {},
            "headers": {}, "removed": removed
        }),
        Some(d) => {
            let cohorts: serde_json::Map<String, serde_json::Value> = d
                .cohorts()
                .map(|(e, v)| (e.name.to_string(), serde_json::Value::from(&*v.name)))
                .collect();
            serde_json::json!({
                "matched": true, "route": &*d.route.name, "cluster": d.cluster,
                "target": d.target.as_str(), "reason": d.reason.as_str(), "shadow": d.shadow,
                "compared": d.compared(), "cohorts": cohorts, "headers": headers,
                "removed": removed
            })
        }
    }
}

fn text(
    plan: &Plan,
    decision: Option<&Decision<'_>>,
    written: &[(&str, &str)],
    removed: &[String],
) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: &str| out.push_str(&format!("{key:<9} {value}\n"));
    line("revision", &plan.revision);
    match decision {
        None => line("route", "none matches: the module writes no header"),
        Some(d) => {
            line("route", &d.route.name);
            line(
                "target",
                &format!("{} ({})", d.target.as_str(), why(d.reason)),
            );
            line("cluster", d.cluster);
            let shadow = match d.shadow {
                None => "not sampled".to_string(),
                Some(cluster) if d.compared() => {
                    format!("{cluster}, sent by the filter and its answer compared")
                }
                Some(cluster) => format!("{cluster}, mirrored by Envoy"),
            };
            line("shadow", &shadow);
            let cohorts: Vec<String> = d
                .cohorts()
                .map(|(e, v)| format!("{}={}", e.name, v.name))
                .collect();
            line(
                "cohorts",
                &if cohorts.is_empty() {
                    "-".into()
                } else {
                    cohorts.join(", ")
                },
            );
        }
    }
    for (i, (name, value)) in written.iter().enumerate() {
        line(
            if i == 0 { "writes" } else { "" },
            &format!("{name}: {value}"),
        );
    }
    if !removed.is_empty() {
        line(
            "removes",
            &format!("{} (sent by the client)", removed.join(", ")),
        );
    }
    out
}

fn why(reason: engine::Reason) -> &'static str {
    use engine::Reason::*;
    match reason {
        Base => "the route's base cluster",
        Scheduled => "the colour switch_at made active",
        Preview => "a preview override",
        Forced => "a force override",
        Sticky => "the sticky key's bucket",
        Random => "the per-request draw",
        Variant => "an experiment variant's cluster",
        Guard => "the canary's guard halted it",
    }
}
