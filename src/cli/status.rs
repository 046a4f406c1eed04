//! `switchyard status --admin URL [--watch]`: what the filter is doing, from Envoy's admin stats
//! (the filter's metrics, `/stats` names with `;label=value` pairs): per route, requests by
//! target and by variant, the canary's weight and step in force, whether its guard halted it,
//! and the shadow comparison's results, with the revision being served.

use super::USAGE;
use super::push::stats;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Envoy's admin address, e.g. http://127.0.0.1:9901.
    #[arg(long, value_name = "URL")]
    admin: String,
    /// Refresh every second until interrupted.
    #[arg(long)]
    watch: bool,
    /// One JSON document on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// One route's figures. Counters are summed over Envoy's workers (and its main thread).
#[derive(Debug, Default, PartialEq)]
pub struct RouteStatus {
    pub requests: BTreeMap<String, u64>,
    pub enrolled: BTreeMap<String, BTreeMap<String, u64>>,
    /// In basis points; ramped or guarded canaries only.
    pub canary_weight: Option<u64>,
    pub canary_step: Option<u64>,
    pub halted: Option<bool>,
    pub compared: BTreeMap<String, u64>,
    pub mismatched_fields: BTreeMap<String, u64>,
}

#[derive(Debug, Default, PartialEq)]
pub struct Status {
    /// The revisions whose `switchyard_revision_info` is 1.
    pub revisions: Vec<String>,
    pub routes: BTreeMap<String, RouteStatus>,
}

/// The status in `/stats` lines (`wasmcustom.<name>;label=value...: value`).
pub fn parse(lines: &[(String, u64)]) -> Status {
    let mut status = Status::default();
    for (name, value) in lines {
        let Some(name) = name.strip_prefix("wasmcustom.") else {
            continue;
        };
        let mut parts = name.split(';');
        let metric = parts.next().unwrap_or("");
        let labels: BTreeMap<&str, &str> = parts.filter_map(|p| p.split_once('=')).collect();
        let label = |key: &str| labels.get(key).map_or(String::new(), |v| (*v).to_string());
        if metric == "switchyard_revision_info" {
            if *value == 1 && !status.revisions.contains(&label("revision")) {
                status.revisions.push(label("revision"));
            }
            continue;
        }
        let Some(route) = labels.get("route") else {
            continue;
        };
        let r = status.routes.entry((*route).to_string()).or_default();
        match metric {
            "switchyard_requests_total" => *r.requests.entry(label("target")).or_default() += value,
            "switchyard_enrolled_total" => {
                let by_variant = r.enrolled.entry(label("experiment")).or_default();
                *by_variant.entry(label("variant")).or_default() += value;
            }
            // Gauges: every worker shows the same figure; the largest stands for them.
            "switchyard_canary_weight" => r.canary_weight = r.canary_weight.max(Some(*value)),
            "switchyard_canary_step" => r.canary_step = r.canary_step.max(Some(*value)),
            "switchyard_canary_halted" => r.halted = Some(r.halted.unwrap_or(false) || *value == 1),
            "switchyard_shadow_compared_total" => {
                *r.compared.entry(label("result")).or_default() += value
            }
            "switchyard_shadow_field_mismatch_total" => {
                *r.mismatched_fields.entry(label("field")).or_default() += value
            }
            _ => {}
        }
    }
    status
}

pub fn run(args: &Args) -> u8 {
    loop {
        let lines = match stats(&args.admin, "wasmcustom.switchyard_") {
            Ok(lines) => lines,
            Err(e) => {
                eprintln!("switchyard status: Envoy's admin at {}: {e}", args.admin);
                return USAGE;
            }
        };
        let status = parse(&lines);
        if args.json {
            println!("{}", json(&status));
        } else {
            if args.watch {
                // Clear the screen and go home, as `watch` does.
                print!("\x1b[2J\x1b[H");
            }
            print!("{}", text(&status));
        }
        if !args.watch {
            return 0;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn json(status: &Status) -> serde_json::Value {
    let routes: Vec<_> = status
        .routes
        .iter()
        .map(|(name, r)| {
            let canary = (r.canary_weight.is_some() || r.halted.is_some()).then(|| {
                serde_json::json!({"weight": r.canary_weight.map(|w| w as f64 / 10_000.0),
                                   "step": r.canary_step, "halted": r.halted.unwrap_or(false)})
            });
            serde_json::json!({"route": name, "requests": r.requests, "enrolled": r.enrolled,
                               "canary": canary,
                               "shadow": {"compared": r.compared, "mismatched_fields": r.mismatched_fields}})
        })
        .collect();
    serde_json::json!({"revisions": status.revisions, "routes": routes})
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "-".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn text(status: &Status) -> String {
    let revisions = if status.revisions.is_empty() {
        "none applied yet".to_string()
    } else {
        status.revisions.join(", ")
    };
    let mut out = format!("revision {revisions}\n");
    out.push_str(&format!(
        "{:<16} {:<30} {:<20} {:<30} {}\n",
        "route", "requests by target", "canary", "variants", "shadow comparison"
    ));
    for (name, r) in &status.routes {
        let canary = match (r.canary_weight, r.halted) {
            (_, Some(true)) => "halted by its guard".to_string(),
            (Some(w), _) => format!(
                "{:.2}%{}",
                w as f64 / 100.0,
                r.canary_step
                    .map_or(String::new(), |s| format!(", step {s}"))
            ),
            _ => "-".into(),
        };
        let variants: Vec<String> = r
            .enrolled
            .iter()
            .map(|(e, v)| format!("{e}: {}", counts(v)))
            .collect();
        let mut shadow = counts(&r.compared);
        if !r.mismatched_fields.is_empty() {
            shadow.push_str(&format!(" (fields: {})", counts(&r.mismatched_fields)));
        }
        out.push_str(&format!(
            "{:<16} {:<30} {:<20} {:<30} {}\n",
            name,
            counts(&r.requests),
            canary,
            if variants.is_empty() {
                "-".into()
            } else {
                variants.join("; ")
            },
            shadow
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_lines_are_read_into_routes() {
        let lines: Vec<(String, u64)> = [
            ("wasmcustom.switchyard_revision_info;revision=r2", 1),
            ("wasmcustom.switchyard_revision_info;revision=r1", 0),
            (
                "wasmcustom.switchyard_requests_total;route=shop;target=canary",
                3,
            ),
            (
                "wasmcustom.switchyard_requests_total;route=shop;target=stable",
                7,
            ),
            (
                "wasmcustom.switchyard_enrolled_total;route=shop;experiment=ranker;variant=a",
                4,
            ),
            ("wasmcustom.switchyard_canary_weight;route=shop", 1000),
            ("wasmcustom.switchyard_canary_halted;route=shop", 0),
            (
                "wasmcustom.switchyard_shadow_compared_total;route=rank;result=match",
                5,
            ),
            (
                "wasmcustom.switchyard_shadow_field_mismatch_total;route=rank;field=/label",
                2,
            ),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), *v))
        .collect();
        let status = parse(&lines);
        assert_eq!(status.revisions, ["r2"]);
        let shop = &status.routes["shop"];
        assert_eq!(shop.requests["canary"] + shop.requests["stable"], 10);
        assert_eq!(shop.enrolled["ranker"]["a"], 4);
        assert_eq!((shop.canary_weight, shop.halted), (Some(1000), Some(false)));
        assert_eq!(status.routes["rank"].compared["match"], 5);
        assert!(text(&status).contains("10.00%"));
    }
}
