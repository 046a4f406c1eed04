//! The state the host keeps while it plays Envoy: what one host shares with all its VMs
//! (`Proxy`), what one VM owns (`VmState`, the wasmtime store's data) and what one HTTP stream
//! owns (`StreamState`). The host calls in `abi` and `wasi` read and change it; `vm` drives it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use wasmtime::{Memory, TypedFunc};

use super::clock::Clock;
use super::headers::HeaderMap;
use super::properties::Properties;
use super::shared::SharedState;
use super::types::{BufferType, LogLevel, MapType, StreamType};
use super::vm::FUEL_PER_CALL;
use super::wasi::Random;

/// Everything a host shares with the VMs created from it, like Envoy's process with its workers.
#[derive(Debug, Default)]
pub(crate) struct Proxy {
    pub(crate) settings: Settings,
    pub(crate) clock: Clock,
    shared: Mutex<SharedState>,
}

impl Proxy {
    pub(crate) fn shared(&self) -> MutexGuard<'_, SharedState> {
        // A test that panicked while holding the lock has failed already; its data is still sound.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a test sets on a host before creating VMs from it.
#[derive(Debug)]
pub(crate) struct Settings {
    /// Envoy's `vm_config.vm_id`: the namespace of shared data and shared queues.
    pub(crate) vm_id: String,
    /// Envoy's `vm_config.configuration`, handed to `proxy_on_vm_start`.
    pub(crate) vm_configuration: Vec<u8>,
    /// What `proxy_get_log_level` answers; Envoy's default for its `wasm` logger is info.
    pub(crate) log_level: LogLevel,
    /// Seeds every VM's `random_get`.
    pub(crate) seed: u64,
    /// Properties every context sees (`xds.node.*`, `plugin_name`, ...).
    pub(crate) properties: Properties,
    /// Whether the foreign function `clear_route_cache` exists (older Envoys lack it).
    pub(crate) clear_route_cache: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            vm_id: String::new(),
            vm_configuration: Vec::new(),
            log_level: LogLevel::Info,
            seed: 0x5EED,
            properties: Properties::default(),
            clear_route_cache: true,
        }
    }
}

/// The context id Envoy gives the first (and here only) root context of a VM.
pub(crate) const ROOT_CONTEXT_ID: u32 = 1;

/// One log line from `proxy_log`, or from stdout/stderr, which Envoy logs at info/error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub level: LogLevel,
    pub message: String,
}

/// An HTTP call the module dispatched and the test has not answered yet.
#[derive(Clone, Debug)]
pub struct HttpCall {
    pub token: u32,
    /// The context that made the call (the effective one): Envoy cancels the call when that
    /// context goes away, and answers it on that context.
    pub context_id: u32,
    pub upstream: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, Vec<u8>)>,
    /// Zero: no timeout.
    pub timeout: Duration,
}

/// The answer to an HTTP call while `proxy_on_http_call_response` runs.
#[derive(Debug)]
pub(crate) struct HttpCallResponse {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
    pub(crate) trailers: HeaderMap,
}

/// A response the module sent instead of letting the request through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalResponse {
    pub status_code: u32,
    pub details: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// -1 when the module set no gRPC status.
    pub grpc_status: i32,
}

/// A `proxy_continue_stream` or `proxy_close_stream` the module made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamControl {
    Resume(StreamType),
    Close(StreamType),
}

/// Where a root context is in its shutdown (see `Vm::shutdown`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RootLifecycle {
    Running,
    /// `proxy_on_done` returned false: the module will call `proxy_done` when it is ready.
    DonePending,
    /// The module called `proxy_done`; the host deletes the root context after the current call.
    DoneCalled,
    Deleted,
}

/// Which parts of a message the module may touch right now. Envoy hands a map or a body to the
/// module for the callback that delivers it and keeps it available while the module holds the
/// stream (Pause), until the stream continues.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct InScope {
    pub(crate) headers: bool,
    pub(crate) body: bool,
    pub(crate) trailers: bool,
}

/// One direction of a stream: the request or the response, as far as it has arrived.
#[derive(Debug, Default)]
pub(crate) struct Message {
    pub(crate) headers: Option<HeaderMap>,
    pub(crate) body: Vec<u8>,
    pub(crate) trailers: Option<HeaderMap>,
    pub(crate) in_scope: InScope,
}

impl Message {
    /// The body as the module may read it now: empty outside its callback, as in Envoy.
    fn visible_body(&self) -> &[u8] {
        if self.in_scope.body { &self.body } else { &[] }
    }
}

/// One HTTP stream (an HTTP context in the module).
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    pub(crate) request: Message,
    pub(crate) response: Message,
    /// The `end_of_stream` of the body callback running now: Envoy lets the module add trailers
    /// to the last body callback of a direction that has none.
    pub(crate) end_of_stream: bool,
    /// Properties the test set on this stream (`source.address`, `request.*`, ...).
    pub(crate) properties: Properties,
    /// What the module stored with `proxy_set_property` (Envoy's filter state, `wasm.` keys).
    pub(crate) filter_state: HashMap<String, Vec<u8>>,
    pub(crate) local_response: Option<LocalResponse>,
    pub(crate) controls: Vec<StreamControl>,
    pub(crate) route_cache_clears: u32,
    /// Set once `proxy_on_delete` ran: the module can no longer reach this context.
    pub(crate) deleted: bool,
}

/// How often the module called each import of the host, by import name (`proxy_log`,
/// `clock_time_get`, ...). Off until `Vm::count_host_calls`: until then a host call pays one
/// branch for it.
#[derive(Debug, Default)]
pub(crate) struct HostCalls {
    counting: bool,
    by_import: HashMap<&'static str, u64>,
    /// With `Vm::trace_host_calls`: each call in order, with the fuel its callback had burnt
    /// when it was made (where a callback's wasm instructions go, between host calls).
    trace: Option<Vec<(&'static str, u64)>>,
}

impl HostCalls {
    /// Called by every import the host implements, with the import's name.
    #[inline]
    pub(crate) fn record(caller: &mut wasmtime::Caller<'_, VmState>, import: &'static str) {
        if !caller.data().host_calls.counting {
            return;
        }
        let burnt = caller.get_fuel().map_or(0, |left| FUEL_PER_CALL - left);
        let calls = &mut caller.data_mut().host_calls;
        *calls.by_import.entry(import).or_default() += 1;
        if let Some(trace) = &mut calls.trace {
            trace.push((import, burnt));
        }
    }

    /// Records every call with its fuel from now on, as well as counting.
    pub(crate) fn start_trace(&mut self) {
        self.start();
        self.trace = Some(Vec::new());
    }

    /// The calls traced since the last `take_trace`.
    pub(crate) fn take_trace(&mut self) -> Vec<(&'static str, u64)> {
        self.trace.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Counts from zero from now on.
    pub(crate) fn start(&mut self) {
        self.counting = true;
        self.by_import.clear();
    }

    /// The counts so far, by import name in alphabetical order.
    pub(crate) fn counts(&self) -> Vec<(&'static str, u64)> {
        let mut counts: Vec<_> = self.by_import.iter().map(|(&n, &c)| (n, c)).collect();
        counts.sort_unstable();
        counts
    }
}

/// The data of one VM's wasmtime store.
pub(crate) struct VmState {
    pub(crate) proxy: Arc<Proxy>,
    /// Which VM of its host this is (0, 1, ...), like a worker's index.
    pub(crate) index: u32,
    memory: Option<Memory>,
    allocator: Option<TypedFunc<u32, u32>>,
    pub(crate) random: Random,
    /// The context the running callback acts for; `proxy_set_effective_context` changes it.
    pub(crate) current_context: u32,
    pub(crate) root: RootLifecycle,
    pub(crate) streams: HashMap<u32, StreamState>,
    /// The plugin configuration, available only while `proxy_on_configure` runs.
    pub(crate) plugin_configuration: Option<Vec<u8>>,
    /// True while `proxy_on_log` runs (Envoy's access-log phase).
    pub(crate) in_access_log: bool,
    /// Set by `proxy_send_local_response`: Envoy then stops the stream whatever the callback
    /// returns (proxy-wasm-cpp-host's `stopNextIteration`).
    pub(crate) stop_iteration: bool,
    pub(crate) http_calls: Vec<HttpCall>,
    pub(crate) last_http_call_token: u32,
    pub(crate) http_call_response: Option<HttpCallResponse>,
    /// What `proxy_get_status` reports: the outcome of the last failed call-out.
    pub(crate) status: (u32, String),
    pub(crate) tick_period: Option<Duration>,
    pub(crate) logs: Vec<LogEntry>,
    /// Bytes written with WASI `fd_write`, per file descriptor (1 and 2; Envoy refuses others).
    pub(crate) output: BTreeMap<u32, Vec<u8>>,
    /// The module's calls to the host's imports, counted when a bench asks for them.
    pub(crate) host_calls: HostCalls,
}

impl VmState {
    pub(crate) fn new(proxy: Arc<Proxy>, index: u32) -> VmState {
        let random = Random::new(proxy.settings.seed, index);
        VmState {
            proxy,
            index,
            memory: None,
            allocator: None,
            random,
            current_context: ROOT_CONTEXT_ID,
            root: RootLifecycle::Running,
            streams: HashMap::new(),
            plugin_configuration: None,
            in_access_log: false,
            stop_iteration: false,
            http_calls: Vec::new(),
            last_http_call_token: 0,
            http_call_response: None,
            status: (0, String::new()),
            tick_period: None,
            logs: Vec::new(),
            output: BTreeMap::new(),
            host_calls: HostCalls::default(),
        }
    }

    /// Called once the instance exists: host calls need its memory and allocator.
    pub(crate) fn attach(
        &mut self,
        memory: Option<Memory>,
        allocator: Option<TypedFunc<u32, u32>>,
    ) {
        self.memory = memory;
        self.allocator = allocator;
    }

    pub(crate) fn memory(&self) -> Memory {
        self.memory
            .expect("the module exports no `memory`, so the host cannot exchange data with it")
    }

    pub(crate) fn allocator(&self) -> Option<TypedFunc<u32, u32>> {
        self.allocator.clone()
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.proxy.settings
    }

    /// Whether `context_id` names a context the module can still act for.
    pub(crate) fn context_exists(&self, context_id: u32) -> bool {
        (context_id == ROOT_CONTEXT_ID && self.root != RootLifecycle::Deleted)
            || self
                .streams
                .get(&context_id)
                .is_some_and(|stream| !stream.deleted)
    }

    /// The stream the running callback acts for, if it acts for a stream and not the root.
    pub(crate) fn current_stream(&self) -> Option<&StreamState> {
        self.streams
            .get(&self.current_context)
            .filter(|stream| !stream.deleted)
    }

    pub(crate) fn current_stream_mut(&mut self) -> Option<&mut StreamState> {
        self.streams
            .get_mut(&self.current_context)
            .filter(|stream| !stream.deleted)
    }

    /// A header map as the module may read it now, or None when Envoy has none to offer.
    pub(crate) fn readable_map(&self, map_type: MapType) -> Option<&HeaderMap> {
        if let Some(response) = &self.http_call_response {
            match map_type {
                MapType::HttpCallResponseHeaders => return Some(&response.headers),
                MapType::HttpCallResponseTrailers => return Some(&response.trailers),
                _ => {}
            }
        }
        let stream = self.current_stream()?;
        let (request, response) = (&stream.request, &stream.response);
        // In the access-log phase Envoy offers the final request headers and response maps,
        // read-only, and no request trailers.
        let log = self.in_access_log;
        let (map, readable) = match map_type {
            MapType::RequestHeaders => (&request.headers, request.in_scope.headers || log),
            MapType::RequestTrailers => (&request.trailers, request.in_scope.trailers && !log),
            MapType::ResponseHeaders => (&response.headers, response.in_scope.headers || log),
            MapType::ResponseTrailers => (&response.trailers, response.in_scope.trailers || log),
            MapType::GrpcReceiveInitialMetadata
            | MapType::GrpcReceiveTrailingMetadata
            | MapType::HttpCallResponseHeaders
            | MapType::HttpCallResponseTrailers => return None,
        };
        map.as_ref().filter(|_| readable)
    }

    /// A header map as the module may change it now. Trailers that do not exist yet are created
    /// in the last body callback of their direction, as Envoy's `addDecodedTrailers` does.
    pub(crate) fn writable_map(&mut self, map_type: MapType) -> Option<&mut HeaderMap> {
        let stream = self.current_stream_mut()?;
        let end_of_stream = stream.end_of_stream;
        let (message, trailers) = match map_type {
            MapType::RequestHeaders => (&mut stream.request, false),
            MapType::RequestTrailers => (&mut stream.request, true),
            MapType::ResponseHeaders => (&mut stream.response, false),
            MapType::ResponseTrailers => (&mut stream.response, true),
            _ => return None,
        };
        if !trailers {
            return message
                .headers
                .as_mut()
                .filter(|_| message.in_scope.headers);
        }
        if message.trailers.is_none() && message.in_scope.body && end_of_stream {
            message.trailers = Some(HeaderMap::default());
            message.in_scope.trailers = true;
        }
        message
            .trailers
            .as_mut()
            .filter(|_| message.in_scope.trailers)
    }

    /// A buffer as the module may read it now: None is NotFound.
    pub(crate) fn readable_buffer(&self, buffer_type: BufferType) -> Option<&[u8]> {
        match buffer_type {
            BufferType::HttpRequestBody => self
                .current_stream()
                .map(|stream| stream.request.visible_body()),
            BufferType::HttpResponseBody => self
                .current_stream()
                .map(|stream| stream.response.visible_body()),
            BufferType::HttpCallResponseBody => {
                self.http_call_response.as_ref().map(|r| r.body.as_slice())
            }
            BufferType::VmConfiguration => Some(&self.settings().vm_configuration),
            BufferType::PluginConfiguration => self.plugin_configuration.as_deref(),
            BufferType::DownstreamData
            | BufferType::UpstreamData
            | BufferType::GrpcReceiveBuffer
            | BufferType::CallData => None,
        }
    }

    /// A body the module may change now; every other buffer is read-only.
    pub(crate) fn writable_body(&mut self, buffer_type: BufferType) -> Option<&mut Vec<u8>> {
        let stream = self.current_stream_mut()?;
        let message = match buffer_type {
            BufferType::HttpRequestBody => &mut stream.request,
            BufferType::HttpResponseBody => &mut stream.response,
            _ => return None,
        };
        message.in_scope.body.then_some(&mut message.body)
    }
}
