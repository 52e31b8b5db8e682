//! The reducer fed signed, structure-aware histories written by a few fixed keys: join
//! requests (with one of the founder's two invites), vouches, posts, replies, statuses, transfers, claims,
//! redactions, suspensions, reinstatements, dismissals, appointments and forks. Authors write only what their own node would accept, except a fork,
//! which a hostile or unlucky author writes anyway. Two receivers get the entries in two
//! different orders and complete forks the way a node does (proof, then a rebuild from what
//! they hold, dropping evicted join requests as a node does), then sync (each fetches what the
//! other holds). After every step: the ledger sums to minus the unclaimed transfers and no
//! unforked member is below the credit limit; at the end both receivers hold one state.
#![no_main]

use arbitrary::Arbitrary;
use kith_protocol::invite::Capability;
use kith_protocol::{
    Body, Community, CommunityId, Draft, Entry, EntryHash, ForkProof, Keypair, MemberId, Minutes, Outcome, PostKind,
    Role, Rules, Status,
};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::collections::HashMap;

const KEYS: u8 = 5;
const T0: u64 = 1_700_000_000_000;
const NOW: u64 = T0 + 1_000_000_000;

#[derive(Arbitrary, Debug)]
enum Act {
    Join { who: u8 },
    Vouch { by: u8, whom: u8 },
    Post { by: u8, kind: u8 },
    Reply { by: u8, post: u8 },
    Status { post: u8, status: u8 },
    Pay { by: u8, to: u8, minutes: u16 },
    Claim { transfer: u8 },
    Redact { by: u8, entry: u8 },
    Suspend { by: u8, whom: u8 },
    Reinstate { by: u8, suspension: u8 },
    Dismiss { whom: u8 },
    Appoint { by: u8, whom: u8, hub: bool },
    /// The author's next entry goes at the seq of its last one: a second branch.
    Fork { by: u8 },
}

#[derive(Arbitrary, Debug)]
struct Case {
    credit_limit_hours: u8,
    vouches_needed: u8,
    acts: Vec<Act>,
    /// Picks the second receiver's delivery order.
    order: u64,
    /// Whether the founder issued a second invite, of one use, that the odd `who` join with
    /// (last, so that inputs written before it decode as they did).
    second_invite: bool,
}

/// One author's log as its node writes it.
struct Log {
    key: Keypair,
    seq: u64,
    prev: Option<EntryHash>,
    timestamp_ms: u64,
}

impl Log {
    /// The draft of the log's next entry.
    fn draft(&self, community: Option<CommunityId>, body: Body) -> Draft {
        Draft { community, seq: self.seq + 1, prev: self.prev, timestamp_ms: self.timestamp_ms + 60_000, body }
    }
}

/// Every key's log, with the `prev` of its last entry beside it, so that a fork (a sibling of
/// the last entry: same seq, same prev, other content) can branch off it.
struct Writer {
    logs: Vec<(Log, Option<Option<EntryHash>>)>,
}

/// A receiving node: what it holds, its fork proofs, its reducer.
struct Receiver {
    genesis: Entry,
    community: Community,
    held: Vec<Entry>,
    proofs: Vec<ForkProof>,
}

impl Receiver {
    fn new(genesis: &Entry) -> Option<Receiver> {
        let community = Community::new(genesis).ok()?;
        Some(Receiver { genesis: genesis.clone(), community, held: vec![genesis.clone()], proofs: Vec::new() })
    }

    fn receive(&mut self, entry: &Entry) {
        let (outcome, report) = self.community.ingest(entry.clone(), NOW);
        // A refused entry kept as the evidence of its place is held too (a node keeps it with
        // the waiting entries), so a rebuild meets it again.
        let kept_refused = report.refused.iter().any(|refused| refused.hash() == entry.hash());
        if !matches!(outcome, Outcome::Rejected(_) | Outcome::Duplicate) || kept_refused {
            self.held.push(entry.clone());
        }
        // An evicted join request and a waiting entry found invalid leave the store, as a
        // node drops them, unless it is kept as the evidence of its author's seq 1.
        let gone: Vec<EntryHash> = report
            .evicted
            .iter()
            .chain(report.released_rejections.iter().map(|(hash, _)| hash))
            .copied()
            .collect();
        // An evicted request that waits for its author's admission stays, as a node parks it,
        // and so does one applied again in the same call (a node stores what the reducer holds).
        let community = &self.community;
        self.held.retain(|held| {
            let evidence = community.refused_at(&held.author()) == Some((held.seq(), held.hash()));
            let kept = community.is_pending(&held.hash()) || community.holds(&held.hash());
            !gone.contains(&held.hash()) || evidence || kept
        });
        // A conflict, met on arrival or in an entry it released: a proof, then a rebuild.
        let mut froze = false;
        for (incoming, existing) in &report.conflicts {
            let stored = self.held.iter().find(|e| e.hash() == *existing).cloned();
            if let Some(proof) = stored.and_then(|stored| self.community.fork_with(&stored, incoming)) {
                self.proofs.push(proof);
                froze = true;
            }
        }
        if froze {
            self.rebuild();
        }
        self.check();
    }

    /// The entries held besides the Genesis, in an order that keeps each log's.
    fn entries(&self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self.held.iter().skip(1).cloned().collect();
        entries.sort_by_key(|e| (e.author(), e.seq(), e.hash()));
        entries
    }

    fn rebuild(&mut self) {
        if let Ok(rebuilt) = Community::rebuild_held(&self.genesis, &self.proofs, &self.entries(), NOW) {
            self.proofs.extend(rebuilt.new_forks);
            self.community = rebuilt.community;
        }
    }

    fn check(&self) {
        let sum: i64 = self.community.members().map(|(_, m)| m.balance_minutes).sum();
        assert_eq!(sum, -self.community.unclaimed_minutes(), "the ledger does not sum to minus the unclaimed");
        let limit = i64::from(self.community.rules().credit_limit.0);
        for (id, member) in self.community.members() {
            if member.frozen_at.is_none() {
                assert!(member.balance_minutes >= -limit, "{} is below the credit limit without a fork", id.short());
            }
        }
    }
}

thread_local! {
    /// The fixed keys, derived once.
    static KEYS_MADE: Vec<Keypair> = (1..=KEYS).map(|n| Keypair::from_secret_bytes([n; 32])).collect();
    /// Entries signed by earlier inputs, by author and draft. Ed25519 signing is deterministic,
    /// so handing back the entry signed before for the same draft changes nothing but the
    /// speed: most inputs share most of their drafts with the ones they were mutated from, and
    /// signing was most of the target's time. The reducer still verifies what it verifies.
    static SIGNED: RefCell<HashMap<String, Entry>> = RefCell::new(HashMap::new());
    /// The founder's invites for each community (one per set of rules), for the same reason.
    static INVITES: RefCell<HashMap<CommunityId, [Vec<u8>; 2]>> = RefCell::new(HashMap::new());
}

/// `Entry::sign`, remembered (see `SIGNED`); bounded, so a long run's memory stays flat.
fn sign(key: &Keypair, draft: Draft) -> Option<Entry> {
    let memo = format!("{}{draft:?}", key.member_id().short());
    if let Some(entry) = SIGNED.with(|signed| signed.borrow().get(&memo).cloned()) {
        return Some(entry);
    }
    let entry = Entry::sign(key, draft).ok()?;
    SIGNED.with(|signed| {
        let mut signed = signed.borrow_mut();
        if signed.len() >= 200_000 {
            signed.clear();
        }
        signed.insert(memo, entry.clone());
    });
    Some(entry)
}

fn pick<T: Clone>(items: &[T], index: u8) -> Option<T> {
    if items.is_empty() { None } else { items.get(usize::from(index) % items.len()).cloned() }
}

fuzz_target!(|case: Case| {
    let keys: Vec<Keypair> = KEYS_MADE.with(Clone::clone);
    let ids: Vec<MemberId> = keys.iter().map(Keypair::member_id).collect();
    let rules = Rules {
        credit_limit: Minutes::from_hours(u32::from(case.credit_limit_hours % 20)),
        vouches_needed: 1 + case.vouches_needed % 3,
        post_lifetime_days: 30,
    };
    let founder = Log { key: keys[0].clone(), seq: 0, prev: None, timestamp_ms: T0 };
    let genesis_body = Body::Genesis { name: "Fuzz Row".into(), description: String::new(), rules };
    let Some(genesis) = sign(&founder.key, founder.draft(None, genesis_body)) else { return };
    let community_id = genesis.community();
    let Ok(mut judge) = Community::new(&genesis) else { return };
    let mut writer = Writer {
        logs: keys
            .iter()
            .map(|key| (Log { key: key.clone(), seq: 0, prev: None, timestamp_ms: T0 }, None))
            .collect(),
    };
    writer.logs[0] = (Log { key: keys[0].clone(), seq: 1, prev: Some(genesis.hash()), timestamp_ms: T0 }, Some(None));
    let (mut posts, mut transfers, mut written): (Vec<EntryHash>, Vec<(EntryHash, u8)>, Vec<(EntryHash, u8)>) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut history: Vec<Entry> = Vec::new();
    let mut fork_next = [false; KEYS as usize];
    let mut suspensions: Vec<(EntryHash, u8)> = Vec::new();
    let [invite, other_invite] = INVITES.with(|invites| {
        let mut invites = invites.borrow_mut();
        let issue = |nonce: u8, uses: u32| {
            Capability::issue(&keys[0], community_id, [nonce; 16], T0 + 1_000_000_000_000, uses).to_bytes()
        };
        invites.entry(community_id).or_insert_with(|| [issue(9, 3), issue(8, 1)]).clone()
    });
    for act in case.acts.iter().take(64) {
        let who = |n: u8| n % KEYS;
        let (author, body) = match *act {
            Act::Join { who: w } => {
                let invite = if case.second_invite && w % 2 == 1 { &other_invite } else { &invite };
                (who(w), Body::JoinRequest { invite: invite.clone(), name: format!("n{w}") })
            }
            Act::Vouch { by, whom } => (who(by), Body::Vouch { member: ids[usize::from(who(whom))], note: String::new() }),
            Act::Post { by, kind } => (who(by), Body::Post {
                kind: [PostKind::Offer, PostKind::Request, PostKind::Gathering][usize::from(kind % 3)],
                title: format!("p{kind}"),
                details: String::new(),
                category: String::new(),
                when: String::new(),
                place: String::new(),
                expires_at: None,
                schedule: None,
            }),
            Act::Reply { by, post } => {
                let Some(post) = pick(&posts, post) else { continue };
                (who(by), Body::Reply { post, text: "yes".into() })
            }
            Act::Status { post, status } => {
                let Some(post) = pick(&posts, post) else { continue };
                let Some(author) = history.iter().find(|e| e.hash() == post).map(|e| e.author()) else { continue };
                let Some(index) = ids.iter().position(|id| *id == author) else { continue };
                let status = [Status::Open, Status::Done, Status::Withdrawn][usize::from(status % 3)];
                (index as u8, Body::PostStatus { post, status })
            }
            Act::Pay { by, to, minutes } => (who(by), Body::Transfer {
                to: ids[usize::from(who(to))],
                minutes: Minutes(u32::from(minutes % 600) + 1),
                memo: String::new(),
                for_post: None,
            }),
            Act::Claim { transfer } => {
                let Some((transfer, payee)) = pick(&transfers, transfer) else { continue };
                (payee, Body::Receive { transfer })
            }
            Act::Redact { by, entry } => {
                let Some((entry, author)) = pick(&written, entry) else { continue };
                let _ = by;
                (author, Body::Redact { entry })
            }
            Act::Suspend { by, whom } => {
                let target = usize::from(who(whom));
                let after_seq = writer.logs[target].0.seq;
                (who(by), Body::Suspend { member: ids[target], reason: "r".into(), after_seq })
            }
            Act::Reinstate { by, suspension } => {
                let Some(suspension) = pick(&suspensions, suspension) else { continue };
                let after_seq = writer.logs[usize::from(suspension.1)].0.seq;
                (who(by), Body::Reinstate { suspension: suspension.0, after_seq })
            }
            Act::Dismiss { whom } => {
                let target = usize::from(who(whom));
                (0, Body::Dismiss { member: ids[target], after_seq: writer.logs[target].0.seq })
            }
            Act::Appoint { by, whom, hub } => (who(by), Body::Appoint {
                member: ids[usize::from(who(whom))],
                role: if hub { Role::Hub } else { Role::Organiser },
            }),
            Act::Fork { by } => {
                fork_next[usize::from(who(by))] = true;
                continue;
            }
        };
        let slot = usize::from(author);
        let fork = std::mem::take(&mut fork_next[slot]);
        let (log, prev_of_last) = &mut writer.logs[slot];
        let community = Some(community_id);
        let draft = if fork {
            let Some(prev) = *prev_of_last else { continue };
            Draft { community, seq: log.seq, prev, timestamp_ms: log.timestamp_ms + 30_000, body: body.clone() }
        } else {
            log.draft(community, body.clone())
        };
        let Some(entry) = sign(&log.key, draft) else { continue };
        if !fork {
            // An honest node writes only what its own reducer takes.
            match judge.check(&entry, NOW) {
                Outcome::Applied | Outcome::Pending(_) => {}
                _ => continue,
            }
            let _ = judge.ingest(entry.clone(), NOW);
            *prev_of_last = Some(log.prev);
            log.seq = entry.seq();
            log.prev = Some(entry.hash());
            log.timestamp_ms = entry.timestamp_ms();
        }
        match &body {
            Body::Post { .. } => posts.push(entry.hash()),
            Body::Suspend { member, .. } => {
                if let Some(target) = ids.iter().position(|id| id == member) {
                    suspensions.push((entry.hash(), target as u8));
                }
            }
            Body::Transfer { to, .. } => {
                if let Some(payee) = ids.iter().position(|id| id == to) {
                    transfers.push((entry.hash(), payee as u8));
                }
            }
            _ => {}
        }
        written.push((entry.hash(), author));
        history.push(entry);
    }
    let (Some(mut first), Some(mut second)) = (Receiver::new(&genesis), Receiver::new(&genesis)) else { return };
    for entry in &history {
        first.receive(entry);
    }
    // The second receiver: the same entries, rotated and with each pair swapped by the seed's bits.
    let mut other = history.clone();
    if !other.is_empty() {
        let rotate = (case.order as usize) % other.len();
        other.rotate_left(rotate);
        for i in (1..other.len()).step_by(2) {
            if case.order >> (i % 64) & 1 == 1 {
                other.swap(i - 1, i);
            }
        }
    }
    for entry in &other {
        second.receive(entry);
    }
    // Then they sync: each fetches what the other holds and it does not (an evicted join
    // request comes back that way once its author is admitted), until neither learns more.
    for _ in 0..4 {
        let missing = |to: &Receiver, from: &Receiver| -> Vec<Entry> {
            from.held.iter().filter(|e| !to.held.iter().any(|held| held.hash() == e.hash())).cloned().collect()
        };
        let (to_first, to_second) = (missing(&first, &second), missing(&second, &first));
        if to_first.is_empty() && to_second.is_empty() {
            break;
        }
        for entry in &to_first {
            first.receive(entry);
        }
        for entry in &to_second {
            second.receive(entry);
        }
    }
    // The state is a function of the set of entries and proofs: each receiver's state, reached
    // entry by entry, is the state rebuilt from what it holds ...
    for receiver in [&first, &second] {
        if let Ok(rebuilt) = Community::rebuild_held(&receiver.genesis, &receiver.proofs, &receiver.entries(), NOW) {
            assert!(rebuilt.new_forks.is_empty(), "a fork the receiver missed showed in the rebuild");
            assert_eq!(
                rebuilt.community.digest(),
                receiver.community.digest(),
                "the state reached differs from the state rebuilt"
            );
        }
    }
    // ... whether a log is forked, and where, does not depend on the delivery order (each
    // receiver met every fork itself, proofs not exchanged) ...
    let frozen = |r: &Receiver| r.community.members().map(|(id, m)| (*id, m.frozen_at)).collect::<Vec<_>>();
    assert_eq!(frozen(&first), frozen(&second), "two delivery orders froze different logs");
    // ... and two receivers of the same entries hold one state.
    assert_eq!(first.community.digest(), second.community.digest(), "two delivery orders gave two states");
});
