//! Switchyard: traffic shifting (canary, A/B cohorts, shadow, blue-green) as a proxy-wasm HTTP
//! filter for Envoy and Istio.
//!
//! `config` reads the contract and compiles it into a `plan`; `engine` decides per request from
//! the plan and a `request` view, with `hash` (GrowthBook-compatible) and no proxy-wasm in sight;
//! `filter` is the thin proxy-wasm skin that reads headers, asks the engine and writes headers.

// A panic in a proxy-wasm filter is a trap, and a trap is a 503 for every request on that worker.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod cidr;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod config;
pub mod engine;
pub mod filter;
pub mod hash;
pub mod json;
pub mod plan;
pub mod random;
pub mod request;
pub mod time;

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    filter::start();
}}
