//! Metrics in Envoy: the filter's stats reach `/stats/prometheus` with the labels `route`,
//! `target`, `class`, `experiment`, `variant` and `revision`, through the `stats_tags` of the
//! bootstrap users copy (`envoy/envoy.yaml`), and their values agree with what was served.

use crate::harness::{Envoy, Filter, Req, Upstreams, users};
use std::collections::HashMap;
use std::time::Duration;

/// `name{labels} value` lines of the Prometheus page, keyed by `name{labels}`.
fn samples(page: &str) -> HashMap<String, u64> {
    page.lines()
        .filter(|line| line.starts_with("switchyard_"))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_string(), value.parse::<f64>().ok()? as u64))
        })
        .collect()
}

#[tokio::test]
async fn the_filters_metrics_reach_prometheus_with_their_labels_and_agree_with_the_traffic() {
    let upstreams = Upstreams::start().await;
    let envoy = Envoy::start(&upstreams, Filter::Static(None)).await;

    let mut served: HashMap<String, u64> = HashMap::new();
    let mut variants: HashMap<String, u64> = HashMap::new();
    let mut shadowed = 0;
    for uid in users(200) {
        let response = envoy.send(&Req::get("/checkout/cart").user(&uid)).await;
        assert_eq!(response.status, 200, "{uid}");
        let target = response
            .decision("target")
            .expect("debug is on in demo r1")
            .to_string();
        *served.entry(target).or_default() += 1;
        if let Some(variant) = response.decision("exp.ranker") {
            *variants.entry(variant.to_string()).or_default() += 1;
        }
        shadowed += u64::from(response.decision("shadow") == Some("1"));
    }
    envoy.send(&Req::get("/nowhere")).await;

    // Counters reach Envoy on each worker's next tick (every second): wait until every request
    // is counted, then compare everything.
    let total: u64 = served.values().sum();
    let counted = |metrics: &HashMap<String, u64>| -> u64 {
        metrics
            .iter()
            .filter(|(series, _)| series.starts_with("switchyard_requests_total{"))
            .map(|(_, n)| n)
            .sum()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let metrics = loop {
        let metrics = samples(&envoy.admin_text("/stats/prometheus").await);
        if counted(&metrics) >= total || tokio::time::Instant::now() > deadline {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let page = envoy.admin_text("/stats/prometheus").await;
    let get = |series: &str| metrics.get(series).copied().unwrap_or(0);
    for target in ["stable", "canary"] {
        let count = served.get(target).copied().unwrap_or(0);
        assert!(
            count > 0,
            "no request on {target}: the test needs both sides"
        );
        assert_eq!(
            get(&format!(
                r#"switchyard_requests_total{{route="checkout",target="{target}"}}"#
            )),
            count
        );
        assert_eq!(
            get(&format!(
                r#"switchyard_responses_total{{route="checkout",target="{target}",class="2xx"}}"#
            )),
            count
        );
    }
    for (variant, count) in &variants {
        let series = format!(
            r#"switchyard_enrolled_total{{route="checkout",experiment="ranker",variant="{variant}"}}"#
        );
        assert_eq!(get(&series), *count, "{series}");
    }
    assert_eq!(
        get(r#"switchyard_shadowed_total{route="checkout"}"#),
        shadowed
    );
    assert_eq!(get(r#"switchyard_revision_info{revision="demo-r1"}"#), 1);
    assert!(get("switchyard_config_applied_total{}") >= 1);
    assert!(
        page.contains("# TYPE switchyard_request_duration_milliseconds histogram"),
        "the latency histogram is missing:\n{page}"
    );
    assert!(
        !page
            .lines()
            .any(|l| l.starts_with("switchyard_") && l.contains(';')),
        "a label was left in a metric name: the stats_tags missed it"
    );
}
