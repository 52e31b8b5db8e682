//! Neighbours without a computer (issue 15 §2), end to end through real `kith` processes: Ada
//! (an organiser) adds Mrs Patel and Zoë as helped members, Bob vouches for them, Ada posts a
//! request and records thanks with hours to Dan for Mrs Patel, and posts for Zoë (`--as` with a
//! name that is not ASCII); Dan sees, in JSON and in plain text, that they came from Mrs Patel,
//! helped by Ada; a payment beyond what Mrs Patel agreed is refused. Ada moves her to Bob, who
//! takes her key and posts for her ("helped by Bob"), and Ada's node no longer writes for her;
//! then her key moves to her own node, where her balance is what it was, and Bob's node no
//! longer writes for her.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::time::Duration;

use harness::{World, is_id, wait_until};
use serde_json::Value;

/// How long entries may take to travel between local nodes.
const PROPAGATION: Duration = Duration::from_secs(45);

fn array(value: &Value) -> &Vec<Value> {
    value.as_array().expect("an array")
}

fn member<'a>(members: &'a Value, name: &str) -> Option<&'a Value> {
    array(members).iter().find(|m| m["name"] == name)
}

#[test]
fn ada_records_for_mrs_patel_moves_her_to_bob_and_her_key_moves_to_her_own_node() {
    let world = World::new();
    let (a, b, d, p) = (world.home("ada"), world.home("bob"), world.home("dan"), world.home("patel"));
    world.kith(&a, &["init", "--name", "Ada"]).ok();
    world.kith(&a, &["community", "create", "Elm Street"]).ok();
    let _node_a = world.start(&a, &[]);
    let mut nodes = Vec::new();
    for (home, name) in [(&b, "Bob"), (&d, "Dan")] {
        let invite = world.kith(&a, &["invite"]).ok().to_string();
        world.kith(home, &["join", &invite, "--name", name]).ok();
        nodes.push(world.start(home, &[]));
    }
    wait_until("Bob and Dan ask to join", PROPAGATION, || array(&world.json(&a, &["members", "--pending"])).len() == 2);
    world.kith(&a, &["vouch", "Bob"]).ok();
    world.kith(&a, &["vouch", "Dan"]).ok();
    wait_until("Bob and Dan are members", PROPAGATION, || {
        world.json(&b, &["status"])["role"] == "member" && world.json(&d, &["status"])["role"] == "member"
    });

    // Ada adds Mrs Patel and Zoë; Bob vouches for them as for anyone.
    let patel = world.kith(&a, &["member", "add", "--helped", "Mrs Patel"]).ok().to_string();
    assert!(is_id(&patel), "the helped member's id: {patel}");
    assert_ne!(patel, world.json(&a, &["status"])["member_id"].as_str().unwrap(), "her own key, not Ada's");
    let zoe = world.kith(&a, &["member", "add", "--helped", "Zoë"]).ok().to_string();
    wait_until("Bob sees Mrs Patel and Zoë asking to join", PROPAGATION, || {
        let pending = world.json(&b, &["members", "--pending"]);
        member(&pending, "Mrs Patel").is_some() && member(&pending, "Zoë").is_some()
    });
    world.kith(&b, &["vouch", "Mrs Patel"]).ok();
    world.kith(&b, &["vouch", "Zoë"]).ok();
    wait_until("Mrs Patel and Zoë are members, helped by Ada, on Dan's node", PROPAGATION, || {
        let members = world.json(&d, &["members"]);
        ["Mrs Patel", "Zoë"]
            .iter()
            .all(|name| member(&members, name).is_some_and(|m| m["status"] == "member" && m["helped_by_name"] == "Ada"))
    });

    // Ada acts for her.
    let shopping = world.kith(&a, &["request", "Shopping on Thursdays", "--as", "Mrs Patel"]).ok().to_string();
    assert!(is_id(&shopping));
    let too_much = world.kith(&a, &["pay", "Dan", "3h", "--as", "Mrs Patel"]);
    assert!(too_much.fails(1).contains("agreed to payments of at most 2h"), "{too_much:?}");
    world.kith(&a, &["pay", "Dan", "1h30m", "--as", "Mrs Patel", "--for", &shopping[..8], "--memo", "thank you"]).ok();
    let stranger = world.kith(&a, &["request", "Anything", "--as", "Nobody Here"]);
    assert!(stranger.fails(1).contains("not a helped member held in this home"), "{stranger:?}");
    // A name that is not ASCII travels in the acting-for header too, in any case.
    let reading = world.kith(&a, &["request", "Someone to read me the post", "--as", "ZOË"]).ok().to_string();
    assert!(is_id(&reading), "{reading}");
    let stranger = world.kith(&a, &["request", "Anything", "--as", "Мария"]);
    assert!(stranger.fails(1).contains("`Мария` is not a helped member held in this home"), "{stranger:?}");
    // A header that is not percent-encoded UTF-8 is refused, whatever the request.
    let api: Value = serde_json::from_str(&std::fs::read_to_string(a.join("api.json")).unwrap()).unwrap();
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    for bad in ["Zo%C3", "%zz"] {
        let mut answer = agent
            .post(format!("{}/api/posts", api["url"].as_str().unwrap()))
            .header("Authorization", format!("Bearer {}", api["token"].as_str().unwrap()))
            .header("X-Kith-As", bad)
            .send_json(serde_json::json!({}))
            .unwrap();
        assert_eq!(answer.status().as_u16(), 400, "{bad}");
        let error = answer.body_mut().read_json::<Value>().unwrap()["error"].to_string();
        assert!(error.contains("not percent-encoded UTF-8"), "{bad}: {error}");
    }

    wait_until("Dan sees the request and has claimed the hours", PROPAGATION, || {
        world.json(&d, &["balance"])["balance_minutes"] == 90
            && array(&world.json(&d, &["board"])).iter().any(|post| post["id"] == shopping.as_str())
    });
    let board = world.json(&d, &["board"]);
    let post = array(&board).iter().find(|post| post["id"] == shopping.as_str()).unwrap();
    assert_eq!(post["author"], patel.as_str(), "her log, not Ada's: {post}");
    assert_eq!(post["author_name"], "Mrs Patel");
    assert_eq!(post["helped_by_name"], "Ada");
    let statement = world.json(&d, &["statement"]);
    let paid = array(&statement).iter().find(|t| t["from"] == patel.as_str()).expect("the transfer from Mrs Patel");
    assert_eq!(paid["helped_by_name"], "Ada");
    assert_eq!(paid["memo"], "on behalf of Mrs Patel, by Ada: thank you");
    assert_eq!(paid["minutes"], 90);
    let balance = |home: &std::path::Path| world.json(home, &["balance", "Mrs Patel"])["balance_minutes"].clone();
    assert_eq!(balance(&a), -90);
    assert_eq!(world.json(&a, &["balance"])["balance_minutes"], 0, "Ada's own account is untouched");
    let by_zoe = array(&board).iter().find(|post| post["id"] == reading.as_str());
    assert!(by_zoe.is_some_and(|p| p["author"] == zoe.as_str() && p["helped_by_name"] == "Ada"), "{board}");

    // The plain text says it wherever it names them.
    let helped_by_ada = "Mrs Patel (helped by Ada)";
    for args in [
        &["board"][..],
        &["show", &shopping[..8]],
        &["statement"],
        &["members"],
        &["balance", "Mrs Patel"],
        &["inbox", "--all"],
    ] {
        let text = world.kith(&d, args).ok().to_string();
        assert!(text.contains(helped_by_ada), "`kith {}` on Dan's node: {text}", args.join(" "));
    }
    assert!(world.kith(&d, &["inbox", "--all"]).ok().contains("Mrs Patel (helped by Ada) thanked you with 1h30m"));
    assert!(world.kith(&d, &["board"]).ok().contains("Zoë (helped by Ada)"));

    // Ada moves her to Bob: the entry in her log, then her key to Bob's home.
    let moved = world.kith(&a, &["member", "helper", "Mrs Patel", "--to", "Bob"]).ok().to_string();
    assert!(is_id(&moved), "{moved}");
    let again = world.kith(&a, &["request", "More shopping", "--as", "Mrs Patel"]);
    assert!(again.fails(1).contains("Mrs Patel is helped by Bob now"), "{again:?}");
    let words = world.json(&a, &["key", "backup", "--as", "Mrs Patel"]);
    let words: Vec<String> = array(&words["words"]).iter().map(|w| w.as_str().unwrap().to_string()).collect();
    let mut args = vec!["member", "take"];
    args.extend(words.iter().map(String::as_str));
    assert_eq!(world.kith(&b, &args).ok(), patel);
    wait_until("Bob's node may write for her", PROPAGATION, || {
        member(&world.json(&b, &["members"]), "Mrs Patel").is_some_and(|m| m["helped_by_name"] == "Bob")
    });
    let garden = world.kith(&b, &["request", "Help in the garden", "--as", "Mrs Patel"]).ok().to_string();
    wait_until("Dan sees Bob's post for her, helped by Bob", PROPAGATION, || {
        array(&world.json(&d, &["board"])).iter().any(|post| {
            post["id"] == garden.as_str() && post["author"] == patel.as_str() && post["helped_by_name"] == "Bob"
        })
    });
    assert!(world.kith(&d, &["show", &garden[..8]]).ok().contains("by Mrs Patel (helped by Bob)"));
    assert!(world.kith(&d, &["members"]).ok().contains("Mrs Patel (helped by Bob)"));
    let first = world.kith(&d, &["show", &shopping[..8]]).ok().to_string();
    assert!(first.contains(helped_by_ada), "who recorded an entry stays who did: {first}");
    let refused = world.kith(&a, &["pay", "Dan", "30m", "--as", "Mrs Patel"]);
    assert!(refused.fails(1).contains("Mrs Patel is helped by Bob now"), "{refused:?}");

    // Her key moves to her own node.
    let words = world.json(&b, &["key", "backup", "--as", "Mrs Patel"]);
    assert_eq!(words["member_id"], patel.as_str());
    let words: Vec<String> = array(&words["words"]).iter().map(|w| w.as_str().unwrap().to_string()).collect();
    let mut args = vec!["key", "restore"];
    args.extend(words.iter().map(String::as_str));
    assert_eq!(world.kith(&p, &args).ok(), patel);
    let invite = world.kith(&a, &["invite"]).ok().to_string();
    world.kith(&p, &["join", &invite]).ok();
    let _node_p = world.start(&p, &[]);
    wait_until("her own node may write, and shows her balance unchanged", PROPAGATION, || {
        let status = world.json(&p, &["status"]);
        status["read_only"] == false && status["role"] == "member" && status["balance_minutes"] == -90
    });
    wait_until("everyone sees she holds her own key now", PROPAGATION, || {
        [&d, &b]
            .iter()
            .all(|home| member(&world.json(home, &["members"]), "Mrs Patel").is_some_and(|m| m["helped_by"].is_null()))
    });
    let refused = world.kith(&b, &["request", "More shopping", "--as", "Mrs Patel"]);
    assert!(refused.fails(1).contains("holds their own key now"), "{refused:?}");
    let knitting = world.kith(&p, &["offer", "Knitting lessons"]).ok().to_string();
    wait_until("Dan sees her own offer, not helped", PROPAGATION, || {
        array(&world.json(&d, &["board"]))
            .iter()
            .any(|post| post["id"] == knitting.as_str() && post["helped_by"].is_null())
    });
    assert_eq!(balance(&d), -90);
}
