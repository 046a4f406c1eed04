//! `switchyard diff OLD NEW [--at RFC3339]`: what pushing NEW over OLD does to users, computed
//! from the bucket ranges, not by sampling. A keyed decision is `bucket < share` (canaries) or a
//! bucket range (variants), so two configurations that hash the same key with the same seed put a
//! user on the same side of both thresholds: the shares that move are differences of ranges.
//! Decisions hashed differently (another seed, other key sources, an unkeyed canary) are
//! independent of each other, and their joint shares are products.

use super::{UNSAFE, USAGE};
use crate::engine::Target;
use crate::engine::canary::weight_at;
use crate::plan::{Base, Experiment, Plan, Route};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "OLD")]
    old: PathBuf,
    #[arg(value_name = "NEW")]
    new: PathBuf,
    /// The instant both are evaluated at (ramps, `switch_at`), RFC 3339; default now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Exit 0 even when the change is unsafe (a deliberate rollback, say).
    #[arg(long)]
    allow_unsafe: bool,
    /// One JSON document on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// Shares below this are rounding, not users.
const EPSILON: f64 = 1e-9;

#[derive(Debug, PartialEq)]
pub struct RouteDiff {
    pub route: String,
    /// `added`, `removed`, `changed` or `same`.
    pub status: &'static str,
    /// (from, to, share of the key space), shares above zero only.
    pub moves: Vec<(Target, Target, f64)>,
    pub moved_back: f64,
    /// (experiment, `added` | `removed` | `both`, share reassigned).
    pub experiments: Vec<(String, &'static str, f64)>,
}

impl RouteDiff {
    pub fn is_unsafe(&self) -> bool {
        self.moved_back > EPSILON
            || self
                .experiments
                .iter()
                .any(|(_, _, reassigned)| *reassigned > EPSILON)
    }
}

/// Every route of OLD and NEW, by name, in NEW's order then OLD's removed ones.
pub fn diff(old: &Plan, new: &Plan, at_ms: i64) -> Vec<RouteDiff> {
    let mut out = Vec::new();
    for route in &new.routes {
        out.push(route_diff(find(old, &route.name), Some(route), at_ms));
    }
    for route in old.routes.iter().filter(|r| find(new, &r.name).is_none()) {
        out.push(route_diff(Some(route), None, at_ms));
    }
    out
}

fn find<'p>(plan: &'p Plan, name: &str) -> Option<&'p Route> {
    plan.routes.iter().find(|r| *r.name == *name)
}

/// A route's keyed canary at an instant: its share and how it hashes (seed, key sources); None
/// for the hashing of an unkeyed canary.
struct Side<'p> {
    base: Target,
    share: f64,
    hashing: Option<(&'p str, String)>,
}

fn side(route: &Route, at_ms: i64) -> Side<'_> {
    let base = match &route.base {
        Base::Stable(_) => Target::Stable,
        Base::BlueGreen(bg) => {
            let mut at = super::explain::Given::new(at_ms, None, None);
            let (colour, _) = crate::engine::blue_green::active(bg, &mut at);
            crate::engine::blue_green::target(colour)
        }
    };
    match &route.canary {
        None => Side {
            base,
            share: 0.0,
            hashing: None,
        },
        Some(canary) => Side {
            base,
            share: f64::from(weight_at(&canary.weight, || at_ms).weight) / 10_000.0,
            hashing: (!canary.sticky.is_empty())
                .then(|| (&*canary.seed, format!("{:?}", canary.sticky))),
        },
    }
}

fn route_diff(old: Option<&Route>, new: Option<&Route>, at_ms: i64) -> RouteDiff {
    let name = new.or(old).map_or_else(String::new, |r| r.name.to_string());
    let status = match (old, new) {
        (None, _) => "added",
        (_, None) => "removed",
        (Some(o), Some(n)) if format!("{o:?}") == format!("{n:?}") => "same",
        _ => "changed",
    };
    let (Some(old), Some(new)) = (old, new) else {
        // A removed route's canary users go wherever the next route sends them: back.
        let moved_back = old
            .filter(|_| new.is_none())
            .map_or(0.0, |r| side(r, at_ms).share);
        return RouteDiff {
            route: name,
            status,
            moves: Vec::new(),
            moved_back,
            experiments: Vec::new(),
        };
    };
    let (o, n) = (side(old, at_ms), side(new, at_ms));
    // The joint shares of (on the canary in OLD, in NEW).
    let both = match (&o.hashing, &n.hashing) {
        (Some(a), Some(b)) if a == b => o.share.min(n.share),
        _ => o.share * n.share,
    };
    let only_old = o.share - both;
    let only_new = n.share - both;
    let neither = (1.0 - both - only_old - only_new).max(0.0);
    let cells = [
        (Target::Canary, Target::Canary, both),
        (Target::Canary, n.base, only_old),
        (o.base, Target::Canary, only_new),
        (o.base, n.base, neither),
    ];
    let mut moves: Vec<(Target, Target, f64)> = Vec::new();
    for (from, to, share) in cells {
        if from == to || share <= EPSILON {
            continue;
        }
        match moves.iter_mut().find(|(f, t, _)| *f == from && *t == to) {
            Some(entry) => entry.2 += share,
            None => moves.push((from, to, share)),
        }
    }
    let mut experiments = Vec::new();
    for e in &new.experiments {
        match old.experiments.iter().find(|x| x.name == e.name) {
            Some(before) => experiments.push((e.name.to_string(), "both", reassigned(before, e))),
            None => experiments.push((e.name.to_string(), "added", 0.0)),
        }
    }
    for e in &old.experiments {
        if !new.experiments.iter().any(|x| x.name == e.name) {
            experiments.push((e.name.to_string(), "removed", 0.0));
        }
    }
    RouteDiff {
        route: name,
        status,
        moves,
        moved_back: only_old.max(0.0),
        experiments,
    }
}

/// The share of the key space enrolled in both with a different variant (by name).
fn reassigned(old: &Experiment, new: &Experiment) -> f64 {
    let same_hashing = old.hash_version == new.hash_version
        && old.seed == new.seed
        && format!("{:?}", old.key) == format!("{:?}", new.key);
    // The namespace is a hash of its own (`"__" + id`), independent of the variant bucket.
    let width = |e: &Experiment| e.namespace.as_ref().map_or(1.0, |ns| ns.end - ns.start);
    let in_both_namespaces = match (&old.namespace, &new.namespace) {
        (Some(a), Some(b)) if a.id == b.id => (a.end.min(b.end) - a.start.max(b.start)).max(0.0),
        _ => width(old) * width(new),
    };
    let mut share = 0.0;
    for (i, (a0, a1)) in old.ranges.iter().enumerate() {
        for (j, (b0, b1)) in new.ranges.iter().enumerate() {
            let (Some(vo), Some(vn)) = (old.variants.get(i), new.variants.get(j)) else {
                continue;
            };
            if vo.name == vn.name {
                continue;
            }
            share += if same_hashing {
                (a1.min(*b1) - a0.max(*b0)).max(0.0)
            } else {
                (a1 - a0) * (b1 - b0)
            };
        }
    }
    share * in_both_namespaces
}

pub fn run(args: &Args) -> u8 {
    let at_ms = match super::instant(args.at.as_deref()) {
        Ok(ms) => ms,
        Err(message) => {
            eprintln!("switchyard diff: {message}");
            return USAGE;
        }
    };
    let old = match super::load(&args.old) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    let new = match super::load(&args.new) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    let routes = diff(&old, &new, at_ms);
    let unsafe_change = routes.iter().any(RouteDiff::is_unsafe);
    if args.json {
        println!("{}", json(&routes, unsafe_change));
    } else {
        print!("{}", text(&routes));
    }
    if unsafe_change {
        eprintln!(
            "switchyard diff: unsafe: users move back from the canary or change variant (above); {}",
            if args.allow_unsafe {
                "allowed by --allow-unsafe"
            } else {
                "if this is a deliberate rollback, run again with --allow-unsafe"
            }
        );
        if !args.allow_unsafe {
            return UNSAFE;
        }
    }
    0
}

fn json(routes: &[RouteDiff], unsafe_change: bool) -> serde_json::Value {
    let routes: Vec<_> = routes
        .iter()
        .map(|r| {
            let moves: Vec<_> = r
                .moves
                .iter()
                .map(|(f, t, s)| serde_json::json!({"from": f.as_str(), "to": t.as_str(), "share": s}))
                .collect();
            let experiments: Vec<_> = r
                .experiments
                .iter()
                .map(|(name, status, reassigned)| match *status {
                    "both" => serde_json::json!({"experiment": name, "reassigned": reassigned}),
                    status => serde_json::json!({"experiment": name, "status": status}),
                })
                .collect();
            serde_json::json!({"route": r.route, "status": r.status, "moves": moves,
                               "moved_back": r.moved_back, "experiments": experiments})
        })
        .collect();
    serde_json::json!({"unsafe": unsafe_change, "routes": routes})
}

fn percent(share: f64) -> String {
    format!("{:.2}%", share * 100.0)
}

fn text(routes: &[RouteDiff]) -> String {
    let mut out = format!(
        "{:<16} {:<8} {:<36} {:>10}  {}\n",
        "route", "status", "users moving (share of keys)", "moved back", "experiments"
    );
    for r in routes {
        let moves: Vec<String> = r
            .moves
            .iter()
            .map(|(f, t, s)| format!("{} → {} {}", f.as_str(), t.as_str(), percent(*s)))
            .collect();
        let experiments: Vec<String> = r
            .experiments
            .iter()
            .map(|(name, status, share)| match *status {
                "both" => format!("{name}: {} reassigned", percent(*share)),
                status => format!("{name}: {status}"),
            })
            .collect();
        let moves = if moves.is_empty() {
            "-".to_string()
        } else {
            moves.join(", ")
        };
        let experiments = if experiments.is_empty() {
            "-".to_string()
        } else {
            experiments.join(", ")
        };
        out.push_str(&format!(
            "{:<16} {:<8} {:<36} {:>10}  {}\n",
            r.route,
            r.status,
            moves,
            percent(r.moved_back),
            experiments
        ));
    }
    out
}
