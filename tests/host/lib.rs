//! A proxy-wasm host for tests, on wasmtime: it loads a compiled filter and plays Envoy around it
//! (ABI 0.2.1 as the Rust SDK 0.2.5 calls it, with Envoy's status codes, wire formats, lifecycle
//! and WASI calls), so tests and benches can drive the real module request by request.
//!
//! ```ignore
//! let host = Host::new(&MINIMAL_FILTER);          // the "proxy": what Envoy's workers share
//! let mut vm = host.vm();                          // one worker's VM, started
//! assert!(vm.configure("{}"));                    // proxy_on_configure
//! let mut stream = vm.stream();                    // an HTTP context
//! let action = stream.request_headers(&[(":authority", "a.example"), (":path", "/")]);
//! assert_eq!(action, Action::Continue);
//! assert_eq!(stream.request_header("x-switchyard-cluster").as_deref(), Some("fixture"));
//! println!("{} instructions", stream.vm().last_call_fuel());
//! ```
//!
//! Everything a test observes is per `Host` (nothing is global but the engine and the compiled
//! modules), so tests run in parallel. A trap fails the test with the wasm backtrace; an import the host does not
//! implement traps with its name.

mod abi;
mod clock;
mod headers;
mod memory;
mod metrics;
mod module;
mod properties;
mod shared;
mod state;
mod types;
mod vm;
mod wasi;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub use self::{
    clock::Clock,
    module::{MINIMAL_FILTER, SWITCHYARD, WasmFile},
    state::{HttpCall, LocalResponse, LogEntry, StreamControl},
    types::{Action, LogLevel, Status, StreamType},
    vm::{Stream, Vm},
};

use module::LinkedModule;
use state::{Proxy, Settings};

/// The proxy around a module: settings, a clock, shared data, shared queues and metrics, shared
/// by every VM created from it the way Envoy's workers share them for one `vm_id`.
pub struct Host {
    module: LinkedModule,
    proxy: Arc<Proxy>,
    vms_created: AtomicU32,
}

impl Host {
    pub fn new(file: &WasmFile) -> Host {
        Host::with_module(file.linked())
    }

    /// A host for a module written in the WebAssembly text format, e.g. a probe of the host.
    pub fn from_wat(wat: &str) -> Host {
        Host::with_module(LinkedModule::compile(wat.as_bytes()))
    }

    fn with_module(module: LinkedModule) -> Host {
        Host {
            module,
            proxy: Arc::default(),
            vms_created: AtomicU32::new(0),
        }
    }

    /// Seeds WASI `random_get`: the same seed gives every run the same bytes.
    pub fn with_seed(mut self, seed: u64) -> Host {
        self.settings_mut().seed = seed;
        self
    }

    /// What `proxy_get_log_level` answers (default: info, Envoy's default).
    pub fn with_log_level(mut self, level: LogLevel) -> Host {
        self.settings_mut().log_level = level;
        self
    }

    /// Envoy's `vm_config.vm_id`, the namespace of shared queues (default: empty).
    pub fn with_vm_id(mut self, vm_id: &str) -> Host {
        self.settings_mut().vm_id = vm_id.to_string();
        self
    }

    /// Envoy's `vm_config.configuration`, handed to `proxy_on_vm_start` (default: empty).
    pub fn with_vm_configuration(mut self, configuration: impl Into<Vec<u8>>) -> Host {
        self.settings_mut().vm_configuration = configuration.into();
        self
    }

    /// A property every context of every VM reads, e.g. `&["xds", "node", "id"]`.
    pub fn with_property(mut self, path: &[&str], value: impl Into<Vec<u8>>) -> Host {
        self.settings_mut().properties.set(path, value.into());
        self
    }

    /// Plays an older Envoy, one without the foreign function `clear_route_cache`: calling it
    /// returns NotFound.
    pub fn without_clear_route_cache(mut self) -> Host {
        self.settings_mut().clear_route_cache = false;
        self
    }

    fn settings_mut(&mut self) -> &mut Settings {
        let proxy =
            Arc::get_mut(&mut self.proxy).expect("set up a host before creating VMs from it");
        &mut proxy.settings
    }

    /// Creates and starts a VM: a new instance of the module with its root context.
    pub fn vm(&self) -> Vm {
        let index = self.vms_created.fetch_add(1, Ordering::SeqCst);
        Vm::start(&self.module, Arc::clone(&self.proxy), index)
    }

    /// The clock every VM of this host reads.
    pub fn clock(&self) -> &Clock {
        &self.proxy.clock
    }

    /// A counter by the name the module defined it with (Envoy shows it as `wasmcustom.<name>`).
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.proxy.shared().metrics.counter(name)
    }

    /// How many metric definitions the VMs of this host made, repeats of a name included.
    pub fn metric_definitions(&self) -> usize {
        self.proxy.shared().metrics.definitions()
    }

    pub fn gauge(&self, name: &str) -> Option<u64> {
        self.proxy.shared().metrics.gauge(name)
    }

    /// Every value recorded in a histogram, oldest first.
    pub fn histogram(&self, name: &str) -> Option<Vec<u64>> {
        self.proxy.shared().metrics.histogram(name)
    }

    /// A shared-data value and its `cas`.
    pub fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.proxy.shared().data.get(key)
    }

    /// How many shared-data keys there are, and the bytes of all keys and values together.
    pub fn shared_data_size(&self) -> (usize, usize) {
        self.proxy.shared().data.size()
    }

    /// Writes shared data unconditionally, as another plugin of the same `vm_id` could.
    pub fn set_shared_data(&self, key: &str, value: impl Into<Vec<u8>>) {
        self.proxy
            .shared()
            .data
            .set(key, value.into(), 0)
            .expect("an unconditional write succeeds");
    }

    /// Every import of the module, as `module::name`.
    pub fn imports(&self) -> Vec<String> {
        self.module.imports()
    }

    /// The imports the host does not implement and stubbed with traps, as `module::name`.
    pub fn stubbed_imports(&self) -> &[String] {
        self.module.stubbed_imports()
    }
}
