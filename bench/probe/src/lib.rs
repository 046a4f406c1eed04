//! The probe: on request headers it makes the host calls its plugin configuration lists, then
//! sets `x-switchyard-cluster: fixture` as the minimal filter does, so that a run of it against
//! the minimal filter prices exactly the listed calls. The configuration is a space-separated
//! list of `<call>` or `<call>*<count>`:
//!
//! - `pairs`: read the request header map (`proxy_get_header_map_pairs`) as the SDK does, into
//!   a `String` and a `Vec` per header;
//! - `raw`: the same call, the map's bytes kept as the host wrote them (as Switchyard reads it);
//! - `add`: add a header `x-probe-<i>: <value>` (`proxy_add_header_map_value`);
//! - `set+<n>`: read the map, then write it back whole with `n` more headers, the cluster header
//!   among them, in one `proxy_set_header_map_pairs` (instead of the final set);
//! - `clock`: read the proxy clock (`proxy_get_current_time_nanoseconds`);
//! - `get`: read a request header by name (`proxy_get_header_map_value`).

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MapType};
use std::rc::Rc;

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| Box::new(ProbeRoot { calls: Rc::new(Vec::new()) }));
}}

#[derive(Clone, Copy)]
enum Call {
    Pairs,
    Raw,
    Add,
    Set(usize),
    Clock,
    Get,
}

struct ProbeRoot {
    calls: Rc<Vec<Call>>,
}

impl Context for ProbeRoot {}

impl RootContext for ProbeRoot {
    fn on_configure(&mut self, _: usize) -> bool {
        let text = self.get_plugin_configuration().unwrap_or_default();
        let mut calls = Vec::new();
        for word in String::from_utf8_lossy(&text).split_whitespace() {
            let (name, count) = word.split_once('*').unwrap_or((word, "1"));
            let Ok(count) = count.parse::<usize>() else {
                return false;
            };
            let call = match name {
                "pairs" => Call::Pairs,
                "raw" => Call::Raw,
                "add" => Call::Add,
                "clock" => Call::Clock,
                "get" => Call::Get,
                _ => match name.strip_prefix("set+").map(str::parse) {
                    Some(Ok(n)) => Call::Set(n),
                    _ => return false,
                },
            };
            calls.extend(std::iter::repeat_n(call, count));
        }
        self.calls = Rc::new(calls);
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(ProbeStream {
            calls: Rc::clone(&self.calls),
        }))
    }
}

struct ProbeStream {
    calls: Rc<Vec<Call>>,
}

impl Context for ProbeStream {}

const NAMES: [&str; 8] = [
    "x-probe-0", "x-probe-1", "x-probe-2", "x-probe-3", "x-probe-4", "x-probe-5", "x-probe-6",
    "x-probe-7",
];

impl HttpContext for ProbeStream {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let mut set_cluster = true;
        let mut added = 0;
        for call in self.calls.iter() {
            match *call {
                Call::Pairs => {
                    let _ = hostcalls::get_map_bytes(MapType::HttpRequestHeaders);
                }
                Call::Raw => {
                    let _ = raw_pairs();
                }
                Call::Add => {
                    let name = NAMES[added % NAMES.len()];
                    added += 1;
                    let _ = hostcalls::add_map_value(MapType::HttpRequestHeaders, name, "canary");
                }
                Call::Set(n) => {
                    let map = hostcalls::get_map_bytes(MapType::HttpRequestHeaders).unwrap_or_default();
                    let mut pairs: Vec<(&str, &[u8])> =
                        map.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
                    pairs.push(("x-switchyard-cluster", b"fixture"));
                    pairs.extend(NAMES.iter().take(n.saturating_sub(1)).map(|k| (*k, &b"canary"[..])));
                    let _ = hostcalls::set_map_bytes(MapType::HttpRequestHeaders, pairs);
                    set_cluster = false;
                }
                Call::Clock => {
                    let _ = hostcalls::get_current_time();
                }
                Call::Get => {
                    let _ = hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, ":path");
                }
            }
        }
        if set_cluster {
            self.set_http_request_header("x-switchyard-cluster", Some("fixture"));
        }
        Action::Continue
    }
}

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn proxy_get_header_map_pairs(map_type: u32, data: *mut *mut u8, size: *mut usize) -> u32;
}

/// The request header map's bytes, in one call, without parsing them.
fn raw_pairs() -> Vec<u8> {
    let (mut data, mut size) = (std::ptr::null_mut(), 0);
    // SAFETY: the host writes a pointer to `size` bytes it got from `proxy_on_memory_allocate`.
    unsafe {
        if proxy_get_header_map_pairs(0, &mut data, &mut size) != 0 || data.is_null() {
            return Vec::new();
        }
        Vec::from_raw_parts(data, size, size)
    }
}
