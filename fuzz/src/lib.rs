//! What the fuzz targets share: a generator of configurations biased toward valid ones (built as
//! a `serde_json::Value` from the fuzzer's choices, so every contract rule is reachable and an
//! occasional garbled field explores the problems), a generator of hostile request views, a
//! deterministic `Env`, and an owned view of a decision to compare.

use arbitrary::{Result, Unstructured};
use serde_json::{Map, Value, json};
use std::net::IpAddr;
use switchyard::engine::{self, Env};
use switchyard::plan::Plan;
use switchyard::request::Request;

const CLUSTERS: &[&str] = &[
    "web-stable",
    "web-canary",
    "web-blue",
    "web-green",
    "web-variant",
    "web-shadow",
    "outbound|80||web.default.svc.cluster.local",
];
/// Input headers a config may read (keys, match conditions, selectors).
const INPUT_HEADERS: &[&str] = &[
    "x-user-id",
    "x-tenant",
    "x-canary",
    "x-preview",
    "user-agent",
    "X-User-Id",
    ":authority",
];
/// Header names a config may give to what the filter writes, defaults included.
const WRITTEN_HEADERS: &[&str] = &[
    "x-switchyard-cluster",
    "x-switchyard-target",
    "x-switchyard-shadow",
    "x-switchyard-exp-",
    "x-switchyard-decision",
    "x-switchyard-token",
    "x-route",
    "X-Route-Target",
    "x-cohort-",
    "x-mirror",
    "x-debug",
    "x-auth",
];
const COOKIES: &[&str] = &["uid", "canary", "preview", "sess"];
const QUERY_NAMES: &[&str] = &["uid", "u id", "q", "%75id"];
const HOSTS: &[&str] = &[
    "shop.example.com",
    "*.example.com",
    "*",
    "api.example.com",
    "[::1]",
    "SHOP.example.COM",
];
const PATHS: &[&str] = &["/", "/checkout", "/api", "/healthz", "/api/v1"];
const METHODS: &[&str] = &["GET", "POST", "HEAD", "OPTIONS", "PUT"];
const TOKEN: &str = "0123456789abcdef0123";
const INSTANTS: &[&str] = &[
    "2026-12-01T10:00:00Z",
    "1970-01-01T00:00:00Z",
    "2100-02-29T00:00:00+02:00",
    "2026-12-01T10:00:00.5-00:30",
];
/// Proxy clocks: around the instants above, and the extremes.
const NOW_MS: &[i64] = &[
    0,
    1_796_119_199_999,
    1_796_119_200_000,
    1_700_000_000_000,
    i64::MAX,
    i64::MIN,
    -1,
];
const SOURCE_IPS: &[&str] = &[
    "127.0.0.1",
    "::1",
    "10.1.2.3",
    "8.8.8.8",
    "::ffff:127.0.0.1",
];

/// From `pool` most of the time, otherwise any string.
fn pick(u: &mut Unstructured<'_>, pool: &[&str]) -> Result<String> {
    if u.ratio(7, 8)? {
        Ok((*u.choose(pool)?).to_owned())
    } else {
        u.arbitrary()
    }
}

/// Now and then a field becomes any JSON value: wrong kinds, out of range numbers, nulls.
fn garble(u: &mut Unstructured<'_>, value: Value) -> Result<Value> {
    if !u.ratio(1, 40)? {
        return Ok(value);
    }
    Ok(match u.int_in_range(0..=6)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => json!(u.arbitrary::<i64>()?),
        3 => json!(u.arbitrary::<f64>()?),
        4 => Value::String(u.arbitrary()?),
        5 => json!([]),
        _ => json!({}),
    })
}

/// Inserts `key` with probability `numerator / 8`.
fn maybe(
    u: &mut Unstructured<'_>,
    object: &mut Map<String, Value>,
    key: &str,
    numerator: u8,
    value: impl FnOnce(&mut Unstructured<'_>) -> Result<Value>,
) -> Result<()> {
    if u.ratio(numerator, 8)? {
        let v = value(u)?;
        let v = garble(u, v)?;
        object.insert(key.to_owned(), v);
    }
    Ok(())
}

/// A percentage, mostly on the 0.01 grid.
fn percent(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0..=7)? {
        0 => json!(0),
        1 => json!(100),
        2 => json!(u.arbitrary::<f64>()?),
        3 => json!(f64::from(u.int_in_range(0..=100u32)?)),
        _ => json!(f64::from(u.int_in_range(0..=10_000u32)?) / 100.0),
    })
}

fn fraction(u: &mut Unstructured<'_>) -> Result<f64> {
    Ok(match u.int_in_range(0..=7)? {
        0 => 0.0,
        1 => 1.0,
        2 => u.arbitrary()?,
        _ => f64::from(u.int_in_range(0..=1000u32)?) / 1000.0,
    })
}

fn key_source(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(Value::String(match u.int_in_range(0..=7)? {
        0..=2 => format!("header:{}", pick(u, INPUT_HEADERS)?),
        3..=4 => format!("cookie:{}", pick(u, COOKIES)?),
        5..=6 => format!("query:{}", pick(u, QUERY_NAMES)?),
        _ => u.arbitrary()?,
    }))
}

fn key_sources(u: &mut Unstructured<'_>, min: usize) -> Result<Value> {
    let n = u.int_in_range(min..=3)?;
    (0..n)
        .map(|_| key_source(u))
        .collect::<Result<Vec<_>>>()
        .map(Value::Array)
}

fn selector(u: &mut Unstructured<'_>) -> Result<Value> {
    let mut s = Map::new();
    maybe(u, &mut s, "header", 6, |u| {
        Ok(pick(u, INPUT_HEADERS)?.into())
    })?;
    maybe(u, &mut s, "cookie", 5, |u| Ok(pick(u, COOKIES)?.into()))?;
    Ok(Value::Object(s))
}

fn methods(u: &mut Unstructured<'_>) -> Result<Value> {
    let n = u.int_in_range(0..=3)?;
    (0..n)
        .map(|_| Ok(Value::String(pick(u, METHODS)?)))
        .collect::<Result<Vec<_>>>()
        .map(Value::Array)
}

fn colour(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0..=15)? {
        0 => Value::String(u.arbitrary()?),
        n if n % 2 == 0 => "blue".into(),
        _ => "green".into(),
    })
}

fn cluster(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(pick(u, CLUSTERS)?.into())
}

fn route_match(u: &mut Unstructured<'_>) -> Result<Value> {
    let mut m = Map::new();
    maybe(u, &mut m, "hosts", 3, |u| {
        let n = u.int_in_range(0..=2)?;
        (0..n)
            .map(|_| Ok(Value::String(pick(u, HOSTS)?)))
            .collect::<Result<Vec<_>>>()
            .map(Value::Array)
    })?;
    match u.int_in_range(0..=7)? {
        0..=2 => maybe(u, &mut m, "path_prefix", 8, |u| Ok(pick(u, PATHS)?.into()))?,
        3 => maybe(u, &mut m, "path_exact", 8, |u| Ok(pick(u, PATHS)?.into()))?,
        _ => {}
    }
    maybe(u, &mut m, "methods", 2, methods)?;
    maybe(u, &mut m, "headers", 2, |u| {
        let n = u.int_in_range(0..=2)?;
        let mut out = Vec::new();
        for _ in 0..n {
            let mut h = Map::new();
            h.insert("name".into(), pick(u, INPUT_HEADERS)?.into());
            match u.int_in_range(0..=4)? {
                0 => h.insert("exact".into(), pick(u, &["acme", "always", ""])?.into()),
                1 => h.insert("prefix".into(), pick(u, &["Mozilla/", "a", ""])?.into()),
                2 => h.insert("present".into(), u.arbitrary::<bool>()?.into()),
                3 => None,
                _ => {
                    h.insert("exact".into(), "acme".into());
                    h.insert("present".into(), true.into())
                }
            };
            out.push(Value::Object(h));
        }
        Ok(Value::Array(out))
    })?;
    Ok(Value::Object(m))
}

fn blue_green(u: &mut Unstructured<'_>) -> Result<Value> {
    let mut bg = Map::new();
    bg.insert("active".into(), colour(u)?);
    bg.insert("blue".into(), cluster(u)?);
    bg.insert("green".into(), cluster(u)?);
    maybe(u, &mut bg, "preview", 4, selector)?;
    maybe(u, &mut bg, "switch_at", 3, |u| {
        Ok(json!({ "active": colour(u)?, "at": pick(u, INSTANTS)? }))
    })?;
    Ok(Value::Object(bg))
}

fn canary(u: &mut Unstructured<'_>, route: &str) -> Result<Value> {
    let mut c = Map::new();
    c.insert("cluster".into(), cluster(u)?);
    c.insert("weight".into(), percent(u)?);
    maybe(u, &mut c, "sticky", 5, |u| key_sources(u, 0))?;
    maybe(u, &mut c, "seed", 2, |u| {
        Ok(pick(u, &[route, "seed", ""])?.into())
    })?;
    maybe(u, &mut c, "force", 3, selector)?;
    maybe(u, &mut c, "guard", 2, |u| {
        Ok(json!({
            "max_error_rate": fraction(u)?,
            "min_requests": u.int_in_range(0..=100u32)?,
            "window_s": u.int_in_range(0..=3601u32)?,
        }))
    })?;
    Ok(Value::Object(c))
}

fn experiment(u: &mut Unstructured<'_>, j: usize) -> Result<Value> {
    let mut e = Map::new();
    let name = if u.ratio(7, 8)? {
        format!("e{j}")
    } else {
        pick(u, &["e0", "E1", "ranker"])?
    };
    e.insert("name".into(), name.into());
    e.insert("key".into(), key_sources(u, 1)?);
    maybe(u, &mut e, "hash_version", 3, |u| {
        Ok(json!(u.int_in_range(0..=3u8)?))
    })?;
    maybe(u, &mut e, "seed", 2, |u| Ok(pick(u, &["seed", ""])?.into()))?;
    maybe(u, &mut e, "coverage", 3, |u| Ok(json!(fraction(u)?)))?;
    maybe(u, &mut e, "namespace", 2, |u| {
        let (a, b) = (fraction(u)?, fraction(u)?);
        let (start, end) = if u.ratio(7, 8)? {
            (a.min(b), a.max(b))
        } else {
            (a, b)
        };
        Ok(json!({ "id": pick(u, &["ns", ""])?, "start": start, "end": end }))
    })?;
    // Weights that sum to 1: thousandths split at sorted cut points.
    let n = u.int_in_range(1..=4usize)?;
    let mut cuts = (1..n)
        .map(|_| u.int_in_range(0..=1000u32))
        .collect::<Result<Vec<_>>>()?;
    cuts.sort_unstable();
    cuts.push(1000);
    let mut previous = 0;
    let mut variants = Vec::new();
    for (k, cut) in cuts.into_iter().enumerate() {
        let mut v = Map::new();
        let name = if u.ratio(7, 8)? {
            format!("v{k}")
        } else {
            pick(u, &["v0", "control", "a b"])?
        };
        v.insert("name".into(), name.into());
        v.insert("weight".into(), json!(f64::from(cut - previous) / 1000.0));
        previous = cut;
        maybe(u, &mut v, "cluster", 3, cluster)?;
        variants.push(garble(u, Value::Object(v))?);
    }
    e.insert("variants".into(), Value::Array(variants));
    Ok(Value::Object(e))
}

fn shadow(u: &mut Unstructured<'_>) -> Result<Value> {
    let mut s = Map::new();
    s.insert("cluster".into(), cluster(u)?);
    s.insert("percent".into(), percent(u)?);
    maybe(u, &mut s, "key", 3, |u| key_sources(u, 0))?;
    maybe(u, &mut s, "seed", 2, |u| Ok(pick(u, &["seed", ""])?.into()))?;
    maybe(u, &mut s, "methods", 3, methods)?;
    Ok(Value::Object(s))
}

fn route(u: &mut Unstructured<'_>, i: usize) -> Result<Value> {
    let mut r = Map::new();
    let name = if u.ratio(7, 8)? {
        format!("r{i}")
    } else {
        pick(u, &["r0", "R", "a b"])?
    };
    maybe(u, &mut r, "match", 6, route_match)?;
    if u.ratio(1, 4)? {
        let bg = blue_green(u)?;
        r.insert("blue_green".into(), garble(u, bg)?);
        maybe(u, &mut r, "stable", 1, cluster)?;
    } else {
        maybe(u, &mut r, "stable", 8, cluster)?;
    }
    maybe(u, &mut r, "canary", 4, |u| canary(u, &name))?;
    maybe(u, &mut r, "experiments", 3, |u| {
        let n = u.int_in_range(0..=3)?;
        (0..n)
            .map(|j| experiment(u, j))
            .collect::<Result<Vec<_>>>()
            .map(Value::Array)
    })?;
    maybe(u, &mut r, "shadow", 2, shadow)?;
    if u.ratio(1, 64)? {
        r.insert(u.arbitrary()?, Value::Null);
    }
    r.insert("name".into(), garble(u, name.into())?);
    Ok(Value::Object(r))
}

/// A configuration document, valid more often than not.
pub fn config(u: &mut Unstructured<'_>) -> Result<Value> {
    let mut c = Map::new();
    maybe(u, &mut c, "revision", 4, |u| {
        Ok(pick(u, &["r1", "r42", "", "rev 2"])?.into())
    })?;
    maybe(u, &mut c, "debug", 2, |u| Ok(u.arbitrary::<bool>()?.into()))?;
    maybe(u, &mut c, "headers", 2, |u| {
        let mut h = Map::new();
        for field in ["cluster", "target", "shadow", "cohort_prefix", "decision"] {
            maybe(
                u,
                &mut h,
                field,
                3,
                |u| Ok(pick(u, WRITTEN_HEADERS)?.into()),
            )?;
        }
        Ok(Value::Object(h))
    })?;
    maybe(u, &mut c, "overrides", 3, |u| {
        let mut o = Map::new();
        maybe(u, &mut o, "from", 4, |u| {
            Ok(pick(u, &["anyone", "trusted"])?.into())
        })?;
        maybe(u, &mut o, "token_header", 2, |u| {
            Ok(pick(u, WRITTEN_HEADERS)?.into())
        })?;
        maybe(u, &mut o, "tokens", 4, |u| {
            Ok(json!([pick(
                u,
                &[TOKEN, "short", "0123456789abcdef 0123"]
            )?]))
        })?;
        maybe(u, &mut o, "source_cidrs", 4, |u| {
            let n = u.int_in_range(0..=2)?;
            (0..n)
                .map(|_| {
                    Ok(Value::String(pick(
                        u,
                        &[
                            "127.0.0.0/8",
                            "::1/128",
                            "10.0.0.0/8",
                            "0.0.0.0/0",
                            "1.2.3.4/33",
                        ],
                    )?))
                })
                .collect::<Result<Vec<_>>>()
                .map(Value::Array)
        })?;
        Ok(Value::Object(o))
    })?;
    if u.ratio(15, 16)? {
        let n = u.int_in_range(0..=4)?;
        let routes = (0..n).map(|i| route(u, i)).collect::<Result<Vec<_>>>()?;
        c.insert("routes".into(), garble(u, Value::Array(routes))?);
    }
    Ok(Value::Object(c))
}

/// Bytes from `pool` most of the time, otherwise any bytes (invalid UTF-8 included).
fn pick_bytes(u: &mut Unstructured<'_>, pool: &[&str]) -> Result<Vec<u8>> {
    if u.ratio(3, 4)? {
        Ok(u.choose(pool)?.as_bytes().to_vec())
    } else {
        Ok(u.arbitrary::<&[u8]>()?.to_vec())
    }
}

/// Randomly upper-cases ASCII letters: header names arrive in any case.
fn recase(u: &mut Unstructured<'_>, name: Vec<u8>) -> Result<Vec<u8>> {
    if !u.ratio(1, 4)? {
        return Ok(name);
    }
    name.into_iter()
        .map(|b| {
            Ok(if u.arbitrary::<bool>()? {
                b.to_ascii_uppercase()
            } else {
                b
            })
        })
        .collect()
}

/// A request view as a proxy could hand it over: pseudo-headers (sometimes missing, repeated or
/// garbage), cookies, the headers the configs read and the ones the filter writes (in any case,
/// with any suffix), and arbitrary bytes.
pub fn request(u: &mut Unstructured<'_>, plan: Option<&Plan>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut headers = Vec::new();
    if u.ratio(7, 8)? {
        let authority = pick_bytes(
            u,
            &[
                "shop.example.com",
                "a.example.com",
                "api.example.com:8080",
                "[::1]:80",
                "SHOP.EXAMPLE.COM",
                "",
            ],
        )?;
        let name: &[u8] = if u.ratio(7, 8)? {
            b":authority"
        } else {
            b"host"
        };
        headers.push((name.to_vec(), authority));
    }
    if u.ratio(7, 8)? {
        let mut path = pick_bytes(u, PATHS)?;
        if u.ratio(1, 2)? {
            path.push(b'?');
            let n = u.int_in_range(0..=3)?;
            for k in 0..n {
                if k > 0 {
                    path.push(b'&');
                }
                path.extend(pick_bytes(u, &["uid", "u+id", "u%20id", "q", "%75id"])?);
                path.push(b'=');
                path.extend(pick_bytes(u, &["alice", "bob", "%E2%9C%93", "%zz", ""])?);
            }
        }
        if u.ratio(1, 16)? {
            path.extend(b"#frag?uid=eve");
        }
        headers.push((b":path".to_vec(), path));
    }
    if u.ratio(7, 8)? {
        headers.push((b":method".to_vec(), pick_bytes(u, METHODS)?));
    }
    let cookies = u.int_in_range(0..=2)?;
    for _ in 0..cookies {
        let value = pick_bytes(
            u,
            &[
                "uid=alice",
                "uid=bob; canary=always",
                "canary=never",
                "preview=blue; uid=\"carol\"",
                "preview=green",
                ";;=x; uid",
            ],
        )?;
        headers.push((b"cookie".to_vec(), value));
    }
    let mut written: Vec<String> = WRITTEN_HEADERS.iter().map(|s| (*s).to_owned()).collect();
    if let Some(plan) = plan {
        let h = &plan.headers;
        for name in [
            &h.cluster,
            &h.target,
            &h.shadow,
            &h.decision,
            &plan.overrides.token_header,
        ] {
            written.push(name.to_string());
        }
        written.push(format!("{}e0", h.cohort_prefix));
        written.push(h.cohort_prefix.to_string());
    }
    let others = u.int_in_range(0..=6)?;
    for _ in 0..others {
        let name = match u.int_in_range(0..=7)? {
            0..=2 => pick_bytes(u, INPUT_HEADERS)?,
            3..=5 => {
                let mut name = u.choose(&written)?.as_bytes().to_vec();
                if u.ratio(1, 4)? {
                    name.extend(u.arbitrary::<&[u8]>()?);
                }
                name
            }
            _ => u.arbitrary::<&[u8]>()?.to_vec(),
        };
        let name = recase(u, name)?;
        let value = pick_bytes(
            u,
            &[
                "always",
                "never",
                "blue",
                "green",
                "acme",
                "Mozilla/5.0",
                TOKEN,
                "alice",
                "web-canary",
                "",
            ],
        )?;
        headers.push((name, value));
    }
    // Shuffle a little: pseudo-headers need not come first.
    let len = headers.len();
    if len > 1 && u.ratio(1, 4)? {
        let (a, b) = (u.choose_index(len)?, u.choose_index(len)?);
        headers.swap(a, b);
    }
    Ok(headers)
}

/// A deterministic proxy: fixed clock and client address, a SplitMix64 generator, a guard that
/// has or has not halted every canary.
#[derive(Debug, Clone)]
pub struct FuzzEnv {
    pub now_ms: i64,
    pub source_ip: Option<IpAddr>,
    pub state: u64,
    pub halted: bool,
}

impl FuzzEnv {
    pub fn arbitrary(u: &mut Unstructured<'_>) -> Result<FuzzEnv> {
        let source_ip = if u.ratio(3, 4)? {
            u.choose(SOURCE_IPS)?.parse().ok()
        } else {
            None
        };
        Ok(FuzzEnv {
            now_ms: *u.choose(NOW_MS)?,
            source_ip,
            state: u.arbitrary()?,
            halted: u.ratio(1, 4)?,
        })
    }

    pub fn fixed(seed: u64) -> FuzzEnv {
        FuzzEnv {
            now_ms: 1_796_119_200_000,
            source_ip: "127.0.0.1".parse().ok(),
            state: seed,
            halted: false,
        }
    }
}

impl Env for FuzzEnv {
    fn now_ms(&mut self) -> i64 {
        self.now_ms
    }

    fn source_ip(&mut self) -> Option<IpAddr> {
        self.source_ip
    }

    fn random(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn canary_halted(&mut self, _route: u32) -> bool {
        self.halted
    }
}

/// A decision with everything owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub route: String,
    pub route_number: u32,
    pub target: &'static str,
    pub cluster: String,
    pub shadow: Option<String>,
    pub reason: &'static str,
    pub cohorts: Vec<(String, String)>,
}

pub fn decide(plan: &Plan, pairs: &[(&[u8], &[u8])], env: &mut FuzzEnv) -> Option<Outcome> {
    let request = Request::new(pairs);
    engine::decide(plan, &request, env).map(|d| Outcome {
        route: d.route.name.to_string(),
        route_number: d.route_number,
        target: d.target.as_str(),
        cluster: d.cluster.to_string(),
        shadow: d.shadow.map(str::to_owned),
        reason: d.reason.as_str(),
        cohorts: d
            .cohorts()
            .map(|(e, v)| (e.name.to_string(), v.name.to_string()))
            .collect(),
    })
}

/// Requests every plan is asked about when two plans must agree.
pub fn fixed_requests() -> Vec<Vec<(&'static [u8], &'static [u8])>> {
    let base: &[(&[u8], &[u8])] = &[(b":authority", b"shop.example.com"), (b":method", b"GET")];
    let with = |more: &[(&'static [u8], &'static [u8])]| {
        let mut r = base.to_vec();
        r.extend_from_slice(more);
        r
    };
    vec![
        with(&[(b":path", b"/")]),
        with(&[(b":path", b"/checkout?uid=alice"), (b"x-user-id", b"u-1")]),
        with(&[
            (b":path", b"/api/v1"),
            (b"cookie", b"uid=bob; canary=always; preview=blue"),
        ]),
        with(&[
            (b":path", b"/healthz"),
            (b"x-canary", b"always"),
            (b"x-switchyard-token", TOKEN.as_bytes()),
        ]),
        with(&[
            (b":path", b"/checkout"),
            (b"x-tenant", b"acme"),
            (b"user-agent", b"Mozilla/5.0"),
            (b"x-preview", b"green"),
        ]),
        vec![
            (b":path", b"/api?u+id=carol"),
            (b":method", b"POST"),
            (b"host", b"api.example.com:8080"),
        ],
    ]
}
