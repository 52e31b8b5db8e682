//! Golden tests of the wire format: fixed keys, timestamps and bodies (a Genesis, a Profile, a
//! Vouch, a Post, a Transfer, a Receive, a gathering with its schedule, an "I'll come") must give exactly the bytes and hashes checked in here, so the
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
    vec![
        ("genesis", genesis),
        ("profile", profile),
        ("vouch", vouch),
        ("post", post),
        ("transfer", transfer),
        ("receive", receive),
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
            "934cf4f7f17e89d0df95ffbc3103a971b358eb891af40d9507eadbe6700db93afc0edbd66bfeefc13e060bfa39c86240",
            "446f320f7ec38318ca564b16796f877866f22f6928497080bcebb4ccacd6e4262605e9f9b7d9e2e9f5f260a0aab587e0",
            "3d83bd7e5b21291de91760be46351c0162020300144c6966747320746f20746865207375726765727921547565736461",
            "797320616e64205468757273646179732c206d6f726e696e67732e097472616e73706f72740d5475652c205468752039",
            "2d313207436c6170746f6e0180e090d3c63100",
        ),
        "0113057cf2e7189e3fd2ac310624dd10587b220782e647ce1d87a97cb9b257c4",
    ),
    (
        "transfer",
        concat!(
            "018c010101f0def0eb50fb778740435f57bcd4e0d5996552e59930f35fa72a16307bd0b9588a88e3dd7409f195fd52db",
            "2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c030170b5fc1e9310e4f85ead2479c7344e53e1729df44f9dfd455a",
            "f18c2ef065aabcb8e795ffbc310681934b45ab9d93613412219b41903e7085e386d31cb65656081621d007ff6c0e5b40",
            "2b008cd162d851fc98b0a0c5cf23680ef22916612f480289da917a607593bea0125c7eead0e8ee37ee6eb6dc2e8b5dc4",
            "ef6e6901f2af24ec1c4d17cbe12bc8095b02068139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8f",
            "c9b3945a165468616e6b20796f7520666f7220746865206c696674010113057cf2e7189e3fd2ac310624dd10587b2207",
            "82e647ce1d87a97cb9b257c4",
        ),
        "29ad8421a765d778c8824d8247d794fa66d47d5e7497ef52699ef0daf5207567",
    ),
    (
        "receive",
        concat!(
            "018c010101f0def0eb50fb778740435f57bcd4e0d5996552e59930f35fa72a16307bd0b9588139770ea87d175f56a354",
            "66c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39403010113057cf2e7189e3fd2ac310624dd10587b220782e647ce1d",
            "87a97cb9b257c4a0ef95ffbc31076355f50b22e0d33bb78432a5a53b261f7ee06ad93f2c0c86670c56f48024221c2240",
            "1ae5900461128697e5d2a732af9fefe14f0e6ef2091d68990e181706e4258e57460fef052d81b6ff8a9c43badd7b6e8d",
            "53544cfc6b1f766b28f3a6fe9b1de60322020729ad8421a765d778c8824d8247d794fa66d47d5e7497ef52699ef0daf5",
            "207567",
        ),
        "4cc398a91f55eaa9f7bfe54fc68818e4e7a36108365200eced4283c79d3dd654",
    ),
    (
        "gathering",
        concat!(
            "018c010101f0def0eb50fb778740435f57bcd4e0d5996552e59930f35fa72a16307bd0b9588a88e3dd7409f195fd52db",
            "2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c040129ad8421a765d778c8824d8247d794fa66d47d5e7497ef5269",
            "9ef0daf520756788f795ffbc31039174099fe0fed9a849f2453fc8f1c8d06cb40e5fd0357d11d302f3e5a76ad63a3d40",
            "2c8c25891cefdbbe06272694f3f11841ac1f6144f2ab67d6598713acd154dddb9b149dfd5f9965e65bf12aa833799ed1",
            "536323cd21a493d122f68cc1a16433023d0203020c54656120616e642074616c6b0006736f6369616c000b546865206c",
            "696272617279000180eeb9c3bd310180a8f1c6bd3100010001f99901010c",
        ),
        "3ff08e586a038b75bc26e132ac5fac509c30406a2d51331e9e550ef47ced855d",
    ),
    (
        "come",
        concat!(
            "018c010101f0def0eb50fb778740435f57bcd4e0d5996552e59930f35fa72a16307bd0b9588139770ea87d175f56a354",
            "66c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39404014cc398a91f55eaa9f7bfe54fc68818e4e7a36108365200eced",
            "4283c79d3dd654f0fe95ffbc310d856bf3575e2f43f053b087fe9b800f6c3833a799f5a0a2bd14ab573e907e4a142740",
            "7a3aea6d562a0ce4bd7f5082dda00e5cd8404fc428adcb58414a0ff9092e4c06c587f24dbaae040e7ca8210c656f3630",
            "4ea072977688898d8d728df5d701b40627020d3ff08e586a038b75bc26e132ac5fac509c30406a2d51331e9e550ef47c",
            "ed855d01e4990101",
        ),
        "d39ef2dd166ac562eff4efaa48f3a098c4b868f552434b0b6cf6ccf09a8f6821",
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
    assert_eq!(community.posts().count(), 2);
    let gathering = entries[6].1.hash();
    let answers = community.attendance(&gathering).unwrap().get(&key(2).member_id()).unwrap();
    let first = community.post(&gathering).unwrap().schedule.unwrap().first_day();
    assert!(answers.coming_on(Some(first + 7)) && !answers.coming_on(Some(first)));
}
