//! The compiled module, `dist/switchyard.wasm`, in the wasmtime host (`tests/host`), next to the
//! smallest routing filter, `dist/minimal-filter.wasm`: wasm instructions (fuel), wall time and
//! host calls per request against route tables of 1 to 10,000 routes, the cost of loading each
//! table, linear memory and module sizes. Checks the performance budgets and reports PASS or FAIL
//! without failing (numbers, not gates), and writes `target/bench/module.md`.

#[path = "common/configs.rs"]
mod configs;
#[path = "common/envoy_request.rs"]
mod envoy_request;
use switchyard_test_host as host;
#[path = "common/report.rs"]
mod report;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use configs::{MATCHED_CLUSTERS, REQUEST, RESPONSE, SIZES};
use host::{Action, Host, MINIMAL_FILTER, SWITCHYARD, Vm, WasmFile};
use report::{duration, thousands};

/// A request costs at most this much more with 10,000 routes than with one.
const ROUTES_BUDGET: f64 = 1.5;
/// Loading 10,000 routes inside the module (`proxy_on_configure`), in milliseconds.
const COMPILE_BUDGET_MS: f64 = 100.0;
/// The size of `dist/switchyard.wasm`, in bytes: the build's budget (Makefile, `WASM_BUDGET`).
const SIZE_BUDGET: u64 = 262_144;
/// A wasm page.
const PAGE_BYTES: u64 = 64 * 1024;

/// How much to run: a real measurement under `cargo bench`, a quick check under `cargo test`.
struct Runs {
    /// Requests before anything is measured: lazy set-up and metric definitions happen once.
    warm_up: usize,
    /// Requests whose fuel is averaged.
    fuel: usize,
    /// Wall time: the median of `batches` batches of `batch` requests.
    batches: usize,
    batch: usize,
    /// Requests whose host calls are counted.
    calls: usize,
    /// Fresh VMs configured with each table, for the load time.
    loads: usize,
}

const BENCH: Runs = Runs {
    warm_up: 200,
    fuel: 200,
    batches: 31,
    batch: 300,
    calls: 100,
    loads: 7,
};

const SMOKE: Runs = Runs {
    warm_up: 2,
    fuel: 2,
    batches: 1,
    batch: 2,
    calls: 2,
    loads: 1,
};

/// What one request costs a VM, on average over the requests measured.
struct PerRequest {
    /// Fuel of the whole stream: context creation, both header callbacks, log, done, delete.
    stream_fuel: Spread,
    /// Fuel of `proxy_on_request_headers` alone.
    headers_fuel: Spread,
    /// Median of the batches' wall time per request, in nanoseconds.
    wall_ns: f64,
    /// Host calls per request by import: over the whole stream, and within
    /// `proxy_on_request_headers`.
    stream_calls: Calls,
    headers_calls: Calls,
}

/// Calls per request, by import name.
type Calls = BTreeMap<&'static str, f64>;

/// Mean, least and most of a per-request count.
#[derive(Clone, Copy)]
struct Spread {
    mean: f64,
    min: u64,
    max: u64,
}

impl Spread {
    fn of(values: &[u64]) -> Spread {
        Spread {
            mean: values.iter().sum::<u64>() as f64 / values.len().max(1) as f64,
            min: values.iter().copied().min().unwrap_or(0),
            max: values.iter().copied().max().unwrap_or(0),
        }
    }

    fn cell(self) -> String {
        let mean = thousands(self.mean.round() as u64);
        if self.min == self.max {
            mean
        } else {
            format!("{mean} ({}–{})", thousands(self.min), thousands(self.max))
        }
    }
}

/// What loading one configuration into a fresh VM costs.
struct Load {
    bytes: usize,
    fuel: u64,
    /// Median over the fresh VMs, in nanoseconds.
    wall_ns: f64,
    /// Linear memory once the configuration is loaded.
    pages: u64,
}

/// One stream, as Envoy runs a GET whose response has no body. Returns the fuel of
/// `proxy_on_request_headers`.
fn request(vm: &mut Vm) -> u64 {
    let mut stream = vm.stream();
    let action = stream.request_headers_with(REQUEST, true);
    debug_assert_eq!(action, Action::Continue);
    let fuel = stream.vm().last_call_fuel();
    stream.response_headers_with(RESPONSE, true);
    stream.finish();
    fuel
}

/// The first request, checked: the module must route it as intended, or the numbers would
/// measure something else.
fn check_routing(vm: &mut Vm, module: &str, expected: &[&str]) {
    let mut stream = vm.stream();
    let action = stream.request_headers_with(REQUEST, true);
    let cluster = stream.request_header("x-switchyard-cluster");
    assert_eq!(action, Action::Continue, "{module} must let the request on");
    assert!(
        cluster.as_deref().is_some_and(|c| expected.contains(&c)),
        "{module} routed the request to {cluster:?}, not one of {expected:?}"
    );
    stream.response_headers_with(RESPONSE, true);
}

/// A VM of `file` configured with `config`, its routing checked, warmed up.
fn prepared_vm(file: &WasmFile, config: &str, expected: &[&str], runs: &Runs) -> Vm {
    let name = file.path().display().to_string();
    let mut vm = Host::new(file).with_seed(7).vm();
    assert!(
        vm.configure(config),
        "{name} rejected the configuration: {:?}",
        vm.logs()
    );
    check_routing(&mut vm, &name, expected);
    for _ in 0..runs.warm_up {
        request(&mut vm);
    }
    vm
}

/// Fuel per request: the whole stream, and `proxy_on_request_headers` alone.
fn fuel(vm: &mut Vm, runs: &Runs) -> (Spread, Spread) {
    let (mut stream, mut headers) = (Vec::new(), Vec::new());
    for _ in 0..runs.fuel {
        let before = vm.fuel_consumed();
        headers.push(request(vm));
        stream.push(vm.fuel_consumed() - before);
    }
    (Spread::of(&stream), Spread::of(&headers))
}

/// Wall time per request of each VM, the median of its batches. The VMs take turns batch by
/// batch, so that whatever else the machine does in the meantime falls on all of them alike.
fn wall_times(vms: &mut [Vm], runs: &Runs) -> Vec<f64> {
    let mut batches = vec![Vec::with_capacity(runs.batches); vms.len()];
    for _ in 0..runs.batches {
        for (vm, batches) in vms.iter_mut().zip(&mut batches) {
            let started = Instant::now();
            for _ in 0..runs.batch {
                request(vm);
            }
            batches.push(started.elapsed().as_nanos() as f64 / runs.batch as f64);
        }
    }
    batches
        .into_iter()
        .map(|mut batches| {
            batches.sort_by(f64::total_cmp);
            batches[batches.len() / 2]
        })
        .collect()
}

/// Host calls per request by import, over the whole stream and within
/// `proxy_on_request_headers`. Leaves counting on, which costs the host a little per call: wall
/// times are measured before.
fn host_calls(vm: &mut Vm, runs: &Runs) -> (Calls, Calls) {
    let (mut stream_calls, mut headers_calls) = (Calls::new(), Calls::new());
    for _ in 0..runs.calls {
        vm.count_host_calls();
        let mut stream = vm.stream();
        let opened = stream.vm().host_calls();
        stream.request_headers_with(REQUEST, true);
        let after_headers = stream.vm().host_calls();
        stream.response_headers_with(RESPONSE, true);
        stream.finish();
        drop(stream);
        for (import, n) in after_headers {
            let before = opened.iter().find(|(i, _)| *i == import).map_or(0, |c| c.1);
            *headers_calls.entry(import).or_insert(0.0) += (n - before) as f64;
        }
        for (import, n) in vm.host_calls() {
            *stream_calls.entry(import).or_insert(0.0) += n as f64;
        }
    }
    for calls in [&mut stream_calls, &mut headers_calls] {
        calls.retain(|_, n| *n > 0.0);
        calls.values_mut().for_each(|n| *n /= runs.calls as f64);
    }
    (stream_calls, headers_calls)
}

fn load(file: &WasmFile, config: &str, runs: &Runs) -> Load {
    let host = Host::new(file);
    let (mut fuel, mut pages) = (0, 0);
    let mut walls: Vec<f64> = (0..runs.loads)
        .map(|_| {
            let mut vm = host.vm();
            let started = Instant::now();
            let accepted = vm.configure(config);
            let wall = started.elapsed().as_nanos() as f64;
            assert!(accepted, "the configuration was rejected: {:?}", vm.logs());
            (fuel, pages) = (vm.last_call_fuel(), vm.memory_pages());
            wall
        })
        .collect();
    walls.sort_by(f64::total_cmp);
    Load {
        bytes: config.len(),
        fuel,
        wall_ns: walls[walls.len() / 2],
        pages,
    }
}

fn file_size(file: &WasmFile) -> u64 {
    std::fs::metadata(file.path()).map_or(0, |m| m.len())
}

fn main() {
    let missing: Vec<String> = [&SWITCHYARD, &MINIMAL_FILTER]
        .iter()
        .filter(|file| !file.exists())
        .map(|file| file.path().display().to_string())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "benches/module.rs measures the compiled modules, and {} missing: build them with \
             `make wasm fixtures`",
            if missing.len() == 1 {
                format!("{} is", missing[0])
            } else {
                format!("{} are", missing.join(" and "))
            }
        );
        std::process::exit(1);
    }
    let bench = report::bench_mode();
    let runs = if bench { &BENCH } else { &SMOKE };
    // `cargo bench --bench module -- --envoy-request`: only the Envoy bench's request, printed.
    if std::env::args().any(|a| a == "--envoy-request") {
        let mut md = String::new();
        envoy_request_markdown(&mut md, runs);
        println!("\n{md}");
        return;
    }

    // Every VM is set up before any is timed: two per table, the filter's and the baseline's.
    let tables: Vec<String> = SIZES.iter().map(|&n| configs::routes(n)).collect();
    let mut vms = Vec::new();
    for (n, config) in SIZES.iter().zip(&tables) {
        eprintln!("module: {n} routes ({} bytes of JSON)", config.len());
        vms.push(prepared_vm(&SWITCHYARD, config, MATCHED_CLUSTERS, runs));
        vms.push(prepared_vm(&MINIMAL_FILTER, config, &["fixture"], runs));
    }
    let fuels: Vec<_> = vms.iter_mut().map(|vm| fuel(vm, runs)).collect();
    eprintln!("module: wall time, {} rounds", runs.batches);
    let walls = wall_times(&mut vms, runs);
    let calls: Vec<_> = vms.iter_mut().map(|vm| host_calls(vm, runs)).collect();
    let mut measured = fuels.into_iter().zip(walls).zip(calls).map(
        |(((stream_fuel, headers_fuel), wall_ns), (stream_calls, headers_calls))| PerRequest {
            stream_fuel,
            headers_fuel,
            wall_ns,
            stream_calls,
            headers_calls,
        },
    );
    let mut results = Vec::new();
    for (&n, config) in SIZES.iter().zip(&tables) {
        let (Some(switchyard), Some(fixture)) = (measured.next(), measured.next()) else {
            unreachable!("two VMs per table");
        };
        eprintln!("module: loading {n} routes");
        results.push((n, switchyard, fixture, load(&SWITCHYARD, config, runs)));
    }
    let fixture_pages = {
        let mut vm = Host::new(&MINIMAL_FILTER).vm();
        vm.configure("{}");
        request(&mut vm);
        vm.memory_pages()
    };

    let mut md = markdown(&results, fixture_pages, runs);
    compared_markdown(&mut md, &results[0].1, runs);
    envoy_request_markdown(&mut md, runs);
    println!("\n{md}");
    if bench {
        report::write_fragment("module.md", &md);
    }
}

type Row = (usize, PerRequest, PerRequest, Load);

/// The bodies a compared request is measured with: the request's and each answer's.
const COMPARED_BODIES: [usize; 2] = [1024, 64 * 1024];

/// A JSON prediction of about `size` bytes: the compared fields, then padding.
fn prediction(size: usize, label: &str) -> Vec<u8> {
    let head = format!(r#"{{"prediction": {{"label": "{label}", "score": 0.91}}, "pad": ""#);
    let mut body = head.into_bytes();
    body.resize(size.saturating_sub(2), b'x');
    body.extend_from_slice(br#""}"#);
    body
}

/// What a request sampled for a shadow comparison costs the VM, everything included: the
/// stream (a POST with a `size`-byte body, a `size`-byte JSON answer), the root context's
/// `on_queue_ready` that sends the copy, and `on_http_call_response` that compares. Returns the
/// mean fuel and host calls by import, over `n` requests.
fn compared(size: usize, fields: bool, n: usize) -> (u64, Calls) {
    let compare = if fields {
        r#"{"fields": ["/prediction/label", "/prediction/score"], "tolerance": 0.001}"#
    } else {
        "{}"
    };
    let config = format!(
        r#"{{"routes": [{{"name": "rank", "stable": "ranker-v2",
        "shadow": {{"cluster": "ranker-v3", "percent": 100, "methods": ["POST"],
          "compare": {compare}}}}}]}}"#
    );
    let mut vm = Host::new(&SWITCHYARD).with_seed(7).vm();
    assert!(vm.configure(&config), "{:?}", vm.logs());
    let request = prediction(size, "request");
    let live = prediction(size, "cat");
    let length = size.to_string();
    let headers = [
        (":method", "POST"),
        (":path", "/v1/rank"),
        (":authority", "ranker.example.com"),
        ("content-type", "application/json"),
        ("content-length", length.as_str()),
        ("x-request-id", "bench"),
    ];
    let run = |vm: &mut Vm| {
        let mut stream = vm.stream();
        stream.request_headers(&headers);
        stream.request_body(&request, true);
        stream.vm().deliver_queue_ready();
        stream.response_headers(&[(":status", "200"), ("content-type", "application/json")]);
        stream.response_body(&live, true);
        stream.finish();
        drop(stream);
        let call = vm.http_calls().last().expect("the copy was sent").token;
        vm.respond_to_http_call(call, &[(":status", "200")], &live, &[]);
    };
    for _ in 0..n {
        run(&mut vm);
    }
    let before = vm.fuel_consumed();
    vm.count_host_calls();
    for _ in 0..n {
        run(&mut vm);
    }
    let fuel = (vm.fuel_consumed() - before) / n as u64;
    let calls = vm
        .host_calls()
        .into_iter()
        .map(|(import, count)| (import, count as f64 / n as f64))
        .collect();
    (fuel, calls)
}

fn compared_markdown(w: &mut String, plain: &PerRequest, runs: &Runs) {
    let n = runs.fuel.min(50);
    let _ = writeln!(w, "\n### A request sampled for a shadow comparison\n");
    let _ = writeln!(
        w,
        "One route with `shadow.compare` (percent 100), a POST whose body and both answers are \
         the size given, compared by two JSON Pointer fields or byte for byte: the whole stream, \
         the root context sending the copy (`on_queue_ready`) and comparing the answer \
         (`on_http_call_response`), the mean of {n} requests after {n} of warm-up. A request \
         that is not sampled pays none of it (the table above).\n"
    );
    let _ = writeln!(
        w,
        "| body | compared by | fuel | host calls | of which | unsampled GET, fuel |"
    );
    let _ = writeln!(w, "|---:|---|---:|---:|---|---:|");
    for (size, fields) in COMPARED_BODIES
        .into_iter()
        .flat_map(|s| [(s, true), (s, false)])
    {
        let (fuel, calls) = compared(size, fields, n);
        let _ = writeln!(
            w,
            "| {} KiB | {} | {} | {} | {} | {} |",
            size / 1024,
            if fields { "2 fields" } else { "bytes" },
            thousands(fuel),
            calls_number(calls.values().sum()),
            listed_calls(&calls),
            plain.stream_fuel.cell(),
        );
    }
}

fn markdown(results: &[Row], fixture_pages: u64, runs: &Runs) -> String {
    let (module_bytes, fixture_bytes) = (file_size(&SWITCHYARD), file_size(&MINIMAL_FILTER));
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "## The module in the wasmtime host\n");
    let _ = writeln!(
        w,
        "`benches/module.rs` runs `dist/switchyard.wasm` in the test host (`tests/host`: wasmtime \
         48, Cranelift, fuel metering on) as Envoy runs a filter: one VM, configured once, then \
         for each request a whole stream (context creation, request headers, response headers, \
         access log, done, delete) with the request and route tables of the engine bench. The \
         baseline is `dist/minimal-filter.wasm`, the smallest filter that routes (it sets one \
         header), built the same way and given the same configuration, which it ignores. Fuel is \
         wasmtime's count of wasm instructions, the same on every machine: the mean over {} \
         requests after {} of warm-up (a range when requests differ). Wall time is the median of \
         {} batches of {} requests, the VMs of every table and both modules taking turns batch by \
         batch; it includes the host's own work and fuel metering, so it \
         compares the two modules here rather than predicting V8 in Envoy. Host calls are \
         counted by import over {} requests. Loading is `proxy_on_configure` in a fresh VM, the \
         median of {}. Measured on {}, commit {}.\n",
        runs.fuel,
        runs.warm_up,
        runs.batches,
        runs.batch,
        runs.calls,
        runs.loads,
        report::machine(),
        report::revision(),
    );

    let _ = writeln!(w, "### Per request\n");
    let _ = writeln!(
        w,
        "| routes | fuel, whole stream | fuel, `proxy_on_request_headers` | wall time | host calls \
         | minimal filter: fuel | wall time | host calls |"
    );
    let _ = writeln!(w, "|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (n, switchyard, fixture, _) in results {
        let calls = |r: &PerRequest| format!("{:.0}", r.stream_calls.values().sum::<f64>());
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            thousands(*n as u64),
            switchyard.stream_fuel.cell(),
            switchyard.headers_fuel.cell(),
            duration(switchyard.wall_ns),
            calls(switchyard),
            fixture.stream_fuel.cell(),
            duration(fixture.wall_ns),
            calls(fixture),
        );
    }

    let _ = writeln!(w, "\n### Host calls per request, by import\n");
    let _ = writeln!(
        w,
        "Calls over the whole stream, and in parentheses those made in \
         `proxy_on_request_headers`.\n"
    );
    let mut imports: Vec<&'static str> = results
        .iter()
        .flat_map(|(_, s, f, _)| s.stream_calls.keys().chain(f.stream_calls.keys()))
        .copied()
        .collect();
    imports.sort_unstable();
    imports.dedup();
    let mut header = "| import | minimal filter |".to_string();
    let mut rule = "|---|---:|".to_string();
    for (n, ..) in results {
        let _ = write!(header, " {} |", routes(*n));
        rule.push_str("---:|");
    }
    let _ = writeln!(w, "{header}\n{rule}");
    let cell = |r: &PerRequest, import: &str| {
        let stream = r.stream_calls.get(import).copied().unwrap_or(0.0);
        let headers = r.headers_calls.get(import).copied().unwrap_or(0.0);
        if stream == 0.0 {
            "–".to_string()
        } else {
            format!("{} ({})", calls_number(stream), calls_number(headers))
        }
    };
    for import in &imports {
        // The fixture's calls do not depend on the table: its first column stands for all.
        let mut row = format!("| `{import}` | {} |", cell(&results[0].2, import));
        for (_, switchyard, ..) in results {
            let _ = write!(row, " {} |", cell(switchyard, import));
        }
        let _ = writeln!(w, "{row}");
    }
    let mut total = format!(
        "| all | {} |",
        calls_number(results[0].2.stream_calls.values().sum())
    );
    for (_, switchyard, ..) in results {
        let _ = write!(
            total,
            " {} ({}) |",
            calls_number(switchyard.stream_calls.values().sum()),
            calls_number(switchyard.headers_calls.values().sum())
        );
    }
    let _ = writeln!(w, "{total}");

    let _ = writeln!(w, "\n### Loading a configuration (`proxy_on_configure`)\n");
    let _ = writeln!(
        w,
        "| routes | JSON bytes | fuel | wall time | linear memory after |"
    );
    let _ = writeln!(w, "|---:|---:|---:|---:|---:|");
    for (n, _, _, loaded) in results {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} |",
            thousands(*n as u64),
            thousands(loaded.bytes as u64),
            thousands(loaded.fuel),
            duration(loaded.wall_ns),
            memory(loaded.pages),
        );
    }
    let _ = writeln!(
        w,
        "\nThe minimal filter's linear memory after a request: {}.",
        memory(fixture_pages)
    );

    let _ = writeln!(w, "\n### Module size\n");
    let _ = writeln!(w, "| module | bytes |");
    let _ = writeln!(w, "|---|---:|");
    let _ = writeln!(
        w,
        "| `dist/switchyard.wasm` | {} |",
        thousands(module_bytes)
    );
    let _ = writeln!(
        w,
        "| `dist/minimal-filter.wasm` | {} |",
        thousands(fixture_bytes)
    );

    let _ = writeln!(w, "\n### Budgets\n");
    for line in budgets(results, module_bytes) {
        println!("{line}");
        let _ = writeln!(w, "- {line}");
    }
    md
}

/// The budget checks, one `PASS …` or `FAIL …` line each.
fn budgets(results: &[Row], module_bytes: u64) -> Vec<String> {
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    let mut lines = Vec::new();
    let first = results.first();
    let last = results.last();
    if let (Some((one, s1, ..)), Some((many, sn, _, loaded))) = (first, last) {
        let fuel = sn.stream_fuel.mean / s1.stream_fuel.mean;
        lines.push(format!(
            "{} fuel per request with {} is {fuel:.2}× that with {} (budget ≤ {ROUTES_BUDGET}×)",
            verdict(fuel <= ROUTES_BUDGET),
            routes(*many),
            routes(*one),
        ));
        let wall = sn.wall_ns / s1.wall_ns;
        lines.push(format!(
            "{} wall time per request with {} is {wall:.2}× that with {} (budget ≤ {ROUTES_BUDGET}×)",
            verdict(wall <= ROUTES_BUDGET),
            routes(*many),
            routes(*one),
        ));
        let ms = loaded.wall_ns / 1e6;
        lines.push(format!(
            "{} loading {} in the module takes {ms:.1} ms (budget < {COMPILE_BUDGET_MS} ms)",
            verdict(ms < COMPILE_BUDGET_MS),
            routes(*many),
        ));
    }
    lines.push(format!(
        "{} dist/switchyard.wasm is {} bytes (budget ≤ {})",
        verdict(module_bytes <= SIZE_BUDGET),
        thousands(module_bytes),
        thousands(SIZE_BUDGET),
    ));
    lines
}

fn routes(n: usize) -> String {
    match n {
        1 => "1 route".into(),
        n => format!("{} routes", thousands(n as u64)),
    }
}

/// Calls per request: whole numbers as such, averages with one decimal.
fn calls_number(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.1}")
    }
}

/// `pages × 64 KiB = n MiB`.
fn memory(pages: u64) -> String {
    let bytes = pages * PAGE_BYTES;
    format!(
        "{pages} pages × 64 KiB = {:.1} MiB",
        bytes as f64 / (1 << 20) as f64
    )
}

/// What one stream of the Envoy bench's request costs a VM: fuel by callback and host calls by
/// import, the means over `runs.fuel` users after `runs.warm_up` others.
struct EnvoyRequest {
    request_headers: f64,
    response_headers: f64,
    stream: f64,
    calls: Calls,
}

/// One stream as Envoy runs the bench's GET against `direct_response`: request headers (end of
/// stream), response headers, a three-byte body, then log, done and delete.
fn envoy_stream(vm: &mut Vm, user: u64) -> (u64, u64) {
    let headers = envoy_request::request(user);
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let mut stream = vm.stream();
    stream.request_headers_with(&headers, true);
    let request_fuel = stream.vm().last_call_fuel();
    stream.response_headers_with(&[(":status", "200"), ("content-length", "3")], false);
    let response_fuel = stream.vm().last_call_fuel();
    stream.response_body(b"ok\n", true);
    stream.finish();
    (request_fuel, response_fuel)
}

fn envoy_vm(file: &WasmFile, config: &str) -> Vm {
    let mut vm = Host::new(file).with_seed(7).vm();
    assert!(vm.configure(config), "{:?}", vm.logs());
    vm
}

fn envoy_request_cost(file: &WasmFile, config: &str, runs: &Runs) -> EnvoyRequest {
    let mut vm = envoy_vm(file, config);
    let mut user = 0;
    for _ in 0..runs.warm_up {
        envoy_stream(&mut vm, user);
        user += 1;
    }
    let (mut request_headers, mut response_headers) = (0, 0);
    let before = vm.fuel_consumed();
    vm.count_host_calls();
    for _ in 0..runs.fuel {
        let (request, response) = envoy_stream(&mut vm, user);
        request_headers += request;
        response_headers += response;
        user += 1;
    }
    let n = runs.fuel as f64;
    EnvoyRequest {
        request_headers: request_headers as f64 / n,
        response_headers: response_headers as f64 / n,
        stream: (vm.fuel_consumed() - before) as f64 / n,
        calls: vm
            .host_calls()
            .into_iter()
            .map(|(import, count)| (import, count as f64 / n))
            .collect(),
    }
}

/// `2 get_header_map_pairs, 3 add_header_map_value`, most first.
fn listed_calls(calls: &Calls) -> String {
    let mut by_import: Vec<_> = calls.iter().filter(|(_, n)| **n > 0.0).collect();
    by_import.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
    let listed: Vec<String> = by_import
        .iter()
        .map(|(import, n)| {
            format!(
                "{} `{}`",
                calls_number(**n),
                import.trim_start_matches("proxy_")
            )
        })
        .collect();
    if listed.is_empty() {
        "–".into()
    } else {
        listed.join(", ")
    }
}

fn envoy_request_markdown(w: &mut String, runs: &Runs) {
    let features = envoy_request::features();
    let bench_config = envoy_request::config().to_string();
    let _ = writeln!(w, "\n### The Envoy bench's request, in the module\n");
    let _ = writeln!(
        w,
        "`bench/envoy.py`'s configuration (`bench/envoy/switchyard.json`: 50 routes) and request \
         (wrk's GET with six cookies, a new user each time, as Envoy hands it over), played as \
         Envoy plays a request answered by `direct_response`: request headers, response headers, \
         a body, log, done, delete. Fuel is the mean over {} users after {} others; the canary \
         takes 10 % of them.\n",
        runs.fuel, runs.warm_up
    );
    let _ = writeln!(
        w,
        "| configuration | fuel, request headers | fuel, response headers | fuel, whole stream | host calls | of which |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---|");
    let minimal = envoy_request_cost(&MINIMAL_FILTER, &bench_config, runs);
    let row = |w: &mut String, what: &str, r: &EnvoyRequest| {
        let _ = writeln!(
            w,
            "| {what} | {} | {} | {} | {} | {} |",
            thousands(r.request_headers.round() as u64),
            thousands(r.response_headers.round() as u64),
            thousands(r.stream.round() as u64),
            calls_number((r.calls.values().sum::<f64>() * 10.0).round() / 10.0),
            listed_calls(&r.calls),
        );
    };
    row(w, "minimal filter", &minimal);
    for (what, config) in &features {
        eprintln!("module: the Envoy bench's request, {what}");
        let cost = envoy_request_cost(&SWITCHYARD, &config.to_string(), runs);
        row(w, what, &cost);
    }

    // Where the instructions of one request go: the fuel burnt by each host call it makes.
    let mut vm = envoy_vm(&SWITCHYARD, &bench_config);
    for user in 0..runs.warm_up as u64 {
        envoy_stream(&mut vm, user);
    }
    vm.trace_host_calls();
    // A user the canary does not take: most requests are such.
    let (request_fuel, response_fuel) = envoy_stream(&mut vm, 1_000_001);
    let trace = vm.host_call_trace();
    let _ = writeln!(
        w,
        "\nOne such request on the stable side, host call by host call: the fuel its callback had \
         burnt when it made each call (the request headers took {}, the response headers {}).\n",
        thousands(request_fuel),
        thousands(response_fuel)
    );
    let _ = writeln!(w, "| call | fuel burnt by then | since the call before |");
    let _ = writeln!(w, "|---|---:|---:|");
    let mut last = 0;
    for (import, burnt) in trace {
        let since = if burnt >= last { burnt - last } else { burnt };
        let _ = writeln!(
            w,
            "| `{}` | {} | {} |",
            import.trim_start_matches("proxy_"),
            thousands(burnt),
            thousands(since)
        );
        last = burnt;
    }
}
