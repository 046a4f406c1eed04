//! Reading and writing the module's linear memory from inside a host call, and handing data to
//! the module the way Envoy does: in memory the module allocates itself through its exported
//! `proxy_on_memory_allocate`, so that the SDK can free it as an ordinary `Vec`.

use wasmtime::Caller;

use super::state::VmState;
use super::types::Status;

/// Why a host call did not complete: either a status the module gets back, or a trap (the module
/// trapped in a nested call such as `proxy_on_memory_allocate`) that must unwind the whole call.
pub(crate) enum HostError {
    Status(Status),
    Trap(wasmtime::Error),
}

impl From<Status> for HostError {
    fn from(status: Status) -> Self {
        HostError::Status(status)
    }
}

impl From<wasmtime::Error> for HostError {
    fn from(error: wasmtime::Error) -> Self {
        HostError::Trap(error)
    }
}

/// The outcome of a proxy-wasm host call before it is turned into a status code.
pub(crate) type HostResult = Result<(), HostError>;

/// Turns a host call's outcome into what wasmtime returns to the module: a status code, or a trap.
pub(crate) fn status_code(result: HostResult) -> wasmtime::Result<u32> {
    match result {
        Ok(()) => Ok(Status::Ok as u32),
        Err(HostError::Status(status)) => Ok(status as u32),
        Err(HostError::Trap(error)) => Err(error),
    }
}

/// Copies `len` bytes at `ptr` out of the module's memory.
pub(crate) fn read_bytes(
    caller: &mut Caller<'_, VmState>,
    ptr: u32,
    len: u32,
) -> Result<Vec<u8>, Status> {
    let memory = caller.data().memory();
    let data = memory.data(&*caller);
    let start = ptr as usize;
    let end = start
        .checked_add(len as usize)
        .ok_or(Status::InvalidMemoryAccess)?;
    data.get(start..end)
        .map(<[u8]>::to_vec)
        .ok_or(Status::InvalidMemoryAccess)
}

/// Reads `len` bytes at `ptr` as UTF-8, the way names (headers, metrics, queues) are passed.
pub(crate) fn read_string(
    caller: &mut Caller<'_, VmState>,
    ptr: u32,
    len: u32,
) -> Result<String, Status> {
    String::from_utf8(read_bytes(caller, ptr, len)?).map_err(|_| Status::BadArgument)
}

pub(crate) fn write_bytes(
    caller: &mut Caller<'_, VmState>,
    ptr: u32,
    bytes: &[u8],
) -> Result<(), Status> {
    let memory = caller.data().memory();
    memory
        .write(&mut *caller, ptr as usize, bytes)
        .map_err(|_| Status::InvalidMemoryAccess)
}

pub(crate) fn write_u32(
    caller: &mut Caller<'_, VmState>,
    ptr: u32,
    value: u32,
) -> Result<(), Status> {
    write_bytes(caller, ptr, &value.to_le_bytes())
}

pub(crate) fn write_u64(
    caller: &mut Caller<'_, VmState>,
    ptr: u32,
    value: u64,
) -> Result<(), Status> {
    write_bytes(caller, ptr, &value.to_le_bytes())
}

/// Gives `bytes` to the module: allocates them in its memory and writes the pointer and the size
/// to `ptr_ptr` and `size_ptr`. Like Envoy, an empty value is a null pointer with size 0 and
/// allocates nothing (the SDK reads that as `None` or an empty value, depending on the call).
pub(crate) fn hand_over(
    caller: &mut Caller<'_, VmState>,
    bytes: &[u8],
    ptr_ptr: u32,
    size_ptr: u32,
) -> HostResult {
    let size = u32::try_from(bytes.len()).map_err(|_| Status::InvalidMemoryAccess)?;
    let ptr = if bytes.is_empty() {
        0
    } else {
        allocate(caller, size)?
    };
    write_bytes(caller, ptr, bytes)?;
    write_u32(caller, ptr_ptr, ptr)?;
    write_u32(caller, size_ptr, size)?;
    Ok(())
}

/// Calls the module's `proxy_on_memory_allocate`; a null result is an allocation failure.
fn allocate(caller: &mut Caller<'_, VmState>, size: u32) -> Result<u32, HostError> {
    let allocator = caller.data().allocator().ok_or_else(|| {
        HostError::Trap(wasmtime::format_err!(
            "the host must hand data to the module, but it exports no `proxy_on_memory_allocate`"
        ))
    })?;
    match allocator.call(&mut *caller, size)? {
        0 => Err(Status::InvalidMemoryAccess.into()),
        ptr => Ok(ptr),
    }
}
