//! Property tests of kith-protocol: signed entries round-trip through their one canonical
//! encoding, any tampering is detected, arbitrary bytes never panic the decoder, the community
//! state does not depend on delivery order, the ledger's invariants hold (balances sum to minus
//! the unclaimed transfers, nobody goes below the credit limit), and forks are always detected
//! while forged fork proofs never verify.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use kith_protocol::body::limits;
use kith_protocol::{
    Body, Community, CommunityId, Draft, Entry, EntryError, EntryHash, Fork, ForkProof, ForkProofError, MemberId,
    Minutes, Outcome, PostKind, Rebuilt, Role, Rules, Status, Wait,
};
use proptest::prelude::*;
use proptest::string::string_regex;

// ---------------------------------------------------------------- strategies

/// A required single-line text of at most `max_bytes` bytes: starts with a letter, no control
/// characters (multi-byte letters included, so byte limits are exercised, not char limits).
fn line(max_bytes: usize) -> impl Strategy<Value = String> {
    string_regex(&format!("[a-zA-Z][a-zA-Z0-9 .,'éü€-]{{0,{}}}", max_bytes / 3 - 1)).unwrap()
}

/// An optional single-line text (may be empty or blank).
fn opt_line(max_bytes: usize) -> impl Strategy<Value = String> {
    string_regex(&format!("[a-zA-Z0-9 .,'éü€-]{{0,{}}}", max_bytes / 3)).unwrap()
}

/// A multi-line text: any printable characters, newlines and tabs.
fn text(max_bytes: usize) -> impl Strategy<Value = String> {
    string_regex(&format!("[\\PC\n\t]{{0,{}}}", (max_bytes / 4).min(64))).unwrap()
}

fn hash() -> impl Strategy<Value = EntryHash> {
    any::<[u8; 32]>().prop_map(EntryHash)
}

fn member() -> impl Strategy<Value = MemberId> {
    any::<[u8; 32]>().prop_map(MemberId)
}

fn post_kind() -> impl Strategy<Value = PostKind> {
    prop_oneof![Just(PostKind::Offer), Just(PostKind::Request), Just(PostKind::Gathering)]
}

fn post_status() -> impl Strategy<Value = Status> {
    prop_oneof![Just(Status::Open), Just(Status::Done), Just(Status::Withdrawn)]
}

fn community_rules() -> impl Strategy<Value = Rules> {
    (0..=limits::MAX_CREDIT_LIMIT_MINUTES, 1..=limits::MAX_VOUCHES_NEEDED, 1..=u16::MAX).prop_map(
        |(credit, vouches_needed, post_lifetime_days)| Rules {
            credit_limit: Minutes(credit),
            vouches_needed,
            post_lifetime_days,
        },
    )
}

/// Any body whose fields are within their limits.
fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (line(limits::COMMUNITY_NAME), text(limits::DESCRIPTION), community_rules())
            .prop_map(|(name, description, rules)| Body::Genesis { name, description, rules }),
        (
            line(limits::PERSON_NAME),
            text(limits::ABOUT),
            opt_line(limits::AREA),
            prop::collection::vec(line(limits::SKILL), 0..=limits::SKILLS),
            opt_line(limits::CONTACT)
        )
            .prop_map(|(name, about, area, skills, contact)| Body::Profile {
                name,
                about,
                area,
                skills,
                contact
            }),
        (member(), text(limits::NOTE)).prop_map(|(member, note)| Body::Vouch { member, note }),
        (
            post_kind(),
            line(limits::TITLE),
            text(limits::DETAILS),
            opt_line(limits::CATEGORY),
            opt_line(limits::WHEN),
            opt_line(limits::PLACE),
            any::<Option<u64>>()
        )
            .prop_map(|(kind, title, details, category, when, place, expires_at)| Body::Post {
                kind,
                title,
                details,
                category,
                when,
                place,
                expires_at,
                schedule: None
            }),
        (hash(), post_status()).prop_map(|(post, status)| Body::PostStatus { post, status }),
        (hash(), line(limits::REPLY)).prop_map(|(post, text)| Body::Reply { post, text }),
        (member(), 1..=limits::MAX_TRANSFER_MINUTES, text(limits::MEMO), proptest::option::of(hash()))
            .prop_map(|(to, minutes, memo, for_post)| Body::Transfer { to, minutes: Minutes(minutes), memo, for_post }),
        hash().prop_map(|transfer| Body::Receive { transfer }),
        hash().prop_map(|entry| Body::Redact { entry }),
        (member(), line(limits::REASON), any::<u64>()).prop_map(|(member, reason, after_seq)| Body::Suspend {
            member,
            reason,
            after_seq
        }),
        (member(), prop_oneof![Just(Role::Organiser), Just(Role::Hub)])
            .prop_map(|(member, role)| Body::Appoint { member, role }),
        (line(limits::TITLE), schedule()).prop_map(|(title, schedule)| Body::Post {
            kind: PostKind::Gathering,
            title,
            details: String::new(),
            category: String::new(),
            when: String::new(),
            place: String::new(),
            expires_at: None,
            schedule: Some(schedule),
        }),
        (hash(), proptest::option::of(any::<u32>()), any::<bool>()).prop_map(|(post, date, coming)| Body::Come {
            post,
            date,
            coming
        }),
        hash().prop_map(|post| Body::Renew { post }),
        (1..=limits::MAX_CHECKIN_DAYS, prop::collection::vec(member(), 1..=limits::BUDDIES))
            .prop_map(|(days, buddies)| Body::CheckIns { days: Some(days), buddies }),
        Just(Body::CheckIns { days: None, buddies: Vec::new() }),
        Just(Body::CheckIn),
        hash().prop_map(|invite| Body::RevokeInvite { invite: kith_protocol::invite::InviteId(invite.0) }),
        (prop::collection::vec(any::<u8>(), 0..=kith_protocol::invite::MAX_INVITE_BYTES), line(limits::PERSON_NAME))
            .prop_map(|(invite, name)| Body::JoinRequest { invite, name }),
        (hash(), any::<u64>()).prop_map(|(suspension, after_seq)| Body::Reinstate { suspension, after_seq }),
        (member(), any::<u64>()).prop_map(|(member, after_seq)| Body::Dismiss { member, after_seq }),
    ]
}

/// Any schedule within its bounds.
fn schedule() -> impl Strategy<Value = kith_protocol::Schedule> {
    use kith_protocol::{Repeat, Schedule};
    (
        0..kith_protocol::gathering::MAX_STARTS_AT,
        proptest::option::of(1..kith_protocol::gathering::MAX_LENGTH_MS),
        -840i16..=840,
        proptest::option::of(prop_oneof![Just(Repeat::Weekly), Just(Repeat::Fortnightly), Just(Repeat::Monthly)]),
        proptest::option::of(0u32..10_000),
        proptest::option::of(1..=kith_protocol::gathering::MAX_CAPACITY),
    )
        .prop_map(|(starts_at, length, offset_minutes, repeat, until_after, capacity)| {
            let mut schedule = Schedule {
                starts_at,
                ends_at: length.map(|l| starts_at + l),
                offset_minutes,
                repeat,
                until: None,
                capacity,
            };
            schedule.until = repeat.and(until_after).map(|after| schedule.first_day().saturating_add(after));
            schedule
        })
}

/// A draft with a well-shaped header for `body` (a Genesis is seq 1 of no community).
fn draft_for(body: Body, seq: u64, community: [u8; 32], prev: [u8; 32], timestamp_ms: u64) -> Draft {
    if matches!(body, Body::Genesis { .. }) {
        return Draft { community: None, seq: 1, prev: None, timestamp_ms, body };
    }
    let prev = (seq > 1).then_some(EntryHash(prev));
    Draft { community: Some(CommunityId(community)), seq, prev, timestamp_ms, body }
}

/// A signed entry: an arbitrary key, header and body.
fn signed_entry() -> impl Strategy<Value = Entry> {
    (body(), any::<[u8; 32]>(), 1..u64::MAX, any::<[u8; 32]>(), any::<[u8; 32]>(), any::<u64>()).prop_map(
        |(body, secret, seq, community, prev, timestamp_ms)| {
            let draft = draft_for(body, seq, community, prev, timestamp_ms);
            Entry::sign(&kith_protocol::Keypair::from_secret_bytes(secret), draft).expect("bodies are within limits")
        },
    )
}

// ---------------------------------------------------------------- encoding

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn signed_entries_round_trip(entry in signed_entry()) {
        let decoded = Entry::decode(entry.bytes().to_vec()).expect("a signed entry decodes");
        prop_assert_eq!(&decoded, &entry);
        prop_assert_eq!(decoded.body(), entry.body());
        prop_assert_eq!(decoded.hash(), EntryHash(*blake3::hash(entry.header_bytes()).as_bytes()));
        prop_assert_eq!(&Entry::decode_unverified(entry.bytes().to_vec()).unwrap(), &entry);
        // Signing is deterministic: the same draft gives the same bytes.
        prop_assert_eq!(header_bytes(entry.header()), entry.header_bytes().to_vec());
        prop_assert_eq!(payload_bytes(entry.body()).len(), entry.header().payload_len as usize);
        let expected_community = entry.header().community.unwrap_or(CommunityId(entry.hash().0));
        prop_assert_eq!(entry.community(), expected_community);
    }

    #[test]
    fn any_flipped_bit_is_detected(entry in signed_entry(), bit in any::<prop::sample::Index>()) {
        let mut bytes = entry.bytes().to_vec();
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(Entry::decode(bytes).is_err(), "flipping bit {} went unnoticed", bit);
    }

    #[test]
    fn verify_many_agrees_with_verify_strict_on_mangled_signatures(
        entries in prop::collection::vec(signed_entry(), 1..6),
        repeats in 1usize..4,
        mangles in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..6),
    ) {
        // Pages repeat entries (so the same author's key serves several checks), and some
        // signatures are changed: a byte of R or s replaced, s raised by the group order
        // (a malleated signature), or R and s swapped.
        let order_l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut page: Vec<Entry> = entries.iter().cycle().take(entries.len() * repeats).cloned().collect();
        for (which, at, byte, how) in mangles {
            let index = which.index(page.len());
            let entry = &page[index];
            let mut signature = *entry.signature();
            match how {
                0 => signature[at.index(64)] = byte,
                1 => {
                    let mut carry = 0u16;
                    for i in 0..32 {
                        let sum = u16::from(signature[32 + i]) + u16::from(order_l[i]) + carry;
                        signature[32 + i] = sum as u8;
                        carry = sum >> 8;
                    }
                }
                _ => signature.rotate_left(32),
            }
            let bytes = wire(entry.header_bytes(), &signature, &payload_bytes(entry.body()));
            page[index] = Entry::decode_unverified(bytes).unwrap();
        }
        let one_by_one: Vec<Result<(), EntryError>> = page.iter().map(Entry::verify_signature).collect();
        prop_assert_eq!(Entry::verify_many(&page), one_by_one);
    }

    #[test]
    fn locating_finds_what_decoding_finds_and_sees_damage(entry in signed_entry(), bit in any::<prop::sample::Index>()) {
        let (hash, header) = Entry::locate(entry.bytes()).expect("a signed entry is located");
        prop_assert_eq!(hash, entry.hash());
        prop_assert_eq!(&header, entry.header());
        // A byte more (a record's length field grown by damage) is refused, as decoding does.
        let longer = [entry.bytes(), &[0][..]].concat();
        prop_assert!(Entry::locate(&longer).is_err() && Entry::decode_unverified(longer).is_err());
        // One bit changed: refused, or another hash (the entry file's record names the hash),
        // unless decoding in full takes it as the same entry too (the signature's bytes, which
        // neither checks).
        let mut bytes = entry.bytes().to_vec();
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        if let Ok((damaged, _)) = Entry::locate(&bytes)
            && damaged == hash
        {
            prop_assert!(Entry::decode_unverified(bytes).is_ok_and(|decoded| decoded.hash() == hash), "bit {}", bit);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..700), versioned in any::<bool>()) {
        let mut bytes = bytes;
        if versioned && !bytes.is_empty() {
            bytes[0] = 1;
        }
        let _ = Entry::decode_unverified(bytes.clone());
        let _ = Entry::locate(&bytes);
        let _ = Entry::decode(bytes);
    }

    #[test]
    fn mangled_entries_never_panic_nor_pass(
        entry in signed_entry(),
        changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = entry.bytes().to_vec();
        for (at, value) in changes {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let _ = Entry::decode_unverified(bytes.clone());
        if let Ok(decoded) = Entry::decode(bytes.clone()) {
            // Only the untouched bytes can pass.
            prop_assert_eq!(bytes.as_slice(), entry.bytes());
            prop_assert_eq!(decoded, entry);
        }
    }
}

// ---------------------------------------------------------------- a simulated community

/// One thing a member does; indexes are reduced modulo what exists when it is simulated.
#[derive(Debug, Clone)]
enum Act {
    Post(u8),
    Reply(u8, u8),
    Status(u8, u8, u8),
    Transfer(u8, u8, u16),
    Receive(u8, u8),
    Redact(u8, u8),
    Profile(u8),
    Appoint(u8, u8, bool),
    Suspend(u8, u8),
    /// An organiser reinstates one of the suspensions in force.
    Reinstate(u8, u8),
    /// The founder removes an organiser's role.
    Dismiss(u8),
    /// A member (not the founder's first entries) writes a second branch from an earlier seq:
    /// a transfer of any amount and a post; they write nothing more after.
    Fork(u8, u8, u16, u8),
    /// Outsiders send join requests with a two-use invite, more than it allows.
    Flood(u8),
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        3 => any::<u8>().prop_map(Act::Post),
        2 => any::<(u8, u8)>().prop_map(|(a, b)| Act::Reply(a, b)),
        1 => any::<(u8, u8, u8)>().prop_map(|(a, b, c)| Act::Status(a, b, c)),
        4 => any::<(u8, u8, u16)>().prop_map(|(a, b, c)| Act::Transfer(a, b, c)),
        3 => any::<(u8, u8)>().prop_map(|(a, b)| Act::Receive(a, b)),
        1 => any::<(u8, u8)>().prop_map(|(a, b)| Act::Redact(a, b)),
        1 => any::<u8>().prop_map(Act::Profile),
        1 => any::<(u8, u8, bool)>().prop_map(|(a, b, c)| Act::Appoint(a, b, c)),
        2 => any::<(u8, u8)>().prop_map(|(a, b)| Act::Suspend(a, b)),
        1 => any::<(u8, u8)>().prop_map(|(a, b)| Act::Reinstate(a, b)),
        1 => any::<u8>().prop_map(Act::Dismiss),
        1 => any::<(u8, u8, u16, u8)>().prop_map(|(a, b, c, d)| Act::Fork(a, b, c, d)),
        1 => (1..6u8).prop_map(Act::Flood),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    /// Members besides the founder.
    members: usize,
    vouches_needed: u8,
    credit_hours: u32,
    /// Seeds choosing who vouches for each newcomer.
    vouchers: Vec<(u8, u8)>,
    acts: Vec<Act>,
    /// Whether a forker's other branch reaches the simulated node only after every act (the
    /// honest members claim and spend unaware of it) rather than at once.
    late_branches: bool,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        1..=4usize,
        1..=2u8,
        0..=3u32,
        prop::collection::vec(any::<(u8, u8)>(), 4),
        prop::collection::vec(act(), 0..60),
        any::<bool>(),
    )
        .prop_map(|(members, vouches_needed, credit_hours, vouchers, acts, late_branches)| Setup {
            members,
            vouches_needed,
            credit_hours,
            vouchers,
            acts,
            late_branches,
        })
}

/// A community simulated on one node: every author's log (Genesis excluded; a forker's
/// other branch and outsiders' join requests as logs of their own) and the state.
struct World {
    genesis: Entry,
    ids: Vec<MemberId>,
    logs: Vec<Vec<Entry>>,
    sim: Community,
    /// Members who forked (the others are honest).
    forkers: Vec<MemberId>,
    proofs: Vec<ForkProof>,
}

struct Sim {
    genesis: Entry,
    keys: Vec<Log>,
    logs: Vec<Vec<Entry>>,
    sim: Community,
    posts: Vec<(usize, EntryHash)>,
    replies: Vec<(usize, EntryHash)>,
    /// Other branches and outsiders' join requests, each a log of its own.
    extra: Vec<Vec<Entry>>,
    forked: Vec<usize>,
    proofs: Vec<ForkProof>,
    suspensions: Vec<EntryHash>,
}

impl Sim {
    /// Whether `who`'s node would sign `body` (a suspended member's, a forker's do not).
    fn would_sign(&self, who: usize, body: &Body) -> bool {
        !self.forked.contains(&who) && self.sim.refusal_to_sign(&self.id(who), body).is_ok()
    }

    /// Writes `body` as `who`'s next entry if their node would sign it.
    fn try_write(&mut self, who: usize, body: Body) -> Option<Entry> {
        self.would_sign(who, &body).then(|| self.write(who, body))
    }

    /// Feeds an entry written elsewhere (a branch, an outsider's request) as a node would:
    /// a conflict becomes a fork proof and the state is rebuilt from everything held.
    fn feed(&mut self, entry: Entry) -> Outcome {
        let (outcome, report) = self.sim.ingest(entry.clone(), NOW);
        if !report.conflicts.is_empty() {
            // A conflict, met on arrival or in an entry it released: a proof, then a rebuild.
            let mut held: Vec<Entry> = self.logs.concat();
            held.extend(self.extra.concat());
            held.push(entry);
            for (incoming, existing) in &report.conflicts {
                let stored = held.iter().find(|e| e.hash() == *existing).expect("held").clone();
                self.proofs.push(self.sim.fork_with(&stored, incoming).expect("a real fork"));
            }
            let rebuilt = Community::rebuild_held(&self.genesis, &self.proofs, &held, NOW).unwrap();
            self.proofs.extend(rebuilt.new_forks);
            self.sim = rebuilt.community;
        }
        outcome
    }

    /// Writes `body` as `who`'s next entry; it must be valid.
    fn write(&mut self, who: usize, body: Body) -> Entry {
        let entry = self.keys[who].next(body);
        let (outcome, report) = self.sim.ingest(entry.clone(), NOW);
        assert_eq!(outcome, Outcome::Applied, "simulated activity must be valid: {entry:?}");
        assert!(report.released_rejections.is_empty());
        self.keys[who].commit(&entry);
        self.logs[who].push(entry.clone());
        entry
    }

    fn id(&self, who: usize) -> MemberId {
        self.keys[who].id()
    }
}

fn simulate(setup: &Setup) -> World {
    let rules = Rules {
        vouches_needed: setup.vouches_needed,
        credit_limit: Minutes::from_hours(setup.credit_hours),
        ..Rules::default()
    };
    let mut founder = Log::new(1, None);
    let genesis = founder.write(common::genesis("Sim Town", rules));
    let id = genesis.community();
    founder.community = Some(id);
    let n = setup.members + 1;
    let mut keys = vec![founder];
    keys.extend((1..n).map(|i| Log::new(1 + i as u8, Some(id))));
    let community = Community::new(&genesis).unwrap();
    let mut sim = Sim {
        genesis: genesis.clone(),
        keys,
        logs: vec![Vec::new(); n],
        sim: community,
        posts: Vec::new(),
        replies: Vec::new(),
        extra: Vec::new(),
        forked: Vec::new(),
        proofs: Vec::new(),
        suspensions: Vec::new(),
    };
    let welcome = invite(&sim.keys[0].key, id, 0, 100);
    let scarce = invite(&sim.keys[0].key, id, 1, 2);
    let mut outsiders = 0u8;

    // Admission: each newcomer asks to join, then one or two members vouch.
    for i in 1..n {
        sim.write(i, join(&welcome, &format!("Person {i}")));
        let (a, b) = setup.vouchers[i - 1];
        let first = usize::from(a) % i;
        sim.write(first, vouch(sim.id(i)));
        if !sim.sim.is_member(&sim.id(i)) {
            let second = (first + 1 + usize::from(b) % (i - 1)) % i;
            assert_ne!(first, second);
            sim.write(second, vouch(sim.id(i)));
        }
        assert!(sim.sim.is_member(&sim.id(i)));
    }

    let limit = i64::from(rules.credit_limit.0);
    for (count, act) in setup.acts.iter().enumerate() {
        let pick = |x: u8| usize::from(x) % n;
        let head = |sim: &Sim, who: usize| sim.keys[who].seq;
        match *act {
            Act::Post(w) => {
                let who = pick(w);
                if let Some(entry) = sim.try_write(who, post(&format!("Post {count}"))) {
                    sim.posts.push((who, entry.hash()));
                }
            }
            Act::Reply(w, p) if !sim.posts.is_empty() => {
                let target = sim.posts[usize::from(p) % sim.posts.len()].1;
                if let Some(entry) = sim.try_write(pick(w), reply(target, "I can help")) {
                    sim.replies.push((pick(w), entry.hash()));
                }
            }
            Act::Status(w, p, s) => {
                let who = pick(w);
                let own: Vec<EntryHash> = sim.posts.iter().filter(|(a, _)| *a == who).map(|(_, h)| *h).collect();
                if !own.is_empty() {
                    let new = [Status::Open, Status::Done, Status::Withdrawn][usize::from(s) % 3];
                    sim.try_write(who, status(own[usize::from(p) % own.len()], new));
                }
            }
            Act::Transfer(w, t, amount) => {
                let who = pick(w);
                let mut to = pick(t);
                if to == who {
                    to = (to + 1) % n;
                }
                let me = sim.sim.member(&sim.id(who)).unwrap();
                let available = me.balance_minutes + me.forked_debt_minutes + limit;
                if available > 0 {
                    let most = available.min(i64::from(limits::MAX_TRANSFER_MINUTES));
                    let minutes = 1 + i64::from(amount) % most;
                    sim.try_write(who, transfer(sim.id(to), minutes as u32));
                }
            }
            Act::Receive(w, p) => {
                let who = pick(w);
                let me = sim.id(who);
                let open: Vec<EntryHash> =
                    sim.sim.transfers().filter(|(_, t)| t.to == me && t.claimed_by.is_none()).map(|(h, _)| h).collect();
                if !open.is_empty() {
                    sim.try_write(who, receive(open[usize::from(p) % open.len()]));
                }
            }
            Act::Redact(w, p) => {
                let who = pick(w);
                let own: Vec<EntryHash> =
                    sim.posts.iter().chain(&sim.replies).filter(|(a, _)| *a == who).map(|(_, h)| *h).collect();
                if !own.is_empty() {
                    sim.try_write(who, redact(own[usize::from(p) % own.len()]));
                }
            }
            Act::Profile(w) => {
                let who = pick(w);
                sim.try_write(who, profile(&format!("Person {who} ({count})")));
            }
            Act::Appoint(w, t, organiser) => {
                let who = pick(w);
                if sim.sim.member(&sim.id(who)).is_some_and(|m| m.organiser) {
                    let role = if organiser { Role::Organiser } else { Role::Hub };
                    sim.try_write(who, appoint(sim.id(pick(t)), role));
                }
            }
            Act::Suspend(w, t) => {
                let (who, target) = (pick(w), pick(t));
                if who != target && sim.sim.member(&sim.id(who)).is_some_and(|m| m.organiser) {
                    let at = head(&sim, target);
                    if let Some(entry) = sim.try_write(who, suspend_after(sim.id(target), at)) {
                        sim.suspensions.push(entry.hash());
                    }
                }
            }
            Act::Reinstate(w, k) if !sim.suspensions.is_empty() => {
                let who = pick(w);
                let suspension = sim.suspensions[usize::from(k) % sim.suspensions.len()];
                let target = sim.logs.concat().into_iter().find(|e| e.hash() == suspension).map(|e| match e.body() {
                    Body::Suspend { member, .. } => *member,
                    _ => unreachable!(),
                });
                let target = (0..n).find(|&i| Some(sim.id(i)) == target).unwrap();
                if sim.sim.member(&sim.id(who)).is_some_and(|m| m.organiser) {
                    let at = head(&sim, target);
                    sim.try_write(who, reinstate(suspension, at));
                }
            }
            Act::Dismiss(t) => {
                let target = pick(t);
                if target != 0 && sim.sim.member(&sim.id(target)).is_some_and(|m| m.organiser) {
                    let at = head(&sim, target);
                    sim.try_write(0, dismiss(sim.id(target), at));
                }
            }
            Act::Fork(w, amount, other_amount, to) => {
                // A double spend: the member's node writes its next entry twice, a transfer on
                // each branch (each within the limit on its own chain), and a post after the
                // second; they write nothing more.
                let who = pick(w);
                let me = sim.sim.member(&sim.id(who)).unwrap();
                let available = me.balance_minutes + me.forked_debt_minutes + limit;
                if available <= 0 || sim.forked.contains(&who) {
                    continue;
                }
                let most = available.min(i64::from(limits::MAX_TRANSFER_MINUTES));
                let mut payee = pick(to);
                if payee == who {
                    payee = (payee + 1) % n;
                }
                let before = sim.keys[who].clone();
                let first = 1 + i64::from(amount) % most;
                if sim.try_write(who, transfer(sim.id(payee), first as u32)).is_none() {
                    continue;
                }
                let mut branch = before;
                let second = 1 + i64::from(other_amount) % most;
                let mut other_payee = (payee + 1) % n;
                if other_payee == who {
                    other_payee = (other_payee + 1) % n;
                }
                let other = vec![
                    branch.write(Body::Transfer {
                        to: sim.id(other_payee),
                        minutes: Minutes(second as u32),
                        memo: "the same hours again".into(),
                        for_post: None,
                    }),
                    branch.write(post("Elsewhere")),
                ];
                sim.forked.push(who);
                if !setup.late_branches {
                    for entry in &other {
                        sim.feed(entry.clone());
                    }
                }
                sim.extra.push(other);
            }
            Act::Flood(k) => {
                let mut requests = Vec::new();
                for _ in 0..k {
                    outsiders = outsiders.wrapping_add(1);
                    let outsider = Log::new(100u8.wrapping_add(outsiders), Some(id));
                    requests.push(outsider.next(join(&scarce, "Outsider")));
                }
                for request in &requests {
                    let outcome = sim.feed(request.clone());
                    assert!(
                        matches!(outcome, Outcome::Applied | Outcome::Pending(Wait::Admission { .. })),
                        "{outcome:?}"
                    );
                }
                sim.extra.extend(requests.into_iter().map(|r| vec![r]));
            }
            Act::Reply(..) | Act::Reinstate(..) => {}
        }
    }
    if setup.late_branches {
        for branch in sim.extra.clone() {
            for entry in branch {
                sim.feed(entry);
            }
        }
    }
    let ids = (0..n).map(|i| sim.id(i)).collect();
    let forkers = sim.forked.iter().map(|&i| sim.id(i)).collect();
    let mut logs = sim.logs;
    logs.extend(sim.extra);
    World { genesis, ids, logs, sim: sim.sim, forkers, proofs: sim.proofs }
}

/// Feeds `entries` to a fresh community in the given order, as a node does: a conflict
/// becomes a fork proof and the state is rebuilt from what is held. Nothing may be refused
/// but outsiders' join requests beyond their invite's uses.
fn deliver(world: &World, entries: Vec<Entry>) -> Community {
    let mut community = Community::new(&world.genesis).unwrap();
    let mut held = Vec::new();
    let mut proofs = Vec::new();
    for entry in entries {
        held.push(entry.clone());
        let (outcome, report) = community.ingest(entry.clone(), NOW);
        assert!(report.released_rejections.is_empty(), "{:?}", report.released_rejections);
        match outcome {
            Outcome::Applied | Outcome::Pending(_) | Outcome::Frozen | Outcome::Conflict { .. } => {}
            Outcome::Rejected(EntryError::InviteUsedUp { .. } | EntryError::DuplicateJoinRequest)
                if matches!(entry.body(), Body::JoinRequest { .. }) => {}
            other => panic!("a valid entry was refused: {other:?} {entry:?}"),
        }
        // Conflicts surface in released entries too: each becomes a proof, then a rebuild.
        if !report.conflicts.is_empty() {
            for (incoming, existing) in &report.conflicts {
                let stored = held.iter().find(|e| e.hash() == *existing).expect("held").clone();
                proofs.push(community.fork_with(&stored, incoming).expect("a real fork"));
            }
            let rebuilt = Community::rebuild_held(&world.genesis, &proofs, &held, NOW).unwrap();
            proofs.extend(rebuilt.new_forks);
            community = rebuilt.community;
        }
    }
    community
}

/// No honest member's log is frozen, nor any of its entries left out.
fn honest_logs_whole(world: &World, community: &Community) {
    for (id, log) in world.ids.iter().zip(&world.logs) {
        if world.forkers.contains(id) {
            continue;
        }
        let member = community.member(id).unwrap();
        assert_eq!(member.frozen_at, None, "an honest log was frozen");
        assert_eq!(member.head.map(|h| h.seq), log.last().map(|e| e.seq()), "an honest entry was left out");
    }
}

/// A random interleaving of the logs that keeps each log's order.
fn interleave(logs: &[Vec<Entry>], rng: &mut Dice) -> Vec<Entry> {
    let mut cursors = vec![0; logs.len()];
    let mut out = Vec::new();
    loop {
        let open: Vec<usize> = (0..logs.len()).filter(|&i| cursors[i] < logs[i].len()).collect();
        if open.is_empty() {
            return out;
        }
        let i = open[rng.below(open.len())];
        out.push(logs[i][cursors[i]].clone());
        cursors[i] += 1;
    }
}

fn balances(community: &Community) -> BTreeMap<MemberId, i64> {
    community.members().map(|(id, m)| (*id, m.balance_minutes)).collect()
}

fn admitted(community: &Community) -> Vec<MemberId> {
    community.members().filter(|(_, m)| m.admitted).map(|(id, _)| *id).collect()
}

fn assert_same(world: &World, community: &Community, how: &str) {
    honest_logs_whole(world, community);
    // Only outsiders' join requests beyond their invite's uses may be left waiting (for an
    // admission that does not come).
    let waiting: Vec<_> = community
        .pending()
        .filter(|(entry, wait)| {
            !(matches!(entry.body(), Body::JoinRequest { .. })
                && **wait == Wait::Admission { member: entry.author() }
                && !community.is_member(&entry.author()))
        })
        .collect();
    assert!(waiting.is_empty(), "{how}: entries left waiting: {waiting:?}");
    assert_eq!(balances(community), balances(&world.sim), "{how}: balances differ");
    assert_eq!(admitted(community), admitted(&world.sim), "{how}: members differ");
    assert_eq!(community.digest(), world.sim.digest(), "{how}: digests differ");
}

fn ledger_balances(community: &Community) -> bool {
    community.members().map(|(_, m)| m.balance_minutes).sum::<i64>() == -community.unclaimed_minutes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn delivery_order_does_not_change_the_state(setup in setup(), seed in any::<u64>()) {
        let world = simulate(&setup);
        prop_assert_eq!(admitted(&world.sim), {
            let mut ids = world.ids.clone();
            ids.sort();
            ids
        });
        let mut rng = Dice::new(seed);
        for round in 0..3 {
            let order = interleave(&world.logs, &mut rng);
            assert_same(&world, &deliver(&world, order), &format!("interleaving {round}"));
        }
        let mut everything: Vec<Entry> = world.logs.concat();
        rng.shuffle(&mut everything);
        assert_same(&world, &deliver(&world, everything.clone()), "shuffled");
        everything.reverse();
        assert_same(&world, &deliver(&world, everything), "reversed");
        // Rebuilding gives the same state too.
        let rebuilt = Community::rebuild_held(&world.genesis, &world.proofs, &world.logs.concat(), NOW).unwrap().community;
        assert_same(&world, &rebuilt, "rebuilt");
        let mut shuffled = world.logs.concat();
        rng.shuffle(&mut shuffled);
        let rebuilt = Community::rebuild_held(&world.genesis, &world.proofs, &shuffled, NOW).unwrap().community;
        assert_same(&world, &rebuilt, "rebuilt from a shuffle");
    }

    #[test]
    fn balances_sum_to_minus_the_unclaimed_transfers(setup in setup(), seed in any::<u64>()) {
        let world = simulate(&setup);
        prop_assert!(ledger_balances(&world.sim));
        let given: i64 = world.sim.members().map(|(_, m)| m.given_minutes).sum();
        let received: i64 = world.sim.members().map(|(_, m)| m.received_minutes).sum();
        prop_assert_eq!(given - received, world.sim.unclaimed_minutes());
        // The invariant holds after every entry, in any order of delivery.
        let mut everything = world.logs.concat();
        Dice::new(seed).shuffle(&mut everything);
        let mut community = Community::new(&world.genesis).unwrap();
        for entry in everything {
            community.ingest(entry, NOW);
            prop_assert!(ledger_balances(&community));
        }
    }

    #[test]
    fn nobody_goes_below_the_credit_limit(
        credit_hours in 0..=5u32,
        attempts in prop::collection::vec((0..3usize, 0..3usize, 1..=12 * 60u32, any::<bool>()), 1..40),
        seed in any::<u64>(),
    ) {
        let mut town = Town::new(Rules { credit_limit: Minutes::from_hours(credit_hours), ..Rules::default() });
        let bob = town.admit(2, "Bob");
        let ann = town.admit(3, "Ann");
        let mut logs = [town.founder.clone(), bob, ann];
        let limit = i64::from(credit_hours) * 60;
        for (from, to, minutes, claim) in attempts {
            if from == to {
                continue;
            }
            let (payer, payee) = (logs[from].id(), logs[to].id());
            let before = town.balance(&payer);
            let entry = logs[from].next(transfer(payee, minutes));
            // An overspend is judged, not kept: kept, it would take its place in the payer's
            // log, and the payer's next attempt there would be a fork.
            let outcome = town.judge(&entry);
            if outcome == Outcome::Applied {
                prop_assert_eq!(town.feed(&entry), Outcome::Applied);
            }
            if before - i64::from(minutes) < -limit {
                prop_assert!(
                    matches!(outcome, Outcome::Rejected(EntryError::OverCreditLimit { .. })),
                    "an overspend was not refused: {:?}", outcome
                );
            } else {
                prop_assert_eq!(outcome, Outcome::Applied);
                logs[from].commit(&entry);
                town.applied.push(entry.clone());
                if claim {
                    let claimed = logs[to].write(receive(entry.hash()));
                    town.apply(claimed);
                }
            }
            for (_, member) in town.community.members() {
                prop_assert!(member.balance_minutes >= -limit, "{} is at {}", member.name(), member.balance_minutes);
            }
            prop_assert!(ledger_balances(&town.community));
        }
        // A replay in another order ends in the same place.
        let mut entries = town.applied.clone();
        Dice::new(seed).shuffle(&mut entries);
        let Rebuilt { community: rebuilt, report, .. } = Community::rebuild_held(&town.genesis, &[], &entries, NOW).unwrap();
        prop_assert!(report.released_rejections.is_empty());
        prop_assert_eq!(rebuilt.digest(), town.community.digest());
    }
}

// ---------------------------------------------------------------- forks

/// A town where Bob (key 2) wrote `len` entries; returns it with Bob's log and entries.
fn bob_writes(len: usize) -> (Town, Log, Vec<Entry>) {
    let mut town = Town::new(Rules::default());
    let mut bob = town.admit(2, "Bob");
    let mut entries = town.applied.iter().filter(|e| e.author() == bob.id()).cloned().collect::<Vec<_>>();
    for i in 1..len {
        entries.push(town.act(&mut bob, post(&format!("Post {i}"))));
    }
    (town, bob, entries)
}

/// Bob's log from scratch up to (excluding) `seq`, then a different entry at `seq`, and `more` after it.
fn alternative(town: &Town, honest: &[Entry], seq: u64, title: &str, more: usize) -> Vec<Entry> {
    let mut log = town.log(2);
    for entry in &honest[..seq as usize - 1] {
        log.commit(entry);
    }
    let mut out = vec![log.write(post(title))];
    for i in 0..more {
        out.push(log.write(post(&format!("{title} {i}"))));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn forks_are_always_detected(
        len in 1..6usize,
        at in any::<prop::sample::Index>(),
        title in line(limits::TITLE),
        more in 0..3usize,
        seed in any::<u64>(),
    ) {
        let (mut town, bob, honest) = bob_writes(len);
        prop_assert_eq!(honest.len(), len);
        let seq = at.index(len) as u64 + 1;
        let forked = alternative(&town, &honest, seq, &format!("Other {title}"), more);
        let existing = honest[seq as usize - 1].clone();

        // Live: the applied entry is met by its twin.
        let (outcome, report) = town.community.ingest(forked[0].clone(), NOW);
        prop_assert_eq!(outcome, Outcome::Conflict { existing: existing.hash() });
        prop_assert_eq!(report.conflicts.len(), 1);
        let proof = town.community.fork_with(&existing, &forked[0]).expect("a proof");
        prop_assert_eq!(proof.verify(), Ok(Fork { author: bob.id(), seq, community: town.id() }));
        prop_assert_eq!(town.community.member(&bob.id()).unwrap().frozen_at, Some(seq));
        for entry in &forked[1..] {
            prop_assert_eq!(town.community.ingest(entry.clone(), NOW).0, Outcome::Frozen);
        }

        // From scratch, in any order: the twin is still caught, directly or once released.
        let mut everything = town.applied.clone();
        everything.extend(forked.iter().cloned());
        Dice::new(seed).shuffle(&mut everything);
        let mut community = Community::new(&town.genesis).unwrap();
        let mut conflicts = Vec::new();
        for entry in everything {
            let (outcome, report) = community.ingest(entry.clone(), NOW);
            if let Outcome::Conflict { existing } = outcome {
                prop_assert!(report.conflicts.iter().any(|(e, h)| e == &entry && *h == existing));
            }
            conflicts.extend(report.conflicts);
        }
        // The twin at `seq` is always caught (the entries after it may be caught too: they are
        // forks as well). Every conflict makes a proof that holds.
        prop_assert!(conflicts.iter().any(|(e, _)| e.seq() == seq), "the fork went unnoticed");
        let known: Vec<Entry> = honest.iter().chain(&forked).cloned().collect();
        let mut proof = None;
        for (incoming, stored_hash) in conflicts {
            let stored = known.iter().find(|e| e.hash() == stored_hash).expect("the stored entry is one of ours");
            prop_assert_ne!(stored.hash(), incoming.hash());
            let made = community.fork_with(stored, &incoming).expect("a proof");
            let fork = made.verify();
            prop_assert_eq!(fork, Ok(Fork { author: bob.id(), seq: incoming.seq(), community: town.id() }));
            if incoming.seq() == seq {
                proof = Some(made);
            }
        }
        prop_assert_eq!(community.member(&bob.id()).unwrap().frozen_at, Some(seq));
        let proof = proof.unwrap();

        // Rebuilt with the proof, the log counts up to just before the fork.
        let rebuilt = Community::rebuild_held(&town.genesis, &[proof], &town.applied, NOW).unwrap().community;
        let head = rebuilt.member(&bob.id()).unwrap().head.map(|h| h.seq);
        prop_assert_eq!(head, (seq > 1).then_some(seq - 1));
    }

    #[test]
    fn forged_fork_proofs_never_verify(
        len in 2..5usize,
        at in any::<prop::sample::Index>(),
        other_at in any::<prop::sample::Index>(),
        bit in any::<prop::sample::Index>(),
        title in line(limits::TITLE),
    ) {
        let (mut town, bob, honest) = bob_writes(len);
        let seq = at.index(len) as u64 + 1;
        let twin = alternative(&town, &honest, seq, &format!("Other {title}"), 0).remove(0);
        let real = &honest[seq as usize - 1];
        prop_assert!(ForkProof::new(real, &twin).verify().is_ok());

        // The same entry twice.
        prop_assert_eq!(ForkProof::new(real, real).verify(), Err(ForkProofError::SameEntry));
        // One entry with a corrupted signature.
        let mut corrupted = twin.bytes().to_vec();
        let range = signature_range(&twin);
        let bit = bit.index(64 * 8);
        corrupted[range.start + bit / 8] ^= 1 << (bit % 8);
        let forged = ForkProof { first: real.bytes().to_vec(), second: corrupted };
        prop_assert_eq!(forged.verify(), Err(ForkProofError::InvalidEntry(EntryError::BadSignature)));
        // Entries of two different authors at one seq.
        let mut ann = town.admit(3, "Ann");
        let ann_entry = if seq == 1 {
            town.applied.iter().find(|e| e.author() == ann.id()).unwrap().clone()
        } else {
            while ann.seq + 1 < seq {
                town.act(&mut ann, post("Filler"));
            }
            town.act(&mut ann, post(&title))
        };
        prop_assert_eq!(ann_entry.seq(), seq);
        prop_assert_eq!(ForkProof::new(real, &ann_entry).verify(), Err(ForkProofError::DifferentAuthors));
        // Two entries of one author at different seqs.
        let other_seq = other_at.index(len) as u64 + 1;
        if other_seq != seq {
            let other = &honest[other_seq as usize - 1];
            prop_assert_eq!(ForkProof::new(real, other).verify(), Err(ForkProofError::DifferentSeq(seq, other_seq)));
        }
        // One author at one seq, but in two communities.
        let mut elsewhere = Log::new(2, Some(CommunityId([42; 32])));
        for _ in 1..seq {
            elsewhere.write(post("Elsewhere"));
        }
        let foreign = elsewhere.write(post(&title));
        prop_assert_eq!(ForkProof::new(real, &foreign).verify(), Err(ForkProofError::DifferentCommunities));

        // None of them freezes anyone.
        for forged in [
            ForkProof::new(real, real),
            forged,
            ForkProof::new(real, &ann_entry),
            ForkProof::new(real, &foreign),
        ] {
            prop_assert!(!town.community.add_fork_proof(&forged));
        }
        prop_assert_eq!(town.community.forks().count(), 0);
        prop_assert_eq!(town.community.member(&bob.id()).unwrap().frozen_at, None);
    }
}

// ---------------------------------------------------------------- matching (issue 14)

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A request that names a member's skill, anywhere in its title, always matches that
    /// member, with the skill as the reason (so it reaches their inbox).
    #[test]
    fn a_request_naming_a_skill_matches_its_member(
        skill in string_regex("[ a-zA-Z0-9éüß-]{0,12}[a-zA-Z0-9éüß][ a-zA-Z0-9éüß-]{0,12}").unwrap(),
        other_skills in prop::collection::vec(line(limits::SKILL), 0..4),
        before in string_regex("[a-zA-Z ]{0,20}").unwrap(),
        after in string_regex("[a-zA-Z ,.]{0,20}").unwrap(),
        details in text(200),
    ) {
        let title = format!("{before} {skill} {after}");
        let need = kith_protocol::matching::Need { title: &title, details: &details, category: "" };
        let mut skills = other_skills;
        skills.push(skill.clone());
        let reason = kith_protocol::matching::why_match(&need, &skills, &[]);
        prop_assert!(
            matches!(&reason, Some(kith_protocol::matching::Reason::Skill(_))),
            "{title:?} with skills {skills:?} gave {reason:?}"
        );
    }
}
