//! The `env.proxy_*` imports: every host call the Rust SDK 0.2.5 can make (the 37 functions of
//! its `hostcalls.rs`), answered with Envoy's status codes and rules as read in a recent Envoy's
//! `source/extensions/common/wasm/context.cc` and proxy-wasm-cpp-host's `src/exports.cc`. gRPC is not simulated: calls and streams
//! fail as they do in Envoy when the cluster is unknown.

use std::time::Duration;

use wasmtime::{Caller, Linker};

use super::headers::HeaderMap;
use super::memory::{
    HostResult, hand_over, read_bytes, read_string, status_code, write_u32, write_u64,
};
use super::properties::{parse_path, request_attribute};
use super::shared::Registrant;
use super::state::{
    HostCalls, HttpCall, InScope, LocalResponse, LogEntry, ROOT_CONTEXT_ID, RootLifecycle,
    StreamControl, VmState,
};
use super::types::{BufferType, LogLevel, MapType, Status, StreamType};

const ENV: &str = "env";

/// Registers `proxy_<name>`, implemented by the function `<name>` below, which takes the caller
/// and the import's arguments and returns a `HostResult`. Each call is counted (`HostCalls`).
macro_rules! host_call {
    ($linker:ident, $name:ident($($arg:ident: $ty:ty),*)) => {
        $linker.func_wrap(
            ENV,
            concat!("proxy_", stringify!($name)),
            |mut caller: Caller<'_, VmState>, $($arg: $ty),*| {
                HostCalls::record(&mut caller, concat!("proxy_", stringify!($name)));
                status_code($name(&mut caller, $($arg),*))
            },
        )?;
    };
}

pub(crate) fn define(linker: &mut Linker<VmState>) -> wasmtime::Result<()> {
    host_call!(linker, log(level: u32, message_ptr: u32, message_len: u32));
    host_call!(linker, get_log_level(level_ptr: u32));
    host_call!(linker, get_current_time_nanoseconds(time_ptr: u32));
    host_call!(linker, set_tick_period_milliseconds(period: u32));

    host_call!(linker, get_buffer_bytes(buffer: u32, start: u32, max_size: u32, ptr_ptr: u32, size_ptr: u32));
    host_call!(linker, set_buffer_bytes(buffer: u32, start: u32, size: u32, data_ptr: u32, data_len: u32));

    host_call!(linker, get_header_map_pairs(map: u32, ptr_ptr: u32, size_ptr: u32));
    host_call!(linker, set_header_map_pairs(map: u32, pairs_ptr: u32, pairs_len: u32));
    host_call!(linker, get_header_map_value(map: u32, key_ptr: u32, key_len: u32, ptr_ptr: u32, size_ptr: u32));
    host_call!(linker, add_header_map_value(map: u32, key_ptr: u32, key_len: u32, value_ptr: u32, value_len: u32));
    host_call!(linker, replace_header_map_value(map: u32, key_ptr: u32, key_len: u32, value_ptr: u32, value_len: u32));
    host_call!(linker, remove_header_map_value(map: u32, key_ptr: u32, key_len: u32));

    host_call!(linker, get_property(path_ptr: u32, path_len: u32, ptr_ptr: u32, size_ptr: u32));
    host_call!(linker, set_property(path_ptr: u32, path_len: u32, value_ptr: u32, value_len: u32));

    host_call!(linker, get_shared_data(key_ptr: u32, key_len: u32, ptr_ptr: u32, size_ptr: u32, cas_ptr: u32));
    host_call!(linker, set_shared_data(key_ptr: u32, key_len: u32, value_ptr: u32, value_len: u32, cas: u32));
    host_call!(linker, register_shared_queue(name_ptr: u32, name_len: u32, token_ptr: u32));
    host_call!(linker, resolve_shared_queue(vm_id_ptr: u32, vm_id_len: u32, name_ptr: u32, name_len: u32, token_ptr: u32));
    host_call!(linker, dequeue_shared_queue(token: u32, ptr_ptr: u32, size_ptr: u32));
    host_call!(linker, enqueue_shared_queue(token: u32, value_ptr: u32, value_len: u32));

    host_call!(linker, continue_stream(stream: u32));
    host_call!(linker, close_stream(stream: u32));
    host_call!(linker, send_local_response(
        response_code: u32, details_ptr: u32, details_len: u32, body_ptr: u32, body_len: u32,
        headers_ptr: u32, headers_len: u32, grpc_status: i32
    ));
    host_call!(linker, http_call(
        upstream_ptr: u32, upstream_len: u32, headers_ptr: u32, headers_len: u32, body_ptr: u32,
        body_len: u32, trailers_ptr: u32, trailers_len: u32, timeout_ms: u32, token_ptr: u32
    ));
    host_call!(linker, grpc_call(
        service_ptr: u32, service_len: u32, service_name_ptr: u32, service_name_len: u32,
        method_ptr: u32, method_len: u32, metadata_ptr: u32, metadata_len: u32, message_ptr: u32,
        message_len: u32, timeout_ms: u32, token_ptr: u32
    ));
    host_call!(linker, grpc_stream(
        service_ptr: u32, service_len: u32, service_name_ptr: u32, service_name_len: u32,
        method_ptr: u32, method_len: u32, metadata_ptr: u32, metadata_len: u32, token_ptr: u32
    ));
    host_call!(linker, grpc_send(token: u32, message_ptr: u32, message_len: u32, end_stream: u32));
    host_call!(linker, grpc_cancel(token: u32));
    host_call!(linker, grpc_close(token: u32));
    host_call!(linker, get_status(code_ptr: u32, ptr_ptr: u32, size_ptr: u32));

    host_call!(linker, set_effective_context(context_id: u32));
    host_call!(linker, call_foreign_function(
        name_ptr: u32, name_len: u32, arguments_ptr: u32, arguments_len: u32, results_ptr: u32,
        results_size_ptr: u32
    ));
    host_call!(linker, done());

    host_call!(linker, define_metric(metric_type: u32, name_ptr: u32, name_len: u32, id_ptr: u32));
    host_call!(linker, get_metric(id: u32, value_ptr: u32));
    host_call!(linker, record_metric(id: u32, value: u64));
    host_call!(linker, increment_metric(id: u32, offset: i64));
    Ok(())
}

// Logging, time, ticks.

fn log(
    caller: &mut Caller<'_, VmState>,
    level: u32,
    message_ptr: u32,
    message_len: u32,
) -> HostResult {
    let level = LogLevel::from_abi(level).ok_or(Status::BadArgument)?;
    let message =
        String::from_utf8_lossy(&read_bytes(caller, message_ptr, message_len)?).into_owned();
    caller.data_mut().logs.push(LogEntry { level, message });
    Ok(())
}

fn get_log_level(caller: &mut Caller<'_, VmState>, level_ptr: u32) -> HostResult {
    let level = caller.data().settings().log_level;
    Ok(write_u32(caller, level_ptr, level as u32)?)
}

fn get_current_time_nanoseconds(caller: &mut Caller<'_, VmState>, time_ptr: u32) -> HostResult {
    let now = caller.data().proxy.clock.wall_nanos();
    Ok(write_u64(caller, time_ptr, now)?)
}

/// Ticks belong to the root context whichever context asks; 0 stops them.
fn set_tick_period_milliseconds(caller: &mut Caller<'_, VmState>, period: u32) -> HostResult {
    caller.data_mut().tick_period = (period > 0).then(|| Duration::from_millis(period.into()));
    Ok(())
}

// Buffers.

fn get_buffer_bytes(
    caller: &mut Caller<'_, VmState>,
    buffer: u32,
    start: u32,
    max_size: u32,
    ptr_ptr: u32,
    size_ptr: u32,
) -> HostResult {
    let buffer = BufferType::from_abi(buffer).ok_or(Status::BadArgument)?;
    let bytes = caller
        .data()
        .readable_buffer(buffer)
        .ok_or(Status::NotFound)?;
    let start = start as usize;
    let end = start.saturating_add(max_size as usize).min(bytes.len());
    // Envoy hands over nothing, not even a null pointer, when the range is empty.
    if start >= end {
        return Ok(());
    }
    let slice = bytes[start..end].to_vec();
    hand_over(caller, &slice, ptr_ptr, size_ptr)
}

/// Envoy's `Buffer::copyFrom` knows three edits: prepend (start 0, size 0), replace everything
/// (start 0, size at least the length) and append (start at or past the end).
fn set_buffer_bytes(
    caller: &mut Caller<'_, VmState>,
    buffer: u32,
    start: u32,
    size: u32,
    data_ptr: u32,
    data_len: u32,
) -> HostResult {
    let buffer = BufferType::from_abi(buffer).ok_or(Status::BadArgument)?;
    if caller.data().readable_buffer(buffer).is_none() {
        return Err(Status::NotFound.into());
    }
    let data = read_bytes(caller, data_ptr, data_len)?;
    let body = caller
        .data_mut()
        .writable_body(buffer)
        .ok_or(Status::BadArgument)?;
    let (start, size) = (start as usize, size as usize);
    match (start, size) {
        (0, 0) => _ = body.splice(0..0, data),
        (0, size) if size >= body.len() => *body = data,
        (start, _) if start != 0 && start >= body.len() => body.extend_from_slice(&data),
        _ => return Err(Status::BadArgument.into()),
    }
    Ok(())
}

// Header maps.

/// Envoy answers for a map it cannot offer now with an empty map, not an error.
fn get_header_map_pairs(
    caller: &mut Caller<'_, VmState>,
    map: u32,
    ptr_ptr: u32,
    size_ptr: u32,
) -> HostResult {
    let map = MapType::from_abi(map).ok_or(Status::BadArgument)?;
    let serialized = match caller.data().readable_map(map) {
        Some(map) if !map.is_empty() => map.serialize(),
        _ => Vec::new(),
    };
    hand_over(caller, &serialized, ptr_ptr, size_ptr)
}

fn set_header_map_pairs(
    caller: &mut Caller<'_, VmState>,
    map: u32,
    pairs_ptr: u32,
    pairs_len: u32,
) -> HostResult {
    let map = MapType::from_abi(map).ok_or(Status::BadArgument)?;
    let serialized = read_bytes(caller, pairs_ptr, pairs_len)?;
    caller
        .data_mut()
        .writable_map(map)
        .ok_or(Status::BadArgument)?
        .replace_all(&serialized);
    Ok(())
}

fn get_header_map_value(
    caller: &mut Caller<'_, VmState>,
    map: u32,
    key_ptr: u32,
    key_len: u32,
    ptr_ptr: u32,
    size_ptr: u32,
) -> HostResult {
    let map = MapType::from_abi(map).ok_or(Status::BadArgument)?;
    let key = read_string(caller, key_ptr, key_len)?;
    let state = caller.data();
    let Some(map) = state.readable_map(map) else {
        // In the access-log phase Envoy reports a missing map as a missing header.
        return Err(if state.in_access_log {
            Status::NotFound
        } else {
            Status::BadArgument
        }
        .into());
    };
    let value = map.get(&key).ok_or(Status::NotFound)?.to_vec();
    hand_over(caller, &value, ptr_ptr, size_ptr)
}

fn add_header_map_value(
    caller: &mut Caller<'_, VmState>,
    map: u32,
    key_ptr: u32,
    key_len: u32,
    value_ptr: u32,
    value_len: u32,
) -> HostResult {
    let map = MapType::from_abi(map).ok_or(Status::BadArgument)?;
    let key = read_string(caller, key_ptr, key_len)?;
    let value = read_bytes(caller, value_ptr, value_len)?;
    caller
        .data_mut()
        .writable_map(map)
        .ok_or(Status::BadArgument)?
        .add(&key, &value);
    Ok(())
}

fn replace_header_map_value(
    caller: &mut Caller<'_, VmState>,
    map: u32,
    key_ptr: u32,
    key_len: u32,
    value_ptr: u32,
    value_len: u32,
) -> HostResult {
    let map = MapType::from_abi(map).ok_or(Status::BadArgument)?;
    let key = read_string(caller, key_ptr, key_len)?;
    let value = read_bytes(caller, value_ptr, value_len)?;
    caller
        .data_mut()
        .writable_map(map)
        .ok_or(Status::BadArgument)?
        .replace(&key, &value);
    Ok(())
}

fn remove_header_map_value(
    caller: &mut Caller<'_, VmState>,
    map: u32,
    key_ptr: u32,
    key_len: u32,
) -> HostResult {
    let map = MapType::from_abi(map).ok_or(Status::BadArgument)?;
    let key = read_string(caller, key_ptr, key_len)?;
    caller
        .data_mut()
        .writable_map(map)
        .ok_or(Status::BadArgument)?
        .remove(&key);
    Ok(())
}

// Properties.

fn get_property(
    caller: &mut Caller<'_, VmState>,
    path_ptr: u32,
    path_len: u32,
    ptr_ptr: u32,
    size_ptr: u32,
) -> HostResult {
    let path = parse_path(&read_bytes(caller, path_ptr, path_len)?);
    let value = property(caller.data(), &path).ok_or(Status::NotFound)?;
    hand_over(caller, &value, ptr_ptr, size_ptr)
}

/// Looks a property up in the stream's own values, then among the `request.*` attributes of its
/// request headers (available when the headers are), then in what the module stored itself, then
/// in the host's values.
fn property(state: &VmState, path: &[String]) -> Option<Vec<u8>> {
    if let Some(stream) = state.current_stream() {
        if let Some(value) = stream.properties.get(path) {
            return Some(value.to_vec());
        }
        if let Some(value) = state
            .readable_map(MapType::RequestHeaders)
            .and_then(|h| request_attribute(h, path))
        {
            return Some(value);
        }
        // Envoy looks unknown names up in the filter state by their first segment alone, so only
        // a one-segment path set by the module reads back.
        if let [name] = path
            && let Some(value) = stream.filter_state.get(name)
        {
            return Some(value.clone());
        }
    }
    if let Some(value) = state.settings().properties.get(path) {
        return Some(value.to_vec());
    }
    match path {
        [name] if name == "plugin_vm_id" => Some(state.settings().vm_id.clone().into_bytes()),
        _ => None,
    }
}

/// Envoy keeps what a module sets in the stream's filter state; a root context has no stream.
fn set_property(
    caller: &mut Caller<'_, VmState>,
    path_ptr: u32,
    path_len: u32,
    value_ptr: u32,
    value_len: u32,
) -> HostResult {
    let path = read_bytes(caller, path_ptr, path_len)?;
    let value = read_bytes(caller, value_ptr, value_len)?;
    let stream = caller
        .data_mut()
        .current_stream_mut()
        .ok_or(Status::NotFound)?;
    stream
        .filter_state
        .insert(String::from_utf8_lossy(&path).into_owned(), value);
    Ok(())
}

// Shared data and shared queues.

fn get_shared_data(
    caller: &mut Caller<'_, VmState>,
    key_ptr: u32,
    key_len: u32,
    ptr_ptr: u32,
    size_ptr: u32,
    cas_ptr: u32,
) -> HostResult {
    let key = read_string(caller, key_ptr, key_len)?;
    let (value, cas) = caller
        .data()
        .proxy
        .shared()
        .data
        .get(&key)
        .ok_or(Status::NotFound)?;
    hand_over(caller, &value, ptr_ptr, size_ptr)?;
    Ok(write_u32(caller, cas_ptr, cas)?)
}

fn set_shared_data(
    caller: &mut Caller<'_, VmState>,
    key_ptr: u32,
    key_len: u32,
    value_ptr: u32,
    value_len: u32,
    cas: u32,
) -> HostResult {
    let key = read_string(caller, key_ptr, key_len)?;
    let value = read_bytes(caller, value_ptr, value_len)?;
    Ok(caller.data().proxy.shared().data.set(&key, value, cas)?)
}

/// Envoy notifies the registering VM's root context, whichever context registers.
fn register_shared_queue(
    caller: &mut Caller<'_, VmState>,
    name_ptr: u32,
    name_len: u32,
    token_ptr: u32,
) -> HostResult {
    let name = read_string(caller, name_ptr, name_len)?;
    let state = caller.data();
    let registrant = Registrant {
        vm: state.index,
        context_id: ROOT_CONTEXT_ID,
    };
    let token = state
        .proxy
        .shared()
        .queues
        .register(&state.settings().vm_id, &name, registrant);
    Ok(write_u32(caller, token_ptr, token)?)
}

fn resolve_shared_queue(
    caller: &mut Caller<'_, VmState>,
    vm_id_ptr: u32,
    vm_id_len: u32,
    name_ptr: u32,
    name_len: u32,
    token_ptr: u32,
) -> HostResult {
    let vm_id = read_string(caller, vm_id_ptr, vm_id_len)?;
    let name = read_string(caller, name_ptr, name_len)?;
    let token = caller
        .data()
        .proxy
        .shared()
        .queues
        .resolve(&vm_id, &name)
        .ok_or(Status::NotFound)?;
    Ok(write_u32(caller, token_ptr, token)?)
}

fn dequeue_shared_queue(
    caller: &mut Caller<'_, VmState>,
    token: u32,
    ptr_ptr: u32,
    size_ptr: u32,
) -> HostResult {
    let item = caller.data().proxy.shared().queues.dequeue(token)?;
    hand_over(caller, &item, ptr_ptr, size_ptr)
}

fn enqueue_shared_queue(
    caller: &mut Caller<'_, VmState>,
    token: u32,
    value_ptr: u32,
    value_len: u32,
) -> HostResult {
    let item = read_bytes(caller, value_ptr, value_len)?;
    Ok(caller.data().proxy.shared().queues.enqueue(token, item)?)
}

// Stream control, local responses, call-outs.

/// Resuming a direction ends the module's hold on its headers, body and trailers.
fn continue_stream(caller: &mut Caller<'_, VmState>, stream: u32) -> HostResult {
    let stream_type = StreamType::from_abi(stream).ok_or(Status::BadArgument)?;
    if stream_type == StreamType::Upstream {
        return Err(Status::Unimplemented.into());
    }
    if let Some(stream) = caller.data_mut().current_stream_mut() {
        stream.controls.push(StreamControl::Resume(stream_type));
        match stream_type {
            StreamType::HttpRequest => stream.request.in_scope = InScope::default(),
            StreamType::HttpResponse => stream.response.in_scope = InScope::default(),
            StreamType::Downstream | StreamType::Upstream => {}
        }
    }
    Ok(())
}

fn close_stream(caller: &mut Caller<'_, VmState>, stream: u32) -> HostResult {
    let stream_type = StreamType::from_abi(stream).ok_or(Status::BadArgument)?;
    if let Some(stream) = caller.data_mut().current_stream_mut() {
        stream.controls.push(StreamControl::Close(stream_type));
    }
    Ok(())
}

/// Envoy sends the response after the callback returns and stops the stream; from a root
/// context, which has no stream, it does nothing.
#[allow(clippy::too_many_arguments)]
fn send_local_response(
    caller: &mut Caller<'_, VmState>,
    response_code: u32,
    details_ptr: u32,
    details_len: u32,
    body_ptr: u32,
    body_len: u32,
    headers_ptr: u32,
    headers_len: u32,
    grpc_status: i32,
) -> HostResult {
    let details =
        String::from_utf8_lossy(&read_bytes(caller, details_ptr, details_len)?).into_owned();
    let body = read_bytes(caller, body_ptr, body_len)?;
    let headers = HeaderMap::from_wire(&read_bytes(caller, headers_ptr, headers_len)?)
        .entries()
        .to_vec();
    let state = caller.data_mut();
    let Some(stream) = state.current_stream_mut() else {
        return Ok(());
    };
    stream.local_response = Some(LocalResponse {
        status_code: response_code,
        details,
        body,
        headers,
        grpc_status,
    });
    state.stop_iteration = true;
    Ok(())
}

/// Envoy refuses a negative timeout and a request without `:path`, `:method` or `:authority`.
/// Every upstream name is accepted: the test answers with `Vm::respond_to_http_call`.
#[allow(clippy::too_many_arguments)]
fn http_call(
    caller: &mut Caller<'_, VmState>,
    upstream_ptr: u32,
    upstream_len: u32,
    headers_ptr: u32,
    headers_len: u32,
    body_ptr: u32,
    body_len: u32,
    trailers_ptr: u32,
    trailers_len: u32,
    timeout_ms: u32,
    token_ptr: u32,
) -> HostResult {
    let upstream = read_string(caller, upstream_ptr, upstream_len)?;
    let headers = HeaderMap::from_wire(&read_bytes(caller, headers_ptr, headers_len)?);
    let body = read_bytes(caller, body_ptr, body_len)?;
    let trailers = HeaderMap::from_wire(&read_bytes(caller, trailers_ptr, trailers_len)?);
    // Envoy reads the timeout as a signed int.
    if (timeout_ms as i32) < 0
        || [":path", ":method", ":authority"]
            .iter()
            .any(|h| headers.get(h).is_none())
    {
        return Err(Status::BadArgument.into());
    }
    let state = caller.data_mut();
    state.last_http_call_token += 1;
    let token = state.last_http_call_token;
    let context_id = state.current_context;
    state.http_calls.push(HttpCall {
        token,
        context_id,
        upstream,
        headers: headers.entries().to_vec(),
        body,
        trailers: trailers.entries().to_vec(),
        timeout: Duration::from_millis(timeout_ms.into()),
    });
    Ok(write_u32(caller, token_ptr, token)?)
}

/// No gRPC upstream exists here: Envoy's answer for an unknown cluster.
#[allow(clippy::too_many_arguments)]
fn grpc_call(
    caller: &mut Caller<'_, VmState>,
    service_ptr: u32,
    service_len: u32,
    _service_name_ptr: u32,
    _service_name_len: u32,
    _method_ptr: u32,
    _method_len: u32,
    _metadata_ptr: u32,
    _metadata_len: u32,
    _message_ptr: u32,
    _message_len: u32,
    _timeout_ms: u32,
    _token_ptr: u32,
) -> HostResult {
    unknown_grpc_service(caller, service_ptr, service_len)
}

#[allow(clippy::too_many_arguments)]
fn grpc_stream(
    caller: &mut Caller<'_, VmState>,
    service_ptr: u32,
    service_len: u32,
    _service_name_ptr: u32,
    _service_name_len: u32,
    _method_ptr: u32,
    _method_len: u32,
    _metadata_ptr: u32,
    _metadata_len: u32,
    _token_ptr: u32,
) -> HostResult {
    unknown_grpc_service(caller, service_ptr, service_len)
}

fn unknown_grpc_service(
    caller: &mut Caller<'_, VmState>,
    service_ptr: u32,
    service_len: u32,
) -> HostResult {
    let service =
        String::from_utf8_lossy(&read_bytes(caller, service_ptr, service_len)?).into_owned();
    let message =
        format!("gRPC call to `{service}` refused: the test host simulates no gRPC upstream");
    caller.data_mut().logs.push(LogEntry {
        level: LogLevel::Debug,
        message,
    });
    Err(Status::ParseFailure.into())
}

/// Envoy: stream tokens are even and call tokens odd; a call token cannot be sent on.
fn grpc_send(
    _: &mut Caller<'_, VmState>,
    token: u32,
    _message_ptr: u32,
    _message_len: u32,
    _end_stream: u32,
) -> HostResult {
    Err(if token.is_multiple_of(2) {
        Status::NotFound
    } else {
        Status::BadArgument
    }
    .into())
}

fn grpc_cancel(_: &mut Caller<'_, VmState>, _token: u32) -> HostResult {
    Err(Status::NotFound.into())
}

fn grpc_close(_: &mut Caller<'_, VmState>, _token: u32) -> HostResult {
    Err(Status::NotFound.into())
}

fn get_status(
    caller: &mut Caller<'_, VmState>,
    code_ptr: u32,
    ptr_ptr: u32,
    size_ptr: u32,
) -> HostResult {
    let (code, message) = caller.data().status.clone();
    write_u32(caller, code_ptr, code)?;
    hand_over(caller, message.as_bytes(), ptr_ptr, size_ptr)
}

// Contexts and foreign functions.

fn set_effective_context(caller: &mut Caller<'_, VmState>, context_id: u32) -> HostResult {
    if !caller.data().context_exists(context_id) {
        return Err(Status::BadArgument.into());
    }
    caller.data_mut().current_context = context_id;
    Ok(())
}

/// Only `clear_route_cache` exists (unless the host was built without it); it takes no
/// argument, returns nothing, and is counted on the stream that called it.
fn call_foreign_function(
    caller: &mut Caller<'_, VmState>,
    name_ptr: u32,
    name_len: u32,
    arguments_ptr: u32,
    arguments_len: u32,
    results_ptr: u32,
    results_size_ptr: u32,
) -> HostResult {
    let name = read_string(caller, name_ptr, name_len)?;
    read_bytes(caller, arguments_ptr, arguments_len)?;
    match name.as_str() {
        "clear_route_cache" if caller.data().settings().clear_route_cache => {
            if let Some(stream) = caller.data_mut().current_stream_mut() {
                stream.route_cache_clears += 1;
            }
        }
        _ => return Err(Status::NotFound.into()),
    }
    // No result: a null pointer and a zero size, written where the module asked for them.
    if results_ptr != 0 {
        write_u32(caller, results_ptr, 0)?;
    }
    if results_size_ptr != 0 {
        write_u32(caller, results_size_ptr, 0)?;
    }
    Ok(())
}

/// A root context that deferred its shutdown reports that it is done (see `Vm::shutdown`).
fn done(caller: &mut Caller<'_, VmState>) -> HostResult {
    let state = caller.data_mut();
    if state.current_context != ROOT_CONTEXT_ID || state.root != RootLifecycle::DonePending {
        return Err(Status::NotFound.into());
    }
    state.root = RootLifecycle::DoneCalled;
    Ok(())
}

// Metrics.

fn define_metric(
    caller: &mut Caller<'_, VmState>,
    metric_type: u32,
    name_ptr: u32,
    name_len: u32,
    id_ptr: u32,
) -> HostResult {
    let name = read_string(caller, name_ptr, name_len)?;
    let id = caller
        .data()
        .proxy
        .shared()
        .metrics
        .define(metric_type, &name)?;
    Ok(write_u32(caller, id_ptr, id)?)
}

fn get_metric(caller: &mut Caller<'_, VmState>, id: u32, value_ptr: u32) -> HostResult {
    let value = caller.data().proxy.shared().metrics.get(id)?;
    Ok(write_u64(caller, value_ptr, value)?)
}

fn record_metric(caller: &mut Caller<'_, VmState>, id: u32, value: u64) -> HostResult {
    Ok(caller.data().proxy.shared().metrics.record(id, value)?)
}

fn increment_metric(caller: &mut Caller<'_, VmState>, id: u32, offset: i64) -> HostResult {
    Ok(caller.data().proxy.shared().metrics.increment(id, offset)?)
}
