//! Overrides in Envoy, configured over ECDS (`envoy/ecds.yaml`): a forced canary and a blue-green
//! preview are honoured only from trusted requests — a valid token, a listed client range, or
//! everyone when `from` is `anyone` — and the token never goes upstream. Each case is sent on
//! fresh connections, so that both workers judge it.

use crate::harness::{Envoy, Filter, Req, Upstreams, Verdict};
use crate::routing::assert_followed;
use serde_json::{Value, json};

const TOKEN: &str = "qa-team-token-0123456789abcdef";
const WRONG: &str = "qa-team-token-0123456789abcdeX";
/// Connections per case: each lands on either worker.
const TRIES: usize = 6;

/// `checkout` (canary of `weight` %, sticky on cookie uid, forced by header `x-canary` or cookie
/// `canary`) and `web` (blue-green with `active`, preview by header `x-preview` or cookie
/// `preview`), with `overrides`.
fn config(revision: &str, weight: u32, active: &str, overrides: Value) -> String {
    serde_json::to_string_pretty(&json!({
        "revision": revision,
        "debug": true,
        "overrides": overrides,
        "routes": [
            {
                "name": "checkout",
                "match": { "path_prefix": "/checkout" },
                "stable": "checkout-v1",
                "canary": {
                    "cluster": "checkout-v2", "weight": weight, "sticky": ["cookie:uid"],
                    "force": { "header": "x-canary", "cookie": "canary" }
                }
            },
            {
                "name": "web",
                "match": { "path_prefix": "/web" },
                "blue_green": {
                    "active": active, "blue": "web-blue", "green": "web-green",
                    "preview": { "header": "x-preview", "cookie": "preview" }
                }
            }
        ]
    }))
    .expect("JSON")
}

fn trusted_by_token() -> Value {
    json!({ "from": "trusted", "tokens": [TOKEN] })
}

/// `req` on `TRIES` fresh connections: each served by `upstream`, as the filter decided, and
/// no token upstream.
async fn expect(envoy: &Envoy, upstreams: &Upstreams, case: &str, req: Req, upstream: &str) {
    for _ in 0..TRIES {
        let before = upstreams.seen().len();
        let response = envoy.send(&req).await;
        let seen = upstreams.seen();
        assert_eq!(seen.len(), before + 1, "{case}: one request upstream");
        let seen = &seen[before];
        assert_eq!(
            response.served_by(),
            upstream,
            "{case}: {:?}",
            response.header("x-switchyard-decision")
        );
        assert_followed(&response, seen);
        assert_eq!(
            seen.header("x-switchyard-token"),
            None,
            "{case}: the token went upstream"
        );
    }
}

fn checkout() -> Req {
    Req::get("/checkout/cart").user("user-0001")
}

fn web() -> Req {
    Req::get("/web/").user("user-0001")
}

#[tokio::test]
async fn a_forced_canary_is_honoured_only_from_trusted_requests() {
    let upstreams = Upstreams::start().await;
    let first = config("force-1", 0, "blue", trusted_by_token());
    let envoy = Envoy::start(&upstreams, Filter::Ecds(&first)).await;
    let (u, e) = (&upstreams, &envoy);

    // Weight 0: only a forced request reaches the canary.
    expect(e, u, "no force", checkout(), "checkout-v1").await;
    expect(
        e,
        u,
        "always, no token",
        checkout().header("x-canary", "always"),
        "checkout-v1",
    )
    .await;
    let wrong = checkout()
        .header("x-canary", "always")
        .header("x-switchyard-token", WRONG);
    expect(e, u, "always, a wrong token", wrong, "checkout-v1").await;
    let forced = checkout()
        .header("x-canary", "always")
        .header("x-switchyard-token", TOKEN);
    expect(e, u, "always, the token", forced, "checkout-v2").await;
    let by_cookie = checkout()
        .cookie("canary", "always")
        .header("x-switchyard-token", TOKEN);
    expect(
        e,
        u,
        "always by cookie, the token",
        by_cookie,
        "checkout-v2",
    )
    .await;
    let header_wins = checkout()
        .cookie("canary", "always")
        .header("x-canary", "never")
        .header("x-switchyard-token", TOKEN);
    expect(
        e,
        u,
        "header never over cookie always",
        header_wins,
        "checkout-v1",
    )
    .await;

    // Weight 100: only a forced `never` stays on stable.
    assert_eq!(
        e.push(&config("force-2", 100, "blue", trusted_by_token()))
            .await,
        Verdict::Applied
    );
    e.settle(&checkout(), "force-2", 10).await;
    expect(e, u, "weight 100", checkout(), "checkout-v2").await;
    let never = checkout().header("x-canary", "never");
    expect(e, u, "never, no token", never.clone(), "checkout-v2").await;
    expect(
        e,
        u,
        "never, the token",
        never.header("x-switchyard-token", TOKEN),
        "checkout-v1",
    )
    .await;

    // `from: anyone`: no token needed (ingress-nginx behaviour).
    assert_eq!(
        e.push(&config("force-3", 0, "blue", json!({ "from": "anyone" })))
            .await,
        Verdict::Applied
    );
    e.settle(&checkout(), "force-3", 10).await;
    expect(
        e,
        u,
        "anyone, always",
        checkout().header("x-canary", "always"),
        "checkout-v2",
    )
    .await;

    // A trusted client range: Envoy's `source.address` of a loopback client is in 127.0.0.0/8,
    // and in no documentation range.
    let elsewhere = json!({ "from": "trusted", "source_cidrs": ["192.0.2.0/24", "2001:db8::/32"] });
    assert_eq!(
        e.push(&config("force-4", 0, "blue", elsewhere)).await,
        Verdict::Applied
    );
    e.settle(&checkout(), "force-4", 10).await;
    expect(
        e,
        u,
        "an untrusted range",
        checkout().header("x-canary", "always"),
        "checkout-v1",
    )
    .await;
    let loopback = json!({ "from": "trusted", "source_cidrs": ["192.0.2.0/24", "127.0.0.0/8"] });
    assert_eq!(
        e.push(&config("force-5", 0, "blue", loopback)).await,
        Verdict::Applied
    );
    e.settle(&checkout(), "force-5", 10).await;
    expect(
        e,
        u,
        "a trusted range",
        checkout().header("x-canary", "always"),
        "checkout-v2",
    )
    .await;
}

#[tokio::test]
async fn a_preview_sends_a_trusted_request_to_the_idle_colour() {
    let upstreams = Upstreams::start().await;
    let first = config("preview-1", 0, "blue", trusted_by_token());
    let envoy = Envoy::start(&upstreams, Filter::Ecds(&first)).await;
    let (u, e) = (&upstreams, &envoy);

    expect(e, u, "active blue", web(), "web-blue").await;
    expect(
        e,
        u,
        "green, no token",
        web().header("x-preview", "green"),
        "web-blue",
    )
    .await;
    let wrong = web()
        .header("x-preview", "green")
        .header("x-switchyard-token", WRONG);
    expect(e, u, "green, a wrong token", wrong, "web-blue").await;
    let preview = web()
        .header("x-preview", "green")
        .header("x-switchyard-token", TOKEN);
    expect(e, u, "green, the token", preview.clone(), "web-green").await;
    let response = e.send(&preview).await;
    assert_eq!(response.decision("target"), Some("green"));
    assert_eq!(response.decision("reason"), Some("preview"));
    let by_cookie = web()
        .cookie("preview", "green")
        .header("x-switchyard-token", TOKEN);
    expect(e, u, "green by cookie, the token", by_cookie, "web-green").await;
    let nonsense = web()
        .header("x-preview", "purple")
        .header("x-switchyard-token", TOKEN);
    expect(e, u, "not a colour", nonsense, "web-blue").await;

    // After a flip, the preview is of blue.
    assert_eq!(
        e.push(&config("preview-2", 0, "green", trusted_by_token()))
            .await,
        Verdict::Applied
    );
    e.settle(&web(), "preview-2", 10).await;
    expect(e, u, "active green", web(), "web-green").await;
    let back = web()
        .header("x-preview", "blue")
        .header("x-switchyard-token", TOKEN);
    expect(e, u, "blue, the token", back, "web-blue").await;
    expect(
        e,
        u,
        "blue, no token",
        web().header("x-preview", "blue"),
        "web-green",
    )
    .await;
}
