//! Tests of the test host itself (tests/host): with the minimal fixture filter, with a WAT probe
//! that makes host calls directly, and with the real module once `make wasm` has built it.

use switchyard_test_host as host;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, UNIX_EPOCH};

use host::{Action, Host, MINIMAL_FILTER, SWITCHYARD, Status, Vm};

const PROBE_WAT: &str = include_str!("fixtures/host-probe.wat");

const REQUEST: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":authority", "a.example"),
    (":path", "/"),
    ("user-agent", "smoke"),
];

/// One request through a stream, as Envoy would run it for a response without body.
fn run_request(vm: &mut Vm) {
    let mut stream = vm.stream();
    assert_eq!(stream.request_headers(REQUEST), Action::Continue);
    assert_eq!(
        stream.response_headers_with(&[(":status", "200")], true),
        Action::Continue
    );
}

#[test]
fn fixture_imports_nothing_the_host_lacks() {
    let host = Host::new(&MINIMAL_FILTER);
    println!(
        "imports of {}:\n  {}",
        MINIMAL_FILTER.path().display(),
        host.imports().join("\n  ")
    );
    assert!(
        host.stubbed_imports().is_empty(),
        "stubbed: {:?}",
        host.stubbed_imports()
    );
}

#[test]
fn fixture_accepts_its_configuration() {
    let mut vm = Host::new(&MINIMAL_FILTER).vm();
    assert!(vm.configure("{}"));
}

#[test]
fn fixture_routes_on_request_headers() {
    let mut vm = Host::new(&MINIMAL_FILTER).vm();
    assert!(vm.configure("{}"));
    let mut stream = vm.stream();

    assert_eq!(stream.request_headers(REQUEST), Action::Continue);

    assert_eq!(
        stream.request_header("x-switchyard-cluster").as_deref(),
        Some("fixture")
    );
    let mut expected: Vec<(String, Vec<u8>)> = REQUEST
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    expected.push(("x-switchyard-cluster".to_string(), b"fixture".to_vec()));
    assert_eq!(stream.request_header_map(), expected);
    assert_eq!(stream.route_cache_clears(), 0);
    assert!(stream.local_response().is_none());
}

#[test]
fn fuel_per_request_is_counted_and_repeatable() {
    let host = Host::new(&MINIMAL_FILTER);
    let measure = || {
        let mut vm = host.vm();
        assert!(vm.configure("{}"));
        // Warm up: the first requests grow the module's allocator and context maps.
        for _ in 0..10 {
            run_request(&mut vm);
        }
        let before = vm.fuel_consumed();
        run_request(&mut vm);
        let per_request = vm.fuel_consumed() - before;
        let mut stream = vm.stream();
        stream.request_headers(REQUEST);
        let request_headers = stream.vm().last_call_fuel();
        (per_request, request_headers)
    };

    let (per_request, request_headers) = measure();
    println!(
        "fixture fuel: {per_request} per request (whole lifecycle), {request_headers} in proxy_on_request_headers"
    );
    assert!(request_headers > 0);
    assert!(per_request > request_headers);
    assert_eq!(
        measure(),
        (per_request, request_headers),
        "fuel is deterministic for the same calls"
    );
}

#[test]
fn an_import_the_host_lacks_traps_with_its_name() {
    let host = Host::from_wat(PROBE_WAT);
    assert_eq!(host.stubbed_imports(), ["env::proxy_not_in_envoy"]);
    let mut vm = host.vm();

    let panic = catch_unwind(AssertUnwindSafe(|| {
        vm.call::<(), i32>("call_not_in_envoy", ())
    }))
    .expect_err("calling a stubbed import must trap");

    let message = panic
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(message.contains("env::proxy_not_in_envoy"), "{message}");
    assert!(message.contains("wasm backtrace"), "{message}");
}

#[test]
fn shared_data_compare_and_swap_spans_the_vms_of_a_host() {
    let host = Host::from_wat(PROBE_WAT);
    let (mut a, mut b) = (host.vm(), host.vm());
    let set =
        |vm: &mut Vm, value: i64, cas: i32| vm.call::<(i64, i32), i32>("shared_set", (value, cas));
    let cas = |vm: &mut Vm| vm.call::<(), i32>("shared_cas", ());
    let ok = Status::Ok as i32;

    assert_eq!(cas(&mut a), -(Status::NotFound as i32));
    assert_eq!(set(&mut a, 7, 0), ok, "cas 0 writes unconditionally");
    let first = cas(&mut a);
    assert_ne!(first, 0);
    assert_eq!(cas(&mut b), first, "both VMs see the same entry");
    assert_eq!(b.call::<(), i64>("shared_value", ()), 7);

    assert_eq!(set(&mut b, 8, first), ok, "the current cas wins");
    let second = cas(&mut b);
    assert_ne!(second, first);
    assert_eq!(
        set(&mut a, 9, first),
        Status::CasMismatch as i32,
        "a stale cas loses"
    );
    assert_eq!(
        host.shared_data("counter"),
        Some((8i64.to_le_bytes().to_vec(), second as u32))
    );

    assert_eq!(set(&mut a, 9, 0), ok);
    assert_eq!(b.call::<(), i64>("shared_value", ()), 9);
}

#[test]
fn the_test_controls_the_clock() {
    let host = Host::from_wat(PROBE_WAT);
    let mut vm = host.vm();
    let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap();
    let wall = vm.call::<i32, i64>("wasi_clock", 0);
    let monotonic = vm.call::<i32, i64>("wasi_clock", 1);
    assert_eq!(
        wall,
        nanos(host.clock().wall_time().duration_since(UNIX_EPOCH).unwrap())
    );
    assert_eq!(
        vm.call::<(), i64>("proxy_time", ()),
        wall,
        "WASI and proxy-wasm read one clock"
    );

    host.clock().advance(Duration::from_millis(1500));
    assert_eq!(
        vm.call::<i32, i64>("wasi_clock", 0),
        wall + nanos(Duration::from_millis(1500))
    );
    assert_eq!(
        vm.call::<i32, i64>("wasi_clock", 1),
        monotonic + nanos(Duration::from_millis(1500))
    );

    host.clock()
        .set_wall_time(UNIX_EPOCH + Duration::from_secs(1_000_000_000));
    assert_eq!(
        vm.call::<(), i64>("proxy_time", ()),
        nanos(Duration::from_secs(1_000_000_000))
    );
    assert_eq!(
        vm.call::<i32, i64>("wasi_clock", 1),
        monotonic + nanos(Duration::from_millis(1500)),
        "steps leave monotonic time alone"
    );

    const WASI_ENOTSUP: i64 = 58;
    assert_eq!(
        vm.call::<i32, i64>("wasi_clock", 2),
        -WASI_ENOTSUP,
        "no CPU-time clocks, as in Envoy"
    );
}

#[test]
fn random_bytes_repeat_for_a_seed() {
    let draws = |host: &Host| {
        let mut vm = host.vm();
        [(); 3].map(|()| vm.call::<(), i64>("random_u64", ()))
    };
    let seeded = Host::from_wat(PROBE_WAT).with_seed(42);
    let first_vm = draws(&seeded);

    assert_eq!(
        draws(&Host::from_wat(PROBE_WAT).with_seed(42)),
        first_vm,
        "same seed, same bytes"
    );
    assert_ne!(draws(&Host::from_wat(PROBE_WAT).with_seed(43)), first_vm);
    assert_ne!(
        draws(&seeded),
        first_vm,
        "each VM of a host draws its own sequence"
    );
}

#[test]
fn real_module_loads_with_every_import_implemented() {
    let host = Host::new(&SWITCHYARD);
    println!(
        "imports of {}:\n  {}",
        SWITCHYARD.path().display(),
        host.imports().join("\n  ")
    );
    assert!(
        host.stubbed_imports().is_empty(),
        "the host lacks: {:?}",
        host.stubbed_imports()
    );
    host.vm();
}
