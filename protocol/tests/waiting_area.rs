//! The waiting area (entries kept aside until what they wait for arrives) is bounded in
//! entries and in bytes, and per author: one member writing entries that wait cannot crowd out
//! anyone else's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use kith_protocol::community::{
    MAX_PENDING, MAX_PENDING_BYTES, MAX_PENDING_BYTES_PER_AUTHOR, MAX_PENDING_PER_AUTHOR, pending_cost,
};
use kith_protocol::{Entry, Outcome};

/// `count` entries of `log` that all wait: the entry before them is never delivered.
fn gapped(log: &mut Log, count: usize, details: &str) -> Vec<Entry> {
    let mut body = post("lost");
    log.write(body.clone());
    if let kith_protocol::Body::Post { details: d, .. } = &mut body {
        *d = details.to_string();
    }
    (0..count).map(|_| log.write(body.clone())).collect()
}

#[test]
fn one_author_flooding_cannot_crowd_out_anothers_waiting_entries() {
    let mut town = Town::new(rules());
    let mut mallory = town.admit(2, "Mallory");
    let mut bob = town.admit(3, "Bob");
    let mut kept = 0;
    for entry in gapped(&mut mallory, MAX_PENDING, "") {
        if matches!(town.feed(&entry), Outcome::Pending(_)) {
            kept += 1;
        }
    }
    assert!(kept <= MAX_PENDING_PER_AUTHOR, "one author holds {kept} waiting entries");
    // Bob's entry that waits for the one before it is still kept aside, not dropped.
    let bobs = gapped(&mut bob, 1, "");
    assert!(matches!(town.feed(&bobs[0]), Outcome::Pending(_)), "another author's waiting entry was dropped");
    assert!(town.community.is_pending(&bobs[0].hash()));
}

#[test]
fn the_waiting_area_is_bounded_in_bytes() {
    let mut town = Town::new(rules());
    // Large entries (the longest details): the byte bound binds long before the count.
    let details = "x".repeat(2_000);
    let sample = pending_cost(&gapped(&mut town.log(99), 1, &details)[0]);
    assert!(sample > 2_500, "entries of {sample} bytes");
    // A little more than one author may keep.
    let per_author = MAX_PENDING_BYTES_PER_AUTHOR / sample + 50;
    let authors = MAX_PENDING_BYTES / MAX_PENDING_BYTES_PER_AUTHOR + 2;
    let (mut dropped, mut offered) = (0, 0);
    for n in 0..authors {
        let mut log = town.admit(10 + n as u8, &format!("Member {n}"));
        for entry in gapped(&mut log, per_author, &details) {
            offered += pending_cost(&entry);
            if matches!(town.feed(&entry), Outcome::Dropped) {
                dropped += 1;
            }
        }
        assert!(town.community.pending_bytes() <= MAX_PENDING_BYTES, "over the bound after member {n}");
    }
    assert!(offered > MAX_PENDING_BYTES + MAX_PENDING_BYTES_PER_AUTHOR, "the test offers too little: {offered}");
    assert!(dropped > 0, "nothing was dropped");
    let held: usize = town.community.pending().map(|(entry, _)| pending_cost(entry)).sum();
    assert_eq!(held, town.community.pending_bytes(), "the count of bytes is the bytes held");
    assert!(held <= MAX_PENDING_BYTES, "{held} bytes wait, over {MAX_PENDING_BYTES}");
    assert!(town.community.pending_count() <= MAX_PENDING);
}
