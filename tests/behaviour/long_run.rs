//! The compiled module over a long run: a million requests through one VM with a representative
//! configuration neither trap nor grow its linear memory once warm, and the wasm instructions a
//! request costs are counted (fuel), next to the smallest routing filter's.

use crate::host::{Action, Host, MINIMAL_FILTER, SWITCHYARD, Vm, WasmFile};

/// A matched route with a sticky canary, an experiment with a variant cluster and a keyed shadow,
/// after a route for another host; debug on, so that every response gets a
/// decision header too.
const REPRESENTATIVE: &str = r#"{
  "revision": "long-run",
  "debug": true,
  "overrides": {"tokens": ["qa-team-token-0123456789abcdef"], "source_cidrs": ["10.0.0.0/8"]},
  "routes": [
    {"name": "static", "match": {"hosts": ["cdn.example.com"]}, "stable": "cdn"},
    {
      "name": "checkout",
      "match": {"hosts": ["shop.example.com", "*.shop.example.com"], "path_prefix": "/checkout",
                "methods": ["GET", "POST"]},
      "stable": "checkout-v1",
      "canary": {"cluster": "checkout-v2", "weight": 10, "sticky": ["cookie:session"],
                 "force": {"header": "x-canary", "cookie": "canary"}},
      "experiments": [{
        "name": "ranker",
        "key": ["cookie:uid", "header:x-user-id"],
        "variants": [{"name": "control", "weight": 0.5},
                     {"name": "treatment", "weight": 0.5, "cluster": "checkout-ranker"}]
      }],
      "shadow": {"cluster": "checkout-v3", "percent": 25, "key": ["cookie:uid"]}
    }
  ]
}"#;

const REQUESTS: usize = 1_000_000;
const WARM_UP: usize = 100_000;
/// Distinct requests cycled through: users with cookies, a few without (random draws), a few
/// with spoofed routing headers, a few for the other route, a few unmatched.
const DISTINCT: usize = 250;

const RESPONSE: &[(&str, &str)] = &[(":status", "200"), ("content-type", "text/html")];

/// The request headers of request `i` of the cycle, as owned strings.
fn request(i: usize) -> Vec<(String, String)> {
    let authority = match i % 16 {
        14 => "cdn.example.com",
        15 => "api.example.org",
        _ => "shop.example.com",
    };
    let method = if i % 8 == 3 { "POST" } else { "GET" };
    let mut headers = vec![
        (":method".to_string(), method.to_string()),
        (":scheme".into(), "https".into()),
        (":authority".into(), authority.into()),
        (":path".into(), format!("/checkout/cart?item={i}")),
        ("user-agent".into(), "Mozilla/5.0 (long run)".into()),
        ("accept".into(), "text/html".into()),
    ];
    if i % 32 != 7 {
        headers.push((
            "cookie".into(),
            format!("lang=en; session=s-{i:04x}; uid=\"user-{i}\""),
        ));
    }
    if i.is_multiple_of(10) {
        headers.push(("x-switchyard-cluster".into(), "evil".into()));
        headers.push(("x-switchyard-exp-ranker".into(), "treatment".into()));
    }
    headers
}

/// One request's whole life in the VM: headers both ways, then the end of the stream.
fn run(vm: &mut Vm, headers: &[(&str, &str)]) -> Option<String> {
    let mut stream = vm.stream();
    assert_eq!(stream.request_headers(headers), Action::Continue);
    assert_eq!(
        stream.response_headers_with(RESPONSE, true),
        Action::Continue
    );
    stream.request_header("x-switchyard-cluster")
}

#[test]
fn a_million_requests_run_without_a_trap_and_memory_stops_growing_after_warm_up() {
    let owned: Vec<Vec<(String, String)>> = (0..DISTINCT).map(request).collect();
    let requests: Vec<Vec<(&str, &str)>> = owned
        .iter()
        .map(|headers| {
            headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect()
        })
        .collect();

    let mut vm = Host::new(&SWITCHYARD).with_seed(7).vm();
    assert!(vm.configure(REPRESENTATIVE), "{:?}", vm.logs());
    let started = std::time::Instant::now();
    let pages_at_start = vm.memory_pages();
    let mut pages_after_warm_up = 0;
    // The clusters chosen in the first and in the last cycle through the distinct requests.
    let mut first_cycle = Vec::with_capacity(DISTINCT);
    let mut last_cycle = Vec::with_capacity(DISTINCT);

    for i in 0..REQUESTS {
        let headers = &requests[i % DISTINCT];
        if i < DISTINCT {
            first_cycle.push(run(&mut vm, headers));
        } else if i >= REQUESTS - DISTINCT {
            last_cycle.push(run(&mut vm, headers));
        } else {
            let mut stream = vm.stream();
            stream.request_headers(headers);
            stream.response_headers_with(RESPONSE, true);
        }
        if i + 1 == WARM_UP {
            pages_after_warm_up = vm.memory_pages();
        }
    }
    let pages_at_end = vm.memory_pages();
    println!(
        "{REQUESTS} requests in {:.1?}; memory {pages_at_start} pages at start, \
         {pages_after_warm_up} after {WARM_UP}, {pages_at_end} at the end",
        started.elapsed()
    );

    assert_eq!(
        pages_at_end, pages_after_warm_up,
        "linear memory grew after warm-up: a leak"
    );
    assert_eq!(
        vm.logs().len(),
        1,
        "only the applied configuration: {:?}",
        vm.logs()
    );
    for cluster in ["checkout-v1", "checkout-v2", "checkout-ranker", "cdn"] {
        assert!(
            first_cycle.contains(&Some(cluster.to_string())),
            "{cluster} never served: {first_cycle:?}"
        );
    }
    assert!(first_cycle.contains(&None), "unmatched requests ran too");
    // REQUESTS is a multiple of DISTINCT: the last cycle is the first one again.
    assert_eq!(REQUESTS % DISTINCT, 0);
    for (i, (first, last)) in first_cycle.iter().zip(&last_cycle).enumerate() {
        if i % 32 != 7 {
            assert_eq!(
                first, last,
                "request {i} has its cookies: the same cluster after a million"
            );
        }
    }
}

/// Fuel for one request after warm-up: (whole lifecycle, `proxy_on_request_headers` alone).
fn fuel_per_request(host: &Host, configuration: &str, headers: &[(&str, &str)]) -> (u64, u64) {
    let mut vm = host.vm();
    assert!(vm.configure(configuration), "{:?}", vm.logs());
    for _ in 0..100 {
        run(&mut vm, headers);
    }
    let before = vm.fuel_consumed();
    run(&mut vm, headers);
    let whole = vm.fuel_consumed() - before;
    let mut stream = vm.stream();
    stream.request_headers(headers);
    let request_headers = stream.vm().last_call_fuel();
    (whole, request_headers)
}

#[test]
fn wasm_instructions_per_request_are_counted_for_the_filter_and_the_smallest_routing_filter() {
    const MATCHED: &[(&str, &str)] = &[
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "shop.example.com"),
        (":path", "/checkout/cart?item=1"),
        ("user-agent", "Mozilla/5.0 (fuel)"),
        ("accept", "text/html"),
        ("cookie", "lang=en; session=s-0001; uid=\"user-1\""),
    ];
    let measure = |file: &WasmFile, configuration: &str| {
        let (first, second) = (
            fuel_per_request(&Host::new(file).with_seed(7), configuration, MATCHED),
            fuel_per_request(&Host::new(file).with_seed(7), configuration, MATCHED),
        );
        assert_eq!(first, second, "fuel is deterministic for the same calls");
        assert!(first.1 > 0 && first.0 > first.1, "{first:?}");
        first
    };

    let (switchyard, switchyard_headers) = measure(&SWITCHYARD, REPRESENTATIVE);
    let (fixture, fixture_headers) = measure(&MINIMAL_FILTER, "{}");
    println!(
        "wasm instructions per request (fuel):\n  \
         switchyard, representative config: {switchyard} per request, \
         {switchyard_headers} in proxy_on_request_headers\n  \
         minimal filter (fixture):           {fixture} per request, \
         {fixture_headers} in proxy_on_request_headers"
    );
}
