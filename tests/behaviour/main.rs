//! Behaviour suites: the compiled module, `dist/switchyard.wasm`, run request by request in the
//! wasmtime host (`tests/host`) as Envoy runs it, one file per capability. One test binary for
//! all of them, so the host and wasmtime are linked once.

#[path = "../common/growthbook.rs"]
mod growthbook;
use switchyard_test_host as host;
#[path = "../common/rfc3339.rs"]
mod rfc3339;
#[path = "../common/stats.rs"]
mod stats;

mod blue_green;
mod canary;
mod compare;
mod configuration;
mod debug;
mod experiments;
mod guard;
mod hostile;
mod long_run;
mod metrics;
mod release;
mod shadow;
mod spoofing;
