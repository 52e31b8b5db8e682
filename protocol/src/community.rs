//! The community state reducer: feed it verified entries in any order that respects each
//! author's log order; it applies what it can, keeps aside what waits for something, and
//! tracks members, posts, replies, balances, forks and suspensions.
//!
//! The state is a function of the *set* of entries fed (and the fork proofs known): the order
//! of delivery changes only when things happen, never what ends up true. The node keeps one
//! of these in memory (small: no post texts) and writes views of its own from the entries.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

mod held;
mod packed;
mod records;

use held::{ByEntry, Held};
use records::{PostRecord, TransferRecord};

use crate::body::{Body, PostKind, Role, Rules, Status};
use crate::entry::{CommunityId, Entry, EntryHash};
use crate::error::{EntryError, Wait};
use crate::fork::{Fork, ForkProof};
use crate::gathering::{Attendance, Schedule};
use crate::identity::MemberId;
use crate::invite::{InviteId, Withdrawal};
use crate::rules::{self, Head, Refusal};

/// Most entries kept aside at once; beyond it new waiting entries are dropped (sync fetches
/// them again later). Large enough for a fresh node catching up on a big community, whose
/// replies arrive before the posts they answer (about 400 bytes of memory each).
pub const MAX_PENDING: usize = 50_000;
/// Most bytes the waiting area holds, counting each entry as its wire bytes plus
/// [`PENDING_OVERHEAD`] for the maps that index it: with [`MAX_PENDING`], the bound on its memory.
pub const MAX_PENDING_BYTES: usize = 48 * 1024 * 1024;
/// What one waiting entry costs beyond its bytes (its place in the pending and waiting maps,
/// the decoded header and body), counted against the byte bounds.
pub const PENDING_OVERHEAD: usize = 512;
/// Most entries of one author kept aside at once: one member writing entries that wait (gaps,
/// unknown posts) cannot fill the waiting area and crowd out everyone else's.
pub const MAX_PENDING_PER_AUTHOR: usize = 4_096;
/// Most bytes (as counted for [`MAX_PENDING_BYTES`]) of one author's entries kept aside.
pub const MAX_PENDING_BYTES_PER_AUTHOR: usize = 6 * 1024 * 1024;

/// What a waiting entry counts against the waiting area's byte bounds.
pub fn pending_cost(entry: &Entry) -> usize {
    entry.bytes().len() + PENDING_OVERHEAD
}

/// What this node knows of a person (member, newcomer, or hub).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: Option<MemberId>,
    pub profile: Option<Profile>,
    pub admitted: bool,
    /// Members who vouched for this person.
    pub vouched_by: BTreeSet<MemberId>,
    /// An organiser now: the founder, or appointed by an organiser and not dismissed since.
    pub organiser: bool,
    /// Ever appointed organiser (what moderation entries wait for; only grows).
    pub appointed: bool,
    /// The founder removed this organiser's role from after this entry of theirs on.
    pub dismissed_after: Option<u64>,
    pub hub: bool,
    /// Suspended now (a suspension by an organiser, not ended by a reinstatement): the reason.
    pub suspended: Option<String>,
    pub head: Option<Head>,
    pub balance_minutes: i64,
    pub given_minutes: i64,
    pub received_minutes: i64,
    /// Set when two entries were found at one seq: from there on the log does not count.
    pub frozen_at: Option<u64>,
    /// Minutes of the transfers in the frozen part of this member's log (every branch): part
    /// of their balance, and beyond the credit limit when they spent twice.
    pub forked_debt_minutes: i64,
    /// The invite their join request named.
    pub joined_with: Option<InviteId>,
    /// Asked to be checked on: after how many quiet days, and who to tell.
    pub checkins: Option<CheckIns>,
    /// Helped now: their key lives on this helper's node (their latest `Helped` entry).
    pub helper: Option<Helper>,
    /// Each change of helper in their log: the `Helped` entry's seq and the helper from there
    /// on, in log order (who recorded an entry of theirs: [`Member::helper_at`]).
    pub helpers: Vec<(u64, Option<MemberId>)>,
    /// Agreed to be listed in the printed directory (their latest `Listing` entry).
    pub listed: bool,
}

/// Who records for a helped member, and the most they agreed a payment made for them may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Helper {
    pub member: MemberId,
    pub limit: crate::Minutes,
}

/// A member's wish to be checked on (their latest `CheckIns` entry that turned it on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckIns {
    pub days: u16,
    pub buddies: Vec<MemberId>,
}

impl Member {
    /// Who held this member's key when they wrote their entry `seq` (the helper in force at
    /// that point of their log), if anyone.
    pub fn helper_at(&self, seq: u64) -> Option<MemberId> {
        self.helpers.iter().rev().find(|(from, _)| *from <= seq).and_then(|(_, helper)| *helper)
    }

    /// Display name, or the short id when no profile is known.
    pub fn name(&self) -> String {
        match (&self.profile, self.id) {
            (Some(profile), _) if !profile.redacted => profile.name.clone(),
            (_, Some(id)) => id.short(),
            _ => "someone".to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub area: String,
    pub entry: EntryHash,
    pub redacted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    pub author: MemberId,
    pub kind: PostKind,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    pub status: Status,
    pub replies: u32,
    pub redacted: bool,
    /// A gathering's structured time.
    pub schedule: Option<Schedule>,
    /// Written for a helped member by their helper (who held their key at that point of their
    /// log).
    pub helped_by: Option<MemberId>,
}

/// A reply held (what it answers is in its entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub author: MemberId,
    pub redacted: bool,
}

/// An organiser's notice (its title and text are read from the entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    pub author: MemberId,
    pub created_at_ms: u64,
    /// When it stops heading the board.
    pub until_ms: u64,
    pub redacted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub from: MemberId,
    /// Its place in the payer's log.
    pub seq: u64,
    pub to: MemberId,
    pub minutes: crate::Minutes,
    pub claimed_by: Option<EntryHash>,
}

/// Whose an entry this node holds is, and what kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Located {
    author: MemberId,
    /// [`crate::entry::body_kind_index`] of its body.
    kind: u8,
    /// Part of a frozen log: kept as evidence, never applied.
    frozen: bool,
}

/// Whether an entry of this kind ([`crate::entry::body_kind_index`]) is a reply.
/// The member a moderation entry names (appointed, suspended, dismissed), in force or not.
fn moderation_names(body: &Body) -> Option<MemberId> {
    match body {
        Body::Appoint { member, .. } | Body::Suspend { member, .. } | Body::Dismiss { member, .. } => Some(*member),
        _ => None,
    }
}

fn is_reply(kind: u8) -> bool {
    Body::kind_name_of(kind) == "reply"
}

/// What became of the entry given to [`Community::ingest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    Pending(Wait),
    Rejected(EntryError),
    /// Valid, but its author's log is frozen at or before it: kept as evidence only.
    Frozen,
    /// Another entry is applied at the same author and seq: a fork. The caller completes the
    /// proof with [`Community::fork_with`] and rebuilds ([`Community::rebuild`]).
    Conflict {
        existing: EntryHash,
    },
    /// It would wait, but the pending area is full.
    Dropped,
}

/// Everything one call to [`Community::ingest`] or [`Community::tick`] did.
#[derive(Debug, Default)]
pub struct Report {
    /// Every entry applied, in order: the given one (if applied), then those it released.
    pub applied: Vec<Entry>,
    /// Entries that had been waiting and turned out invalid once released.
    pub released_rejections: Vec<(EntryHash, EntryError)>,
    /// Entries of frozen logs, valid as evidence.
    pub frozen: Vec<Entry>,
    /// Entries that conflict with an applied entry at the same seq (incoming, existing hash).
    pub conflicts: Vec<(Entry, EntryHash)>,
    /// Join requests no longer held: another request ranked before them took their invite's
    /// last use, or their author's other join request did.
    pub evicted: Vec<EntryHash>,
    /// A member's entry refused at the next place of their log, kept as the evidence that
    /// place is taken ([`Community::refused_at`]): the caller keeps it with the waiting entries,
    /// so a rebuild meets it again and a sibling arriving later makes a fork.
    pub refused: Vec<Entry>,
}

/// What [`Community::rebuild`] made.
#[derive(Debug)]
pub struct Rebuilt {
    pub community: Community,
    /// What the last pass did (the applied entries left out).
    pub report: Report,
    /// Forks that showed only during the rebuild: the caller keeps and gossips these proofs.
    pub new_forks: Vec<ForkProof>,
}

/// A moderation entry held (Appoint, Suspend, Reinstate, Dismiss): what is in force is
/// computed from all of them together, so it depends on the set and not on arrival order.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Moderation {
    hash: EntryHash,
    author: MemberId,
    seq: u64,
    body: Body,
}

/// One suspension in force: the member's entries after `after_seq` (up to `until`, when an
/// organiser reinstated them) are written while suspended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Span {
    after_seq: u64,
    until: Option<u64>,
    reason: String,
    hash: EntryHash,
}

/// A `Suspend` entry in force: its hash, its author and place in their log, and its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuspensionInForce<'a> {
    pub hash: EntryHash,
    pub by: MemberId,
    pub seq: u64,
    pub reason: &'a str,
}

/// One community as this node sees it.
///
/// Serialized (a snapshot a node starts from instead of replaying every entry) without its
/// waiting area: the store keeps the waiting entries, and whoever loads a snapshot feeds them
/// again, as a rebuild does after the applied ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Community {
    id: CommunityId,
    name: String,
    description: String,
    rules: Rules,
    founder: MemberId,
    #[serde(deserialize_with = "packed::map")]
    members: BTreeMap<MemberId, Member>,
    posts: ByEntry<PostRecord>,
    /// The replies redacted (every applied reply is in `entries`, with its author and kind).
    redacted_replies: BTreeSet<EntryHash>,
    transfers: ByEntry<TransferRecord>,
    announcements: BTreeMap<EntryHash, Announcement>,
    /// The entries held, each author's applied log, and the people records name by place.
    entries: Held,
    forks: BTreeMap<MemberId, ForkProof>,
    #[serde(skip)]
    pending: BTreeMap<EntryHash, (Entry, Wait)>,
    /// What `pending` costs in all ([`pending_cost`]), and per author (entries, cost).
    #[serde(skip)]
    pending_bytes: usize,
    #[serde(skip)]
    pending_by_author: BTreeMap<MemberId, (usize, usize)>,
    /// Set while waiting entries are released: one taken out and kept aside again was counted
    /// already, so the bounds do not apply to it.
    #[serde(skip)]
    releasing: bool,
    #[serde(skip)]
    waiting: BTreeMap<Wait, BTreeSet<EntryHash>>,
    /// The waiting entries by their place in their author's log.
    #[serde(skip)]
    waiting_places: BTreeMap<(MemberId, u64), BTreeSet<EntryHash>>,
    /// Per member, the entry refused at the next place of their log (seq, hash): that place is
    /// taken, as by an applied entry, so any sibling there is a fork in either order. For a
    /// newcomer, their join request outranked by their other one (`join_siblings`). Left out
    /// of a snapshot: the node keeps these entries with the waiting ones, fed again on load.
    #[serde(skip)]
    refused: BTreeMap<MemberId, (u64, EntryHash)>,
    /// Per newcomer not yet admitted who signed two join requests: one of them and the other's
    /// hash, the one applied and the one kept as evidence ([`Community::refused_at`]). While
    /// they are not a member the two are settled by rank; once admitted they are a fork, as
    /// they would have been had the admission come first. Left out of a snapshot like
    /// `refused`: the evidence is fed again on load and makes the pair again.
    #[serde(skip)]
    join_siblings: BTreeMap<MemberId, (Entry, EntryHash)>,
    /// The bytes of a newcomer's join request kept as evidence (`refused`), so that the pair
    /// can be made again when a third request comes (`keep_join_sibling`). Left out of a
    /// snapshot like `refused`: fed again on load.
    #[serde(skip)]
    join_evidence: BTreeMap<MemberId, Entry>,
    /// Who withdrew which invite (it counts if the issuer or an organiser did).
    revocations: BTreeMap<crate::invite::InviteId, BTreeSet<MemberId>>,
    /// Each gathering's answers ("I'll come"), by member.
    #[serde(deserialize_with = "packed::map")]
    attendance: BTreeMap<EntryHash, Attendance>,
    /// Join requests kept open (authors not yet admitted), by invite, ranked by entry hash.
    joins: BTreeMap<InviteId, BTreeSet<(EntryHash, MemberId)>>,
    /// The bytes of the join requests kept open (at most the invites' uses): one outranked for
    /// its invite's room goes back to wait for its author's admission, as one that found no
    /// room does, rather than being dropped (`trim_joins`).
    #[serde(default)]
    open_joins: BTreeMap<EntryHash, serde_bytes::ByteBuf>,
    /// Vouches (voucher, newcomer) counted from a frozen branch only. The voucher's own vouch
    /// for that newcomer in the applied part of their log is still their first there: refused
    /// as a second vouch, it would stop their log at a place where, had the frozen one come
    /// later, it goes on.
    #[serde(default)]
    frozen_vouches: BTreeSet<(MemberId, MemberId)>,
    /// Every moderation entry held.
    moderation: Vec<Moderation>,
    /// The uses each invite named by a join request allows.
    invite_uses_allowed: BTreeMap<InviteId, u32>,
    /// Suspensions in force, by member (computed from `moderation`).
    spans: BTreeMap<MemberId, Vec<Span>>,
    /// Everyone ever acting as an organiser through appointments that count (the founder aside).
    acting: BTreeSet<MemberId>,
}

impl Community {
    /// Starts a community from its Genesis (whose signature the caller has verified).
    pub fn new(genesis: &Entry) -> Result<Community, EntryError> {
        let Body::Genesis { name, description, rules } = genesis.body() else {
            return Err(EntryError::MisplacedGenesis);
        };
        let founder = genesis.author();
        let head = Head { seq: 1, hash: genesis.hash(), timestamp_ms: genesis.timestamp_ms() };
        let member = Member {
            id: Some(founder),
            admitted: true,
            organiser: true,
            appointed: true,
            head: Some(head),
            ..Member::default()
        };
        let mut community = Community {
            id: genesis.community(),
            name: name.clone(),
            description: description.clone(),
            rules: *rules,
            founder,
            members: BTreeMap::from([(founder, member)]),
            posts: ByEntry::default(),
            redacted_replies: BTreeSet::new(),
            transfers: ByEntry::default(),
            announcements: BTreeMap::new(),
            entries: Held::default(),
            forks: BTreeMap::new(),
            pending: BTreeMap::new(),
            pending_bytes: 0,
            pending_by_author: BTreeMap::new(),
            releasing: false,
            waiting: BTreeMap::new(),
            waiting_places: BTreeMap::new(),
            refused: BTreeMap::new(),
            join_siblings: BTreeMap::new(),
            join_evidence: BTreeMap::new(),
            revocations: BTreeMap::new(),
            attendance: BTreeMap::new(),
            joins: BTreeMap::new(),
            open_joins: BTreeMap::new(),
            frozen_vouches: BTreeSet::new(),
            moderation: Vec::new(),
            invite_uses_allowed: BTreeMap::new(),
            spans: BTreeMap::new(),
            acting: BTreeSet::new(),
        };
        community.record(genesis, false);
        Ok(community)
    }

    /// Builds the state afresh from a Genesis, known fork proofs and entries in any order
    /// respecting each log's order (or in no order at all: waiting entries are released).
    ///
    /// `entries` yields every held entry, once per pass. A fork can show only now: two entries
    /// at one place in a log, neither applicable when it arrived (both waited, say, for a claim
    /// of a transfer not yet held). Then the entry applied there is fetched with `stored`, the
    /// fork is completed like one met on arrival, and the pass runs again with the new proof,
    /// so the state is the same whichever order the entries came in. Each further pass freezes
    /// a log at a place not frozen before, so the passes end.
    ///
    /// The report (of the last pass) lists rejections, frozen entries and evictions, not the
    /// applied entries.
    pub fn rebuild<I>(
        genesis: &Entry,
        forks: &[ForkProof],
        mut entries: impl FnMut() -> I,
        mut stored: impl FnMut(&EntryHash) -> Option<Entry>,
        now_ms: u64,
    ) -> Result<Rebuilt, EntryError>
    where
        I: IntoIterator<Item = Entry>,
    {
        let mut new_forks: Vec<ForkProof> = Vec::new();
        loop {
            let mut community = Community::new(genesis)?;
            for proof in forks.iter().chain(&new_forks) {
                // Proofs kept by the caller were accepted (verified) when their author was a
                // member; the new ones were built here from entries the caller holds.
                if let Ok(fork) = proof.read_verified_before() {
                    community.freeze(fork, proof);
                }
            }
            let mut report = Report::default();
            for entry in entries() {
                let (_, part) = community.ingest(entry, now_ms);
                // The applied entries are the caller's own; keeping them all would double the
                // memory a large rebuild needs.
                report.released_rejections.extend(part.released_rejections);
                report.frozen.extend(part.frozen);
                report.refused.extend(part.refused);
                report.conflicts.extend(part.conflicts);
                report.evicted.extend(part.evicted);
            }
            let mut froze = false;
            for (incoming, existing) in std::mem::take(&mut report.conflicts) {
                let Some(existing) = stored(&existing) else { continue };
                let proof = ForkProof::new(&existing, &incoming);
                // Both entries are the caller's, verified when they arrived.
                let Ok(fork) = proof.read_verified_before() else { continue };
                if community.freeze(fork, &proof) {
                    froze = true;
                    new_forks.push(proof);
                }
            }
            if !froze {
                return Ok(Rebuilt { community, report, new_forks });
            }
        }
    }

    /// Whether every person a record names by place is someone (a state read back from a
    /// snapshot is used only then; one this kith wrote always is).
    pub fn consistent(&self) -> bool {
        let named = self.posts.values().flat_map(PostRecord::named);
        let named = named.chain(self.transfers.values().flat_map(|transfer| [transfer.from, transfer.to]));
        self.posts.consistent(&self.entries)
            && self.transfers.consistent(&self.entries)
            && self.entries.consistent(named)
    }

    /// Gives back the room the large maps' nodes and the logs' vectors grew into (a third to a
    /// half of it after a rebuild), for a state that will mostly be read.
    pub fn shrink_to_fit(&mut self) {
        packed::pack(&mut self.members);
        self.posts.pack();
        self.transfers.pack();
        self.entries.shrink_to_fit();
        packed::pack(&mut self.attendance);
    }

    /// [`Community::rebuild`] from entries all in memory.
    pub fn rebuild_held(
        genesis: &Entry,
        forks: &[ForkProof],
        held: &[Entry],
        now_ms: u64,
    ) -> Result<Rebuilt, EntryError> {
        let stored = |hash: &EntryHash| held.iter().find(|entry| entry.hash() == *hash).cloned();
        Community::rebuild(genesis, forks, || held.iter().cloned(), stored, now_ms)
    }

    /// Registers a fork proof (checked strictly) from a peer. Returns true if it freezes a log
    /// further than before — the caller should then rebuild. Proofs against someone not
    /// admitted here are refused: a non-member's log is one join request, whose duplicates are
    /// settled by rank, and a proof against them would cost storage without bound.
    pub fn add_fork_proof(&mut self, proof: &ForkProof) -> bool {
        let Ok(fork) = proof.verify() else { return false };
        if !self.is_member(&fork.author) {
            return false;
        }
        self.freeze(fork, proof)
    }

    /// Registers a checked fork proof (`fork` is what checking it established) whatever its
    /// author's standing.
    fn freeze(&mut self, fork: Fork, proof: &ForkProof) -> bool {
        if fork.community != self.id {
            return false;
        }
        // Two entries at one place make a fork only if each could be valid: an entry invalid
        // on its own is refused on arrival, never a conflict, so a proof built on one would
        // freeze a log here that another node, holding the same entries, keeps unfrozen.
        let could_be_valid = |bytes: &Vec<u8>| {
            Entry::decode_unverified(bytes.clone()).is_ok_and(|entry| self.judge_alone(&entry).is_ok())
        };
        if !could_be_valid(&proof.first) || !could_be_valid(&proof.second) {
            return false;
        }
        let member = self.member_entry(fork.author);
        let tighter = member.frozen_at.is_none_or(|at| fork.seq < at);
        if tighter {
            member.frozen_at = Some(fork.seq);
            self.forks.insert(fork.author, proof.clone());
        }
        tighter
    }

    /// Applies an entry (or keeps it aside), then everything waiting that it releases.
    pub fn ingest(&mut self, entry: Entry, now_ms: u64) -> (Outcome, Report) {
        let mut report = Report::default();
        let mut woken = VecDeque::new();
        let outcome = self.step(entry, now_ms, &mut report, &mut woken);
        self.release(woken, now_ms, &mut report);
        (outcome, report)
    }

    /// Tries again the entries that waited for the clock.
    pub fn tick(&mut self, now_ms: u64) -> Report {
        let limit = now_ms.saturating_add(rules::MAX_CLOCK_AHEAD_MS);
        let due: Vec<Wait> = self
            .waiting
            .keys()
            .filter(|w| matches!(w, Wait::Clock { timestamp_ms } if *timestamp_ms <= limit))
            .copied()
            .collect();
        let mut report = Report::default();
        self.release(due.into_iter().collect(), now_ms, &mut report);
        report
    }

    /// What would become of this entry, without changing anything (for checking a local
    /// publish before it is stored).
    pub fn check(&self, entry: &Entry, now_ms: u64) -> Outcome {
        if self.entries.contains(&entry.hash()) {
            return Outcome::Duplicate;
        }
        if let Err(error) = rules::same_community(entry, self.id) {
            return Outcome::Rejected(error);
        }
        if self.members.get(&entry.author()).and_then(|m| m.frozen_at).is_some_and(|at| entry.seq() >= at) {
            return Outcome::Frozen;
        }
        if let Err(error) = self.judge_alone(entry) {
            return Outcome::Rejected(error);
        }
        if let Some(existing) = self.place_taken(&entry.author(), entry.seq(), &entry.hash()) {
            return Outcome::Conflict { existing };
        }
        match self.judge(entry, now_ms) {
            Ok(()) => Outcome::Applied,
            Err(Refusal::Reject(error)) => Outcome::Rejected(error),
            Err(Refusal::Wait(wait)) => Outcome::Pending(wait),
        }
    }

    fn release(&mut self, mut woken: VecDeque<Wait>, now_ms: u64, report: &mut Report) {
        while let Some(wait) = woken.pop_front() {
            // (Also woken without an admission: a join request tried again, `trim_joins`.)
            if let Wait::Admission { member } = wait
                && self.is_member(&member)
            {
                self.meet_waiting_siblings(member, report);
            }
            let Some(hashes) = self.waiting.remove(&wait) else { continue };
            for hash in hashes {
                let Some(entry) = self.take_pending(&hash) else { continue };
                self.releasing = true;
                let outcome = self.step(entry, now_ms, report, &mut woken);
                self.releasing = false;
                if let Outcome::Rejected(error) = outcome {
                    report.released_rejections.push((hash, error));
                }
            }
        }
    }

    fn step(&mut self, entry: Entry, now_ms: u64, report: &mut Report, woken: &mut VecDeque<Wait>) -> Outcome {
        let hash = entry.hash();
        if self.entries.contains(&hash) {
            return Outcome::Duplicate;
        }
        if let Err(error) = rules::same_community(&entry, self.id) {
            return Outcome::Rejected(error);
        }
        let author = entry.author();
        let seq = entry.seq();
        if let Some(at) = self.members.get(&author).and_then(|m| m.frozen_at)
            && seq >= at
        {
            // What others may have relied on counts on every branch: transfers (the forker
            // carries them all), vouches and appointments. Those wait, like any entry, for
            // what their effect needs (the author's admission, the payee's).
            let effective = match self.judge_frozen(&entry) {
                Ok(effective) => effective,
                Err(Refusal::Wait(wait)) => return self.keep_aside(entry, wait),
                Err(Refusal::Reject(error)) => return Outcome::Rejected(error),
            };
            self.record(&entry, true);
            if effective {
                self.apply_effect(&entry, true, woken);
            }
            // Entries that refer to this one (a reply, a claim) count as soon as it is held,
            // frozen or not: wake them, or the outcome would depend on the order of arrival.
            woken.push_back(Wait::Entry { hash });
            report.frozen.push(entry);
            return Outcome::Frozen;
        }
        // An entry invalid in every order is refused before a conflict is looked for: whether
        // it made a fork would otherwise depend on whether it came before or after its sibling.
        if let Err(error) = self.judge_alone(&entry) {
            return Outcome::Rejected(error);
        }
        if seq == 1 && !self.is_member(&author) {
            // A member's second entry at seq 1, a join request or not, is a fork (below). A
            // newcomer's join requests are settled by rank while they are not a member: their
            // request is the lowest hash, applied or waiting (for room, say), and the next one
            // is kept as evidence, so that the two are a fork once they are admitted, in any
            // order. A higher request never counts, even with room where the lowest has none:
            // whether it did would depend on whether it came before the lowest (found by
            // fuzzing).
            let applied = self.entry_at(&author, 1);
            if let Some(existing) = applied.into_iter().chain(self.waiting_join(&author, &hash)).min() {
                if !matches!(entry.body(), Body::JoinRequest { .. }) {
                    return self.keep_aside(entry, Wait::Admission { member: author });
                }
                if hash > existing {
                    let existing_entry = self.pending.get(&existing).map(|(waiting, _)| waiting.clone());
                    self.keep_join_sibling(author, &entry, existing, existing_entry, report);
                    return Outcome::Rejected(EntryError::DuplicateJoinRequest);
                }
                let wait = match self.judge_join(&entry, applied) {
                    Ok(()) => None,
                    Err(Refusal::Reject(error)) => return Outcome::Rejected(error),
                    Err(Refusal::Wait(wait)) => Some(wait),
                };
                if let Some(wait) = wait
                    && !matches!(self.keep_aside(entry.clone(), wait), Outcome::Pending(_))
                {
                    return Outcome::Dropped;
                }
                let existing_entry = if applied == Some(existing) {
                    let bytes = self.open_join(&existing);
                    self.evict_join(author, existing, report);
                    // The replaced request may have named another invite, whose room grows.
                    self.retry_waiting_joins(woken);
                    bytes
                } else {
                    self.unwait(&existing)
                };
                self.keep_join_sibling(author, &entry, existing, existing_entry, report);
                if let Some(wait) = wait {
                    return Outcome::Pending(wait);
                }
            }
        }
        if let Some(existing) = self.place_taken(&author, seq, &hash) {
            // Same author, same seq, different hash: a fork, whether the entry at this place
            // was applied or refused. The reducer keeps no entry bytes; the caller completes
            // the proof with `fork_with` from its store.
            report.conflicts.push((entry, existing));
            return Outcome::Conflict { existing };
        }
        let judged = self.judge(&entry, now_ms);
        if self.is_member(&author)
            && let Some(existing) = self.waiting_sibling(&author, seq, &hash)
        {
            // A member's other entry at this place waits (for an admission, say, that may never
            // come): a fork too, met now whichever of the two came first, and whatever this
            // one's merits. A non-member's entries all wait for admission, and their siblings
            // meet on release, in hash order.
            report.conflicts.push((entry, existing));
            return Outcome::Conflict { existing };
        }
        if let Err(Refusal::Reject(error)) = judged {
            self.keep_refused(&entry, report);
            return Outcome::Rejected(error);
        }
        match judged {
            Ok(()) => {
                self.apply(&entry, woken, report);
                report.applied.push(entry);
                Outcome::Applied
            }
            Err(Refusal::Reject(error)) => Outcome::Rejected(error),
            Err(Refusal::Wait(wait)) => self.keep_aside(entry, wait),
        }
    }

    /// Completes a fork from a reported conflict: the caller passes its stored entry at the
    /// same seq and the incoming one. Returns the proof (to keep and gossip); the caller then
    /// rebuilds its state, since the frozen part of the log no longer counts.
    pub fn fork_with(&mut self, stored: &Entry, incoming: &Entry) -> Option<ForkProof> {
        let proof = ForkProof::new(stored, incoming);
        let fork = proof.verify().ok()?;
        self.freeze(fork, &proof);
        Some(proof)
    }

    fn keep_aside(&mut self, entry: Entry, wait: Wait) -> Outcome {
        let hash = entry.hash();
        if self.pending.contains_key(&hash) {
            return Outcome::Pending(wait);
        }
        let (author, cost) = (entry.author(), pending_cost(&entry));
        let (count, bytes) = self.pending_by_author.get(&author).copied().unwrap_or((0, 0));
        if !self.releasing
            && (self.pending.len() >= MAX_PENDING
                || self.pending_bytes + cost > MAX_PENDING_BYTES
                || count >= MAX_PENDING_PER_AUTHOR
                || bytes + cost > MAX_PENDING_BYTES_PER_AUTHOR)
        {
            return Outcome::Dropped;
        }
        self.pending_bytes += cost;
        self.pending_by_author.insert(author, (count + 1, bytes + cost));
        self.waiting.entry(wait).or_default().insert(hash);
        self.waiting_places.entry((author, entry.seq())).or_default().insert(hash);
        self.pending.insert(hash, (entry, wait));
        Outcome::Pending(wait)
    }

    /// The entry other than `hash` that takes `author`'s place `seq`: the one applied there, or
    /// the one refused there ([`Report::refused`]). A second entry there is a fork.
    fn place_taken(&self, author: &MemberId, seq: u64, hash: &EntryHash) -> Option<EntryHash> {
        // A newcomer's evidence is a join request settled by rank until they are admitted.
        let refused = || {
            let evidence = self.refused.get(author).filter(|(at, refused)| *at == seq && refused != hash);
            evidence.filter(|_| self.is_member(author))
        };
        self.entry_at(author, seq).or_else(|| refused().map(|(_, refused)| *refused))
    }

    /// Keeps a member's entry refused at the next place of their log as evidence that the
    /// place is taken. Had a valid sibling come first, this entry would have made a fork; kept,
    /// it makes one with a sibling that comes after, so the outcome is the same in either
    /// order. One per member: a second entry at that place is a fork, and the log cannot pass
    /// it. A real node never signs what the rules refuse, so only a hostile or broken one
    /// leaves evidence here.
    fn keep_refused(&mut self, entry: &Entry, report: &mut Report) {
        let author = entry.author();
        let next = self.members.get(&author).and_then(|m| m.head).map_or(1, |h| h.seq + 1);
        if !self.is_member(&author) || entry.seq() != next || self.refused.contains_key(&author) {
            return;
        }
        self.refused.insert(author, (entry.seq(), entry.hash()));
        report.refused.push(entry.clone());
    }

    /// A newcomer's join requests: `entry` (just arrived) and `other` (already here, applied,
    /// waiting or refused; `other_entry` its bytes when known), the lower of the two their
    /// request (applied, or waiting). The evidence of
    /// their seq 1 is the lowest of the others (the new one, the other, the evidence kept
    /// before), so which two are held does not depend on the order; any other is dropped (the
    /// old evidence as a released rejection). The pair waits for their admission to be a fork
    /// ([`Community::meet_waiting_siblings`]).
    fn keep_join_sibling(
        &mut self,
        author: MemberId,
        entry: &Entry,
        other: EntryHash,
        other_entry: Option<Entry>,
        report: &mut Report,
    ) {
        let applied = entry.hash().min(other);
        let old = self.refused.get(&author).map(|(_, evidence)| *evidence);
        let mut candidates: Vec<(EntryHash, Option<Entry>)> =
            vec![(entry.hash(), Some(entry.clone())), (other, other_entry)];
        if let Some(old) = old {
            candidates.push((old, self.join_evidence.get(&author).cloned()));
        }
        candidates.retain(|(hash, _)| *hash != applied);
        // The lowest first, and of one hash the copy with its bytes.
        candidates.sort_by_key(|(hash, bytes)| (*hash, bytes.is_none()));
        let Some((evidence, bytes)) = candidates.into_iter().next() else { return };
        if old != Some(evidence) {
            if let Some(old) = old {
                report.released_rejections.push((old, EntryError::DuplicateJoinRequest));
            }
            self.refused.insert(author, (1, evidence));
            if evidence == entry.hash() {
                report.refused.push(entry.clone());
            }
        }
        let pair = match bytes {
            Some(evidence_entry) => {
                self.join_evidence.insert(author, evidence_entry.clone());
                (evidence_entry, applied)
            }
            None => {
                self.join_evidence.remove(&author);
                (entry.clone(), evidence)
            }
        };
        self.join_siblings.insert(author, pair);
    }

    /// Join requests waiting for their authors' admission for want of room are tried again: an
    /// invite's room grew (a newcomer's open request gave way to their other one, which may name
    /// another invite). Rare: only a key that signed two join requests does that.
    fn retry_waiting_joins(&self, woken: &mut VecDeque<Wait>) {
        for (entry, wait) in self.pending.values() {
            if matches!(entry.body(), Body::JoinRequest { .. }) && *wait == (Wait::Admission { member: entry.author() })
            {
                woken.push_back(*wait);
            }
        }
    }

    /// The member's entry kept as refused at the next place of their log, if any (seq, hash).
    pub fn refused_at(&self, member: &MemberId) -> Option<(u64, EntryHash)> {
        self.refused.get(member).copied()
    }

    /// A newcomer just admitted: their entries that wait at one place (kept while they were not
    /// a member, when siblings do not meet) are a fork now, as they would have been had they
    /// arrived after the admission. Entries that wait for an earlier one of the log are not
    /// released by the admission, so they are met here.
    fn meet_waiting_siblings(&mut self, member: MemberId, report: &mut Report) {
        self.join_evidence.remove(&member);
        if let Some((entry, other)) = self.join_siblings.remove(&member)
            && self.entry_at(&member, 1).is_some_and(|applied| applied == entry.hash() || applied == other)
        {
            report.conflicts.push((entry, other));
        }
        // From seq 2: entries at seq 1 wait for the admission itself and meet on release, and
        // a newcomer's join requests were settled by rank (their pair is met above).
        let places = self.waiting_places.range((member, 2)..=(member, u64::MAX));
        for hashes in places.map(|(_, hashes)| hashes).filter(|hashes| hashes.len() > 1) {
            let mut hashes = hashes.iter();
            let Some(existing) = hashes.next() else { continue };
            for hash in hashes {
                if let Some((entry, _)) = self.pending.get(hash) {
                    report.conflicts.push((entry.clone(), *existing));
                }
            }
        }
    }

    /// Another waiting entry at `author`'s place `seq` (the lowest hash), if any.
    fn waiting_sibling(&self, author: &MemberId, seq: u64, hash: &EntryHash) -> Option<EntryHash> {
        self.waiting_places.get(&(*author, seq))?.iter().find(|other| *other != hash).copied()
    }

    /// A newcomer's join request that waits (for room, or for their invite's issuer), other
    /// than `hash`: the lowest, if any.
    fn waiting_join(&self, author: &MemberId, hash: &EntryHash) -> Option<EntryHash> {
        let waiting = self.waiting_places.get(&(*author, 1))?;
        let is_join = |other: &EntryHash| {
            self.pending.get(other).is_some_and(|(entry, _)| matches!(entry.body(), Body::JoinRequest { .. }))
        };
        waiting.iter().find(|other| *other != hash && is_join(other)).copied()
    }

    /// Takes an entry out of the waiting area, its `waiting` row too.
    fn unwait(&mut self, hash: &EntryHash) -> Option<Entry> {
        let wait = self.pending.get(hash).map(|(_, wait)| *wait)?;
        if let Some(hashes) = self.waiting.get_mut(&wait) {
            hashes.remove(hash);
            if hashes.is_empty() {
                self.waiting.remove(&wait);
            }
        }
        self.take_pending(hash)
    }

    /// An open join request's entry (`open_joins` keeps its bytes).
    fn open_join(&self, hash: &EntryHash) -> Option<Entry> {
        let bytes = self.open_joins.get(hash)?;
        Entry::decode_unverified(bytes.to_vec()).ok()
    }

    /// Takes an entry out of the waiting area (its `waiting` row is the caller's), with its cost.
    fn take_pending(&mut self, hash: &EntryHash) -> Option<Entry> {
        let (entry, _) = self.pending.remove(hash)?;
        let (author, cost) = (entry.author(), pending_cost(&entry));
        let place = (author, entry.seq());
        if let Some(hashes) = self.waiting_places.get_mut(&place) {
            hashes.remove(hash);
            if hashes.is_empty() {
                self.waiting_places.remove(&place);
            }
        }
        self.pending_bytes = self.pending_bytes.saturating_sub(cost);
        if let Some((count, bytes)) = self.pending_by_author.get_mut(&author) {
            *count = count.saturating_sub(1);
            *bytes = bytes.saturating_sub(cost);
            if *count == 0 {
                self.pending_by_author.remove(&author);
            }
        }
        Some(entry)
    }

    /// Every rule that depends on what is held, in order (the rules an entry breaks on its own
    /// are [`Community::judge_alone`]'s, checked before). Nothing is changed.
    fn judge(&self, entry: &Entry, now_ms: u64) -> Result<(), Refusal> {
        let author = entry.author();
        let member = self.members.get(&author);
        rules::not_from_future(entry, now_ms)?;
        match rules::follows_head(entry, member.and_then(|m| m.head)) {
            // It follows an entry of its author this node does not hold: another branch of a
            // fork it has not seen yet. Wait for that entry (it proves the fork), so what the
            // branch holds does not depend on the order entries arrived in.
            Err(Refusal::Reject(EntryError::PrevMismatch { .. }))
                if entry.header().prev.is_some_and(|prev| !self.entries.contains(&prev)) =>
            {
                let prev = entry.header().prev.unwrap_or(EntryHash([0; 32]));
                return Err(Wait::Entry { hash: prev }.into());
            }
            other => other?,
        }
        let admitted = member.is_some_and(|m| m.admitted);
        rules::author_admitted(author, matches!(entry.body(), Body::JoinRequest { .. }), admitted)?;
        let author_name = member.map_or_else(|| author.short(), Member::name);
        let appointed = member.is_some_and(|m| m.appointed);
        match entry.body() {
            Body::Genesis { .. } | Body::Profile { .. } => Ok(()),
            Body::JoinRequest { .. } => self.judge_join(entry, None),
            Body::Vouch { member: newcomer, .. } => {
                let already = self.members.get(newcomer).is_some_and(|m| m.vouched_by.contains(&author))
                    && !self.frozen_vouches.contains(&(author, *newcomer));
                rules::first_vouch(already, &author_name)?;
                Ok(())
            }
            Body::Post { .. } => Ok(()),
            Body::PostStatus { post, .. } => {
                let Some(post_author) = self.post_target(*post)? else { return Ok(()) };
                rules::own_post(author, post_author)?;
                Ok(())
            }
            Body::Reply { post, .. } => {
                self.post_target(*post)?;
                Ok(())
            }
            Body::Transfer { to, minutes, memo, .. } => {
                rules::payee_admitted(*to, self.members.get(to).is_some_and(|m| m.admitted))?;
                // A helped member's helper in force at this point of their log (log order: the
                // same on every node).
                let limit = member.and_then(|m| m.helper).map(|h| h.limit);
                rules::helped_payment(&author_name, limit, *minutes, memo)?;
                // The limit is checked on the author's own applied log: debts carried from
                // the frozen part of a forked log do not make earlier entries invalid.
                let balance = member.map_or(0, |m| m.balance_minutes + m.forked_debt_minutes);
                rules::within_credit_limit(&author_name, balance, *minutes, &self.rules)?;
                Ok(())
            }
            Body::Receive { transfer } => {
                // A claim is the payee's own act: a transfer validly signed on the payer's
                // chain is claimable whatever became of that chain later (frozen ones too).
                self.located(*transfer)?;
                // The record, not `Transfer`: whether it is claimed does not depend on reading the
                // claim's hash back through the payee's log.
                let not_a_transfer = || EntryError::NotATransfer(*transfer);
                let found = self.transfers.get(&self.entries, transfer).ok_or_else(not_a_transfer)?;
                let to = self.entries.person(found.to).ok_or_else(not_a_transfer)?;
                rules::claimable(author, to, found.is_claimed())?;
                Ok(())
            }
            Body::Redact { entry: target } => {
                let located = self.located(*target)?;
                rules::redactable(author, located.author, Body::kind_name_of(located.kind))?;
                Ok(())
            }
            Body::Suspend { .. } | Body::Announcement { .. } => {
                rules::organiser(author, appointed)?;
                Ok(())
            }
            Body::Reinstate { suspension, .. } => {
                rules::organiser(author, appointed)?;
                let located = self.located(*suspension)?;
                if Body::kind_name_of(located.kind) != "suspend" {
                    return Err(EntryError::NotASuspension(*suspension).into());
                }
                Ok(())
            }
            Body::Dismiss { .. } | Body::RevokeInvite { .. } => Ok(()),
            Body::Appoint { member: target, role } => {
                rules::organiser(author, appointed)?;
                if *role == Role::Organiser {
                    rules::payee_admitted(*target, self.members.get(target).is_some_and(|m| m.admitted))?;
                }
                Ok(())
            }
            Body::Come { .. } | Body::Renew { .. } => self.judge_gathering_and_renewal(entry),
            Body::CheckIns { .. } | Body::CheckIn | Body::Listing { .. } => Ok(()),
            Body::Helped { helper, .. } => {
                if let Some(helper) = helper {
                    rules::payee_admitted(*helper, self.is_member(helper))?;
                }
                Ok(())
            }
        }
    }

    /// The rules an entry breaks on its own, whatever else is held: a self-vouch, a payment to
    /// oneself, a Genesis or a join request out of place, a self-suspension, a dismissal not by
    /// the founder or of the founder, being one's own helper.
    fn judge_alone(&self, entry: &Entry) -> Result<(), EntryError> {
        let author = entry.author();
        match entry.body() {
            Body::Genesis { .. } => Err(EntryError::MisplacedGenesis),
            Body::JoinRequest { .. } => rules::join_request_first(entry.seq()),
            Body::Vouch { member, .. } => rules::not_self_vouch(author, *member),
            Body::Transfer { to, .. } => rules::not_self_transfer(author, *to),
            Body::Suspend { member, .. } => rules::not_self_suspend(author, *member),
            Body::Dismiss { member, .. } => {
                let name = self.members.get(&author).map_or_else(|| author.short(), Member::name);
                rules::dismissable(author, self.founder, *member, &name)
            }
            Body::Helped { helper: Some(helper), .. } => rules::not_self_help(author, *helper),
            _ => Ok(()),
        }
    }

    /// The rules of `Come` and `Renew` (issue 14), apart so they merge cleanly.
    fn judge_gathering_and_renewal(&self, entry: &Entry) -> Result<(), Refusal> {
        match entry.body() {
            Body::Come { post, date, .. } => {
                if self.post_target(*post)?.is_none() {
                    return Ok(()); // a gathering in a frozen log: the answer counts for nothing
                }
                let Some(gathering) = self.posts.get(&self.entries, post) else { return Ok(()) };
                rules::is_gathering(*post, gathering.kind)?;
                rules::gathering_date(gathering.schedule.as_deref(), *date)?;
                Ok(())
            }
            Body::Renew { post } => {
                let Some(post_author) = self.post_target(*post)? else { return Ok(()) };
                rules::own_post(entry.author(), post_author)?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Applies `Come` and `Renew` (issue 14). Each log is applied in its order, so the
    /// member's latest answer is the one left standing.
    fn apply_gathering_and_renewal(&mut self, entry: &Entry) {
        match entry.body() {
            Body::Come { post, date, coming }
                if self.posts.get(&self.entries, post).is_some_and(|p| p.kind == PostKind::Gathering) =>
            {
                let answers = self.attendance.entry(*post).or_default().entry(entry.author()).or_default();
                answers.answer(*date, *coming);
                answers.latest = Some((entry.hash(), entry.timestamp_ms()));
            }
            Body::Renew { post } => {
                let rules = self.rules;
                if let Some(found) = self.posts.get_mut(&self.entries, post) {
                    found.expires_at_ms = rules::renewed_expiry(found.expires_at_ms, entry.timestamp_ms(), &rules);
                }
            }
            _ => {}
        }
    }

    /// The join request rules: first of its log, a valid invite of a member, room left in the
    /// invite (unless its author is admitted already). `replacing` is the author's other join
    /// request that this one would take the place of.
    fn judge_join(&self, entry: &Entry, replacing: Option<EntryHash>) -> Result<(), Refusal> {
        let Body::JoinRequest { invite, .. } = entry.body() else { return Ok(()) };
        let capability = rules::join_invite(invite, self.id, entry.timestamp_ms())?;
        let issuer = capability.terms().issuer;
        rules::payee_admitted(issuer, self.is_member(&issuer))?;
        if self.is_member(&entry.author()) {
            return Ok(());
        }
        let id = capability.id();
        let kept: Vec<&(EntryHash, MemberId)> =
            self.joins.get(&id).into_iter().flatten().filter(|(hash, _)| Some(*hash) != replacing).collect();
        let ranks_before_last = kept.last().is_some_and(|last| (entry.hash(), entry.author()) < **last);
        if rules::invite_has_room(capability.terms().uses, self.admitted_with(&id), kept.len(), ranks_before_last)
            .is_err()
        {
            // No room: it waits for its author's admission, which takes it whatever the room
            // (above). Refused, it would count where the admission came first and not where it
            // came after (found by fuzzing). It waits like any non-member's entry, within the
            // waiting area's bounds.
            return Err(Wait::Admission { member: entry.author() }.into());
        }
        Ok(())
    }

    /// Members admitted whose join request named `invite`.
    fn admitted_with(&self, invite: &InviteId) -> usize {
        self.members.values().filter(|m| m.admitted && m.joined_with == Some(*invite)).count()
    }

    /// Whether an entry of a frozen log counts for what others rely on (`Ok(true)`), is kept as
    /// evidence only (`Ok(false)`), or waits for what its effect needs.
    fn judge_frozen(&self, entry: &Entry) -> Result<bool, Refusal> {
        let author = entry.author();
        let member = self.members.get(&author);
        let admitted = member.is_some_and(|m| m.admitted);
        match entry.body() {
            Body::Vouch { member: newcomer, .. } => {
                rules::author_admitted(author, false, admitted)?;
                let already = self.members.get(newcomer).is_some_and(|m| m.vouched_by.contains(&author));
                Ok(author != *newcomer && !already)
            }
            Body::Transfer { to, minutes, memo, .. } => {
                rules::author_admitted(author, false, admitted)?;
                if author == *to {
                    return Ok(false);
                }
                rules::payee_admitted(*to, self.is_member(to))?;
                // Valid on its own chain: within the limit from the balance at the fork, so
                // once the log up to the fork is applied.
                let at = member.and_then(|m| m.frozen_at).unwrap_or(1);
                let head = member.and_then(|m| m.head).map_or(0, |h| h.seq);
                if head + 1 < at {
                    return Err(Wait::PreviousEntry { author, seq: at - 1 }.into());
                }
                let name = member.map_or_else(|| author.short(), Member::name);
                // A helped member's helper in force at the fork (the applied log ends there; a
                // `Helped` on a frozen branch changes nothing) binds every branch.
                rules::helped_payment(&name, member.and_then(|m| m.helper).map(|h| h.limit), *minutes, memo)?;
                let balance = member.map_or(0, |m| m.balance_minutes + m.forked_debt_minutes);
                rules::within_credit_limit(&name, balance, *minutes, &self.rules)?;
                Ok(true)
            }
            Body::Appoint { member: target, role } => {
                rules::author_admitted(author, false, admitted)?;
                rules::organiser(author, member.is_some_and(|m| m.appointed))?;
                if *role == Role::Organiser {
                    rules::payee_admitted(*target, self.is_member(target))?;
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Drops a kept join request (its author is not a member): another ranked before it.
    fn evict_join(&mut self, author: MemberId, hash: EntryHash, report: &mut Report) {
        let moved = self.entries.remove(&author, &hash);
        self.posts.rekey(&moved);
        self.transfers.rekey(&moved);
        let named_by_moderation = self.moderation.iter().any(|m| moderation_names(&m.body) == Some(author));
        if let Some(member) = self.members.get_mut(&author) {
            if member.head.is_some_and(|h| h.hash == hash) {
                member.head = None;
            }
            if member.profile.as_ref().is_some_and(|p| p.entry == hash) {
                member.profile = None;
            }
            member.joined_with = None;
            // A record that holds a freeze stays: a rebuild freezes a log from its kept proof
            // before the entries come in, and a record dropped here would lose it, find the same
            // fork again at the pass's end and run the pass again for ever (found by fuzzing).
            if !member.admitted && member.vouched_by.is_empty() && !named_by_moderation && member.frozen_at.is_none() {
                self.members.remove(&author);
            }
        }
        for kept in self.joins.values_mut() {
            kept.remove(&(hash, author));
        }
        self.open_joins.remove(&hash);
        report.evicted.push(hash);
    }

    /// Keeps at most the room left in `invite` of its open join requests, the lowest ranks.
    fn trim_joins(&mut self, invite: InviteId, report: &mut Report) {
        let uses = self.invite_uses_allowed.get(&invite).copied().unwrap_or(0);
        let room = usize::try_from(uses).unwrap_or(usize::MAX).saturating_sub(self.admitted_with(&invite));
        loop {
            let Some(kept) = self.joins.get(&invite) else { return };
            if kept.len() <= room {
                return;
            }
            let Some(&(hash, author)) = kept.last() else { return };
            let open = self.open_join(&hash);
            self.evict_join(author, hash, report);
            // Outranked for the room, it waits for its author's admission, as it would had it
            // come after the requests that outrank it and found no room (`judge_join`); once
            // admitted, its author's request counts whatever the room. Found by fuzzing: dropped,
            // it counted where the admission came first and not where it came after. It is
            // still its author's request: their other one stays the evidence.
            let waits = open.is_some_and(|entry| {
                matches!(self.keep_aside(entry, Wait::Admission { member: author }), Outcome::Pending(_))
            });
            if waits {
                continue;
            }
            // Not kept (the waiting area is full): their other request is evidence of nothing
            // now, as if it had arrived after this eviction and been refused.
            if let Some((_, evidence)) = self.refused.remove(&author) {
                self.join_siblings.remove(&author);
                self.join_evidence.remove(&author);
                report.released_rejections.push((evidence, EntryError::DuplicateJoinRequest));
            }
        }
    }

    /// Finds an entry this node holds, or says to wait for it.
    fn located(&self, hash: EntryHash) -> Result<Located, Wait> {
        let place = self.entries.get(&hash).ok_or(Wait::Entry { hash })?;
        let author = self.entries.person(place.author).ok_or(Wait::Entry { hash })?;
        Ok(Located { author, kind: place.kind, frozen: place.frozen })
    }

    /// The author of the post an entry refers to; `None` when the post is in a frozen log.
    fn post_target(&self, hash: EntryHash) -> Result<Option<MemberId>, Refusal> {
        let located = self.located(hash)?;
        if located.frozen {
            return Ok(None);
        }
        let post = self.posts.get(&self.entries, &hash);
        rules::is_post(hash, post.map(|p| p.kind))?;
        Ok(post.and_then(|p| self.entries.person(p.author)))
    }

    fn member_entry(&mut self, id: MemberId) -> &mut Member {
        self.members.entry(id).or_insert_with(|| Member { id: Some(id), ..Member::default() })
    }

    fn record(&mut self, entry: &Entry, frozen: bool) {
        self.entries.insert(entry, frozen);
    }

    /// Applies a judged entry. Pushes onto `woken` what its arrival may release.
    fn apply(&mut self, entry: &Entry, woken: &mut VecDeque<Wait>, report: &mut Report) {
        let author = entry.author();
        let hash = entry.hash();
        let timestamp_ms = entry.timestamp_ms();
        self.record(entry, false);
        self.member_entry(author).head = Some(Head { seq: entry.seq(), hash, timestamp_ms });
        woken.push_back(Wait::PreviousEntry { author, seq: entry.seq() });
        woken.push_back(Wait::Entry { hash });
        match entry.body() {
            Body::Genesis { .. } => {}
            Body::Profile { name, area, .. } => {
                let profile = Profile { name: name.clone(), area: area.clone(), entry: hash, redacted: false };
                self.member_entry(author).profile = Some(profile);
            }
            Body::JoinRequest { invite, name } => {
                let profile = Profile { name: name.clone(), area: String::new(), entry: hash, redacted: false };
                let admitted = self.is_member(&author);
                // `judge_join` verified it just before.
                let capability = crate::invite::Capability::from_bytes_verified_before(invite).ok();
                let member = self.member_entry(author);
                if member.profile.is_none() {
                    member.profile = Some(profile);
                }
                if let Some(capability) = capability {
                    let id = capability.id();
                    self.member_entry(author).joined_with = Some(id);
                    self.invite_uses_allowed.insert(id, capability.terms().uses);
                    if !admitted {
                        self.joins.entry(id).or_default().insert((hash, author));
                        self.open_joins.insert(hash, serde_bytes::ByteBuf::from(entry.bytes().to_vec()));
                    }
                    self.trim_joins(id, report);
                }
            }
            Body::Vouch { .. } | Body::Transfer { .. } | Body::Appoint { .. } => {
                self.apply_effect(entry, false, woken);
            }
            Body::Post { kind, expires_at, schedule, .. } => {
                let lifetime_ms = u64::from(self.rules.post_lifetime_days) * 24 * 3600 * 1000;
                let helped_by = self.members.get(&author).and_then(|m| m.helper).map(|h| h.member);
                let post = PostRecord {
                    author: self.entries.intern(author),
                    kind: *kind,
                    created_at_ms: timestamp_ms,
                    expires_at_ms: expires_at.unwrap_or(timestamp_ms.saturating_add(lifetime_ms)),
                    status: Status::Open,
                    replies: 0,
                    redacted: false,
                    schedule: schedule.map(Box::new),
                    helped_by: PostRecord::helped_by(helped_by.map(|helper| self.entries.intern(helper))),
                };
                self.posts.insert(&self.entries, hash, post);
            }
            Body::PostStatus { post, status } => {
                if let Some(post) = self.posts.get_mut(&self.entries, post) {
                    post.status = *status;
                }
            }
            Body::Reply { post, .. } => {
                if let Some(target) = self.posts.get_mut(&self.entries, post) {
                    target.replies += 1;
                }
                // Held in `entries` as a reply: what `Community::reply` reads.
            }
            Body::Receive { transfer } => {
                if let Some(found) = self.transfers.get_mut(&self.entries, transfer) {
                    found.claim_seq = entry.seq();
                    let minutes = i64::from(found.minutes.0);
                    let payee = self.member_entry(author);
                    payee.balance_minutes += minutes;
                    payee.received_minutes += minutes;
                }
            }
            Body::Redact { entry: target } => {
                if let Some(post) = self.posts.get_mut(&self.entries, target) {
                    post.redacted = true;
                }
                if self.reply(target).is_some() {
                    self.redacted_replies.insert(*target);
                }
                if let Some(announcement) = self.announcements.get_mut(target) {
                    announcement.redacted = true;
                }
                if let Some(profile) = self.member_entry(author).profile.as_mut()
                    && profile.entry == *target
                {
                    profile.redacted = true;
                }
            }
            Body::Suspend { .. } | Body::Reinstate { .. } | Body::Dismiss { .. } => {
                self.moderation.push(Moderation { hash, author, seq: entry.seq(), body: entry.body().clone() });
                self.recompute_moderation();
            }
            Body::RevokeInvite { invite } => {
                self.revocations.entry(*invite).or_default().insert(author);
            }
            Body::Announcement { until, .. } => {
                let lifetime_ms = u64::from(self.rules.post_lifetime_days) * 24 * 3600 * 1000;
                let until_ms = until.unwrap_or(timestamp_ms.saturating_add(lifetime_ms));
                let announcement = Announcement { author, created_at_ms: timestamp_ms, until_ms, redacted: false };
                self.announcements.insert(hash, announcement);
            }
            Body::Come { .. } | Body::Renew { .. } => self.apply_gathering_and_renewal(entry),
            Body::CheckIns { days, buddies } => {
                let wish = days.map(|days| CheckIns { days, buddies: buddies.clone() });
                self.member_entry(author).checkins = wish;
            }
            // Activity; the log's head already moved.
            Body::CheckIn => {}
            Body::Helped { helper, limit } => {
                let member = self.member_entry(author);
                member.helper = helper.map(|member| Helper { member, limit: *limit });
                member.helpers.push((entry.seq(), *helper));
            }
            Body::Listing { listed } => self.member_entry(author).listed = *listed,
        }
    }

    /// The effect of a vouch, a transfer or an appointment, on the applied log (`frozen` false)
    /// or on a frozen part, where a transfer is the forker's debt beyond any limit.
    fn apply_effect(&mut self, entry: &Entry, frozen: bool, woken: &mut VecDeque<Wait>) {
        let author = entry.author();
        let hash = entry.hash();
        match entry.body() {
            Body::Vouch { member, .. } => {
                if frozen {
                    self.frozen_vouches.insert((author, *member));
                } else {
                    self.frozen_vouches.remove(&(author, *member));
                }
                let needed = self.rules;
                let by_founder = author == self.founder;
                let newcomer = self.member_entry(*member);
                newcomer.vouched_by.insert(author);
                if !newcomer.admitted && (by_founder || rules::enough_vouches(newcomer.vouched_by.len(), &needed)) {
                    newcomer.admitted = true;
                    woken.push_back(Wait::Admission { member: *member });
                    // Their join request is no longer an open one; it still uses its invite
                    // (the room left shrinks as the open ones do: nothing is evicted).
                    if let Some(invite) = newcomer.joined_with
                        && let Some(kept) = self.joins.get_mut(&invite)
                    {
                        let open = kept.iter().find(|(_, m)| m == member).map(|(hash, _)| *hash);
                        kept.retain(|(_, m)| m != member);
                        if let Some(hash) = open {
                            self.open_joins.remove(&hash);
                        }
                    }
                }
            }
            Body::Transfer { to, minutes, .. } => {
                let payer = self.member_entry(author);
                payer.balance_minutes -= i64::from(minutes.0);
                payer.given_minutes += i64::from(minutes.0);
                if frozen {
                    payer.forked_debt_minutes += i64::from(minutes.0);
                }
                let (from, to) = (self.entries.intern(author), self.entries.intern(*to));
                let transfer = TransferRecord { from, seq: entry.seq(), to, minutes: *minutes, claim_seq: 0 };
                self.transfers.insert(&self.entries, hash, transfer);
            }
            Body::Appoint { member, role } => {
                if *role == Role::Organiser {
                    let appointed = self.member_entry(*member);
                    if !appointed.appointed {
                        appointed.appointed = true;
                        woken.push_back(Wait::Appointment { member: *member });
                    }
                }
                self.moderation.push(Moderation { hash, author, seq: entry.seq(), body: entry.body().clone() });
                self.recompute_moderation();
            }
            _ => {}
        }
    }

    /// Works out which appointments, dismissals, suspensions and reinstatements are in force
    /// from every moderation entry held. A function of that set: appointments count when their
    /// author acted as an organiser at that point of their log (the founder always does; an
    /// appointed organiser until the founder's dismissal point), found as the least fixpoint;
    /// a suspension counts when its author acted as an organiser, and never against someone
    /// acting as an organiser at that point of their own log; a reinstatement ends a suspension
    /// from its point on when its author acted as an organiser.
    fn recompute_moderation(&mut self) {
        let founder = self.founder;
        let mut dismissed: BTreeMap<MemberId, u64> = BTreeMap::new();
        for m in &self.moderation {
            if let Body::Dismiss { member, after_seq } = m.body
                && m.author == founder
            {
                let at = dismissed.entry(member).or_insert(after_seq);
                *at = (*at).min(after_seq);
            }
        }
        let acts = |acting: &BTreeSet<MemberId>, who: MemberId, seq: u64| {
            who == founder || (acting.contains(&who) && dismissed.get(&who).is_none_or(|q| seq <= *q))
        };
        let mut acting = BTreeSet::new();
        loop {
            let mut grew = false;
            for m in &self.moderation {
                if let Body::Appoint { member, role: Role::Organiser } = m.body
                    && !acting.contains(&member)
                    && acts(&acting, m.author, m.seq)
                {
                    acting.insert(member);
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        let hubs: BTreeSet<MemberId> = self
            .moderation
            .iter()
            .filter_map(|m| match m.body {
                Body::Appoint { member, role: Role::Hub } if acts(&acting, m.author, m.seq) => Some(member),
                _ => None,
            })
            .collect();
        let mut spans: BTreeMap<MemberId, Vec<Span>> = BTreeMap::new();
        for m in &self.moderation {
            let Body::Suspend { member, reason, after_seq } = &m.body else { continue };
            if !acts(&acting, m.author, m.seq) || *member == founder {
                continue;
            }
            let until = self
                .moderation
                .iter()
                .filter_map(|r| match r.body {
                    Body::Reinstate { suspension, after_seq }
                        if suspension == m.hash && acts(&acting, r.author, r.seq) =>
                    {
                        Some(after_seq)
                    }
                    _ => None,
                })
                .min();
            let span = Span { after_seq: *after_seq, until, reason: reason.clone(), hash: m.hash };
            spans.entry(*member).or_default().push(span);
        }
        for list in spans.values_mut() {
            list.sort_by_key(|span| (span.after_seq, span.hash));
        }
        // Everyone a moderation entry names has a record, whether or not their own entries came
        // first, and whether or not the entry is in force: otherwise what a record shows, and
        // whether there is one, would depend on which arrived first (found by fuzzing: a hub
        // appointment in force until its author's dismissal arrived left a record behind).
        let named: Vec<MemberId> = self.moderation.iter().filter_map(|m| moderation_names(&m.body)).collect();
        for id in named {
            self.member_entry(id);
        }
        let ids: Vec<MemberId> = self.members.keys().copied().collect();
        for id in ids {
            let organiser = id == founder || (acting.contains(&id) && !dismissed.contains_key(&id));
            let suspended = if organiser {
                None
            } else {
                spans.get(&id).and_then(|list| list.iter().find(|s| s.until.is_none())).map(|s| s.reason.clone())
            };
            let hub = hubs.contains(&id);
            let member = self.member_entry(id);
            member.organiser = organiser;
            member.dismissed_after = dismissed.get(&id).copied();
            member.suspended = suspended;
            member.hub = hub;
        }
        self.spans = spans;
        self.acting = acting;
    }

    /// Whether `member` acts as an organiser at entry `seq` of their log.
    pub fn organiser_at(&self, member: &MemberId, seq: u64) -> bool {
        *member == self.founder
            || (self.acting.contains(member)
                && self.members.get(member).and_then(|m| m.dismissed_after).is_none_or(|q| seq <= q))
    }

    /// The reason `member` is suspended at entry `seq` of their log, if they are: an entry
    /// written while suspended. (Organisers are not suspended while they act as organisers:
    /// the founder removes the role first.)
    pub fn suspended_at(&self, member: &MemberId, seq: u64) -> Option<&str> {
        if self.organiser_at(member, seq) {
            return None;
        }
        self.spans
            .get(member)?
            .iter()
            .find(|s| s.after_seq < seq && s.until.is_none_or(|q| seq <= q))
            .map(|s| s.reason.as_str())
    }

    /// The suspensions of `member` in force now (not ended by a reinstatement): what `kith
    /// reinstate` ends, and what a suspended member's node is handed before it is cut off.
    pub fn suspensions_in_force(&self, member: &MemberId) -> Vec<SuspensionInForce<'_>> {
        if self.members.get(member).is_none_or(|m| m.suspended.is_none()) {
            return Vec::new();
        }
        let spans = self.spans.get(member).map_or(&[][..], Vec::as_slice);
        spans
            .iter()
            .filter(|s| s.until.is_none())
            .filter_map(|s| {
                let written = self.moderation.iter().find(|m| m.hash == s.hash)?;
                Some(SuspensionInForce { hash: s.hash, by: written.author, seq: written.seq, reason: &s.reason })
            })
            .collect()
    }

    /// What this node refuses to sign for `me`, though the entry would be valid: anything from
    /// a frozen log; what a suspension stops (vouching, paying, moderating, posting, replying);
    /// moderation once no longer an organiser; a claim of a transfer from a log known to be
    /// forked at or before it (which bounds what a forker's payees gain to what they claimed
    /// before the fork was known), or written while its payer was suspended; paying someone
    /// suspended. The node calls it before signing, so `kith pay` says why.
    pub fn refusal_to_sign(&self, me: &MemberId, body: &Body) -> Result<(), EntryError> {
        let member = self.members.get(me);
        let name = member.map_or_else(|| me.short(), Member::name);
        if let Some(at) = member.and_then(|m| m.frozen_at) {
            return Err(EntryError::LogFrozen { name, at });
        }
        let next = member.and_then(|m| m.head).map_or(1, |h| h.seq + 1);
        rules::not_suspended(&name, body, self.suspended_at(me, next).is_some())?;
        if let Body::Appoint { .. } | Body::Suspend { .. } | Body::Reinstate { .. } = body
            && member.is_some_and(|m| m.appointed)
            && !self.organiser_at(me, next)
        {
            let action = match body {
                Body::Appoint { .. } => "appoint anyone",
                Body::Suspend { .. } => "suspend anyone",
                _ => "reinstate anyone",
            };
            return Err(EntryError::NotOrganiser { name, action });
        }
        match body {
            Body::Receive { transfer } => {
                let Some(found) = self.transfer(transfer) else { return Ok(()) };
                let payer = self.members.get(&found.from);
                let payer_name = payer.map_or_else(|| found.from.short(), Member::name);
                if let Some(at) = payer.and_then(|m| m.frozen_at)
                    && found.seq >= at
                {
                    return Err(EntryError::LogFrozen { name: payer_name, at });
                }
                if self.suspended_at(&found.from, found.seq).is_some() {
                    return Err(EntryError::Suspended { name: payer_name, action: "pay anyone" });
                }
                Ok(())
            }
            Body::Transfer { to, .. } if self.members.get(to).is_some_and(|m| m.suspended.is_some()) => {
                let payee = self.members.get(to).map_or_else(|| to.short(), Member::name);
                Err(EntryError::Suspended { name: payee, action: "be paid" })
            }
            _ => Ok(()),
        }
    }

    // --- reading the state ---

    pub fn id(&self) -> CommunityId {
        self.id
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn description(&self) -> &str {
        &self.description
    }
    pub fn rules(&self) -> &Rules {
        &self.rules
    }
    pub fn founder(&self) -> MemberId {
        self.founder
    }
    pub fn member(&self, id: &MemberId) -> Option<&Member> {
        self.members.get(id)
    }
    /// Everyone known: members, newcomers who sent a profile, hubs.
    pub fn members(&self) -> impl Iterator<Item = (&MemberId, &Member)> {
        self.members.iter()
    }
    pub fn is_member(&self, id: &MemberId) -> bool {
        self.members.get(id).is_some_and(|m| m.admitted)
    }
    pub fn post(&self, hash: &EntryHash) -> Option<Post> {
        self.posts.get(&self.entries, hash)?.read(&self.entries)
    }
    /// Every post, in the order of their hashes.
    pub fn posts(&self) -> impl Iterator<Item = (EntryHash, Post)> {
        self.posts.iter(&self.entries).filter_map(|(hash, post)| Some((hash, post.read(&self.entries)?)))
    }
    /// An applied reply.
    pub fn reply(&self, hash: &EntryHash) -> Option<Reply> {
        let place = self.entries.get(hash).filter(|place| !place.frozen && is_reply(place.kind))?;
        Some(Reply { author: self.entries.person(place.author)?, redacted: self.redacted_replies.contains(hash) })
    }
    pub fn transfer(&self, hash: &EntryHash) -> Option<Transfer> {
        self.transfers.get(&self.entries, hash)?.read(&self.entries)
    }
    /// Every transfer, in the order of their hashes.
    pub fn transfers(&self) -> impl Iterator<Item = (EntryHash, Transfer)> {
        self.transfers.iter(&self.entries).filter_map(|(hash, transfer)| Some((hash, transfer.read(&self.entries)?)))
    }
    pub fn announcement(&self, hash: &EntryHash) -> Option<&Announcement> {
        self.announcements.get(hash)
    }
    /// The announcements to show at `now_ms`: written by then, not ended, not redacted, their
    /// author not suspended; newest first. What the board and the inbox head with.
    pub fn current_announcements(&self, now_ms: u64) -> Vec<(EntryHash, &Announcement)> {
        let mut out: Vec<(EntryHash, &Announcement)> = self
            .announcements
            .iter()
            .filter(|(_, a)| !a.redacted && a.created_at_ms <= now_ms && now_ms < a.until_ms)
            .filter(|(_, a)| self.members.get(&a.author).is_none_or(|m| m.suspended.is_none()))
            .map(|(hash, a)| (*hash, a))
            .collect();
        out.sort_by_key(|(hash, a)| (std::cmp::Reverse(a.created_at_ms), *hash));
        out
    }
    pub fn forks(&self) -> impl Iterator<Item = (&MemberId, &ForkProof)> {
        self.forks.iter()
    }
    /// The hash of an author's applied entry at `seq`.
    pub fn entry_at(&self, author: &MemberId, seq: u64) -> Option<EntryHash> {
        self.entries.entry_at(author, seq)
    }
    /// Whether this node holds the entry (applied or as evidence of a fork).
    pub fn holds(&self, hash: &EntryHash) -> bool {
        self.entries.contains(hash)
    }
    /// Number of entries held (applied and frozen).
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }
    /// Every log's head: what a sync round compares.
    pub fn heads(&self) -> impl Iterator<Item = (MemberId, Head)> + '_ {
        self.members.iter().filter_map(|(id, m)| m.head.map(|h| (*id, h)))
    }
    /// What the waiting area costs, as counted against [`MAX_PENDING_BYTES`].
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Whether `hash` is kept aside, waiting.
    pub fn is_pending(&self, hash: &EntryHash) -> bool {
        self.pending.contains_key(hash)
    }

    /// The entry kept aside under `hash`, if it still waits.
    pub fn pending_entry(&self, hash: &EntryHash) -> Option<&Entry> {
        self.pending.get(hash).map(|(entry, _)| entry)
    }

    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }
    /// Entries kept aside and what each waits for.
    pub fn pending(&self) -> impl Iterator<Item = (&Entry, &Wait)> {
        self.pending.values().map(|(e, w)| (e, w))
    }
    /// Sum of every transfer not yet claimed, in minutes.
    pub fn unclaimed_minutes(&self) -> i64 {
        self.transfers.values().filter(|t| !t.is_claimed()).map(|t| i64::from(t.minutes.0)).sum()
    }
    /// Whether an invite has been withdrawn by its issuer or by an organiser.
    pub fn invite_revoked(&self, capability: &crate::invite::Capability) -> bool {
        self.revocations.get(&capability.id()).is_some_and(|by| self.withdrawal(by).withdraws(capability))
    }

    /// Every invite someone withdrew, and who ([`Withdrawal::withdraws`] says whether that
    /// counts for a given capability): what a reader without the reducer's lock keeps to judge
    /// withdrawals as [`Community::invite_revoked`] does.
    pub fn invite_withdrawals(&self) -> impl Iterator<Item = (InviteId, Withdrawal)> + '_ {
        self.revocations.iter().map(|(invite, by)| (*invite, self.withdrawal(by)))
    }

    /// The withdrawal by the members `by`, with whether one of them is an organiser now.
    fn withdrawal(&self, by: &BTreeSet<MemberId>) -> Withdrawal {
        let by_organiser = by.iter().any(|m| self.members.get(m).is_some_and(|x| x.organiser));
        Withdrawal { by_organiser, by: by.clone() }
    }

    /// The newcomers whose join request named an invite: its uses, counted from the set of
    /// join requests (members admitted with it and the requests kept open).
    pub fn invite_users(&self, invite: &InviteId) -> impl Iterator<Item = &MemberId> {
        let open = self.joins.get(invite).into_iter().flatten().map(|(_, member)| member);
        let admitted =
            self.members.iter().filter(move |(_, m)| m.admitted && m.joined_with == Some(*invite)).map(|(id, _)| id);
        open.chain(admitted)
    }

    /// Members this member should hear about when they go quiet, with how many days they
    /// have been quiet ([`rules::quiet_days`]): those who asked to be checked on and named
    /// `me` a buddy, or all of them when `me` is an organiser. Suspended members are left out.
    pub fn quiet_members(&self, me: MemberId, now_ms: u64) -> Vec<(MemberId, u64)> {
        let organiser = self.members.get(&me).is_some_and(|m| m.organiser);
        // The three latest heads: the latest of anyone but a given member and `me` is among
        // them, so each member asking costs no pass over everyone (it was O(members²)).
        let mut latest: Vec<(u64, MemberId)> = Vec::with_capacity(4);
        for (id, head) in self.members.iter().filter_map(|(id, m)| m.head.map(|h| (*id, h))) {
            latest.push((head.timestamp_ms, id));
            latest.sort_unstable_by(|a, b| b.cmp(a));
            latest.truncate(3);
        }
        let mut out = Vec::new();
        for (id, member) in &self.members {
            let Some(wish) = &member.checkins else { continue };
            let Some(head) = member.head else { continue };
            if *id == me || member.suspended.is_some() || !(organiser || wish.buddies.contains(&me)) {
                continue;
            }
            let others_latest = latest.iter().find(|(_, other)| other != id && *other != me).map_or(0, |(t, _)| *t);
            if let Some(days) = rules::quiet_days(wish.days, head.timestamp_ms, others_latest, now_ms) {
                out.push((*id, days));
            }
        }
        out
    }

    /// Who answered a gathering, and how (suspended members included: the caller hides them).
    pub fn attendance(&self, post: &EntryHash) -> Option<&Attendance> {
        self.attendance.get(post)
    }

    /// Whether a post is shown: not redacted and its author not suspended.
    pub fn post_visible(&self, post: &Post) -> bool {
        !post.redacted && self.members.get(&post.author).is_none_or(|m| m.suspended.is_none())
    }

    /// A digest of what is true here (members, roles, balances, heads, posts, replies,
    /// transfers, forks): two nodes with the same digest agree on the community.
    pub fn digest(&self) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.id.0);
        for (id, m) in &self.members {
            hasher.update(&id.0);
            hasher.update(&[
                u8::from(m.admitted),
                u8::from(m.organiser),
                u8::from(m.hub),
                u8::from(m.suspended.is_some()),
                u8::from(m.appointed),
            ]);
            hasher.update(&m.dismissed_after.unwrap_or(u64::MAX).to_le_bytes());
            hasher.update(&m.forked_debt_minutes.to_le_bytes());
            if let Some(reason) = &m.suspended {
                hasher.update(reason.as_bytes());
            }
            if let Some(invite) = &m.joined_with {
                hasher.update(&invite.0);
            }
            hasher.update(&m.balance_minutes.to_le_bytes());
            hasher.update(&m.given_minutes.to_le_bytes());
            hasher.update(&m.received_minutes.to_le_bytes());
            hasher.update(&m.frozen_at.unwrap_or(0).to_le_bytes());
            if let Some(wish) = &m.checkins {
                hasher.update(b"checkins");
                hasher.update(&wish.days.to_le_bytes());
                for buddy in &wish.buddies {
                    hasher.update(&buddy.0);
                }
            }
            if let Some(head) = m.head {
                hasher.update(&head.seq.to_le_bytes());
                hasher.update(&head.hash.0);
            }
            for voucher in &m.vouched_by {
                hasher.update(&voucher.0);
            }
            if let Some(profile) = &m.profile {
                hasher.update(profile.name.as_bytes());
                hasher.update(&profile.entry.0);
            }
        }
        for (hash, post) in self.posts.iter(&self.entries) {
            hasher.update(&hash.0);
            hasher.update(&[post.status as u8, u8::from(post.redacted)]);
            hasher.update(&post.replies.to_le_bytes());
            hasher.update(&post.expires_at_ms.to_le_bytes());
        }
        let replies = self.entries.applied_in_order().filter(|(_, place)| is_reply(place.kind)).map(|(hash, _)| hash);
        for hash in replies {
            hasher.update(&hash.0);
            hasher.update(&[u8::from(self.redacted_replies.contains(&hash))]);
        }
        for (hash, transfer) in self.transfers.iter(&self.entries) {
            hasher.update(&hash.0);
            hasher.update(&[u8::from(transfer.is_claimed())]);
        }
        for (hash, announcement) in &self.announcements {
            hasher.update(b"announcement");
            hasher.update(&hash.0);
            hasher.update(&[u8::from(announcement.redacted)]);
        }
        for (member, spans) in &self.spans {
            hasher.update(&member.0);
            for span in spans {
                hasher.update(&span.hash.0);
                hasher.update(&span.after_seq.to_le_bytes());
                hasher.update(&span.until.unwrap_or(u64::MAX).to_le_bytes());
            }
        }
        for (invite, by) in &self.revocations {
            hasher.update(&invite.0);
            for member in by {
                hasher.update(&member.0);
            }
        }
        for (post, answers) in &self.attendance {
            hasher.update(b"come");
            hasher.update(&post.0);
            for (member, answer) in answers {
                hasher.update(&member.0);
                hasher.update(&[answer.all.map_or(2, u8::from)]);
                for (day, coming) in &answer.dates {
                    hasher.update(&day.to_le_bytes());
                    hasher.update(&[u8::from(*coming)]);
                }
            }
        }
        for (invite, kept) in self.joins.iter().filter(|(_, kept)| !kept.is_empty()) {
            hasher.update(b"joins");
            hasher.update(&invite.0);
            for (hash, newcomer) in kept {
                hasher.update(&hash.0);
                hasher.update(&newcomer.0);
            }
        }
        *hasher.finalize().as_bytes()
    }
}
