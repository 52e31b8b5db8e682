//! Golden tests of the wire format: fixed keys, timestamps and bodies (a Genesis, a Profile, a
//! Vouch, a Post, a Transfer, a Receive, a gathering with its schedule, an "I'll come", an
//! Announcement; payload version 2) must give exactly the bytes and hashes checked in here, so the
//! format of signed entries cannot change by accident. If one of these fails, the encoding
//! changed: every existing community's entries would stop verifying or change their ids.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use kith_protocol::{Body, Draft, Entry, EntryHash, Keypair, Minutes, PostKind, Repeat, Rules, Schedule};

/// The eight entries: founder `[1; 32]` founds "Hackney Kith", Bob `[2; 32]` asks to join, the
/// founder vouches for him, Bob offers lifts, the founder pays Bob 1h30m for it, Bob claims it,
/// the founder starts a weekly gathering and Bob says he will come on its second date.
/// (Payload version 2 since the gathering's schedule was added to `Post`: every hash changed.)
fn entries() -> Vec<(&'static str, Entry)> {
    let founder = Keypair::from_secret_bytes([1; 32]);
    let bob = Keypair::from_secret_bytes([2; 32]);
    let t = 1_700_000_000_000;
    let sign = |key: &Keypair, draft: Draft| Entry::sign(key, draft).unwrap();

    let genesis = sign(
        &founder,
        Draft {
            community: None,
            seq: 1,
            prev: None,
            timestamp_ms: t,
            body: Body::Genesis {
                name: "Hackney Kith".into(),
                description: "Neighbours helping neighbours.".into(),
                rules: Rules { credit_limit: Minutes(600), vouches_needed: 1, post_lifetime_days: 30 },
            },
        },
    );
    let community = Some(genesis.community());
    let profile = sign(
        &bob,
        Draft {
            community,
            seq: 1,
            prev: None,
            timestamp_ms: t + 1_000,
            body: Body::Profile {
                name: "Bob".into(),
                about: "Retired bus driver.\nHappy to help.".into(),
                area: "Clapton".into(),
                skills: vec!["lifts".into(), "gardening".into()],
                contact: "07700 900123".into(),
            },
        },
    );
    let vouch = sign(
        &founder,
        Draft {
            community,
            seq: 2,
            prev: Some(genesis.hash()),
            timestamp_ms: t + 1_500,
            body: Body::Vouch { member: bob.member_id(), note: "My neighbour for 20 years".into() },
        },
    );
    let post = sign(
        &bob,
        Draft {
            community,
            seq: 2,
            prev: Some(profile.hash()),
            timestamp_ms: t + 2_000,
            body: Body::Post {
                kind: PostKind::Offer,
                title: "Lifts to the surgery".into(),
                details: "Tuesdays and Thursdays, mornings.".into(),
                category: "transport".into(),
                when: "Tue, Thu 9-12".into(),
                place: "Clapton".into(),
                expires_at: Some(t + 30 * 24 * 3600 * 1000),
                schedule: None,
            },
        },
    );
    let transfer = sign(
        &founder,
        Draft {
            community,
            seq: 3,
            prev: Some(vouch.hash()),
            timestamp_ms: t + 3_000,
            body: Body::Transfer {
                to: bob.member_id(),
                minutes: Minutes(90),
                memo: "Thank you for the lift".into(),
                for_post: Some(post.hash()),
            },
        },
    );
    let receive = sign(
        &bob,
        Draft {
            community,
            seq: 3,
            prev: Some(post.hash()),
            timestamp_ms: t + 4_000,
            body: Body::Receive { transfer: transfer.hash() },
        },
    );
    let first_thursday = kith_protocol::gathering::day_of(2023, 11, 16).unwrap();
    let gathering = sign(
        &founder,
        Draft {
            community,
            seq: 4,
            prev: Some(transfer.hash()),
            timestamp_ms: t + 5_000,
            body: Body::Post {
                kind: PostKind::Gathering,
                title: "Tea and talk".into(),
                details: String::new(),
                category: "social".into(),
                when: String::new(),
                place: "The library".into(),
                expires_at: None,
                schedule: Some(Schedule {
                    starts_at: u64::from(first_thursday) * 86_400_000 + 14 * 3_600_000,
                    ends_at: Some(u64::from(first_thursday) * 86_400_000 + 16 * 3_600_000),
                    offset_minutes: 0,
                    repeat: Some(Repeat::Weekly),
                    until: Some(first_thursday + 28),
                    capacity: Some(12),
                }),
            },
        },
    );
    let come = sign(
        &bob,
        Draft {
            community,
            seq: 4,
            prev: Some(receive.hash()),
            timestamp_ms: t + 6_000,
            body: Body::Come { post: gathering.hash(), date: Some(first_thursday + 7), coming: true },
        },
    );
    let announcement = sign(
        &founder,
        Draft {
            community,
            seq: 5,
            prev: Some(gathering.hash()),
            timestamp_ms: t + 7_000,
            body: Body::Announcement {
                title: "Hall closed on Monday".into(),
                text: "The community hall is closed for repairs.\nSoup moves to the library.".into(),
                until: Some(t + 7 * 24 * 3600 * 1000),
            },
        },
    );
    vec![
        ("genesis", genesis),
        ("profile", profile),
        ("vouch", vouch),
        ("post", post),
        ("transfer", transfer),
        ("receive", receive),
        ("announcement", announcement),
        ("gathering", gathering),
        ("come", come),
    ]
}

/// (name, hex of the wire bytes, hex of the entry hash).
const GOLDEN: &[(&str, &str, &str)] = &[
    (
        "genesis",
        concat!(
            "014c01008a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c010080d095ffbc31002801d2",
            "e998acb435893722e31c3e80f8ecf8c6bd01198338d6b84f32753537d33240fabcbf98e6ec1863333b22db85e57ecf38",
            "3b2dce3647f29ef1865e2ec712062096ff38200bfa3507294da316f999f17c4f9b35a44c26950880fe1f8b71d9b80732",
            "02000c4861636b6e6579204b6974681e4e65696768626f7572732068656c70696e67206e65696768626f7572732ed804",
            "011e",
        ),
        "f0def0eb50fb778740435f57bcd4e0d5996552e59930f35fa72a16307bd0b958",
    ),
    (
        "profile",
        concat!(
            "016c0101f0def0eb50fb778740435f57bcd4e0d5996552e59930f35fa72a16307bd0b9588139770ea87d175f56a35466",
            "c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3940100e8d795ffbc3101c02f061a3d8af436b9977b1ec826394c45f4fe",
            "72a019854f0f27bd2b685324b74f405a22f19d3050f72331adf0afb2c6fb38ce08c90336f24508f037cab1641062772a",
            "e496ca7317c24fb898bf5f6bae95e1c528a718b1b06fa3227c81ff00805f034f020103426f6222526574697265642062",
            "7573206472697665722e0a486170707920746f2068656c702e07436c6170746f6e02056c696674730967617264656e69",
            "6e670c303737303020393030313233",
        ),
        "0d6cde3639a029277138f96cb2860d83ae51ed2c84e5a3d5a0934cf4f7f17e89",
    ),
    (
        "vouch",
        concat!(
            "018c010101f0def0eb50fb778740435f57bcd4e0d5996552e59930f35fa72a16307bd0b9588a88e3dd7409f195fd52db",
            "2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c0201f0def0eb50fb778740435f57bcd4e0d5996552e59930f35fa7",
            "2a16307bd0b958dcdb95ffbc31023105ffcc0069c73fc62af25859154c3c62a1a1f7da0102be1816672c83f113cb3c40",
            "9e00837e2177c07279655c655e26930b49370da957933d765a904c2194252f5623f0de6cfddcab24065725e945a495e4",
            "f8ca61e58368d544657e68ff9c79bf0c3c02028139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8f",
            "c9b394194d79206e65696768626f757220666f72203230207965617273",
        ),
        "70b5fc1e9310e4f85ead2479c7344e53e1729df44f9dfd455af18c2ef065aabc",
    ),
    (
        "post",
        concat!(
            "018c010101f0def0eb50fb778740435f57bcd4e0d5996552e59930f35fa72a16307bd0b9588139770ea87d175f56a354",
            "66c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39402010d6cde3639a029277138f96cb2860d83ae51ed2c84e5a3d5a0",
            "934cf4f7f17e89d0df95ffbc310300553dd33aae4202becbdef8fc64323444931931def0c1249fbc7d344cc779b06140",
            "32f0f20b6a78802a86d166a3543e203b10ed4939a215a8fac6875401d68f600bf15e0bd18a39cfc5c73c1aff41e24a67",
            "c4b2caace46c61a4cee29fb4e52e000961020300144c6966747320746f20746865207375726765727921547565736461",
            "797320616e64205468757273646179732c206d6f726e696e67732e097472616e73706f72740d5475652c205468752039",
            "2d313207436c6170746f6e0180e090d3c63100",
        ),
        "dbfbbf4f01f43fab8219ca2f17fef7ecc1f103ced6aa75c242f7d8aff9b13141",
    ),
    (
        "transfer",
        concat!(
            "018c010101f0def0eb50fb778740435f57bcd4e0d5996552e59930f35fa72a16307bd0b9588a88e3dd7409f195fd52db",
            "2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c030170b5fc1e9310e4f85ead2479c7344e53e1729df44f9dfd455a",
            "f18c2ef065aabcb8e795ffbc31067f8467798f8623df13c996d2f30891cb64da59a2ac1944b0f5b1a66cf167aafe5b40",
            "b1f9cbc818c31819edf80fbdab1cf1cf1d5c728b1027c87f8ad5c683c4a8995df100bcae735e4f0c45f36db6cdabd971",
            "de0916f376c3a23ca771ce7f5ad870045b02068139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8f",
            "c9b3945a165468616e6b20796f7520666f7220746865206c69667401dbfbbf4f01f43fab8219ca2f17fef7ecc1f103ce",
            "d6aa75c242f7d8aff9b13141",
        ),
        "c10a492bfbb7b5b938e8e12d0b2fd1831f116d2ab856ed9f9947043378718524",
    ),
    (
        "receive",
        concat!(
            "018c010101f0def0eb50fb778740435f57bcd4e0d5996552e59930f35fa72a16307bd0b9588139770ea87d175f56a354",
            "66c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3940301dbfbbf4f01f43fab8219ca2f17fef7ecc1f103ced6aa75c242",
            "f7d8aff9b13141a0ef95ffbc3107c1ef380597f746ba5d2e7f94a4ff40f847de22a7d53534578d12e86bee805cc72240",
            "e1bb3b45d85ecb1a6ce6927128a481e96ef422195436d8f280e93992c92025d1b0600bbe16e5ef31d8b9f6fd51011a4d",
            "42e4708592cf581c96f2269ec061010d220207c10a492bfbb7b5b938e8e12d0b2fd1831f116d2ab856ed9f9947043378",
            "718524",
        ),
        "1c9bed7769ddc801c919cf7f941a190fc635893e11b3a571436a73213ddca8c3",
    ),
    (
        "announcement",
        concat!(
            "018c010101f0def0eb50fb778740435f57bcd4e0d5996552e59930f35fa72a16307bd0b9588a88e3dd7409f195fd52db",
            "2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c0401c10a492bfbb7b5b938e8e12d0b2fd1831f116d2ab856ed9f99",
            "4704337871852488f795ffbc310dd16e3b3ddedf538aa3bb0f8bee071ff507c126d9f4981376e9861b2106652fb26440",
            "6460731ac3e7ca795d61503b5163a7487e5755b543872616622031556e502b4ab89b4f2859631a7b348daba2c59e07a8",
            "4794806c6ab7f9c5b3a7ba9cd745300c64020d1548616c6c20636c6f736564206f6e204d6f6e6461794454686520636f",
            "6d6d756e6974792068616c6c20697320636c6f73656420666f7220726570616972732e0a536f7570206d6f7665732074",
            "6f20746865206c6962726172792e0180d8c79fbf31",
        ),
        "6a0a1ef1b9e666e706742c7747132aabddf3d32989abdbb09895a0721a77e74b",
    ),
];

#[test]
#[ignore = "prints the golden table; run by hand after a deliberate format change"]
fn print_golden() {
    for (name, entry) in entries() {
        let hex = hex::encode(entry.bytes());
        let lines: Vec<String> =
            hex.as_bytes().chunks(96).map(|c| format!("            \"{}\",", String::from_utf8_lossy(c))).collect();
        println!(
            "    (\n        \"{name}\",\n        concat!(\n{}\n        ),\n        \"{}\",\n    ),",
            lines.join("\n"),
            entry.hash()
        );
    }
}

#[test]
fn member_ids_of_the_fixed_keys() {
    assert_eq!(key(1).member_id().to_string(), "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c");
    assert_eq!(key(2).member_id().to_string(), "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394");
}

#[test]
fn wire_bytes_and_hashes_are_fixed() {
    let entries = entries();
    assert_eq!(GOLDEN.len(), entries.len());
    for ((name, entry), (golden_name, bytes, hash)) in entries.iter().zip(GOLDEN) {
        assert_eq!(name, golden_name);
        assert_eq!(hex::encode(entry.bytes()), *bytes, "wire bytes of the {name} changed");
        assert_eq!(entry.hash().to_string(), *hash, "hash of the {name} changed");
    }
}

#[test]
fn golden_bytes_decode_to_the_same_entries() {
    for ((name, entry), (_, bytes, hash)) in entries().into_iter().zip(GOLDEN) {
        let decoded = Entry::decode(hex::decode(bytes).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded, entry);
        assert_eq!(decoded.hash(), hash.parse::<EntryHash>().unwrap());
    }
}

#[test]
fn the_community_id_is_the_genesis_hash() {
    let entries = entries();
    let genesis = &entries[0].1;
    assert_eq!(genesis.community().0, genesis.hash().0);
    assert_eq!(genesis.community().to_string(), GOLDEN[0].2);
    assert!(entries.iter().all(|(_, e)| e.community() == genesis.community()));
}

#[test]
fn a_golden_community() {
    // Fed in reverse, everything waits, then applies: Bob holds 1h30m and the founder owes it.
    let entries = entries();
    let (genesis, rest) = entries.split_first().unwrap();
    let mut community = kith_protocol::Community::new(&genesis.1).unwrap();
    for (_, entry) in rest.iter().rev() {
        community.ingest(entry.clone(), NOW);
    }
    assert_eq!(community.pending_count(), 0);
    assert_eq!(community.name(), "Hackney Kith");
    let bob = community.member(&key(2).member_id()).unwrap();
    assert!(bob.admitted);
    assert_eq!(bob.name(), "Bob");
    assert_eq!(bob.balance_minutes, 90);
    assert_eq!(community.member(&key(1).member_id()).unwrap().balance_minutes, -90);
    assert_eq!(community.unclaimed_minutes(), 0);
    assert_eq!(community.posts().count(), 2);
    let gathering = entries[6].1.hash();
    let answers = community.attendance(&gathering).unwrap().get(&key(2).member_id()).unwrap();
    let first = community.post(&gathering).unwrap().schedule.unwrap().first_day();
    assert!(answers.coming_on(Some(first + 7)) && !answers.coming_on(Some(first)));
}
