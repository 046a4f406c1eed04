//! The time every VM of a host sees, through `proxy_get_current_time_nanoseconds` and WASI's
//! `clock_time_get`. It only moves when the test moves it, so time-dependent behaviour is
//! deterministic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2026-01-01T00:00:00Z: a fixed start, so that logs and time-derived values repeat run to run.
const WALL_START: Duration = Duration::from_secs(1_767_225_600);
/// One hour of uptime, so that code subtracting a small duration from `Instant::now()` does not
/// underflow.
const MONOTONIC_START: Duration = Duration::from_secs(3_600);

/// A test-controlled clock: a wall clock (WASI's realtime, the proxy-wasm current time) and a
/// monotonic one (WASI's monotonic, behind `Instant`).
#[derive(Debug)]
pub struct Clock {
    wall_nanos: AtomicU64,
    monotonic_nanos: AtomicU64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            wall_nanos: AtomicU64::new(nanos(WALL_START)),
            monotonic_nanos: AtomicU64::new(nanos(MONOTONIC_START)),
        }
    }
}

impl Clock {
    /// Moves both clocks forward.
    pub fn advance(&self, by: Duration) {
        self.wall_nanos.fetch_add(nanos(by), Ordering::SeqCst);
        self.monotonic_nanos.fetch_add(nanos(by), Ordering::SeqCst);
    }

    /// Steps the wall clock to `time` (backwards too, like an NTP correction); the monotonic
    /// clock does not move.
    pub fn set_wall_time(&self, time: SystemTime) {
        let since_epoch = time.duration_since(UNIX_EPOCH).expect("a time after 1970");
        self.wall_nanos.store(nanos(since_epoch), Ordering::SeqCst);
    }

    pub fn wall_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.wall_nanos())
    }

    pub(crate) fn wall_nanos(&self) -> u64 {
        self.wall_nanos.load(Ordering::SeqCst)
    }

    pub(crate) fn monotonic_nanos(&self) -> u64 {
        self.monotonic_nanos.load(Ordering::SeqCst)
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).expect("a time before the year 2554")
}
