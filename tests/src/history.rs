//! Generated community histories for benchmarks and tests: a founder, members admitted by
//! vouches, then a realistic mix of posts, replies, transfers and claims — every entry valid
//! and signed, the same for the same seed.

use kith_protocol::{Body, Draft, Entry, EntryHash, Keypair, Minutes, PostKind, Rules};

/// A small deterministic random number generator (xorshift), so runs are comparable.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

struct Author {
    key: Keypair,
    seq: u64,
    prev: Option<EntryHash>,
    balance: i64,
}

/// A realistic community's history: ~200 members admitted by vouches, then a mix of posts
/// (30%), replies (40%), transfers (15%) and their claims (15%), every entry valid.
#[derive(Debug)]
pub struct History {
    /// The founder's key (a serving node runs with it, so it is a member and can invite).
    pub founder: Keypair,
    /// Every member's key, the founder first.
    pub keys: Vec<Keypair>,
    pub genesis: Entry,
    pub entries: Vec<Entry>,
    pub members: usize,
}

fn write(
    author: &mut Author,
    community: Option<kith_protocol::CommunityId>,
    timestamp_ms: u64,
    body: Body,
) -> anyhow::Result<Entry> {
    let draft = Draft { community, seq: author.seq + 1, prev: author.prev, timestamp_ms, body };
    let entry = Entry::sign(&author.key, draft)?;
    author.seq += 1;
    author.prev = Some(entry.hash());
    Ok(entry)
}

/// `total` entries after the Genesis from `members` members (the founder first), the same for
/// the same `seed`.
pub fn generate(total: usize, members: usize, seed: u64) -> anyhow::Result<History> {
    generate_every(total, members, seed, 7)
}

/// As [`generate`], with the entries after the members' admission `step_ms` apart (a report
/// needs a history spread over weeks, not milliseconds).
pub fn generate_every(total: usize, members: usize, seed: u64, step_ms: u64) -> anyhow::Result<History> {
    let mut rng = Rng(seed | 1);
    let mut authors: Vec<Author> = (0..members)
        .map(|i| {
            let mut secret = [0u8; 32];
            secret[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            secret[8..16].copy_from_slice(&seed.to_le_bytes());
            Author { key: Keypair::from_secret_bytes(secret), seq: 0, prev: None, balance: 0 }
        })
        .collect();
    let rules = Rules { credit_limit: Minutes::from_hours(10), vouches_needed: 1, post_lifetime_days: 30 };
    let mut clock = 1_700_000_000_000u64;
    let genesis = write(
        &mut authors[0],
        None,
        clock,
        Body::Genesis { name: "Benchmark Street".into(), description: "A community for measuring".into(), rules },
    )?;
    let community = Some(genesis.community());
    let mut entries = Vec::with_capacity(total);
    for i in 1..members {
        clock += 1;
        let name = format!("Neighbour {i}");
        let profile = Body::Profile {
            name,
            about: "Happy to help with shopping and lifts.".into(),
            area: "North".into(),
            skills: vec!["shopping".into(), "lifts".into()],
            contact: String::new(),
        };
        // The vouch first: a profile counts only once its author is a member.
        let member = authors[i].key.member_id();
        entries.push(write(&mut authors[0], community, clock, Body::Vouch { member, note: "I know them".into() })?);
        entries.push(write(&mut authors[i], community, clock, profile)?);
    }
    let mut posts: Vec<EntryHash> = Vec::new();
    let mut unclaimed: Vec<(usize, EntryHash)> = Vec::new();
    while entries.len() < total {
        clock += step_ms;
        let who = rng.below(members);
        let roll = rng.below(100);
        let entry = if roll < 15 && !unclaimed.is_empty() {
            let (payee, transfer) = unclaimed.swap_remove(rng.below(unclaimed.len()));
            authors[payee].balance += 30;
            write(&mut authors[payee], community, clock, Body::Receive { transfer })?
        } else if roll < 30 && authors[who].balance - 30 >= -600 {
            let mut to = rng.below(members);
            if to == who {
                to = (to + 1) % members;
            }
            let to_id = authors[to].key.member_id();
            authors[who].balance -= 30;
            let for_post = posts.last().copied();
            let entry = write(
                &mut authors[who],
                community,
                clock,
                Body::Transfer { to: to_id, minutes: Minutes(30), memo: "Thank you for the lift".into(), for_post },
            )?;
            unclaimed.push((to, entry.hash()));
            entry
        } else if roll < 60 || posts.is_empty() {
            let kind = [PostKind::Offer, PostKind::Request, PostKind::Gathering][rng.below(3)];
            let entry = write(
                &mut authors[who],
                community,
                clock,
                Body::Post {
                    kind,
                    title: "Lift to the surgery on Tuesday morning".into(),
                    details: "I can take two people; back by noon. Ring the bell twice.".into(),
                    category: "transport".into(),
                    when: "Tuesday 9:00".into(),
                    place: "Library car park".into(),
                    expires_at: None,
                    schedule: None,
                },
            )?;
            posts.push(entry.hash());
            entry
        } else {
            let post = posts[posts.len() - 1 - rng.below(posts.len().min(50))];
            write(&mut authors[who], community, clock, Body::Reply { post, text: "I can help with that!".into() })?
        };
        entries.push(entry);
    }
    let keys = authors.iter().map(|a| a.key.clone()).collect();
    Ok(History { founder: authors[0].key.clone(), keys, genesis, entries, members })
}
