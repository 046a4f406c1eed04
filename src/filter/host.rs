//! Host calls whose SDK wrappers panic on a status they do not expect, or copy what they need
//! not (a panic is a trap, and a trap a 503 for every request on the worker): here every status
//! is a value, and buffers the host hands over are taken as they are.

/// `proxy_get_shared_data`: no value under the key.
pub const NOT_FOUND: u32 = 1;
/// `proxy_set_shared_data` refused the write because the value changed since it was read.
pub const CAS_MISMATCH: u32 = 8;

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "env")]
    unsafe extern "C" {
        pub fn proxy_get_shared_data(
            key: *const u8,
            key_size: usize,
            value: *mut *mut u8,
            value_size: *mut usize,
            cas: *mut u32,
        ) -> u32;
        pub fn proxy_set_shared_data(
            key: *const u8,
            key_size: usize,
            value: *const u8,
            value_size: usize,
            cas: u32,
        ) -> u32;
        pub fn proxy_get_header_map_pairs(
            map_type: u32,
            data: *mut *mut u8,
            size: *mut usize,
        ) -> u32;
        pub fn proxy_remove_header_map_value(map_type: u32, key: *const u8, key_size: usize)
        -> u32;
        pub fn proxy_set_property(
            path: *const u8,
            path_size: usize,
            value: *const u8,
            value_size: usize,
        ) -> u32;
        pub fn proxy_get_buffer_bytes(
            buffer_type: u32,
            start: usize,
            max_size: usize,
            data: *mut *mut u8,
            size: *mut usize,
        ) -> u32;
        pub fn proxy_register_shared_queue(
            name: *const u8,
            name_size: usize,
            token: *mut u32,
        ) -> u32;
        pub fn proxy_enqueue_shared_queue(token: u32, value: *const u8, value_size: usize) -> u32;
        pub fn proxy_dequeue_shared_queue(
            token: u32,
            value: *mut *mut u8,
            value_size: *mut usize,
        ) -> u32;
        pub fn proxy_done() -> u32;
    }
}

/// A buffer the host handed over after a successful call.
///
/// # Safety
/// `data` is null or points to `size` bytes the host obtained from this module's
/// `proxy_on_memory_allocate`, i.e. a `Vec<u8>` of capacity `size` that nobody else owns.
#[cfg(target_arch = "wasm32")]
unsafe fn take(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        Vec::new()
    } else {
        // SAFETY: as the caller promises.
        unsafe { Vec::from_raw_parts(data, size, size) }
    }
}

/// A whole header map, serialized as the host writes it (see `header_map`), in one call.
#[cfg(target_arch = "wasm32")]
pub fn header_map_pairs(map: proxy_wasm::types::MapType) -> Result<Vec<u8>, u32> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes the two out-parameters; on success they describe a buffer it
    // allocated through `proxy_on_memory_allocate`, which `take` then owns.
    unsafe {
        match imports::proxy_get_header_map_pairs(map as u32, &mut data, &mut size) {
            0 => Ok(take(data, size)),
            status => Err(status),
        }
    }
}

/// A shared-data value and its `cas`; the status otherwise, e.g. [`NOT_FOUND`].
#[cfg(target_arch = "wasm32")]
pub fn get_shared_data(key: &str) -> Result<(Vec<u8>, u32), u32> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    let mut cas: u32 = 0;
    // SAFETY: as in `header_map_pairs`.
    unsafe {
        match imports::proxy_get_shared_data(
            key.as_ptr(),
            key.len(),
            &mut data,
            &mut size,
            &mut cas,
        ) {
            0 => Ok((take(data, size), cas)),
            status => Err(status),
        }
    }
}

/// Write a shared-data value if its `cas` is still `cas` (0: unconditionally); the status
/// otherwise, e.g. [`CAS_MISMATCH`].
#[cfg(target_arch = "wasm32")]
pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> Result<(), u32> {
    // SAFETY: the host only reads the two buffers during the call.
    let status = unsafe {
        imports::proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas)
    };
    if status == 0 { Ok(()) } else { Err(status) }
}

/// Remove a request header by its name's bytes, which need not be UTF-8 (the SDK takes `&str`).
/// Best effort: a host that refuses leaves nothing to do about it.
#[cfg(target_arch = "wasm32")]
pub fn remove_request_header(name: &[u8]) {
    let map = proxy_wasm::types::MapType::HttpRequestHeaders as u32;
    // SAFETY: the host only reads the buffer during the call.
    unsafe {
        imports::proxy_remove_header_map_value(map, name.as_ptr(), name.len());
    }
}

/// Set a one-segment property: Envoy keeps it as filter state `wasm.<name>`. Best effort.
#[cfg(target_arch = "wasm32")]
pub fn set_property(name: &str, value: &[u8]) {
    // SAFETY: the host only reads the two buffers during the call.
    unsafe {
        imports::proxy_set_property(name.as_ptr(), name.len(), value.as_ptr(), value.len());
    }
}

/// Up to `max` bytes of a buffer (a body, an HTTP call's answer) from its start. None when the
/// host has none.
#[cfg(target_arch = "wasm32")]
pub fn buffer(buffer: proxy_wasm::types::BufferType, max: usize) -> Option<Vec<u8>> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: as in `header_map_pairs`.
    unsafe {
        match imports::proxy_get_buffer_bytes(buffer as u32, 0, max, &mut data, &mut size) {
            0 => Some(take(data, size)),
            _ => None,
        }
    }
}

/// Register (or take over, from this root context) the shared queue `name`: its token.
#[cfg(target_arch = "wasm32")]
pub fn register_shared_queue(name: &str) -> Option<u32> {
    let mut token = 0;
    // SAFETY: the host reads the name during the call and writes the token.
    let status =
        unsafe { imports::proxy_register_shared_queue(name.as_ptr(), name.len(), &mut token) };
    (status == 0).then_some(token)
}

/// Enqueue `value` on the shared queue `token`; false when the host refuses.
#[cfg(target_arch = "wasm32")]
pub fn enqueue_shared_queue(token: u32, value: &[u8]) -> bool {
    // SAFETY: the host only reads the buffer during the call.
    unsafe { imports::proxy_enqueue_shared_queue(token, value.as_ptr(), value.len()) == 0 }
}

/// The next item of the shared queue `token`; None when it is empty (or gone).
#[cfg(target_arch = "wasm32")]
pub fn dequeue_shared_queue(token: u32) -> Option<Vec<u8>> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: as in `header_map_pairs`.
    unsafe {
        match imports::proxy_dequeue_shared_queue(token, &mut data, &mut size) {
            0 => Some(take(data, size)),
            _ => None,
        }
    }
}

/// A root context whose `on_done` deferred reports that it is done. Best effort: the host
/// answers NotFound when it was not waiting.
#[cfg(target_arch = "wasm32")]
pub fn done() {
    // SAFETY: no arguments.
    unsafe {
        imports::proxy_done();
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub fn buffer(_: proxy_wasm::types::BufferType, _: usize) -> Option<Vec<u8>> {
    None
}

#[cfg(not(target_arch = "wasm32"))]
pub fn register_shared_queue(_: &str) -> Option<u32> {
    None
}

#[cfg(not(target_arch = "wasm32"))]
pub fn enqueue_shared_queue(_: u32, _: &[u8]) -> bool {
    false
}

#[cfg(not(target_arch = "wasm32"))]
pub fn dequeue_shared_queue(_: u32) -> Option<Vec<u8>> {
    None
}

#[cfg(not(target_arch = "wasm32"))]
pub fn done() {}

#[cfg(not(target_arch = "wasm32"))]
pub fn header_map_pairs(_: proxy_wasm::types::MapType) -> Result<Vec<u8>, u32> {
    Err(NOT_FOUND)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn get_shared_data(_: &str) -> Result<(Vec<u8>, u32), u32> {
    Err(NOT_FOUND)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn set_shared_data(_: &str, _: &[u8], _: u32) -> Result<(), u32> {
    Err(0)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn set_property(_: &str, _: &[u8]) {}

#[cfg(not(target_arch = "wasm32"))]
pub fn remove_request_header(_: &[u8]) {}
