//! Shared helpers for kith-protocol's integration tests: fixed keys, logs that sign drafts in
//! order, body builders, small communities, and hand-built (forged) wire bytes.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use ed25519_dalek::{Signer, SigningKey};
use kith_protocol::entry::{PAYLOAD_VERSION, SIGNATURE_DOMAIN, body_kind_index};
use kith_protocol::invite::Capability;
use kith_protocol::{
    Body, Community, CommunityId, Draft, Entry, EntryHash, Header, Keypair, MemberId, Minutes, Outcome, PostKind, Role,
    Rules, Status,
};

/// A fixed "epoch" for test timestamps (14 Nov 2023).
pub const T0: u64 = 1_700_000_000_000;
/// The receiving node's clock in tests: well after every timestamp the logs write.
pub const NOW: u64 = T0 + 1_000_000_000;
/// Time between two entries of one log.
pub const STEP_MS: u64 = 60_000;

/// The key pair with secret `[n; 32]`.
pub fn key(n: u8) -> Keypair {
    Keypair::from_secret_bytes([n; 32])
}

/// One author's log: tracks the next seq, the previous hash and the clock, and signs drafts.
#[derive(Debug, Clone)]
pub struct Log {
    pub key: Keypair,
    pub community: Option<CommunityId>,
    pub seq: u64,
    pub prev: Option<EntryHash>,
    pub timestamp_ms: u64,
}

impl Log {
    /// A fresh log (nothing written yet) for key `[n; 32]` in `community`.
    pub fn new(n: u8, community: Option<CommunityId>) -> Log {
        Log { key: key(n), community, seq: 0, prev: None, timestamp_ms: T0 }
    }

    pub fn id(&self) -> MemberId {
        self.key.member_id()
    }

    /// The draft of the next entry (not signed, nothing advanced).
    pub fn draft(&self, body: Body) -> Draft {
        Draft {
            community: self.community,
            seq: self.seq + 1,
            prev: self.prev,
            timestamp_ms: self.timestamp_ms + STEP_MS,
            body,
        }
    }

    /// Signs a draft with this log's key.
    pub fn sign(&self, draft: Draft) -> Entry {
        Entry::sign(&self.key, draft).expect("test drafts are valid")
    }

    /// Signs the next entry without advancing the log (so a refused entry can be dropped).
    pub fn next(&self, body: Body) -> Entry {
        self.sign(self.draft(body))
    }

    /// Advances the log past `entry` (which must be its next entry).
    pub fn commit(&mut self, entry: &Entry) {
        assert_eq!(entry.seq(), self.seq + 1, "commit out of order");
        self.seq = entry.seq();
        self.prev = Some(entry.hash());
        self.timestamp_ms = entry.timestamp_ms();
    }

    /// Signs the next entry and advances the log.
    pub fn write(&mut self, body: Body) -> Entry {
        let entry = self.next(body);
        self.commit(&entry);
        entry
    }
}

// --- bodies ---

pub fn genesis(name: &str, rules: Rules) -> Body {
    Body::Genesis { name: name.into(), description: "A test community".into(), rules }
}

pub fn profile(name: &str) -> Body {
    Body::Profile {
        name: name.into(),
        about: String::new(),
        area: "Hackney".into(),
        skills: vec!["lifts".into()],
        contact: String::new(),
    }
}

pub fn vouch(member: MemberId) -> Body {
    Body::Vouch { member, note: "known them for years".into() }
}

pub fn post(title: &str) -> Body {
    Body::Post {
        kind: PostKind::Offer,
        title: title.into(),
        details: "Ask me.".into(),
        category: "help".into(),
        when: String::new(),
        place: String::new(),
        expires_at: None,
        schedule: None,
    }
}

pub fn status(post: EntryHash, status: Status) -> Body {
    Body::PostStatus { post, status }
}

pub fn reply(post: EntryHash, text: &str) -> Body {
    Body::Reply { post, text: text.into() }
}

pub fn transfer(to: MemberId, minutes: u32) -> Body {
    Body::Transfer { to, minutes: Minutes(minutes), memo: "thanks".into(), for_post: None }
}

pub fn receive(transfer: EntryHash) -> Body {
    Body::Receive { transfer }
}

pub fn redact(entry: EntryHash) -> Body {
    Body::Redact { entry }
}

/// A suspension of `member` from after their entry `after_seq` on.
pub fn suspend_after(member: MemberId, after_seq: u64) -> Body {
    Body::Suspend { member, reason: "repeated no-shows".into(), after_seq }
}

/// A suspension of `member` from the start of their log.
pub fn suspend(member: MemberId) -> Body {
    suspend_after(member, 0)
}

pub fn reinstate(suspension: EntryHash, after_seq: u64) -> Body {
    Body::Reinstate { suspension, after_seq }
}

pub fn dismiss(member: MemberId, after_seq: u64) -> Body {
    Body::Dismiss { member, after_seq }
}

/// A join request named `name` carrying `invite`.
pub fn join(invite: &Capability, name: &str) -> Body {
    Body::JoinRequest { invite: invite.to_bytes(), name: name.into() }
}

/// An invite of `issuer` for `community` with `uses` uses, good until long after `NOW`.
pub fn invite(issuer: &Keypair, community: CommunityId, nonce: u8, uses: u32) -> Capability {
    Capability::issue(issuer, community, [nonce; 16], NOW + 1_000_000_000, uses)
}

pub fn appoint(member: MemberId, role: Role) -> Body {
    Body::Appoint { member, role }
}

// --- communities ---

/// A founder (key `[1; 32]`, named "Founder") with a Genesis under `rules`.
pub struct Town {
    pub genesis: Entry,
    pub founder: Log,
    pub community: Community,
    /// Every entry applied through [`Town::apply`], in order (the Genesis excluded).
    pub applied: Vec<Entry>,
    /// The founder's invite every newcomer of [`Town::admit`] joins with (many uses).
    pub invite: Capability,
}

impl Town {
    pub fn new(rules: Rules) -> Town {
        let mut founder = Log::new(1, None);
        let genesis = founder.write(genesis("Test Town", rules));
        founder.community = Some(genesis.community());
        let community = Community::new(&genesis).expect("a genesis starts a community");
        let invite = invite(&founder.key, genesis.community(), 0, 200);
        let mut town = Town { genesis, founder, community, applied: Vec::new(), invite };
        let named = town.founder.write(profile("Founder"));
        town.apply(named);
        town
    }

    pub fn id(&self) -> CommunityId {
        self.genesis.community()
    }

    /// A new log in this community for key `[n; 32]`.
    pub fn log(&self, n: u8) -> Log {
        Log::new(n, Some(self.id()))
    }

    /// Ingests an entry and returns what became of it.
    pub fn feed(&mut self, entry: &Entry) -> Outcome {
        self.community.ingest(entry.clone(), NOW).0
    }

    /// What the rules say of an entry, without keeping anything: how a real node checks what it
    /// is about to sign. An entry refused by `feed` is kept as evidence of its place (a sibling
    /// there is then a fork), so a test that goes on at the same place asks here.
    pub fn judge(&self, entry: &Entry) -> Outcome {
        self.community.check(entry, NOW)
    }

    /// Ingests an entry that must be applied.
    pub fn apply(&mut self, entry: Entry) -> Entry {
        let outcome = self.feed(&entry);
        assert_eq!(outcome, Outcome::Applied, "{entry:?}");
        self.applied.push(entry.clone());
        entry
    }

    /// Writes `body` in `log` and applies it.
    pub fn act(&mut self, log: &mut Log, body: Body) -> Entry {
        let entry = log.write(body);
        self.apply(entry)
    }

    /// A newcomer with key `[n; 32]` sends a join request named `name` with the town's invite
    /// and the founder vouches for them.
    pub fn admit(&mut self, n: u8, name: &str) -> Log {
        let mut newcomer = self.log(n);
        let body = join(&self.invite, name);
        self.act(&mut newcomer, body);
        let id = newcomer.id();
        let mut founder = self.founder.clone();
        self.act(&mut founder, vouch(id));
        self.founder = founder;
        assert!(self.community.is_member(&id));
        newcomer
    }

    /// The balance of a member, in minutes.
    pub fn balance(&self, id: &MemberId) -> i64 {
        self.community.member(id).map_or(0, |m| m.balance_minutes)
    }
}

/// The default rules: 10h credit limit, one vouch, 30 days.
pub fn rules() -> Rules {
    Rules::default()
}

// --- hand-built wire bytes ---

/// Appends `n` as a postcard (LEB128) varint.
pub fn varint(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// `[1] ‖ postcard(header)`.
pub fn header_bytes(header: &Header) -> Vec<u8> {
    let mut out = vec![1];
    out.extend(postcard::to_stdvec(header).unwrap());
    out
}

/// `[PAYLOAD_VERSION] ‖ postcard(body)`.
pub fn payload_bytes(body: &Body) -> Vec<u8> {
    let mut out = vec![PAYLOAD_VERSION];
    out.extend(postcard::to_stdvec(body).unwrap());
    out
}

/// `[1] ‖ postcard(WireEntry { header, signature, payload })`, each part a length-prefixed byte string.
pub fn wire(header: &[u8], signature: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = vec![1];
    for part in [header, signature, payload] {
        varint(part.len(), &mut out);
        out.extend_from_slice(part);
    }
    out
}

/// The header an honest signer would write for `draft` (payload hash, length and kind filled in).
pub fn header_for(author: MemberId, draft: &Draft) -> Header {
    let payload = payload_bytes(&draft.body);
    Header {
        community: draft.community,
        author,
        seq: draft.seq,
        prev: draft.prev,
        timestamp_ms: draft.timestamp_ms,
        body_kind: body_kind_index(&draft.body),
        payload_hash: *blake3::hash(&payload).as_bytes(),
        payload_len: payload.len() as u32,
    }
}

/// Signs header bytes the way Kith does: `SIGNATURE_DOMAIN ‖ header bytes`.
pub fn sign_header(secret: [u8; 32], header: &[u8]) -> [u8; 64] {
    let mut message = SIGNATURE_DOMAIN.to_vec();
    message.extend_from_slice(header);
    SigningKey::from_bytes(&secret).sign(&message).to_bytes()
}

/// Builds and signs wire bytes by hand, bypassing every check `Entry::sign` makes.
pub fn forge(secret: [u8; 32], header: &Header, payload: &[u8]) -> Vec<u8> {
    let header = header_bytes(header);
    let signature = sign_header(secret, &header);
    wire(&header, &signature, payload)
}

/// Forges the entry an honest signer would write for `draft` with key `[n; 32]`, without any of
/// `Entry::sign`'s checks.
pub fn forge_draft(n: u8, draft: &Draft) -> Vec<u8> {
    let header = header_for(key(n).member_id(), draft);
    forge([n; 32], &header, &payload_bytes(&draft.body))
}

/// Where the 64 signature bytes sit inside an entry's wire bytes.
pub fn signature_range(entry: &Entry) -> std::ops::Range<usize> {
    let mut prefix = vec![1];
    varint(entry.header_bytes().len(), &mut prefix);
    let start = prefix.len() + entry.header_bytes().len() + 1;
    start..start + 64
}

/// A small deterministic generator (xorshift64*), for orders drawn from one proptest seed.
#[derive(Debug, Clone)]
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Dice {
        Dice(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}
