//! The node's clock: the one place that reads the time (the protocol is given it).
//!
//! Debug builds (the ones tests run) honour `KITH_TEST_CLOCK_FILE`: a file holding a number of
//! milliseconds to add to the system clock, read at each call, so an end-to-end test can move
//! a running node's clock on (check-ins). Release builds ignore it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is set before 1970).
pub fn now_ms() -> u64 {
    let system = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    system.saturating_add(test_offset_ms())
}

#[cfg(debug_assertions)]
fn test_offset_ms() -> u64 {
    let Some(path) = std::env::var_os("KITH_TEST_CLOCK_FILE") else { return 0 };
    std::fs::read_to_string(path).ok().and_then(|text| text.trim().parse().ok()).unwrap_or(0)
}

#[cfg(not(debug_assertions))]
fn test_offset_ms() -> u64 {
    0
}
