//! Hostile requests through a real Envoy: header values up to Envoy's own limits, a thousand
//! cookies, malformed and duplicated cookies, obs-text bytes (0x80-0xFF, not UTF-8) in values,
//! duplicated and mixed-case routing headers with odd values, empty keys, absurd query strings,
//! HTTP/1.0 and HTTP/1.1 without `Host`, and HTTP/2 (prior knowledge, through `curl`). Each is
//! routed sensibly, passed through, or refused by Envoy's codec before the filter sees it: never a
//! 503 from a failed VM (`wasm_fail_stream`), never a wasm failure in Envoy's stats, never a
//! routing header from the client at an upstream, never a cluster the configuration doesn't name.

use crate::harness::{Envoy, Filter, HOST, Response, Seen, UPSTREAMS, Upstreams};
use serde_json::{Value, json};
use std::time::Duration;

const TOKEN: &str = "qa-team-token-0123456789abcdef";

/// Demo r1 with a token, and keys from a cookie or a query parameter.
fn config() -> String {
    let mut config: Value = serde_json::from_str(&crate::harness::demo_config("r1")).expect("JSON");
    config["overrides"] = json!({ "tokens": [TOKEN] });
    config["routes"][0]["canary"]["sticky"] = json!(["cookie:uid", "query:uid"]);
    config["routes"][0]["experiments"][0]["key"] = json!(["cookie:uid", "query:uid"]);
    serde_json::to_string_pretty(&config).expect("JSON")
}

/// An HTTP/1.1 request head for `path` with `host: shop.example.com`, `x-test-id: id` and
/// `extra`, values as raw bytes.
fn head(path: &str, id: u64, extra: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out =
        format!("GET {path} HTTP/1.1\r\nhost: {HOST}\r\nx-test-id: {id}\r\n").into_bytes();
    for (name, value) in extra {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Header lines as (name, raw value).
type Headers = Vec<(&'static str, Vec<u8>)>;

fn v(value: impl AsRef<[u8]>) -> Vec<u8> {
    value.as_ref().to_vec()
}

/// Routing headers under their default names, some twice or in other cases, some not UTF-8 or
/// empty.
fn spoofed() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("x-switchyard-cluster", v("web-green")),
        ("X-Switchyard-Cluster", v(b"\xff\xfe")),
        ("X-SWITCHYARD-CLUSTER", v("")),
        ("x-switchyard-target", v("canary")),
        ("X-Switchyard-Shadow", v("checkout-v3")),
        ("x-switchyard-exp-ranker", v(b"\x80treatment")),
        ("X-Switchyard-Exp-Other", v("1")),
        ("x-switchyard-token", v(TOKEN)),
        ("X-SWITCHYARD-TOKEN", v(b"\xe2\x9c\x93")),
    ]
}

/// What an upstream may see of routing headers: only the filter's, each once, each with a value
/// the configuration names; and it is the upstream the cluster header names.
fn assert_clean(seen: &Seen) {
    let clusters = ["checkout-v1", "checkout-v2", "web-blue", "web-green"];
    let mut found: Vec<&str> = Vec::new();
    for (name, value) in &seen.headers {
        if !name.starts_with("x-switchyard-") || name == "x-switchyard-mirrored" {
            continue;
        }
        let allowed: &[&str] = match name.as_str() {
            "x-switchyard-cluster" => &clusters,
            "x-switchyard-target" => &["stable", "canary", "blue", "green"],
            "x-switchyard-shadow" => &["checkout-v3"],
            "x-switchyard-exp-ranker" => &["control", "treatment"],
            other => panic!("{other}: {value:?} reached {}: {seen:?}", seen.upstream),
        };
        assert!(
            allowed.contains(&value.as_str()),
            "{name}: {value:?} at {seen:?}"
        );
        assert!(!found.contains(&name.as_str()), "{name} twice at {seen:?}");
        found.push(name);
    }
    if !seen.mirrored() {
        match seen.header("x-switchyard-cluster") {
            Some(cluster) => assert_eq!(cluster, seen.upstream, "{seen:?}"),
            None => assert_eq!(seen.upstream, "default", "{seen:?}"),
        }
    }
}

/// Answered by the upstream the decision names, or by `default` when no route matched.
fn assert_routed(what: &str, response: &Response) {
    assert_eq!(response.status, 200, "{what}: {response:?}");
    assert!(
        UPSTREAMS.contains(&response.served_by()),
        "{what}: {response:?}"
    );
    match response.decision("cluster") {
        Some(cluster) => assert_eq!(cluster, response.served_by(), "{what}"),
        None => assert_eq!(response.served_by(), "default", "{what}"),
    }
}

/// Envoy's wasm stats: no VM failed, and the VMs were created. Nothing in the log says a
/// callback failed or panicked.
pub async fn assert_no_wasm_failure(envoy: &Envoy) {
    let stats = envoy.stats("wasm").await;
    println!("wasm stats: {stats:?}");
    let failures: Vec<_> = stats
        .iter()
        .filter(|(name, value)| name.contains("fail") && **value > 0)
        .collect();
    assert!(failures.is_empty(), "wasm failures: {failures:?}");
    assert!(
        stats
            .iter()
            .any(|(name, value)| name.ends_with(".created") && *value > 0),
        "no wasm VM created? {stats:?}"
    );
    let log = envoy.log();
    for bad in ["panic", "wasm_fail", "failed to call", "Function: proxy_on"] {
        assert!(!log.contains(bad), "{bad:?} in Envoy's log:\n{log}");
    }
}

#[tokio::test]
async fn hostile_http1_requests_are_routed_or_refused_by_envoy_never_failed_or_spoofed() {
    let upstreams = Upstreams::start().await;
    let config = config();
    let envoy = Envoy::start(&upstreams, Filter::Static(Some(&config))).await;

    let thousand: Vec<String> = (0..999).map(|i| format!("c{i}=v{i}")).collect();
    let thousand = format!("{}; uid=u1", thousand.join("; "));
    let params = "a&".repeat(10_000);
    let cases: Vec<(&str, String, Headers)> = vec![
        (
            "a 58 KB header value",
            "/checkout/cart".into(),
            vec![
                ("user-agent", v("u".repeat(58 * 1024))),
                ("cookie", v("uid=u1")),
            ],
        ),
        (
            "a thousand cookies",
            "/checkout/cart".into(),
            vec![("cookie", v(&thousand))],
        ),
        (
            "90 cookie headers",
            "/checkout/cart".into(),
            (0..90)
                .map(|i| ("cookie", v(format!("k{i}=x"))))
                .chain([("cookie", v("uid=u1"))])
                .collect(),
        ),
        (
            "malformed cookies",
            "/checkout/cart".into(),
            vec![("cookie", v("uid; =x; ;;; uid=\"u1\"; uid=u2; \"uid\"=u3"))],
        ),
        (
            "obs-text in keys and values",
            "/checkout/cart".into(),
            vec![
                ("cookie", v(b"uid=\xc3\x28\xff; \xe2\x82=1")),
                ("x-user", v(b"\x80\xff")),
                ("user-agent", v(b"\xe2\x9c\x93 agent")),
            ],
        ),
        ("spoofed, matched", "/checkout/cart".into(), spoofed()),
        ("spoofed, blue-green", "/web/home".into(), spoofed()),
        ("spoofed, unmatched", "/static/x".into(), spoofed()),
        (
            "spoofed with a valid token (the token is not forwarded)",
            "/web/home".into(),
            vec![("X-Switchyard-Token", v(TOKEN))],
        ),
        (
            "empty keys",
            "/checkout/cart?uid=&uid=u1".into(),
            vec![
                ("cookie", v("uid=; uid=u1")),
                ("cookie", v("=")),
                ("x-empty", v("")),
            ],
        ),
        (
            "10,000 query parameters",
            format!("/checkout/cart?{params}uid=u1"),
            vec![],
        ),
        (
            "broken percent-encoding",
            "/checkout/cart?%&%%&%zz&%4&uid=%e2%28%a1&%75id=x&=&&".into(),
            vec![],
        ),
        (
            "a 54 KB query string",
            format!("/checkout/cart?pad={}&uid=u1", "%41".repeat(18 * 1024)),
            vec![],
        ),
    ];
    // Requests whose key is `u1` (a cookie, or the query parameter) are decided as `u1` is.
    let keyed_as_u1 = [
        "a 58 KB header value",
        "a thousand cookies",
        "90 cookie headers",
        "malformed cookies",
        "10,000 query parameters",
        "a 54 KB query string",
    ];
    let u1 = envoy
        .connect()
        .await
        .send_raw(&head("/checkout/cart", 6999, &[("cookie", v("uid=u1"))]))
        .await
        .expect("the baseline");
    assert_routed("u1", &u1);
    let mut ids = vec![6999];
    for (i, (what, path, extra)) in cases.iter().enumerate() {
        let id = 7000 + i as u64;
        let response = envoy
            .connect()
            .await
            .send_raw(&head(path, id, extra))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_routed(what, &response);
        if keyed_as_u1.contains(what) {
            for field in ["cluster", "exp.ranker"] {
                assert_eq!(
                    response.decision(field),
                    u1.decision(field),
                    "{what}: {field}"
                );
            }
        }
        ids.push(id);
    }

    // Beyond Envoy's codec limits, or not HTTP it accepts: Envoy answers itself, the filter
    // never sees the request. Never a 5xx.
    let refused: Vec<(&str, Vec<u8>)> = vec![
        (
            "a 60 KB header value",
            head(
                "/checkout/cart",
                1,
                &[("user-agent", v("u".repeat(60 * 1024)))],
            ),
        ),
        (
            "200 cookie headers",
            head(
                "/checkout/cart",
                2,
                &(0..200)
                    .map(|i| ("cookie", v(format!("k{i}=x"))))
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "a header name that is not a token",
            head("/checkout/cart", 3, &[("x-\u{fc}ser", v("1"))]),
        ),
        (
            "HTTP/1.0 without Host",
            b"GET /checkout/cart HTTP/1.0\r\nx-switchyard-cluster: web-green\r\n\r\n".to_vec(),
        ),
        (
            "HTTP/1.1 without Host",
            b"GET /checkout/cart HTTP/1.1\r\nx-switchyard-cluster: web-green\r\n\r\n".to_vec(),
        ),
    ];
    for (what, bytes) in &refused {
        let response = envoy
            .connect()
            .await
            .send_raw(bytes)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        println!("{what}: {} {:?}", response.status, response.body.trim());
        if response.status == 200 {
            assert_routed(what, &response);
        } else {
            assert!(
                (400..500).contains(&response.status),
                "{what}: {response:?}"
            );
        }
    }

    tokio::time::sleep(Duration::from_millis(300)).await;
    let by_id = upstreams.by_id();
    for id in ids {
        let primaries: Vec<&Seen> = by_id
            .get(&id)
            .map(|seen| seen.iter().filter(|s| !s.mirrored()).collect())
            .unwrap_or_default();
        assert_eq!(primaries.len(), 1, "request {id}");
    }
    for seen in upstreams.seen() {
        assert_clean(&seen);
    }
    assert_no_wasm_failure(&envoy).await;
}

/// `curl --http2-prior-knowledge` against the front listener (codec AUTO): the body, then
/// `<status> <HTTP version>` on the last line.
async fn curl_h2(envoy: &Envoy, path: &str, headers: Vec<Vec<u8>>) -> (u16, String, String) {
    use std::os::unix::ffi::OsStrExt;
    let url = format!("http://{}{path}", envoy.front);
    let output = tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new("curl");
        command.args([
            "-sS",
            "--http2-prior-knowledge",
            "--max-time",
            "10",
            "-o",
            "-",
            "-w",
            "\n%{http_code} %{http_version}",
        ]);
        for header in &headers {
            command.arg("-H").arg(std::ffi::OsStr::from_bytes(header));
        }
        command.arg(url).output()
    })
    .await
    .expect("curl's task")
    .expect("curl runs (HTTP/2 cases need curl with nghttp2)");
    assert!(output.status.success(), "curl: {output:?}");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, last) = text.rsplit_once('\n').expect("curl's -w line");
    let (status, version) = last.split_once(' ').expect("status and version");
    (
        status.parse().expect("a status"),
        version.to_string(),
        body.trim().to_string(),
    )
}

#[tokio::test]
async fn http2_requests_are_routed_like_http1_and_never_spoofed() {
    let upstreams = Upstreams::start().await;
    let config = config();
    let envoy = Envoy::start(&upstreams, Filter::Static(Some(&config))).await;

    let spoof = |id: u64| -> Vec<Vec<u8>> {
        vec![
            format!("x-test-id: {id}").into_bytes(),
            b"x-switchyard-cluster: web-green".to_vec(),
            b"X-Switchyard-Cluster: checkout-v2".to_vec(),
            b"x-switchyard-exp-ranker: bogus".to_vec(),
            format!("x-switchyard-token: {TOKEN}").into_bytes(),
        ]
    };
    let with = |mut a: Vec<Vec<u8>>, b: &[&[u8]]| {
        a.extend(b.iter().map(|h| h.to_vec()));
        a
    };
    let thousand: Vec<String> = (0..1000).map(|i| format!("c{i}=v{i}")).collect();
    let thousand = format!("cookie: {}; uid=u1", thousand.join("; "));
    let cases: Vec<(&str, &str, Vec<Vec<u8>>)> = vec![
        (
            "matched",
            "/checkout/cart",
            with(spoof(8000), &[b"cookie: uid=u1"]),
        ),
        (
            "split cookies",
            "/checkout/cart",
            with(
                spoof(8001),
                &[b"cookie: a=1", b"cookie: uid=u1", b"cookie: uid=u2"],
            ),
        ),
        (
            "a thousand cookies",
            "/checkout/cart",
            with(spoof(8002), &[thousand.as_bytes()]),
        ),
        (
            "obs-text",
            "/checkout/cart",
            with(
                spoof(8003),
                &[b"cookie: uid=\xc3\x28\xff", b"x-user: \x80\xff"],
            ),
        ),
        ("blue-green", "/web/home", spoof(8004)),
        ("unmatched", "/static/x", spoof(8005)),
        (
            "absurd query",
            "/checkout/cart?%&%zz&uid=%e2%28&a&a&a&a",
            spoof(8006),
        ),
    ];
    for (what, path, headers) in cases {
        let (status, version, body) = curl_h2(&envoy, path, headers).await;
        println!("HTTP/2 {what}: {status} {version} {body}");
        assert_eq!(version, "2", "{what}: not HTTP/2");
        assert_eq!(status, 200, "{what}: {body}");
        assert!(UPSTREAMS.contains(&body.as_str()), "{what}: {body}");
        if what == "unmatched" {
            assert_eq!(body, "default");
        }
        if what == "blue-green" {
            assert_eq!(body, "web-blue");
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = upstreams.seen();
    assert!(
        seen.iter().filter(|s| !s.mirrored()).count() >= 7,
        "{seen:?}"
    );
    for seen in &seen {
        assert_clean(seen);
    }
    assert_no_wasm_failure(&envoy).await;
}

/// Source CIDRs trust Envoy's `source.address`. The shipped `envoy/envoy.yaml` sets
/// `use_remote_address: true`, so that address is the peer's: a client writing
/// `X-Forwarded-For` cannot claim a trusted range. (Without it Envoy would take the rightmost
/// `X-Forwarded-For` entry, and the third request below would be forced onto the canary.)
#[tokio::test]
async fn source_cidrs_follow_envoys_view_of_the_client_address_forwarded_for_included() {
    let upstreams = Upstreams::start().await;
    let mut config: Value = serde_json::from_str(&config()).expect("JSON");
    config["overrides"] = json!({ "from": "trusted", "source_cidrs": ["192.0.2.0/24"] });
    config["routes"][0]["canary"]["force"] = json!({ "header": "x-canary" });
    config["routes"][0]["canary"]["weight"] = json!(0);
    let config = serde_json::to_string_pretty(&config).expect("JSON");
    let envoy = Envoy::start(&upstreams, Filter::Static(Some(&config))).await;

    let forced = |xff: Option<&str>| {
        let mut extra = vec![("x-canary", v("always"))];
        if let Some(xff) = xff {
            extra.push(("x-forwarded-for", v(xff)));
        }
        head("/checkout/cart", 1, &extra)
    };
    let mut served = Vec::new();
    for xff in [
        None,
        Some("198.51.100.1"),
        Some("192.0.2.7"),
        Some("192.0.2.7, 198.51.100.1"),
    ] {
        let response = envoy
            .connect()
            .await
            .send_raw(&forced(xff))
            .await
            .expect("a response");
        assert_routed("forced", &response);
        println!("x-forwarded-for {xff:?}: {}", response.served_by());
        served.push(response.served_by().to_string());
    }
    // The peer is 127.0.0.1, outside 192.0.2.0/24, whatever the header says.
    assert_eq!(
        served,
        ["checkout-v1", "checkout-v1", "checkout-v1", "checkout-v1"],
        "a client claimed a trusted source with X-Forwarded-For"
    );
}
