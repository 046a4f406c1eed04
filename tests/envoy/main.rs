//! End-to-end suites: `dist/switchyard.wasm` in a real Envoy (1.36 or later; `make envoy` gets
//! 1.40) on its V8 runtime with two workers, configured from the files in `envoy/` that users
//! copy, in front of tokio upstreams that record what reaches them. One file per concern; the
//! harness is `harness.rs`.
//!
//! The Envoy binary is `SWITCHYARD_ENVOY` (`make test` sets it), else `.venv/bin/envoy`, else an
//! `envoy` on `PATH`; without one the suite fails and says to run `make envoy`. Tests that start
//! Envoy run one at a time. Statistical claims are bounded by the binomial mean ± 6 standard
//! deviations of their sample size, stated next to each.

#[path = "../common/growthbook.rs"]
mod growthbook;
mod harness;
mod metrics;
#[path = "../common/rfc3339.rs"]
mod rfc3339;
#[path = "../common/stats.rs"]
mod stats;

mod cli;
mod compare;
mod guard;
mod hostile;
mod overrides;
mod push_storm;
mod pushes;
mod release;
mod routing;
mod spoofing;
mod validate;
