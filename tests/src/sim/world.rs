//! The simulated world: nodes, links, the event queue in virtual time, and the faults.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use kith_node::engine::{Command, Engine, EngineConfig, Input, Output, Verdict};
use kith_node::replica::Replica;
use kith_node::storage::memory::MemStore;
use kith_node::sync::{SyncRequest, SyncResponse};
use kith_protocol::{Body, CommunityId, Draft, Entry, EntryHash, Keypair, MemberId, PostKind};

use super::check::{self, Violation};
use super::{Base, Scenario};
use crate::history::Rng;

/// Where the simulated clocks start (ms since the epoch): after the base community's entries.
const START_MS: u64 = 1_800_000_000_000;
/// How often every store flushes by itself (sled's default).
const FLUSH_EVERY_MS: u64 = 500;
/// A minute of virtual time.
const MINUTE_MS: u64 = 60_000;
/// Events kept for the report of a broken invariant.
const TRAIL: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Honest,
    Hostile,
    Outsider,
    /// A fresh key joining with an invite.
    Newcomer,
    /// A peer holding the community but none of the restored member's log, met first.
    Fresh,
}

#[derive(Debug)]
enum Msg {
    Gossip(Vec<u8>),
    Request { id: u64, request: SyncRequest },
    Response { id: u64, response: SyncResponse },
    Failed { id: u64 },
}

#[derive(Debug)]
enum Ev {
    Timer {
        node: usize,
        generation: u64,
    },
    Deliver {
        to: usize,
        epoch: u64,
        from: usize,
        msg: Msg,
    },
    FlushAll,
    Publish {
        node: usize,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    Partition,
    Heal,
    Connect {
        a: usize,
        b: usize,
    },
    Drop {
        a: usize,
    },
    Hostile {
        node: usize,
        act: u8,
    },
    Knock {
        node: usize,
    },
    /// Notes the honest nodes' traffic so far (for the per-minute figures).
    Mark,
    /// The node's home is wiped and its key restored: it comes back empty and read-only.
    Restore {
        node: usize,
    },
}

struct Node {
    key: Keypair,
    id: MemberId,
    role: Role,
    disk: MemStore,
    engine: Option<Engine<MemStore>>,
    epoch: u64,
    skew_ms: i64,
    drift_ppm: i64,
    links: BTreeSet<usize>,
    blocked: BTreeSet<usize>,
    seen: HashSet<EntryHash>,
    /// Gossip waiting for the engine's verdict: handle → (from, bytes).
    messages: BTreeMap<u64, (usize, Vec<u8>)>,
    /// Requests waiting for the engine's answer: handle → (from, their id).
    inbound: BTreeMap<u64, (usize, u64)>,
    next_handle: u64,
    timer: Option<u64>,
    timer_generation: u64,
    /// Entries the engine acknowledged as durable.
    acked: Vec<EntryHash>,
    ticket: u64,
    /// What this node sent: bytes (sync messages in the adapter's CBOR, gossip's entry bytes)
    /// and messages.
    sent: Traffic,
    /// Restored from its key and not yet out of read-only: it starts read-only.
    restored: bool,
    /// The next boot links to no random peer (the restore connects it itself).
    boot_alone: bool,
}

/// Bytes and messages sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub bytes: u64,
    pub messages: u64,
}

impl Traffic {
    fn add(&mut self, other: Traffic) {
        self.bytes += other.bytes;
        self.messages += other.messages;
    }

    fn since(self, earlier: Traffic) -> Traffic {
        Traffic { bytes: self.bytes - earlier.bytes, messages: self.messages - earlier.messages }
    }
}

/// What the honest nodes sent per node per minute, in two windows of virtual time: the minute
/// after the heal and the last minute of the run (steady state).
#[derive(Debug, Clone, Copy, Default)]
pub struct TrafficReport {
    pub after_heal: Traffic,
    pub steady: Traffic,
}

/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    pub violation: Option<Violation>,
    /// The events before the violation (or the last ones), oldest first.
    pub trail: Vec<String>,
    pub trace_hash: String,
    pub events: u64,
    /// Virtual ms after the heal at which every honest node had the same digest (if it did).
    pub converged_after_ms: Option<u64>,
    pub acked: usize,
    pub traffic: TrafficReport,
}

/// One simulated run.
#[allow(missing_debug_implementations)]
pub struct Sim {
    scenario: Scenario,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Ev>,
    nodes: Vec<Node>,
    /// Side of each node while partitioned.
    side: Option<Vec<bool>>,
    cut: Vec<(usize, usize)>,
    trace: blake3::Hasher,
    trail: VecDeque<String>,
    count: u64,
    healed_at: u64,
    converged_after_ms: Option<u64>,
    violation: Option<Violation>,
    base: Base,
    /// Honest nodes' total traffic at the heal, a minute later, and a minute before the end.
    marks: BTreeMap<u64, Traffic>,
    /// The member whose home is wiped and restored, the fresh peer it meets first, and the
    /// newcomer (when the scenario has them).
    restored: Option<usize>,
    fresh: Option<usize>,
    newcomer: Option<usize>,
}

fn name_of(member: &MemberId) -> String {
    member.to_string()
}

impl Sim {
    pub fn new(scenario: Scenario, seed: u64, base: &Base) -> anyhow::Result<Sim> {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut nodes = Vec::new();
        let outsiders_end = scenario.nodes + scenario.outsiders;
        let newcomer = scenario.newcomer.then_some(outsiders_end);
        let fresh = scenario.restore.then_some(outsiders_end + usize::from(scenario.newcomer));
        // An honest member other than the founder.
        let first_honest = scenario.hostile + 1;
        let restored = (scenario.restore && scenario.nodes > first_honest)
            .then(|| first_honest + rng.below(scenario.nodes - first_honest));
        let total = outsiders_end + usize::from(scenario.newcomer) + usize::from(scenario.restore);
        for i in 0..total {
            let (key, role) = if i < scenario.nodes {
                let role = if i > 0 && i <= scenario.hostile { Role::Hostile } else { Role::Honest };
                (base.keys.get(i).cloned().ok_or_else(|| anyhow::anyhow!("base too small"))?, role)
            } else {
                let mut secret = [0u8; 32];
                secret[..8].copy_from_slice(&seed.to_le_bytes());
                secret[8..16].copy_from_slice(&(i as u64).to_le_bytes());
                secret[16] = 0xee;
                let role = if Some(i) == newcomer {
                    Role::Newcomer
                } else if Some(i) == fresh {
                    Role::Fresh
                } else {
                    Role::Outsider
                };
                (Keypair::from_secret_bytes(secret), role)
            };
            let skew = scenario.max_skew_ms as i64;
            let drift = scenario.max_drift_ppm as i64;
            let skew_ms = rng.below(2 * skew as usize + 1) as i64 - skew;
            let drift_ppm = rng.below(2 * drift as usize + 1) as i64 - drift;
            let disk = match role {
                Role::Outsider | Role::Newcomer => MemStore::new(),
                Role::Fresh => without_log(&base.store, restored.and_then(|r| base.keys.get(r)))?,
                Role::Honest | Role::Hostile => base.store.copy_durable(),
            };
            nodes.push(Node {
                id: key.member_id(),
                key,
                role,
                disk,
                engine: None,
                epoch: 0,
                skew_ms,
                drift_ppm,
                links: BTreeSet::new(),
                blocked: BTreeSet::new(),
                seen: HashSet::new(),
                messages: BTreeMap::new(),
                inbound: BTreeMap::new(),
                next_handle: 0,
                timer: None,
                timer_generation: 0,
                acked: Vec::new(),
                ticket: 0,
                sent: Traffic::default(),
                restored: false,
                boot_alone: false,
            });
        }
        let mut sim = Sim {
            scenario,
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            nodes,
            side: None,
            cut: Vec::new(),
            trace: blake3::Hasher::new(),
            trail: VecDeque::new(),
            count: 0,
            healed_at: 0,
            converged_after_ms: None,
            violation: None,
            base: base.clone(),
            marks: BTreeMap::new(),
            restored,
            fresh,
            newcomer,
        };
        // The newcomer and the fresh peer start later, when the plan says.
        for node in 0..outsiders_end {
            sim.boot(node)?;
        }
        Ok(sim)
    }

    fn at(&mut self, time: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((time, self.seq)));
        self.events.insert(self.seq, ev);
    }

    fn later(&mut self, delay: u64, ev: Ev) {
        self.at(self.now + delay, ev);
    }

    fn latency(&mut self) -> u64 {
        1 + self.rng.below(self.scenario.max_latency_ms as usize) as u64
    }

    /// A node's own clock: virtual time, skewed and drifting.
    fn local(&self, node: usize) -> u64 {
        let n = &self.nodes[node];
        let drift = (self.now as i64).saturating_mul(n.drift_ppm) / 1_000_000;
        (START_MS as i64 + self.now as i64 + n.skew_ms + drift).max(0) as u64
    }

    fn note(&mut self, node: usize, what: &str, detail: &[u8]) {
        self.count += 1;
        self.trace.update(&self.now.to_le_bytes());
        self.trace.update(&(node as u64).to_le_bytes());
        self.trace.update(what.as_bytes());
        self.trace.update(detail);
        if self.trail.len() == TRAIL {
            self.trail.pop_front();
        }
        let short = hex::encode(&detail[..detail.len().min(6)]);
        self.trail.push_back(format!("t={:>7}ms node {node:>3} {what} {short}", self.now));
    }

    fn fail(&mut self, violation: Violation) {
        if self.violation.is_none() {
            self.violation = Some(violation);
        }
    }

    /// Starts (or restarts) a node's engine from what its disk holds.
    fn boot(&mut self, node: usize) -> anyhow::Result<()> {
        let now_local = self.local(node);
        let community = self.base.genesis.community();
        let n = &self.nodes[node];
        let mut replica = if n.epoch == 0 && matches!(n.role, Role::Honest | Role::Hostile) {
            Replica::from_parts(n.disk.clone(), n.key.clone(), (*self.base.community).clone())
        } else {
            Replica::open(n.disk.clone(), n.key.clone(), Some(community), now_local)?
        };
        if n.restored {
            replica.set_read_only(true);
        }
        // The newcomer's invite: the founder's, for many, valid well past the run.
        let invite = (n.role == Role::Newcomer).then(|| newcomer_invite(&self.base.keys[0], community));
        let join_profile = invite.clone().map(|invite| Body::JoinRequest { invite, name: format!("Newcomer {node}") });
        let alone = std::mem::take(&mut self.nodes[node].boot_alone) || self.nodes[node].role == Role::Fresh;
        let config = EngineConfig {
            sync_interval_ms: self.scenario.sync_interval_ms,
            invite,
            hub: false,
            join_profile,
            name: name_of,
            seed: self.rng.next_u64(),
        };
        let mut engine = Engine::new(Arc::new(Mutex::new(replica)), config, now_local);
        engine.planted = self.scenario.planted;
        engine.start();
        self.nodes[node].engine = Some(engine);
        self.nodes[node].timer = None;
        // Safety: nothing acknowledged is lost across the restart.
        if let Some(lost) = check::acked_lost(&self.nodes[node].disk, &self.nodes[node].acked) {
            self.fail(Violation::AckedLost { node, entry: lost.short() });
        }
        self.pump(node);
        let links = if alone { 0 } else { self.scenario.links };
        for _ in 0..links {
            let other = self.rng.below(self.scenario.nodes);
            if other != node {
                let delay = self.latency();
                self.later(delay, Ev::Connect { a: node, b: other });
            }
        }
        Ok(())
    }

    fn up(&self, node: usize) -> bool {
        self.nodes[node].engine.is_some()
    }

    fn parted(&self, a: usize, b: usize) -> bool {
        self.side.as_ref().is_some_and(|side| side[a] != side[b])
    }

    fn connect(&mut self, a: usize, b: usize) {
        if a == b
            || !self.up(a)
            || !self.up(b)
            || self.parted(a, b)
            || self.nodes[a].links.contains(&b)
            || self.nodes[a].blocked.contains(&b)
            || self.nodes[b].blocked.contains(&a)
        {
            return;
        }
        self.nodes[a].links.insert(b);
        self.nodes[b].links.insert(a);
        self.note(a, "connect", &(b as u64).to_le_bytes());
        let (ida, idb) = (self.nodes[a].id, self.nodes[b].id);
        self.input(a, Input::Connected { peer: idb, first: true });
        self.input(b, Input::Connected { peer: ida, first: true });
    }

    fn disconnect(&mut self, a: usize, b: usize) {
        if !self.nodes[a].links.remove(&b) {
            return;
        }
        self.nodes[b].links.remove(&a);
        self.note(a, "disconnect", &(b as u64).to_le_bytes());
        let (ida, idb) = (self.nodes[a].id, self.nodes[b].id);
        if self.up(a) {
            self.input(a, Input::Disconnected { peer: idb });
        }
        if self.up(b) {
            self.input(b, Input::Disconnected { peer: ida });
        }
    }

    fn index_of(&self, member: &MemberId) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == *member)
    }

    /// Gives a node one input and carries out what its engine asks.
    fn input(&mut self, node: usize, input: Input) {
        let now_local = self.local(node);
        let Some(engine) = self.nodes[node].engine.as_mut() else { return };
        engine.handle(now_local, input);
        self.pump(node);
    }

    fn pump(&mut self, node: usize) {
        loop {
            let Some(engine) = self.nodes[node].engine.as_mut() else { return };
            let Some(output) = engine.poll_output() else { break };
            self.carry_out(node, output);
        }
        self.schedule_timer(node);
    }

    fn schedule_timer(&mut self, node: usize) {
        let now_local = self.local(node);
        let Some(engine) = self.nodes[node].engine.as_ref() else { return };
        let due = self.now + engine.next_deadline().saturating_sub(now_local).max(1);
        if self.nodes[node].timer.is_some_and(|t| t <= due && t > self.now) {
            return;
        }
        self.nodes[node].timer = Some(due);
        self.nodes[node].timer_generation += 1;
        let generation = self.nodes[node].timer_generation;
        self.at(due, Ev::Timer { node, generation });
    }

    fn send(&mut self, from: usize, to: usize, msg: Msg) {
        let bytes = match &msg {
            Msg::Gossip(data) => Some(data.len()),
            Msg::Request { request, .. } => cbor_len(request),
            Msg::Response { response, .. } => cbor_len(response),
            Msg::Failed { .. } => None, // the transport's word, not a message
        };
        if let Some(bytes) = bytes {
            self.nodes[from].sent.add(Traffic { bytes: bytes as u64, messages: 1 });
        }
        let delay = self.latency();
        let epoch = self.nodes[to].epoch;
        self.later(delay, Ev::Deliver { to, epoch, from, msg });
    }

    fn carry_out(&mut self, node: usize, output: Output) {
        match output {
            Output::Publish(entry) => {
                self.nodes[node].seen.insert(entry.hash());
                self.flood(node, None, entry.bytes().to_vec());
            }
            Output::Validate { message, verdict, .. } => {
                let Some((from, data)) = self.nodes[node].messages.remove(&message) else { return };
                if verdict == Verdict::Accept {
                    self.flood(node, Some(from), data);
                }
            }
            Output::Request { peer, id, request } => {
                let Some(to) = self.index_of(&peer) else { return };
                let fail = self.rng.below(100) < self.scenario.fail_request_pct as usize;
                if !self.nodes[node].links.contains(&to) || fail {
                    self.send(to, node, Msg::Failed { id });
                } else {
                    self.send(node, to, Msg::Request { id, request });
                }
            }
            Output::Respond { id, response } => {
                let Some((to, their_id)) = self.nodes[node].inbound.remove(&id) else { return };
                if self.nodes[node].links.contains(&to) {
                    self.send(node, to, Msg::Response { id: their_id, response });
                }
            }
            // The work the node does on threads of its own (verify, store, read, sign), done
            // here inline, so the run stays deterministic; a read gives the answer to send.
            output @ (Output::Verify { .. }
            | Output::Store { .. }
            | Output::StoreEntry(_)
            | Output::Read { .. }
            | Output::StoreProofs(_)
            | Output::Release
            | Output::Sign { .. }
            | Output::AdoptGenesis { .. }
            | Output::StoreGate(_)
            | Output::CompareHeads { .. }
            | Output::InviteUses { .. }
            | Output::CheckOwnLog { .. }) => {
                let now_local = self.local(node);
                let Some(engine) = self.nodes[node].engine.as_mut() else { return };
                if let Some(answer) = engine.run_here(now_local, output) {
                    self.carry_out(node, answer);
                }
            }
            Output::Disconnect { peer, forget } => {
                let Some(other) = self.index_of(&peer) else { return };
                self.disconnect(node, other);
                if !forget {
                    let delay = 1_000 + self.rng.below(4_000) as u64;
                    self.later(delay, Ev::Connect { a: node, b: other });
                }
            }
            Output::Reconnect(peer) => {
                let Some(other) = self.index_of(&peer) else { return };
                self.disconnect(node, other);
                let delay = self.latency();
                self.later(delay, Ev::Connect { a: node, b: other });
            }
            Output::Block(peer) => {
                let Some(other) = self.index_of(&peer) else { return };
                self.note(node, "block", &(other as u64).to_le_bytes());
                self.nodes[node].blocked.insert(other);
                self.disconnect(node, other);
            }
            Output::Unblock(peer) => {
                let Some(other) = self.index_of(&peer) else { return };
                self.nodes[node].blocked.remove(&other);
            }
            Output::Acknowledged { result: Ok(hash), .. } => {
                self.note(node, "acked", &hash.0);
                self.nodes[node].acked.push(hash);
            }
            Output::LookUp => {
                // Peer discovery (the adapter's Kademlia lookup and its redials of known
                // peers): a node short of links finds one more member's node.
                if self.nodes[node].links.len() < self.scenario.links {
                    let other = self.rng.below(self.scenario.nodes);
                    let delay = self.latency();
                    self.later(delay, Ev::Connect { a: node, b: other });
                }
            }
            Output::Acknowledged { result: Err(_), .. }
            | Output::Subscribe(_)
            | Output::Admit(_)
            | Output::Hold(_)
            | Output::MembershipChanged
            | Output::Event(_) => {}
        }
    }

    /// Gossip: to every linked peer this node lets in (gossipsub sends nothing to peers held
    /// at the door), but the one it came from.
    fn flood(&mut self, node: usize, from: Option<usize>, data: Vec<u8>) {
        let targets: Vec<usize> = self.nodes[node]
            .links
            .iter()
            .copied()
            .filter(|t| Some(*t) != from)
            .filter(|t| self.nodes[node].engine.as_ref().is_some_and(|e| e.lets_in(&self.nodes[*t].id)))
            .collect();
        for to in targets {
            if self.rng.below(100) < self.scenario.drop_gossip_pct as usize {
                continue;
            }
            self.send(node, to, Msg::Gossip(data.clone()));
        }
    }

    fn deliver(&mut self, to: usize, epoch: u64, from: usize, msg: Msg) {
        if self.nodes[to].epoch != epoch || !self.up(to) {
            return;
        }
        let linked = self.nodes[to].links.contains(&from);
        let outsider = self.nodes[to].role == Role::Outsider;
        let from_id = self.nodes[from].id;
        match msg {
            Msg::Gossip(data) => {
                if !linked {
                    return;
                }
                if outsider && self.nodes[from].role == Role::Honest {
                    self.fail(Violation::OutsiderServed { node: to, what: format!("gossip from node {from}") });
                }
                let hash = EntryHash(*blake3::hash(&data).as_bytes());
                if !self.nodes[to].seen.insert(hash) {
                    return;
                }
                self.note(to, "gossip", &hash.0);
                self.nodes[to].next_handle += 1;
                let handle = self.nodes[to].next_handle;
                self.nodes[to].messages.insert(handle, (from, data.clone()));
                self.input(to, Input::Gossip { peer: from_id, message: handle, data });
            }
            Msg::Request { id, request } => {
                if !linked {
                    self.send(to, from, Msg::Failed { id });
                    return;
                }
                self.note(to, "request", &[request_tag(&request)]);
                self.nodes[to].next_handle += 1;
                let handle = self.nodes[to].next_handle;
                self.nodes[to].inbound.insert(handle, (from, id));
                self.input(to, Input::Request { peer: from_id, id: handle, request });
            }
            Msg::Response { id, response } => {
                if !linked {
                    return;
                }
                if outsider && self.nodes[from].role == Role::Honest && check::carries_community(&response) {
                    self.fail(Violation::OutsiderServed {
                        node: to,
                        what: format!("{response:?}").chars().take(60).collect(),
                    });
                }
                self.note(to, "response", &id.to_le_bytes());
                self.input(to, Input::Response { id, response });
            }
            Msg::Failed { id } => {
                self.note(to, "failed", &id.to_le_bytes());
                self.input(to, Input::RequestFailed { id });
            }
        }
    }

    fn crash(&mut self, node: usize) {
        if !self.up(node) {
            return;
        }
        self.note(node, "crash", &[]);
        // A restored home forgets it was restored once its node left read-only.
        if self.nodes[node].engine.as_ref().is_some_and(|e| !e.replica().is_read_only()) {
            self.nodes[node].restored = false;
        }
        let links: Vec<usize> = self.nodes[node].links.iter().copied().collect();
        for other in links {
            self.disconnect(node, other);
        }
        let n = &mut self.nodes[node];
        n.engine = None;
        n.disk.crash();
        n.epoch += 1;
        n.seen.clear();
        n.messages.clear();
        n.inbound.clear();
        n.timer = None;
    }

    /// Wipes a member's home and restores its key: the node comes back with an empty disk,
    /// read-only, meets first the fresh peer (the community without this member's log), and
    /// the members a few seconds later. What it had acknowledged went with the disk (the user's
    /// loss, not the engine's: its peers may hold it).
    fn restore(&mut self, node: usize) {
        self.note(node, "restore", &[]);
        self.crash(node);
        let n = &mut self.nodes[node];
        n.disk = MemStore::new();
        n.restored = true;
        n.boot_alone = true;
        n.acked.clear();
        n.epoch += 1;
        self.later(500, Ev::Restart { node });
        if let Some(fresh) = self.fresh {
            self.later(400, Ev::Restart { node: fresh });
            self.later(600, Ev::Connect { a: node, b: fresh });
        }
        for _ in 0..self.scenario.links {
            let other = self.rng.below(self.scenario.nodes);
            self.later(6_000, Ev::Connect { a: node, b: other });
        }
        // Like a node redialling, it keeps reaching for members (a partition may be up).
        self.later(13_000, Ev::Knock { node });
    }

    fn publish(&mut self, node: usize) {
        if !self.up(node) {
            return;
        }
        let n = &mut self.nodes[node];
        n.ticket += 1;
        let ticket = n.ticket;
        let body = post_body(ticket);
        self.note(node, "publish", &ticket.to_le_bytes());
        self.input(node, Input::Command(Command::Publish { ticket, body }));
    }

    /// A hostile member misbehaves: 0 fork, 1 join-request flood, 2 pending flood, 3 forged,
    /// 4 hellos replaying invites.
    fn hostile(&mut self, node: usize, act: u8) {
        if !self.up(node) {
            return;
        }
        let (head_seq, head_hash, community) = {
            let Some(engine) = self.nodes[node].engine.as_ref() else { return };
            let replica = engine.replica();
            let me = replica.me();
            let Some(community) = replica.community() else { return };
            let head = community.member(&me).and_then(|m| m.head);
            (head.map_or(0, |h| h.seq), head.map(|h| h.hash), community.id())
        };
        let key = self.nodes[node].key.clone();
        let stamp = self.local(node);
        let sign = |seq: u64, prev: Option<EntryHash>, body: Body, key: &Keypair| {
            Entry::sign(key, Draft { community: Some(community), seq, prev, timestamp_ms: stamp, body }).ok()
        };
        let links: Vec<usize> = self.nodes[node].links.iter().copied().collect();
        let mut sends: Vec<(usize, Vec<u8>)> = Vec::new();
        match act {
            0 => {
                self.note(node, "hostile fork", &[]);
                let a = sign(head_seq + 1, head_hash, post_body(1_000_001), &key);
                let b = sign(head_seq + 1, head_hash, post_body(1_000_002), &key);
                if let (Some(a), Some(b)) = (a, b) {
                    for (i, to) in links.iter().enumerate() {
                        let entry = if i % 2 == 0 { &a } else { &b };
                        sends.push((*to, entry.bytes().to_vec()));
                    }
                }
            }
            1 => {
                // A member mints an invite for two and floods four join requests with it: at
                // most two may stay open anywhere.
                self.note(node, "hostile join flood", &[]);
                let invite = kith_protocol::invite::Capability::issue(
                    &key,
                    community,
                    [node as u8; 16],
                    stamp.saturating_add(3_600_000),
                    2,
                )
                .to_bytes();
                for i in 0..4u64 {
                    let mut secret = [0x5a; 32];
                    secret[..8].copy_from_slice(&(self.now ^ (i << 48) ^ node as u64).to_le_bytes());
                    let stranger = Keypair::from_secret_bytes(secret);
                    if let Some(entry) = sign(1, None, join_body(i, invite.clone()), &stranger) {
                        for to in &links {
                            sends.push((*to, entry.bytes().to_vec()));
                        }
                    }
                }
            }
            2 => {
                self.note(node, "hostile pending flood", &[]);
                for gap in 2..12u64 {
                    if let Some(entry) = sign(head_seq + gap, Some(EntryHash([gap as u8; 32])), post_body(gap), &key) {
                        for to in &links {
                            sends.push((*to, entry.bytes().to_vec()));
                        }
                    }
                }
            }
            4 => {
                // A member replays the founder's invite (the newcomer's) in hellos to its
                // neighbours, and shows one it minted itself: neither may make a node write.
                self.note(node, "hostile hellos", &[]);
                let founders = newcomer_invite(&self.base.keys[0], community);
                let own =
                    kith_protocol::invite::Capability::issue(&key, community, [node as u8; 16], stamp + 3_600_000, 5)
                        .to_bytes();
                for to in &links {
                    for (i, invite) in [&founders, &own].into_iter().enumerate() {
                        let request = SyncRequest::Hello { community: community.0.to_vec(), invite: invite.clone() };
                        self.send(node, *to, Msg::Request { id: u64::MAX - i as u64, request });
                    }
                }
            }
            _ => {
                self.note(node, "hostile forged", &[]);
                if let Some(entry) = sign(head_seq + 1, head_hash, post_body(77), &key) {
                    let mut bytes = entry.bytes().to_vec();
                    let last = bytes.len() - 1;
                    bytes[last] ^= 0x01;
                    for to in &links {
                        sends.push((*to, bytes.clone()));
                        sends.push((*to, vec![0xff; 40]));
                    }
                }
            }
        }
        for (to, bytes) in sends {
            self.send(node, to, Msg::Gossip(bytes));
        }
    }

    fn partition(&mut self) {
        let side: Vec<bool> = (0..self.nodes.len()).map(|_| self.rng.below(2) == 0).collect();
        self.note(0, "partition", &[]);
        let mut cut = Vec::new();
        for a in 0..self.nodes.len() {
            let links: Vec<usize> = self.nodes[a].links.iter().copied().filter(|b| side[a] != side[*b]).collect();
            for b in links {
                cut.push((a, b));
                self.disconnect(a, b);
            }
        }
        self.side = Some(side);
        self.cut = cut;
    }

    fn heal(&mut self) {
        self.note(0, "heal", &[]);
        self.side = None;
        self.healed_at = self.now;
        for (a, b) in std::mem::take(&mut self.cut) {
            let delay = self.rng.below(5_000) as u64;
            self.later(delay, Ev::Connect { a, b });
        }
        for node in 0..self.nodes.len() {
            if !self.up(node) {
                let delay = self.rng.below(2_000) as u64;
                self.later(delay, Ev::Restart { node });
            }
        }
    }

    /// Schedules the faults and publishes of the run.
    fn plan(&mut self) {
        let s = self.scenario.clone();
        let honest: Vec<usize> = (0..s.nodes).filter(|i| self.nodes[*i].role == Role::Honest).collect();
        let hostile: Vec<usize> = (0..s.nodes).filter(|i| self.nodes[*i].role == Role::Hostile).collect();
        self.at(FLUSH_EVERY_MS, Ev::FlushAll);
        for _ in 0..s.publishes {
            let node = honest[self.rng.below(honest.len())];
            let at = 2_000 + self.rng.below(s.chaos_ms as usize) as u64;
            self.at(at, Ev::Publish { node });
            // Power cuts love the moment after a write.
            if s.crashes > 0 && self.rng.below(2) == 0 {
                let after = self.rng.below(400) as u64;
                self.at(at + after, Ev::Crash { node });
                self.at(at + after + 3_000, Ev::Restart { node });
            }
        }
        for _ in 0..s.crashes {
            let node = honest[self.rng.below(honest.len())];
            let at = 1_000 + self.rng.below(s.chaos_ms.saturating_sub(2_000).max(1) as usize) as u64;
            self.at(at, Ev::Crash { node });
            let down = 2_000 + self.rng.below(20_000) as u64;
            self.at(at + down, Ev::Restart { node });
        }
        for _ in 0..s.disconnects {
            let a = self.rng.below(s.nodes);
            let at = self.rng.below(s.chaos_ms as usize) as u64;
            self.at(at, Ev::Drop { a });
        }
        if s.partition {
            let at = s.chaos_ms / 4 + self.rng.below((s.chaos_ms / 4) as usize) as u64;
            self.at(at, Ev::Partition);
        }
        for node in hostile {
            for act in (0..5u8).filter(|act| *act != 1 || s.join_floods) {
                let at = 3_000 + self.rng.below(s.chaos_ms as usize) as u64;
                self.at(at, Ev::Hostile { node, act });
            }
        }
        let outsiders: Vec<usize> =
            (s.nodes..self.nodes.len()).filter(|n| self.nodes[*n].role == Role::Outsider).collect();
        for node in outsiders {
            let at = self.rng.below(10_000) as u64;
            self.at(at, Ev::Knock { node });
        }
        if let Some(node) = self.newcomer {
            let at = s.chaos_ms / 8 + self.rng.below((s.chaos_ms / 4) as usize) as u64;
            self.at(at, Ev::Restart { node });
            // Like a node redialling, it reaches for another member every few seconds (its first
            // links may crash or drop).
            self.at(at + 7_000, Ev::Knock { node });
        }
        if let Some(node) = self.restored {
            let at = s.chaos_ms / 8 + self.rng.below((s.chaos_ms / 4) as usize) as u64;
            self.at(at, Ev::Restore { node });
            // A publish while only the fresh peer is there (refused: read-only), and later ones
            // once members holding its log are reached.
            self.at(at + 3_000, Ev::Publish { node });
            for later in [15_000, 25_000, 35_000] {
                self.at(at + later, Ev::Publish { node });
            }
        }
        self.at(s.chaos_ms, Ev::Heal);
        let end = s.chaos_ms + s.settle_ms;
        for at in [s.chaos_ms, s.chaos_ms + MINUTE_MS, end.saturating_sub(MINUTE_MS), end] {
            self.at(at, Ev::Mark);
        }
    }

    fn honest_traffic(&self) -> Traffic {
        let mut total = Traffic::default();
        for node in self.nodes.iter().filter(|n| n.role == Role::Honest) {
            total.add(node.sent);
        }
        total
    }

    /// Per honest node per minute, in the minute after the heal and the run's last minute.
    fn traffic_report(&self) -> TrafficReport {
        let honest = self.nodes.iter().filter(|n| n.role == Role::Honest).count().max(1) as u64;
        let s = &self.scenario;
        let end = s.chaos_ms + s.settle_ms;
        let window = |from: u64, to: u64| {
            let (Some(a), Some(b)) = (self.marks.get(&from), self.marks.get(&to)) else { return Traffic::default() };
            let t = b.since(*a);
            Traffic { bytes: t.bytes / honest, messages: t.messages / honest }
        };
        TrafficReport {
            after_heal: window(s.chaos_ms, s.chaos_ms + MINUTE_MS),
            steady: window(end.saturating_sub(MINUTE_MS), end),
        }
    }

    fn step(&mut self, ev: Ev) {
        match ev {
            Ev::Timer { node, generation } => {
                if self.nodes[node].timer_generation != generation || !self.up(node) {
                    return;
                }
                self.nodes[node].timer = None;
                self.input(node, Input::Timer);
            }
            Ev::Deliver { to, epoch, from, msg } => self.deliver(to, epoch, from, msg),
            Ev::FlushAll => {
                for node in 0..self.nodes.len() {
                    if self.up(node) {
                        let _ = kith_node::storage::Storage::flush(&self.nodes[node].disk);
                    }
                }
                self.check_bounds();
                self.later(FLUSH_EVERY_MS, Ev::FlushAll);
            }
            Ev::Publish { node } => self.publish(node),
            Ev::Crash { node } => self.crash(node),
            Ev::Restart { node } => {
                if !self.up(node) {
                    self.note(node, "restart", &[]);
                    if let Err(error) = self.boot(node) {
                        self.fail(Violation::Restart { node, error: error.to_string() });
                    }
                }
            }
            Ev::Partition => self.partition(),
            Ev::Heal => self.heal(),
            Ev::Mark => {
                let total = self.honest_traffic();
                self.marks.insert(self.now, total);
            }
            Ev::Connect { a, b } => self.connect(a, b),
            Ev::Drop { a } => {
                let links: Vec<usize> = self.nodes[a].links.iter().copied().collect();
                if !links.is_empty() {
                    let b = links[self.rng.below(links.len())];
                    self.disconnect(a, b);
                    let delay = 1_000 + self.rng.below(9_000) as u64;
                    self.later(delay, Ev::Connect { a, b });
                }
            }
            Ev::Hostile { node, act } => self.hostile(node, act),
            Ev::Restore { node } => self.restore(node),
            Ev::Knock { node } => {
                let member = self.rng.below(self.scenario.nodes);
                self.connect(node, member);
                if self.now < self.scenario.chaos_ms + self.scenario.settle_ms {
                    self.later(7_000, Ev::Knock { node });
                }
            }
        }
    }

    fn check_bounds(&mut self) {
        for node in 0..self.nodes.len() {
            let Some(engine) = self.nodes[node].engine.as_ref() else { continue };
            let tables = engine.table_sizes();
            let pending = engine.replica().community().map_or(0, |c| c.pending_count());
            if tables > check::MAX_ENGINE_ROWS || pending > check::MAX_PENDING {
                self.fail(Violation::Memory { node, tables, pending });
                return;
            }
        }
    }

    /// What a node's reducer holds, in a few numbers, for a convergence failure's message.
    fn describe(&self, node: usize) -> String {
        let Some(engine) = self.nodes[node].engine.as_ref() else { return "down".into() };
        let replica = engine.replica();
        let Some(community) = replica.community() else { return "no community".into() };
        let frozen = community.members().filter(|(_, m)| m.frozen_at.is_some()).count();
        let members = community.members().filter(|(_, m)| m.admitted).count();
        format!(
            "{} entries, {} waiting, {} members, {} frozen logs, {} posts; {} links; {}",
            community.entry_count(),
            community.pending_count(),
            members,
            frozen,
            community.posts().count(),
            self.nodes[node].links.len(),
            engine.sync_state()
        )
    }

    fn honest_digests(&self) -> Vec<(usize, [u8; 32])> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].role == Role::Honest)
            .filter_map(|i| {
                let engine = self.nodes[i].engine.as_ref()?;
                let digest = engine.replica().community()?.digest();
                Some((i, digest))
            })
            .collect()
    }

    /// Runs the scenario to its end, or to the first broken invariant.
    pub fn run(mut self) -> Outcome {
        self.plan();
        let end = self.scenario.chaos_ms + self.scenario.settle_ms;
        let mut next_convergence_check = self.scenario.chaos_ms + 5_000;
        while let Some(Reverse((time, seq))) = self.queue.pop() {
            if time > end || self.violation.is_some() {
                break;
            }
            self.now = time;
            let Some(ev) = self.events.remove(&seq) else { continue };
            self.step(ev);
            if self.now >= next_convergence_check && self.converged_after_ms.is_none() {
                next_convergence_check = self.now + 5_000;
                let digests = self.honest_digests();
                if digests.windows(2).all(|w| w[0].1 == w[1].1) {
                    self.converged_after_ms = Some(self.now - self.healed_at);
                }
            }
        }
        self.now = self.now.max(end);
        if self.violation.is_none() {
            self.final_checks();
        }
        let honest_acked: usize = self.nodes.iter().map(|n| n.acked.len()).sum();
        let traffic = self.traffic_report();
        let mut trace = self.trace.clone();
        if let Some(violation) = &self.violation {
            trace.update(violation.to_string().as_bytes());
        }
        Outcome {
            violation: self.violation,
            trail: self.trail.into_iter().collect(),
            trace_hash: trace.finalize().to_hex().to_string(),
            events: self.count,
            converged_after_ms: self.converged_after_ms,
            acked: honest_acked,
            traffic,
        }
    }

    fn final_checks(&mut self) {
        // First what the restore must never do, whatever else went wrong.
        if let Some(node) = self.restored {
            let id = self.nodes[node].id;
            let seen_at = (0..self.nodes.len()).filter(|i| self.nodes[*i].role == Role::Honest).find(|i| {
                self.nodes[*i].engine.as_ref().is_some_and(|e| {
                    e.replica().community().and_then(|c| c.member(&id)).is_some_and(|m| m.frozen_at.is_some())
                })
            });
            if let Some(seen_at) = seen_at {
                self.fail(Violation::RestoredForked { node, seen_at });
                return;
            }
        }
        let digests = self.honest_digests();
        let up = (0..self.nodes.len()).filter(|i| self.nodes[*i].role == Role::Honest).count();
        if digests.len() != up {
            self.fail(Violation::NotConverged { detail: format!("{} of {up} honest nodes up", digests.len()) });
            return;
        }
        if let Some(w) = digests.windows(2).find(|w| w[0].1 != w[1].1) {
            // How many honest nodes hold each digest, and what the two first apart hold.
            let mut holders: BTreeMap<[u8; 32], usize> = BTreeMap::new();
            for (_, digest) in &digests {
                *holders.entry(*digest).or_default() += 1;
            }
            let detail = format!(
                "node {} digest {} ({}) but node {} digest {} ({}) ({} ms after the heal; {} digests among {} honest nodes, held by {:?})",
                w[0].0,
                hex::encode(&w[0].1[..6]),
                self.describe(w[0].0),
                w[1].0,
                hex::encode(&w[1].1[..6]),
                self.describe(w[1].0),
                self.scenario.settle_ms,
                holders.len(),
                digests.len(),
                holders.values().collect::<Vec<_>>()
            );
            self.fail(Violation::NotConverged { detail });
            return;
        }
        if let Some(node) = self.restored
            && self.nodes[node].engine.as_ref().is_none_or(|e| e.replica().is_read_only())
        {
            self.fail(Violation::StillReadOnly { node });
            return;
        }
        if let (Some(node), Some((first, _))) = (self.newcomer, digests.first()) {
            let id = self.nodes[node].id;
            let heard = self.nodes[*first]
                .engine
                .as_ref()
                .is_some_and(|e| e.replica().community().is_some_and(|c| c.entry_at(&id, 1).is_some()));
            if !heard {
                self.fail(Violation::NewcomerNotHeard { node });
                return;
            }
        }
        let honest: Vec<MemberId> = self.nodes.iter().filter(|n| n.role == Role::Honest).map(|n| n.id).collect();
        let acked: Vec<(usize, EntryHash)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.role == Role::Honest)
            .flat_map(|(i, n)| n.acked.iter().map(move |h| (i, *h)))
            .collect();
        for (i, n) in self.nodes.iter().enumerate() {
            if n.role != Role::Honest {
                continue;
            }
            let Some(engine) = n.engine.as_ref() else { continue };
            let replica = engine.replica();
            let Some(community) = replica.community() else { continue };
            if let Some(frozen) = honest.iter().find(|m| community.member(m).and_then(|m| m.frozen_at).is_some()) {
                let violation = Violation::HonestFrozen { node: i, member: frozen.short() };
                drop(replica);
                self.fail(violation);
                return;
            }
            use kith_node::storage::Storage;
            let base_head = self.base.community.member(&n.id).and_then(|m| m.head).map_or(0, |h| h.seq);
            let head = community.member(&n.id).and_then(|m| m.head).map_or(0, |h| h.seq);
            for seq in base_head + 1..=head {
                let Some(hash) = community.entry_at(&n.id, seq) else { continue };
                let body = replica.store().get(&hash).ok().flatten().map(|e| e.body().clone());
                if !matches!(body, Some(Body::Post { .. })) {
                    let what = format!("{:?}", body).chars().take(60).collect();
                    drop(replica);
                    self.fail(Violation::OwnLogWritten { node: i, what });
                    return;
                }
            }
            // What the store serves is what the reducer holds as applied (after forks too).
            let served_but_not_applied = replica.store().applied_entries().find_map(|entry| {
                let entry = entry.ok()?;
                let applied = community.entry_at(&entry.author(), entry.seq()) == Some(entry.hash())
                    || entry.hash() == self.base.genesis.hash();
                (!applied).then(|| format!("{} {}#{}", entry.hash().short(), entry.author().short(), entry.seq()))
            });
            if let Some(what) = served_but_not_applied {
                drop(replica);
                self.fail(Violation::ServesUnapplied { node: i, what });
                return;
            }
            if let Some((author, hash)) = acked.iter().find(|(_, h)| !community.holds(h)) {
                let violation =
                    Violation::AckedLost { node: *author, entry: format!("{} missing at node {i}", hash.short()) };
                drop(replica);
                self.fail(violation);
                return;
            }
        }
    }
}

/// The newcomer's invite: the founder's, for many, valid well past the run.
fn newcomer_invite(founder: &Keypair, community: CommunityId) -> Vec<u8> {
    kith_protocol::invite::Capability::issue(founder, community, [0xcc; 16], START_MS + 30 * 24 * 3_600_000, 100)
        .to_bytes()
}

/// A sync message's size in the adapter's wire codec (libp2p request-response's CBOR).
fn cbor_len<T: serde::Serialize>(message: &T) -> Option<usize> {
    cbor4ii::serde::to_vec(Vec::new(), message).ok().map(|bytes| bytes.len())
}

/// A copy of the base community's store without `member`'s log (what a peer that never fetched
/// that log holds).
fn without_log(store: &MemStore, member: Option<&Keypair>) -> anyhow::Result<MemStore> {
    use kith_node::storage::Storage;
    let skip = member.map(Keypair::member_id);
    let mut kept = Vec::new();
    for entry in store.applied_entries() {
        let entry = entry?;
        if Some(entry.author()) != skip {
            kept.push(entry);
        }
    }
    let copy = MemStore::new();
    copy.store_applied(&kept)?;
    if let Some(genesis) = store.genesis()? {
        copy.set_genesis(genesis)?;
    }
    copy.flush()?;
    Ok(copy)
}

fn request_tag(request: &SyncRequest) -> u8 {
    match request {
        SyncRequest::Heads { .. } => 1,
        SyncRequest::Range { .. } => 2,
        SyncRequest::Entry { .. } => 3,
        SyncRequest::Since { .. } => 4,
        SyncRequest::Hello { .. } => 5,
        SyncRequest::Reconcile { .. } => 6,
    }
}

fn post_body(n: u64) -> Body {
    Body::Post {
        kind: PostKind::Offer,
        title: format!("Offer number {n}"),
        details: "Simulated.".into(),
        category: "help".into(),
        when: String::new(),
        place: String::new(),
        expires_at: None,
        schedule: None,
    }
}

fn join_body(n: u64, invite: Vec<u8>) -> Body {
    Body::JoinRequest { invite, name: format!("Stranger {n}") }
}
