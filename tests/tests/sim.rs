//! The simulator in CI: 50 seeds of a 200-node storm (a partition that heals, crashes, lost
//! gossip, failed requests, hostile members forking, flooding the waiting area and forging,
//! outsiders knocking), each checked for safety (no acknowledged entry lost, no honest log
//! frozen, outsiders served nothing, memory bounds, restarts) and convergence (every honest node
//! at one digest within the settle time after the heal); a failing seed is named in the message,
//! to rerun with `kith-sim`.

#![allow(clippy::expect_used)]

use kith_tests::sim::{Base, Scenario, Sim};

const NODES: usize = 200;

/// Seeds to run: 50, or `KITH_SIM_SEEDS` (a quicker local check).
fn seeds() -> u64 {
    std::env::var("KITH_SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(50)
}

#[test]
fn fifty_seeds_of_a_200_node_storm_keep_every_invariant() {
    fifty_seeds("storm");
}

/// Runs the scenario's seeds on two threads; any broken invariant fails, naming its seed.
fn fifty_seeds(name: &str) {
    let base = Base::new(NODES).expect("the base community");
    let seeds = seeds();
    let started = std::time::Instant::now();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2u64)
            .map(|worker| {
                let base = &base;
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for seed in (1..=seeds).filter(|s| s % 2 == worker) {
                        let scenario = Scenario::named(name, NODES).expect("the scenario");
                        let outcome = Sim::new(scenario, seed, base).expect("a run").run();
                        eprintln!("[kith-sim] seed {seed}: {}", outcome.violation.as_ref().map_or("ok".into(), ToString::to_string));
                        if let Some(violation) = outcome.violation {
                            failures.push(format!(
                                "seed {seed}: {violation} (rerun: kith-sim --seed {seed} --nodes {NODES} --scenario {name})"
                            ));
                        }
                    }
                    failures
                })
            })
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().expect("a worker")).collect()
    });
    eprintln!("[kith-tests] {seeds} seeds of {NODES} nodes in {:.1}s", started.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A member's home wiped and restored from its key, meeting first a peer that holds the
/// community but none of its log (then the members), while a newcomer joins: on every seed the
/// restored node never forks its own log, leaves read-only, and the newcomer's join request
/// reaches the honest nodes.
#[test]
fn a_restored_member_never_forks_its_log_and_leaves_read_only() {
    let base = Base::new(50).expect("the base community");
    let failures: Vec<String> = (1..=10u64)
        .filter_map(|seed| {
            let outcome = Sim::new(Scenario::named("restore", 50).expect("restore"), seed, &base).expect("a run").run();
            outcome
                .violation
                .map(|v| format!("seed {seed}: {v} (rerun: kith-sim --seed {seed} --nodes 50 --scenario restore)"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let base = Base::new(30).expect("the base community");
    let run = |seed| Sim::new(Scenario::named("storm", 30).expect("storm"), seed, &base).expect("a run").run();
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(a.trace_hash, b.trace_hash, "one seed, two traces");
    assert_ne!(a.trace_hash, c.trace_hash, "two seeds, one trace");
}

/// Sync reconciles the heads, in every round and on first contact: once in sync, a node of a
/// 3,000-member community sends a few hundred bytes a minute instead of every head (about 48
/// bytes a log) to each peer it asks, and in the minute after a partition heals (new links, a
/// few logs apart) tens of kilobytes instead of every head on every new link (~620 KB).
/// Bytes counted in virtual time: deterministic, not a timing.
#[test]
fn a_large_community_in_sync_costs_a_few_hundred_bytes_a_minute() {
    let members = 3_000;
    let base = Base::new(members).expect("the base community");
    let mut scenario = Scenario::named("scale", 10).expect("the scale scenario");
    scenario.members = members;
    let outcome = Sim::new(scenario, 1, &base).expect("a run").run();
    assert!(outcome.violation.is_none(), "{:?}", outcome.violation.map(|v| v.to_string()));
    let (heal, steady) = (outcome.traffic.after_heal, outcome.traffic.steady);
    eprintln!("[kith-tests] {members} members: after the heal {heal:?}, steady {steady:?} per node per minute");
    assert!(steady.bytes < 1_000, "steady state: {} bytes per node per minute", steady.bytes);
    assert!(heal.bytes < 60_000, "after the heal: {} bytes per node per minute", heal.bytes);
}
