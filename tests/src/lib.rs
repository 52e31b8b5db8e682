//! `kith-tests`: the harness for multi-node tests and benchmarks. [`cluster`] starts many
//! in-process nodes on loopback and waits on conditions with deadlines; [`raw_peer`] is a bare
//! libp2p gossipsub peer that can send anything on a community's topic; [`forge`] builds entry
//! bytes the protocol crate would refuse to sign (forged, oversized).
//!
//! The tests themselves live in `tests/tests/*.rs`; `src/bin/kith-test-node.rs` is the child
//! process the crash test aborts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod cluster;
pub mod door_probe;
pub mod forge;
pub mod history;
pub mod hub_probe;
pub mod raw_peer;
pub mod sim;

use std::future::Future;
use std::time::{Duration, Instant};

pub use cluster::{Cluster, ClusterOptions, wait_until, wait_until_async};

/// Sets up logging for a test once (`RUST_LOG=kith_node=debug` to see the nodes talk).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// Runs one test body with a time limit, prints how long it took (`--nocapture` shows it), and
/// panics with the error (and its context) if it fails or overruns.
pub async fn bounded<F>(name: &str, limit: Duration, test: F)
where
    F: Future<Output = anyhow::Result<()>>,
{
    init_tracing();
    let start = Instant::now();
    let outcome = tokio::time::timeout(limit, test).await;
    let elapsed = start.elapsed();
    match outcome {
        Ok(Ok(())) => eprintln!("[kith-tests] {name}: passed in {:.1}s", elapsed.as_secs_f64()),
        Ok(Err(error)) => panic!("{name} failed after {:.1}s: {error:#}", elapsed.as_secs_f64()),
        Err(_) => panic!("{name} did not finish within {limit:?}"),
    }
}
