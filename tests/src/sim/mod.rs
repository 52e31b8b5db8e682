//! The seeded simulator (dev only): N sync engines, each with its own replica on an in-memory
//! store, in one thread on one seeded RNG and one event queue in virtual time. It injects
//! latency (so messages reorder), dropped gossip, failed requests, disconnects, a partition
//! that heals, crashes and restarts (unflushed writes lost), clock skew and drift, outsiders
//! knocking, and hostile members (forks, join-request floods, pending floods, hellos replaying
//! invites, forged entries); [`check`] holds the invariants it checks. The same seed gives the
//! same trace hash.

pub mod check;
mod world;

use std::sync::Arc;

use kith_node::engine::Planted;
use kith_node::storage::memory::MemStore;
use kith_protocol::{Community, Entry, Keypair};

pub use world::{Outcome, Sim, Traffic, TrafficReport};

/// What a run injects and how long it lasts.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    /// Members running engines (the founder first).
    pub nodes: usize,
    /// Members of the community (at least `nodes`; those beyond run no engine, only their
    /// entries are held): the community's size, for the traffic figures.
    pub members: usize,
    /// Members among them that act hostile (forks, floods, forged entries).
    pub hostile: usize,
    /// Nodes outside the community that keep knocking.
    pub outsiders: usize,
    /// Peers each node connects to at start.
    pub links: usize,
    /// Virtual time with faults injected; everything heals at its end.
    pub chaos_ms: u64,
    /// Virtual time after the heal within which every honest node must reach the same digest.
    pub settle_ms: u64,
    /// Entries honest members publish during the chaos.
    pub publishes: usize,
    pub crashes: usize,
    pub partition: bool,
    /// Per cent of gossip messages dropped, and of requests failed.
    pub drop_gossip_pct: u64,
    pub fail_request_pct: u64,
    /// Random link failures during the chaos.
    pub disconnects: usize,
    /// Largest one-way latency, ms (drawn per message).
    pub max_latency_ms: u64,
    /// Largest clock skew, ms either way, and drift, parts per million either way.
    pub max_skew_ms: u64,
    pub max_drift_ppm: u64,
    /// How often engines compare heads with a random peer (virtual ms).
    pub sync_interval_ms: u64,
    /// Defects planted in every engine, to see the simulator catch them.
    pub planted: Planted,
    /// Whether hostile members flood join requests (on an invite they minted).
    pub join_floods: bool,
    /// Whether a newcomer (a fresh key, an empty home) joins with a founder's invite during the
    /// chaos; its join request must reach the honest nodes.
    pub newcomer: bool,
    /// Whether an honest member's home is wiped and restored from its key during the chaos: it
    /// first meets a fresh peer that holds the community but none of its log, and later the
    /// members. It must never fork its own log and must leave read-only.
    pub restore: bool,
}

impl Scenario {
    /// The named scenario for `nodes` members, if there is one.
    pub fn named(name: &str, nodes: usize) -> Option<Scenario> {
        let base = Scenario {
            name: name.to_string(),
            nodes: nodes.max(3),
            members: nodes.max(3),
            hostile: 0,
            outsiders: 0,
            links: 6,
            chaos_ms: 60_000,
            settle_ms: 120_000,
            publishes: 12,
            crashes: 0,
            partition: false,
            drop_gossip_pct: 0,
            fail_request_pct: 0,
            disconnects: 0,
            max_latency_ms: 150,
            max_skew_ms: 2_000,
            max_drift_ppm: 200,
            sync_interval_ms: 30_000,
            planted: Planted::default(),
            join_floods: true,
            newcomer: false,
            restore: false,
        };
        let scenario = match name {
            "calm" => base,
            // Everything at once: what CI runs.
            "storm" => Scenario {
                chaos_ms: 40_000,
                settle_ms: 60_000,
                links: 4,
                hostile: 2.min(nodes / 10).max(1),
                outsiders: 2,
                crashes: 6,
                partition: true,
                drop_gossip_pct: 10,
                fail_request_pct: 5,
                disconnects: 20,
                newcomer: true,
                restore: true,
                ..base
            },
            // The storm without its join-request floods, to tell a failure of theirs from others.
            "storm-no-join-floods" => {
                Scenario { name: name.to_string(), join_floods: false, ..Scenario::named("storm", nodes)? }
            }
            "partition" => Scenario { partition: true, ..base },
            // For the traffic figures (`kith-sim --members M`): a partition that heals, then
            // three quiet minutes, the last of which is the steady state.
            "scale" => Scenario { partition: true, settle_ms: 180_000, ..base },
            // A member's home wiped and restored from the key, meeting first a peer without its
            // log: calm otherwise, so a fork or a node stuck read-only is the restore's.
            "restore" => Scenario { restore: true, newcomer: true, ..base },
            "crash" => Scenario { crashes: 10, ..base },
            "hostile" => Scenario { hostile: 3.min(nodes / 5).max(1), outsiders: 3, ..base },
            // The storm with a planted defect: the simulator must report it.
            "planted-ack" => Scenario {
                name: name.to_string(),
                planted: Planted { ack_before_flush: true, ..Planted::default() },
                ..Scenario::named("storm", nodes)?
            },
            "planted-serve" => Scenario {
                name: name.to_string(),
                planted: Planted { serve_outsiders: true, ..Planted::default() },
                ..Scenario::named("storm", nodes)?
            },
            _ => return None,
        };
        Some(scenario)
    }

    pub const NAMES: [&'static str; 10] = [
        "calm",
        "storm",
        "storm-no-join-floods",
        "partition",
        "crash",
        "hostile",
        "restore",
        "scale",
        "planted-ack",
        "planted-serve",
    ];
}

/// The community every run starts from: a founder and members admitted by vouches, built once
/// and copied to every node (a store holding it durably, and the reducer's state).
#[derive(Debug, Clone)]
pub struct Base {
    pub keys: Vec<Keypair>,
    pub genesis: Entry,
    pub store: MemStore,
    pub community: Arc<Community>,
}

impl Base {
    /// A community of `members` members (built from [`crate::history`]).
    pub fn new(members: usize) -> anyhow::Result<Base> {
        use kith_node::storage::Storage;
        let history = crate::history::generate(2 * (members.max(2) - 1), members.max(2), 1)?;
        let store = MemStore::new();
        let mut all = vec![history.genesis.clone()];
        all.extend(history.entries.iter().cloned());
        // "Now" just after the last entry: dated in the future, entries would wait for the
        // clock, and the waiting area's bound per author would drop the founder's vouches
        // beyond 4,096 (a community of 5,000 members or more would come out smaller).
        let now_ms = history.entries.iter().map(Entry::timestamp_ms).max().unwrap_or(0) + 60_000;
        let community = Community::rebuild_held(&history.genesis, &[], &history.entries, now_ms)?.community;
        anyhow::ensure!(
            community.members().filter(|(_, m)| m.admitted).count() == members.max(2),
            "the base community did not admit all its {members} members"
        );
        store.store_applied(&all)?;
        store.set_genesis(history.genesis.hash())?;
        store.flush()?;
        Ok(Base { keys: history.keys, genesis: history.genesis, store, community: Arc::new(community) })
    }
}
