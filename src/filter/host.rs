//! Host calls whose SDK wrappers panic on a status they do not expect (a panic is a trap, and a
//! trap a 503 for every request on the worker): here every status is a value.

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
        pub fn proxy_set_property(
            path: *const u8,
            path_size: usize,
            value: *const u8,
            value_size: usize,
        ) -> u32;
    }
}

/// A shared-data value and its `cas`; the status otherwise, e.g. [`NOT_FOUND`].
#[cfg(target_arch = "wasm32")]
pub fn get_shared_data(key: &str) -> Result<(Vec<u8>, u32), u32> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    let mut cas: u32 = 0;
    // SAFETY: on success the host hands over a buffer of `size` bytes that it obtained from this
    // module's `proxy_on_memory_allocate`, i.e. a `Vec<u8>` of capacity `size` that we now own.
    unsafe {
        let status =
            imports::proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas);
        if status != 0 {
            return Err(status);
        }
        let value = if data.is_null() {
            Vec::new()
        } else {
            Vec::from_raw_parts(data, size, size)
        };
        Ok((value, cas))
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

/// Set a one-segment property: Envoy keeps it as filter state `wasm.<name>`. Best effort.
#[cfg(target_arch = "wasm32")]
pub fn set_property(name: &str, value: &[u8]) {
    // SAFETY: the host only reads the two buffers during the call.
    unsafe {
        imports::proxy_set_property(name.as_ptr(), name.len(), value.as_ptr(), value.len());
    }
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
