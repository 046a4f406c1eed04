//! A VM (one instance of the module, like one Envoy worker's) and the HTTP streams it serves:
//! drives the module's callbacks in Envoy's order, meters the fuel (wasm instructions) each call
//! consumes, and turns a trap into a test failure that shows the wasm backtrace and the module's
//! last log lines.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Instance, Store, TypedFunc, WasmParams, WasmResults};

use super::headers::HeaderMap;
use super::module::LinkedModule;
use super::state::{
    HttpCall, HttpCallResponse, LocalResponse, LogEntry, Message, Proxy, ROOT_CONTEXT_ID,
    RootLifecycle, StreamControl, StreamState, VmState,
};
use super::types::{Action, LogLevel, Status};

/// The fuel each call into the module may burn: far more than any request needs, little enough
/// that an endless loop fails the test within a second or so instead of hanging it.
pub(crate) const FUEL_PER_CALL: u64 = 1_000_000_000;

/// How many of the module's last log lines a trap report shows.
const LOG_LINES_IN_TRAP_REPORT: usize = 20;

/// `proxy_on_http_call_response(context_id, token, headers, body_size, trailers)`.
type HttpCallResponseCallback = TypedFunc<(u32, u32, u32, u32, u32), ()>;

/// The module's exports the host calls. Envoy skips a callback the module does not export, and
/// so does this host.
struct Callbacks {
    initialize: Option<TypedFunc<(), ()>>,
    on_context_create: Option<TypedFunc<(u32, u32), ()>>,
    on_vm_start: Option<TypedFunc<(u32, u32), u32>>,
    on_configure: Option<TypedFunc<(u32, u32), u32>>,
    on_request_headers: Option<TypedFunc<(u32, u32, u32), u32>>,
    on_request_body: Option<TypedFunc<(u32, u32, u32), u32>>,
    on_request_trailers: Option<TypedFunc<(u32, u32), u32>>,
    on_response_headers: Option<TypedFunc<(u32, u32, u32), u32>>,
    on_response_body: Option<TypedFunc<(u32, u32, u32), u32>>,
    on_response_trailers: Option<TypedFunc<(u32, u32), u32>>,
    on_log: Option<TypedFunc<u32, ()>>,
    on_done: Option<TypedFunc<u32, u32>>,
    on_delete: Option<TypedFunc<u32, ()>>,
    on_tick: Option<TypedFunc<u32, ()>>,
    on_http_call_response: Option<HttpCallResponseCallback>,
    on_queue_ready: Option<TypedFunc<(u32, u32), ()>>,
}

impl Callbacks {
    fn find(instance: &Instance, store: &mut Store<VmState>) -> Callbacks {
        Callbacks {
            initialize: typed_export(instance, store, "_initialize"),
            on_context_create: typed_export(instance, store, "proxy_on_context_create"),
            on_vm_start: typed_export(instance, store, "proxy_on_vm_start"),
            on_configure: typed_export(instance, store, "proxy_on_configure"),
            on_request_headers: typed_export(instance, store, "proxy_on_request_headers"),
            on_request_body: typed_export(instance, store, "proxy_on_request_body"),
            on_request_trailers: typed_export(instance, store, "proxy_on_request_trailers"),
            on_response_headers: typed_export(instance, store, "proxy_on_response_headers"),
            on_response_body: typed_export(instance, store, "proxy_on_response_body"),
            on_response_trailers: typed_export(instance, store, "proxy_on_response_trailers"),
            on_log: typed_export(instance, store, "proxy_on_log"),
            on_done: typed_export(instance, store, "proxy_on_done"),
            on_delete: typed_export(instance, store, "proxy_on_delete"),
            on_tick: typed_export(instance, store, "proxy_on_tick"),
            on_http_call_response: typed_export(instance, store, "proxy_on_http_call_response"),
            on_queue_ready: typed_export(instance, store, "proxy_on_queue_ready"),
        }
    }
}

/// The export `name` with the given signature, or None if the module does not export it.
fn typed_export<P: WasmParams, R: WasmResults>(
    instance: &Instance,
    store: &mut Store<VmState>,
    name: &str,
) -> Option<TypedFunc<P, R>> {
    let func = instance.get_func(&mut *store, name)?;
    Some(func.typed(&*store).unwrap_or_else(|error| {
        panic!("the module's export `{name}` has an unexpected signature: {error}")
    }))
}

/// One instance of the module with its root context, started and ready for `configure`.
pub struct Vm {
    store: Store<VmState>,
    instance: Instance,
    callbacks: Callbacks,
    last_context_id: u32,
    last_call_fuel: u64,
    total_fuel: u64,
}

impl Vm {
    /// Instantiates the module and starts it as Envoy does: `_initialize`, then the root context
    /// (`proxy_on_context_create`, `proxy_on_vm_start` with the VM configuration). A module that
    /// refuses to start fails the test, as it fails the VM in Envoy.
    pub(crate) fn start(module: &LinkedModule, proxy: Arc<Proxy>, index: u32) -> Vm {
        let mut store = Store::new(module.engine(), VmState::new(proxy, index));
        // A start function would run during instantiation, so fuel must be there already.
        store
            .set_fuel(FUEL_PER_CALL)
            .expect("the engine meters fuel");
        let instance = module
            .instantiate(&mut store)
            .unwrap_or_else(|error| panic!("instantiating the module failed: {error:?}"));
        let memory = instance.get_memory(&mut store, "memory");
        let allocator = typed_export(&instance, &mut store, "proxy_on_memory_allocate");
        store.data_mut().attach(memory, allocator);
        let callbacks = Callbacks::find(&instance, &mut store);
        let mut vm = Vm {
            store,
            instance,
            callbacks,
            last_context_id: ROOT_CONTEXT_ID,
            last_call_fuel: 0,
            total_fuel: 0,
        };

        if let Some(initialize) = vm.callbacks.initialize.clone() {
            vm.invoke("_initialize", ROOT_CONTEXT_ID, &initialize, ());
        }
        if let Some(create) = vm.callbacks.on_context_create.clone() {
            vm.invoke(
                "proxy_on_context_create",
                ROOT_CONTEXT_ID,
                &create,
                (ROOT_CONTEXT_ID, 0),
            );
        }
        if let Some(start) = vm.callbacks.on_vm_start.clone() {
            let size = wire_size(vm.store.data().settings().vm_configuration.len());
            let started = vm.invoke(
                "proxy_on_vm_start",
                ROOT_CONTEXT_ID,
                &start,
                (ROOT_CONTEXT_ID, size),
            );
            assert!(
                started != 0,
                "proxy_on_vm_start returned false: Envoy would fail this VM"
            );
        }
        vm
    }

    /// Hands the plugin configuration to `proxy_on_configure`; false means Envoy would reject it.
    pub fn configure(&mut self, configuration: impl AsRef<[u8]>) -> bool {
        let Some(configure) = self.callbacks.on_configure.clone() else {
            return true;
        };
        let size = wire_size(configuration.as_ref().len());
        self.store.data_mut().plugin_configuration = Some(configuration.as_ref().to_vec());
        let accepted = self.invoke(
            "proxy_on_configure",
            ROOT_CONTEXT_ID,
            &configure,
            (ROOT_CONTEXT_ID, size),
        );
        self.store.data_mut().plugin_configuration = None;
        accepted != 0
    }

    /// Opens an HTTP stream: a new HTTP context in the module, ready for request headers.
    pub fn stream(&mut self) -> Stream<'_> {
        self.last_context_id += 1;
        let id = self.last_context_id;
        self.store
            .data_mut()
            .streams
            .insert(id, StreamState::default());
        if let Some(create) = self.callbacks.on_context_create.clone() {
            self.invoke(
                "proxy_on_context_create",
                id,
                &create,
                (id, ROOT_CONTEXT_ID),
            );
        }
        Stream {
            vm: self,
            id,
            finished: false,
        }
    }

    /// Fires the root context's timer once (`proxy_on_tick`), whatever its period.
    pub fn tick(&mut self) {
        if let Some(tick) = self.callbacks.on_tick.clone() {
            self.invoke("proxy_on_tick", ROOT_CONTEXT_ID, &tick, ROOT_CONTEXT_ID);
        }
    }

    /// The period the module asked for with `proxy_set_tick_period_milliseconds`, if any.
    pub fn tick_period(&self) -> Option<Duration> {
        self.store.data().tick_period
    }

    /// Delivers the `proxy_on_queue_ready` calls owed to this VM for items enqueued (by any VM of
    /// the host) on queues it registered; Envoy posts them to the registrant's worker. Returns how
    /// many were delivered.
    pub fn deliver_queue_ready(&mut self) -> usize {
        let index = self.store.data().index;
        let ready = self.store.data().proxy.shared().queues.take_ready(index);
        if let Some(on_queue_ready) = self.callbacks.on_queue_ready.clone() {
            for &(context_id, token) in &ready {
                self.invoke(
                    "proxy_on_queue_ready",
                    context_id,
                    &on_queue_ready,
                    (context_id, token),
                );
            }
        }
        ready.len()
    }

    /// The HTTP calls the module dispatched and the test has not answered yet, oldest first.
    pub fn http_calls(&self) -> &[HttpCall] {
        &self.store.data().http_calls
    }

    /// Answers a pending HTTP call: `proxy_on_http_call_response` runs on the context that made
    /// it, as in Envoy.
    pub fn respond_to_http_call(
        &mut self,
        token: u32,
        headers: &[(&str, &str)],
        body: &[u8],
        trailers: &[(&str, &str)],
    ) {
        let response = HttpCallResponse {
            headers: HeaderMap::from_pairs(headers),
            body: body.to_vec(),
            trailers: HeaderMap::from_pairs(trailers),
        };
        let sizes = (
            response.headers.len(),
            response.body.len(),
            response.trailers.len(),
        );
        let context_id = self.take_http_call(token);
        self.store.data_mut().http_call_response = Some(response);
        self.call_http_call_response(context_id, token, sizes);
        self.store.data_mut().http_call_response = None;
    }

    /// Fails a pending HTTP call the way Envoy reports a reset: an empty response, and
    /// `proxy_get_status` answering BrokenConnection with the message "reset" meanwhile.
    pub fn reset_http_call(&mut self, token: u32) {
        let context_id = self.take_http_call(token);
        self.store.data_mut().status = (Status::BrokenConnection as u32, "reset".to_string());
        self.call_http_call_response(context_id, token, (0, 0, 0));
        self.store.data_mut().status.1.clear();
    }

    /// Removes a pending call; the context that made it.
    fn take_http_call(&mut self, token: u32) -> u32 {
        let calls = &mut self.store.data_mut().http_calls;
        let position = calls.iter().position(|call| call.token == token);
        let position = position.unwrap_or_else(|| panic!("no pending HTTP call has token {token}"));
        calls.remove(position).context_id
    }

    fn call_http_call_response(
        &mut self,
        context_id: u32,
        token: u32,
        (headers, body, trailers): (usize, usize, usize),
    ) {
        if let Some(respond) = self.callbacks.on_http_call_response.clone() {
            let params = (
                context_id,
                token,
                wire_size(headers),
                wire_size(body),
                wire_size(trailers),
            );
            self.invoke("proxy_on_http_call_response", context_id, &respond, params);
        }
    }

    /// Retires the root context as Envoy does when the plugin goes away: `proxy_on_done`, and
    /// `proxy_on_delete` once done. Returns false if the module deferred; the host then deletes
    /// the root context after the module calls `proxy_done` (from a tick or a call-out answer).
    pub fn shutdown(&mut self) -> bool {
        let done = match self.callbacks.on_done.clone() {
            Some(on_done) => {
                self.invoke("proxy_on_done", ROOT_CONTEXT_ID, &on_done, ROOT_CONTEXT_ID) != 0
            }
            None => true,
        };
        if done {
            self.delete_root();
        } else {
            self.store.data_mut().root = RootLifecycle::DonePending;
        }
        done
    }

    /// Whether the root context is gone (see `shutdown`).
    pub fn root_deleted(&self) -> bool {
        self.store.data().root == RootLifecycle::Deleted
    }

    fn delete_root(&mut self) {
        // Marked first: `invoke` deletes a root that called `proxy_done`, once.
        self.store.data_mut().root = RootLifecycle::Deleted;
        if let Some(on_delete) = self.callbacks.on_delete.clone() {
            self.invoke(
                "proxy_on_delete",
                ROOT_CONTEXT_ID,
                &on_delete,
                ROOT_CONTEXT_ID,
            );
        }
    }

    /// Everything the module logged, through `proxy_log` or stdout/stderr, oldest first.
    pub fn logs(&self) -> &[LogEntry] {
        &self.store.data().logs
    }

    pub fn logs_at(&self, level: LogLevel) -> Vec<&str> {
        self.logs()
            .iter()
            .filter(|entry| entry.level == level)
            .map(|entry| entry.message.as_str())
            .collect()
    }

    /// The bytes the module wrote to a file descriptor with WASI `fd_write` (1 or 2).
    pub fn output(&self, fd: u32) -> &[u8] {
        self.store.data().output.get(&fd).map_or(&[], Vec::as_slice)
    }

    /// The fuel (wasm instructions, in wasmtime's count) every call into this VM has consumed.
    pub fn fuel_consumed(&self) -> u64 {
        self.total_fuel
    }

    /// The fuel the last call into the module consumed, host calls it made included.
    pub fn last_call_fuel(&self) -> u64 {
        self.last_call_fuel
    }

    /// The size of the module's linear memory now, in wasm pages of 64 KiB. It only grows.
    pub fn memory_pages(&self) -> u64 {
        self.store.data().memory().size(&self.store)
    }

    /// Counts this VM's host calls by import name from now on, from zero (`host_calls`). Off by
    /// default: benches turn it on to see what a request asks of the proxy.
    pub fn count_host_calls(&mut self) {
        self.store.data_mut().host_calls.start();
    }

    /// Counts host calls, and records each with the fuel its callback had burnt when it was
    /// made: the calls of a callback, in order, show where its instructions go.
    pub fn trace_host_calls(&mut self) {
        self.store.data_mut().host_calls.start_trace();
    }

    /// The calls traced since the last time this was asked, in order: the import's name and the
    /// fuel burnt by then in the callback that made it (see `last_call_fuel` for its end).
    pub fn host_call_trace(&mut self) -> Vec<(&'static str, u64)> {
        self.store.data_mut().host_calls.take_trace()
    }

    /// The calls to each import counted since `count_host_calls`, by import name (`proxy_log`,
    /// `clock_time_get`, ...) in alphabetical order; empty when counting is off.
    pub fn host_calls(&self) -> Vec<(&'static str, u64)> {
        self.store.data().host_calls.counts()
    }

    /// Calls any export of the module, on behalf of the root context; for modules written to
    /// probe the host rather than to filter.
    pub fn call<P: WasmParams, R: WasmResults>(&mut self, export: &str, params: P) -> R {
        let func = typed_export(&self.instance, &mut self.store, export)
            .unwrap_or_else(|| panic!("the module exports no function `{export}`"));
        self.invoke(export, ROOT_CONTEXT_ID, &func, params)
    }

    /// Runs one call into the module for `context_id`, metering its fuel. A trap fails the test.
    fn invoke<P: WasmParams, R: WasmResults>(
        &mut self,
        name: &str,
        context_id: u32,
        func: &TypedFunc<P, R>,
        params: P,
    ) -> R {
        self.store.data_mut().current_context = context_id;
        self.store
            .set_fuel(FUEL_PER_CALL)
            .expect("the engine meters fuel");
        let outcome = func.call(&mut self.store, params);
        self.last_call_fuel =
            FUEL_PER_CALL - self.store.get_fuel().expect("the engine meters fuel");
        self.total_fuel += self.last_call_fuel;
        let result =
            outcome.unwrap_or_else(|trap| panic!("{}", self.trap_report(name, context_id, &trap)));
        if self.store.data().root == RootLifecycle::DoneCalled {
            self.delete_root();
        }
        result
    }

    fn trap_report(&self, name: &str, context_id: u32, trap: &wasmtime::Error) -> String {
        let mut report = format!("wasm trap in {name} (context {context_id}): {trap:?}");
        let logs = self.logs();
        let last = &logs[logs.len().saturating_sub(LOG_LINES_IN_TRAP_REPORT)..];
        if !last.is_empty() {
            report.push_str("\nthe module's last log lines:");
            for entry in last {
                report.push_str(&format!("\n  [{:?}] {}", entry.level, entry.message));
            }
        }
        report
    }

    /// Runs a stream callback. After a local response Envoy stops the stream whatever the module
    /// returned.
    fn stream_callback<P: WasmParams>(
        &mut self,
        name: &str,
        stream_id: u32,
        func: Option<TypedFunc<P, u32>>,
        params: P,
    ) -> Action {
        let Some(func) = func else {
            return Action::Continue;
        };
        let action = Action::from_abi(self.invoke(name, stream_id, &func, params));
        if std::mem::take(&mut self.store.data_mut().stop_iteration) {
            Action::Pause
        } else {
            action
        }
    }
}

/// The two directions of a stream, to share the code that delivers them.
#[derive(Clone, Copy)]
enum Direction {
    Request,
    Response,
}

/// One HTTP stream through the VM, from its headers to its end. Dropping it ends it as Envoy
/// ends a stream (`finish`), unless the test already did.
pub struct Stream<'vm> {
    vm: &'vm mut Vm,
    id: u32,
    finished: bool,
}

impl Stream<'_> {
    /// The stream's context id in the module.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The VM, to answer HTTP calls, fire ticks or read logs while the stream is open.
    pub fn vm(&mut self) -> &mut Vm {
        self.vm
    }

    /// Sets a property this stream's contexts read, e.g. `&["source", "address"]`.
    pub fn set_property(&mut self, path: &[&str], value: impl Into<Vec<u8>>) {
        self.state_mut().properties.set(path, value.into());
    }

    /// Delivers the request headers, as for a request whose body or trailers may follow.
    pub fn request_headers(&mut self, headers: &[(&str, &str)]) -> Action {
        self.request_headers_with(headers, false)
    }

    pub fn request_headers_with(
        &mut self,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Action {
        self.deliver_headers(Direction::Request, headers, end_of_stream)
    }

    /// Delivers request headers whose values are bytes, e.g. not UTF-8 (Envoy's HTTP/1 codec
    /// lets obs-text 0x80-0xFF through).
    pub fn request_headers_bytes(&mut self, headers: &[(&str, &[u8])]) -> Action {
        self.deliver_headers(Direction::Request, headers, false)
    }

    pub fn request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Action {
        self.deliver_body(Direction::Request, chunk, end_of_stream)
    }

    pub fn request_trailers(&mut self, trailers: &[(&str, &str)]) -> Action {
        self.deliver_trailers(Direction::Request, trailers)
    }

    /// Delivers the response headers, as for a response whose body or trailers may follow.
    pub fn response_headers(&mut self, headers: &[(&str, &str)]) -> Action {
        self.response_headers_with(headers, false)
    }

    pub fn response_headers_with(
        &mut self,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Action {
        self.deliver_headers(Direction::Response, headers, end_of_stream)
    }

    pub fn response_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Action {
        self.deliver_body(Direction::Response, chunk, end_of_stream)
    }

    pub fn response_trailers(&mut self, trailers: &[(&str, &str)]) -> Action {
        self.deliver_trailers(Direction::Response, trailers)
    }

    /// Ends the stream in Envoy's order: the access log (`proxy_on_log`), then the filter's
    /// destruction (`proxy_on_done`, `proxy_on_delete`).
    pub fn finish(&mut self) {
        assert!(!self.finished, "stream {} is finished already", self.id);
        self.finished = true;
        let callbacks = &self.vm.callbacks;
        let (on_log, on_done, on_delete) = (
            callbacks.on_log.clone(),
            callbacks.on_done.clone(),
            callbacks.on_delete.clone(),
        );
        if let Some(on_log) = on_log {
            self.vm.store.data_mut().in_access_log = true;
            self.vm.invoke("proxy_on_log", self.id, &on_log, self.id);
            self.vm.store.data_mut().in_access_log = false;
        }
        if let Some(on_done) = on_done {
            // Envoy ignores what an HTTP context answers; only root contexts may defer.
            self.vm.invoke("proxy_on_done", self.id, &on_done, self.id);
        }
        if let Some(on_delete) = on_delete {
            self.vm
                .invoke("proxy_on_delete", self.id, &on_delete, self.id);
        }
        self.state_mut().deleted = true;
        // Envoy's `Context::~Context` cancels the calls the stream's context made.
        let id = self.id;
        self.vm
            .store
            .data_mut()
            .http_calls
            .retain(|call| call.context_id != id);
    }

    /// The request headers as they stand now, changes by the module included.
    pub fn request_header_map(&self) -> Vec<(String, Vec<u8>)> {
        map_entries(self.state().request.headers.as_ref())
    }

    /// One request header's first value, as text.
    pub fn request_header(&self, name: &str) -> Option<String> {
        header_text(self.state().request.headers.as_ref(), name)
    }

    pub fn request_trailer_map(&self) -> Vec<(String, Vec<u8>)> {
        map_entries(self.state().request.trailers.as_ref())
    }

    /// The request body as the module last saw it (everything buffered while it paused).
    pub fn request_body_bytes(&self) -> &[u8] {
        &self.state().request.body
    }

    pub fn response_header_map(&self) -> Vec<(String, Vec<u8>)> {
        map_entries(self.state().response.headers.as_ref())
    }

    pub fn response_header(&self, name: &str) -> Option<String> {
        header_text(self.state().response.headers.as_ref(), name)
    }

    pub fn response_trailer_map(&self) -> Vec<(String, Vec<u8>)> {
        map_entries(self.state().response.trailers.as_ref())
    }

    pub fn response_body_bytes(&self) -> &[u8] {
        &self.state().response.body
    }

    /// The response the module sent instead of letting the request through, if it did.
    pub fn local_response(&self) -> Option<&LocalResponse> {
        self.state().local_response.as_ref()
    }

    /// Every `proxy_continue_stream` and `proxy_close_stream` the module made, in order.
    pub fn controls(&self) -> &[StreamControl] {
        &self.state().controls
    }

    /// How often the module called the foreign function `clear_route_cache` for this stream.
    pub fn route_cache_clears(&self) -> u32 {
        self.state().route_cache_clears
    }

    /// What the module stored with `proxy_set_property` under `path` (its segments joined by NUL,
    /// as the SDK sends them); Envoy keeps it as filter state `wasm.<path>`.
    pub fn filter_state(&self, path: &str) -> Option<&[u8]> {
        self.state().filter_state.get(path).map(Vec::as_slice)
    }

    fn deliver_headers<V: AsRef<[u8]>>(
        &mut self,
        direction: Direction,
        headers: &[(&str, V)],
        end_of_stream: bool,
    ) -> Action {
        let map = HeaderMap::from_pairs(headers);
        let count = wire_size(map.len());
        let message = self.message_mut(direction);
        message.headers = Some(map);
        message.in_scope.headers = true;
        let (name, callback) = match direction {
            Direction::Request => (
                "proxy_on_request_headers",
                self.vm.callbacks.on_request_headers.clone(),
            ),
            Direction::Response => (
                "proxy_on_response_headers",
                self.vm.callbacks.on_response_headers.clone(),
            ),
        };
        let action = self.vm.stream_callback(
            name,
            self.id,
            callback,
            (self.id, count, u32::from(end_of_stream)),
        );
        if action == Action::Continue {
            self.message_mut(direction).in_scope.headers = false;
        }
        action
    }

    /// While the module holds a body (its last body callback paused), Envoy buffers: the next
    /// callback sees everything received so far. Otherwise it sees the new chunk alone.
    fn deliver_body(&mut self, direction: Direction, chunk: &[u8], end_of_stream: bool) -> Action {
        let message = self.message_mut(direction);
        if !message.in_scope.body {
            message.body.clear();
        }
        message.body.extend_from_slice(chunk);
        message.in_scope.body = true;
        let size = wire_size(message.body.len());
        self.state_mut().end_of_stream = end_of_stream;
        let (name, callback) = match direction {
            Direction::Request => (
                "proxy_on_request_body",
                self.vm.callbacks.on_request_body.clone(),
            ),
            Direction::Response => (
                "proxy_on_response_body",
                self.vm.callbacks.on_response_body.clone(),
            ),
        };
        let action = self.vm.stream_callback(
            name,
            self.id,
            callback,
            (self.id, size, u32::from(end_of_stream)),
        );
        self.state_mut().end_of_stream = false;
        if action == Action::Continue {
            self.message_mut(direction).in_scope.body = false;
        }
        action
    }

    fn deliver_trailers(&mut self, direction: Direction, trailers: &[(&str, &str)]) -> Action {
        let map = HeaderMap::from_pairs(trailers);
        let count = wire_size(map.len());
        let message = self.message_mut(direction);
        message.trailers = Some(map);
        message.in_scope.trailers = true;
        let (name, callback) = match direction {
            Direction::Request => (
                "proxy_on_request_trailers",
                self.vm.callbacks.on_request_trailers.clone(),
            ),
            Direction::Response => (
                "proxy_on_response_trailers",
                self.vm.callbacks.on_response_trailers.clone(),
            ),
        };
        let action = self
            .vm
            .stream_callback(name, self.id, callback, (self.id, count));
        if action == Action::Continue {
            self.message_mut(direction).in_scope.trailers = false;
        }
        action
    }

    fn state(&self) -> &StreamState {
        &self.vm.store.data().streams[&self.id]
    }

    fn state_mut(&mut self) -> &mut StreamState {
        self.vm
            .store
            .data_mut()
            .streams
            .get_mut(&self.id)
            .expect("an open stream has state")
    }

    fn message_mut(&mut self, direction: Direction) -> &mut Message {
        let state = self.state_mut();
        match direction {
            Direction::Request => &mut state.request,
            Direction::Response => &mut state.response,
        }
    }
}

impl Drop for Stream<'_> {
    fn drop(&mut self) {
        // Calling into the module while a test is failing would only bury the first panic.
        if !self.finished && !std::thread::panicking() {
            self.finish();
        }
        self.vm.store.data_mut().streams.remove(&self.id);
    }
}

fn map_entries(map: Option<&HeaderMap>) -> Vec<(String, Vec<u8>)> {
    map.map(|map| map.entries().to_vec()).unwrap_or_default()
}

fn header_text(map: Option<&HeaderMap>, name: &str) -> Option<String> {
    let value = map?.get(name)?;
    let text = String::from_utf8(value.to_vec());
    Some(text.unwrap_or_else(|_| {
        panic!("header `{name}` is not UTF-8; read it from the header map as bytes")
    }))
}

/// Sizes and counts travel as the module's `usize`, which is 32 bits on wasm32.
fn wire_size(size: usize) -> u32 {
    u32::try_from(size).expect("a size that fits the module's 32-bit usize")
}
