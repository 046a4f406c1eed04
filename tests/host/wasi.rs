//! The WASI calls Envoy provides (module `wasi_snapshot_preview1`), with Envoy's answers: stdout
//! and stderr are captured per descriptor and logged at info/error, there is no environment, no
//! arguments and no file system, the clocks are the host's test clock, randomness is seeded per
//! test, and `proc_exit` traps (in Envoy it only logs, then the module hits `unreachable`).

use wasmtime::{Caller, Linker};

use super::memory::{read_bytes, write_bytes, write_u32, write_u64};
use super::state::{HostCalls, LogEntry, VmState};
use super::types::LogLevel;

const WASI: &str = "wasi_snapshot_preview1";

/// WASI errno values Envoy returns.
const SUCCESS: u32 = 0;
const BADF: u32 = 8;
const FAULT: u32 = 21;
const INVAL: u32 = 28;
const NOENT: u32 = 44;
const NOSYS: u32 = 52;
const NOTSUP: u32 = 58;

/// `random_get` refuses more than 64 KiB per call, as proxy-wasm-cpp-host does.
const RANDOM_GET_MAX_BYTES: u32 = 64 * 1024;

pub(crate) fn define(linker: &mut Linker<VmState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        WASI,
        "fd_write",
        |mut c: Caller<'_, VmState>, fd: u32, iovs: u32, iovs_len: u32, nwritten: u32| {
            count(&mut c, "fd_write");
            fd_write(&mut c, fd, iovs, iovs_len, nwritten)
        },
    )?;
    linker.func_wrap(
        WASI,
        "fd_read",
        |mut c: Caller<'_, VmState>, _: u32, _: u32, _: u32, _: u32| {
            count(&mut c, "fd_read");
            NOSYS
        },
    )?;
    linker.func_wrap(
        WASI,
        "fd_seek",
        |mut c: Caller<'_, VmState>, _: u32, _: i64, _: u32, _: u32| {
            count(&mut c, "fd_seek");
            // Envoy logs the attempt and reports success without seeking.
            log(&mut c, LogLevel::Error, "wasi_unstable fd_seek".to_string());
            SUCCESS
        },
    )?;
    linker.func_wrap(WASI, "fd_close", |mut c: Caller<'_, VmState>, _: u32| {
        count(&mut c, "fd_close");
        log(
            &mut c,
            LogLevel::Error,
            "wasi_unstable fd_close".to_string(),
        );
        SUCCESS
    })?;
    linker.func_wrap(
        WASI,
        "fd_fdstat_get",
        |mut c: Caller<'_, VmState>, fd: u32, stat: u32| {
            count(&mut c, "fd_fdstat_get");
            fd_fdstat_get(&mut c, fd, stat)
        },
    )?;
    linker.func_wrap(
        WASI,
        "fd_prestat_get",
        |mut c: Caller<'_, VmState>, _: u32, _: u32| {
            count(&mut c, "fd_prestat_get");
            BADF
        },
    )?;
    linker.func_wrap(
        WASI,
        "fd_prestat_dir_name",
        |mut c: Caller<'_, VmState>, _: u32, _: u32, _: u32| {
            count(&mut c, "fd_prestat_dir_name");
            NOSYS
        },
    )?;
    linker.func_wrap(
        WASI,
        "path_open",
        |mut c: Caller<'_, VmState>,
         _: u32,
         _: u32,
         _: u32,
         _: u32,
         _: u32,
         _: i64,
         _: i64,
         _: u32,
         _: u32| {
            count(&mut c, "path_open");
            NOENT
        },
    )?;
    linker.func_wrap(
        WASI,
        "environ_sizes_get",
        |mut c: Caller<'_, VmState>, count_ptr: u32, size: u32| {
            count(&mut c, "environ_sizes_get");
            write_zeros(&mut c, &[count_ptr, size])
        },
    )?;
    // With no variables and no arguments there is nothing to write.
    linker.func_wrap(
        WASI,
        "environ_get",
        |mut c: Caller<'_, VmState>, _: u32, _: u32| {
            count(&mut c, "environ_get");
            SUCCESS
        },
    )?;
    linker.func_wrap(
        WASI,
        "args_sizes_get",
        |mut c: Caller<'_, VmState>, count_ptr: u32, size: u32| {
            count(&mut c, "args_sizes_get");
            write_zeros(&mut c, &[count_ptr, size])
        },
    )?;
    linker.func_wrap(
        WASI,
        "args_get",
        |mut c: Caller<'_, VmState>, _: u32, _: u32| {
            count(&mut c, "args_get");
            SUCCESS
        },
    )?;
    linker.func_wrap(
        WASI,
        "clock_time_get",
        |mut c: Caller<'_, VmState>, clock: u32, _precision: u64, time: u32| {
            count(&mut c, "clock_time_get");
            clock_time_get(&mut c, clock, time)
        },
    )?;
    linker.func_wrap(
        WASI,
        "random_get",
        |mut c: Caller<'_, VmState>, buf: u32, len: u32| {
            count(&mut c, "random_get");
            random_get(&mut c, buf, len)
        },
    )?;
    linker.func_wrap(
        WASI,
        "proc_exit",
        |mut c: Caller<'_, VmState>, code: u32| -> wasmtime::Result<()> {
            count(&mut c, "proc_exit");
            wasmtime::bail!("the module called WASI proc_exit({code})")
        },
    )?;
    Ok(())
}

/// Counts a call of the WASI import `name` (`HostCalls`).
fn count(caller: &mut Caller<'_, VmState>, name: &'static str) {
    HostCalls::record(caller, name);
}

fn fd_write(
    caller: &mut Caller<'_, VmState>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    nwritten: u32,
) -> u32 {
    let level = match fd {
        1 => LogLevel::Info,
        2 => LogLevel::Error,
        _ => return BADF,
    };
    let mut written = Vec::new();
    for index in 0..iovs_len {
        // Each iovec is a (u32 pointer, u32 length) pair.
        let Some(iov) = index
            .checked_mul(8)
            .and_then(|offset| iovs.checked_add(offset))
        else {
            return FAULT;
        };
        let Ok(iov) = read_bytes(caller, iov, 8) else {
            return FAULT;
        };
        let buf = u32::from_le_bytes(iov[..4].try_into().expect("4 bytes"));
        let buf_len = u32::from_le_bytes(iov[4..].try_into().expect("4 bytes"));
        let Ok(bytes) = read_bytes(caller, buf, buf_len) else {
            return FAULT;
        };
        written.extend_from_slice(&bytes);
    }
    if write_u32(caller, nwritten, written.len() as u32).is_err() {
        return FAULT;
    }
    if !written.is_empty() {
        let text =
            String::from_utf8_lossy(written.strip_suffix(b"\n").unwrap_or(&written)).into_owned();
        log(caller, level, text);
        caller
            .data_mut()
            .output
            .entry(fd)
            .or_default()
            .extend_from_slice(&written);
    }
    SUCCESS
}

/// Envoy answers for stdout and stderr only: a character device one may write to.
fn fd_fdstat_get(caller: &mut Caller<'_, VmState>, fd: u32, stat: u32) -> u32 {
    if fd != 1 && fd != 2 {
        return BADF;
    }
    const RIGHTS_FD_WRITE: u64 = 64;
    let mut fdstat = [0u8; 24];
    fdstat[8..16].copy_from_slice(&RIGHTS_FD_WRITE.to_le_bytes());
    match write_bytes(caller, stat, &fdstat) {
        Ok(()) => SUCCESS,
        Err(_) => FAULT,
    }
}

fn clock_time_get(caller: &mut Caller<'_, VmState>, clock: u32, time: u32) -> u32 {
    let clock_state = &caller.data().proxy.clock;
    let nanos = match clock {
        0 => clock_state.wall_nanos(),
        1 => clock_state.monotonic_nanos(),
        // The process and thread CPU-time clocks.
        _ => return NOTSUP,
    };
    match write_u64(caller, time, nanos) {
        Ok(()) => SUCCESS,
        Err(_) => FAULT,
    }
}

fn random_get(caller: &mut Caller<'_, VmState>, buf: u32, len: u32) -> u32 {
    if len > RANDOM_GET_MAX_BYTES {
        return INVAL;
    }
    let mut bytes = vec![0; len as usize];
    caller.data_mut().random.fill(&mut bytes);
    match write_bytes(caller, buf, &bytes) {
        Ok(()) => SUCCESS,
        Err(_) => FAULT,
    }
}

fn write_zeros(caller: &mut Caller<'_, VmState>, pointers: &[u32]) -> u32 {
    for &pointer in pointers {
        if write_u32(caller, pointer, 0).is_err() {
            return FAULT;
        }
    }
    SUCCESS
}

fn log(caller: &mut Caller<'_, VmState>, level: LogLevel, message: String) {
    caller.data_mut().logs.push(LogEntry { level, message });
}

/// A deterministic generator for `random_get` (SplitMix64): each VM of a host gets its own stream,
/// derived from the host's seed and the VM's index, so runs repeat whatever the thread timing.
#[derive(Debug)]
pub(crate) struct Random {
    state: u64,
}

impl Random {
    pub(crate) fn new(seed: u64, vm_index: u32) -> Random {
        Random {
            state: seed ^ u64::from(vm_index).wrapping_mul(0xA076_1D64_78BD_642F),
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes()[..chunk.len()]);
        }
    }
}
