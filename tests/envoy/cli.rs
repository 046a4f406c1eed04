//! `switchyard push` against real Envoy over file-based ECDS: an accepted push is applied, a
//! configuration with problems is refused before anything is written (the previous one keeps
//! serving), an unsafe change is refused with exit 3 unless `--allow-unsafe`.

use crate::harness::{Envoy, Filter, Req, Upstreams, wasm};
use std::process::Output;

fn config(revision: &str, weight: u32) -> String {
    format!(
        r#"{{"revision": "{revision}", "debug": true, "routes": [{{"name": "checkout",
            "match": {{"path_prefix": "/checkout"}}, "stable": "checkout-v1",
            "canary": {{"cluster": "checkout-v2", "weight": {weight}, "sticky": ["cookie:uid"]}}}}]}}"#
    )
}

async fn push(envoy: &Envoy, config: &str, extra: &[&str]) -> Output {
    let file = envoy.dir.join(format!("next-{}.json", config.len()));
    std::fs::write(&file, config).unwrap();
    let mut args: Vec<String> = vec![
        "push".into(),
        file.to_str().unwrap().into(),
        "--ecds".into(),
        envoy
            .dir
            .join("ecds/switchyard.yaml")
            .to_str()
            .unwrap()
            .into(),
        "--admin".into(),
        format!("http://{}", envoy.admin),
        "--wasm".into(),
        wasm().to_str().unwrap().into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

async fn serving(envoy: &Envoy) -> String {
    let response = envoy.send(&Req::get("/checkout/cart").user("u1")).await;
    response.decision("rev").unwrap_or("").to_string()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn push_applies_a_safe_change_and_refuses_invalid_and_unsafe_ones() {
    let upstreams = Upstreams::start().await;
    let envoy = Envoy::start(&upstreams, Filter::Ecds(&config("p1", 10))).await;
    assert_eq!(serving(&envoy).await, "p1");

    let raised = push(&envoy, &config("p2", 50), &[]).await;
    assert_eq!(raised.status.code(), Some(0), "{}", text(&raised.stderr));
    assert!(
        text(&raised.stdout).contains("Envoy applied it"),
        "{}",
        text(&raised.stdout)
    );
    assert_eq!(serving(&envoy).await, "p2");

    let file = envoy.dir.join("ecds/switchyard.yaml");
    let before = std::fs::read_to_string(&file).unwrap();
    let invalid = push(&envoy, &config("p3", 150), &[]).await;
    assert_eq!(invalid.status.code(), Some(1));
    assert!(
        text(&invalid.stderr).contains("routes[0].canary.weight: must be within 0..=100, got 150")
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        before,
        "nothing written"
    );

    let lowered = push(&envoy, &config("p4", 10), &[]).await;
    assert_eq!(lowered.status.code(), Some(3), "{}", text(&lowered.stderr));
    assert!(text(&lowered.stderr).contains("give --allow-unsafe for a deliberate rollback"));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        before,
        "nothing written"
    );
    assert_eq!(serving(&envoy).await, "p2");

    let rollback = push(&envoy, &config("p4", 10), &["--allow-unsafe"]).await;
    assert_eq!(
        rollback.status.code(),
        Some(0),
        "{}",
        text(&rollback.stderr)
    );
    assert_eq!(serving(&envoy).await, "p4");

    let json = push(&envoy, &config("p5", 20), &["--json"]).await;
    assert_eq!(json.status.code(), Some(0), "{}", text(&json.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"revision": "p5", "pushed": true, "verdict": "applied"})
    );

    let unreachable = tokio::task::spawn_blocking(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args([
                "push",
                "examples/configs/canary.json",
                "--ecds",
                "/tmp/none.yaml",
                "--admin",
                "http://127.0.0.1:9",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        unreachable.status.code(),
        Some(2),
        "admin unreachable is an I/O error"
    );
}

async fn status_json(envoy: &Envoy) -> serde_json::Value {
    let admin = format!("http://{}", envoy.admin);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["status", "--json", "--admin", &admin])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn status_agrees_with_the_traffic_sent() {
    let upstreams = Upstreams::start().await;
    let envoy = Envoy::start(&upstreams, Filter::Ecds(&config("s1", 30))).await;
    let mut sent = std::collections::BTreeMap::<String, u64>::new();
    for uid in crate::harness::users(200) {
        let response = envoy.send(&Req::get("/checkout/cart").user(&uid)).await;
        *sent
            .entry(response.decision("target").unwrap().to_string())
            .or_default() += 1;
    }
    // Counters reach Envoy once a second: poll, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        let status = status_json(&envoy).await;
        let counted: u64 = status["routes"][0]["requests"]
            .as_object()
            .map_or(0, |m| m.values().filter_map(|v| v.as_u64()).sum());
        if counted >= 200 || std::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(status["revisions"], serde_json::json!(["s1"]));
    assert_eq!(status["routes"][0]["route"], "checkout");
    let requests = &status["routes"][0]["requests"];
    for (target, n) in &sent {
        assert_eq!(requests[target].as_u64(), Some(*n), "{target}: {status}");
    }
}
