//! Golden tests of the wire format: fixed keys, timestamps and bodies (a Genesis, a Profile, a
//! Vouch, a Post, a Transfer, a Receive) must give exactly the bytes and hashes checked in here, so the
//! format of signed entries cannot change by accident. If one of these fails, the encoding
//! changed: every existing community's entries would stop verifying or change their ids.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use kith_protocol::{Body, Draft, Entry, EntryHash, Keypair, Minutes, PostKind, Rules};

/// The six entries: founder `[1; 32]` founds "Hackney Kith", Bob `[2; 32]` asks to join, the
/// founder vouches for him, Bob offers lifts, the founder pays Bob 1h30m for it, Bob claims it.
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
    vec![
        ("genesis", genesis),
        ("profile", profile),
        ("vouch", vouch),
        ("post", post),
        ("transfer", transfer),
        ("receive", receive),
    ]
}

/// (name, hex of the wire bytes, hex of the entry hash).
const GOLDEN: &[(&str, &str, &str)] = &[
    (
        "genesis",
        concat!(
            "014c01008a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c010080d095ffbc3100344e00",
            "51705970dfc0690a6516239a6b74a1a383d548b8ed1ef7a42463b1d58132408c40c8bdbf1277880e29ff43cf91c76884",
            "f628da4d3009962b707f436fe4d85253f556e23a160dbdefdab2cb45e73024d17e32d4233a0096944e4d4f6a9f870a32",
            "01000c4861636b6e6579204b6974681e4e65696768626f7572732068656c70696e67206e65696768626f7572732ed804",
            "011e",
        ),
        "7124edb0c1e1a9787f32cf1237220d0fa69db14435a366bb37051d146d3aaccc",
    ),
    (
        "profile",
        concat!(
            "016c01017124edb0c1e1a9787f32cf1237220d0fa69db14435a366bb37051d146d3aaccc8139770ea87d175f56a35466",
            "c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3940100e8d795ffbc31016f37bbf6fcbfb95097e563ea2d29564f47729b",
            "db0c8a50f5eef33eaf47b0025b4f40529a3e7e51676edcdca4d6bf021050c779daa1148d568da01b2288f49b03ee4be2",
            "bd0b3f4414f508c31df3f799da21900a96d05ecefab0d9f48bcd7efd81c50b4f010103426f6222526574697265642062",
            "7573206472697665722e0a486170707920746f2068656c702e07436c6170746f6e02056c696674730967617264656e69",
            "6e670c303737303020393030313233",
        ),
        "fec51349096c4ea028218751ade16a982d8edf59b89d2a36b8cc27a2cb1ce144",
    ),
    (
        "vouch",
        concat!(
            "018c0101017124edb0c1e1a9787f32cf1237220d0fa69db14435a366bb37051d146d3aaccc8a88e3dd7409f195fd52db",
            "2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c02017124edb0c1e1a9787f32cf1237220d0fa69db14435a366bb37",
            "051d146d3aacccdcdb95ffbc31020c3a62e6a701daa44bca4edf3ebf52d465bf45f5857b827be1deae8920f6fdb43c40",
            "9b3d9c9d3c5711a3bcf57872707f6731a6e873791ea2622b8f46b0ec9191098be33a33e873ada633399b5818f094ed01",
            "115f4e6b929ec15f98b17f1a9883790c3c01028139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8f",
            "c9b394194d79206e65696768626f757220666f72203230207965617273",
        ),
        "cd16b0362005dd05913f7d7a19ffe8ac2ab48b8bbcf0d0d5fbcb590d7ac94357",
    ),
    (
        "post",
        concat!(
            "018c0101017124edb0c1e1a9787f32cf1237220d0fa69db14435a366bb37051d146d3aaccc8139770ea87d175f56a354",
            "66c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3940201fec51349096c4ea028218751ade16a982d8edf59b89d2a36b8",
            "cc27a2cb1ce144d0df95ffbc310333d8f8443f7f4a6d7f9de5b52254ee80d642618a43f4a303a5822b5cc9c97e3d6140",
            "2325ae50f94cd8ed7165b6828167f813a6a3908a8e71b909f276eec29f940620d4b6adbae53c1235e3be16bf712bed17",
            "ae570be44158da3fe6ec0b0ff54fcf0f61010300144c6966747320746f20746865207375726765727921547565736461",
            "797320616e64205468757273646179732c206d6f726e696e67732e097472616e73706f72740d5475652c205468752039",
            "2d313207436c6170746f6e0180e090d3c631",
        ),
        "4d894b0d4f575034fe181d35700d550eeaae166cf7957e619d7aa930bbdcdff1",
    ),
    (
        "transfer",
        concat!(
            "018c0101017124edb0c1e1a9787f32cf1237220d0fa69db14435a366bb37051d146d3aaccc8a88e3dd7409f195fd52db",
            "2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c0301cd16b0362005dd05913f7d7a19ffe8ac2ab48b8bbcf0d0d5fb",
            "cb590d7ac94357b8e795ffbc31066d10ba76a0d39b8a40b022be8569e3720d19fc886ac729ec8eabfe9f327311c65b40",
            "6fb8a53c5102ebcb5c79a6550dd1495dc25b6ffaf8232cdfc6a6fbdfc31378557ba4c06bbaf7d031032193a2e2ae1f67",
            "aa56a2c37e202c807c8aa90bac92df025b01068139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8f",
            "c9b3945a165468616e6b20796f7520666f7220746865206c696674014d894b0d4f575034fe181d35700d550eeaae166c",
            "f7957e619d7aa930bbdcdff1",
        ),
        "b0c2e2f12f5cf8e9f86f7116af93b13a100219143cd53de6a82cd59e9e398d88",
    ),
    (
        "receive",
        concat!(
            "018c0101017124edb0c1e1a9787f32cf1237220d0fa69db14435a366bb37051d146d3aaccc8139770ea87d175f56a354",
            "66c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39403014d894b0d4f575034fe181d35700d550eeaae166cf7957e619d",
            "7aa930bbdcdff1a0ef95ffbc310747819399fb98db533136815632a61ca79db15a7ed24cb108b97a3dc4e2e3a5102240",
            "358228f072d2950f29af492d6d1ab91cbfd0ab4cfda66949e922371d0448530069934e0f928e724355d8e841ca87a685",
            "6cf8600812aa44fa3e1b3a18a7a2c90c220107b0c2e2f12f5cf8e9f86f7116af93b13a100219143cd53de6a82cd59e9e",
            "398d88",
        ),
        "8c7719b6fff22ad6f1eeeef041b7d5c4608bd6a31561dba21d3020b15b7baeb8",
    ),
];

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
    assert_eq!(community.posts().count(), 1);
}
