//! End-to-end tests of the `kith` command: real processes, separate homes, loopback only —
//! a community of three formed through invites and vouches trading an hour; refusals that
//! change nothing; bad input that publishes nothing; no node; key backup and restore; a bare
//! first run; the API's token; a web page session kept across a restart; a suspended member
//! told (status, page), refused, reinstated; an organiser's role removed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::time::Duration;

use harness::{World, is_id, wait_until};
use serde_json::Value;

/// How long entries may take to travel between three local nodes.
const PROPAGATION: Duration = Duration::from_secs(45);

fn entries(world: &World, home: &std::path::Path) -> u64 {
    world.json(home, &["status"])["entries"].as_u64().expect("entries is a number")
}

fn balance(world: &World, home: &std::path::Path, member: &str) -> i64 {
    world.json(home, &["balance", member])["balance_minutes"].as_i64().expect("balance_minutes is a number")
}

fn names(list: &Value) -> Vec<String> {
    list.as_array().expect("an array").iter().map(|m| m["name"].as_str().unwrap_or_default().to_string()).collect()
}

#[test]
fn three_homes_form_a_community_and_trade_an_hour() {
    let world = World::new();
    let (a, b, c) = (world.home("alice"), world.home("bob"), world.home("carol"));

    let alice_id = world.kith(&a, &["init", "--name", "Alice"]).ok().to_string();
    assert!(is_id(&alice_id), "{alice_id}");
    let community = world.kith(&a, &["community", "create", "Test Street", "--credit-limit", "2"]).ok().to_string();
    assert!(is_id(&community), "{community}");
    let _node_a = world.start(&a, &[]);

    for (home, name) in [(&b, "Bob"), (&c, "Carol")] {
        let invite = world.kith(&a, &["invite"]).ok().to_string();
        assert!(invite.starts_with("kith:") && !invite.contains(char::is_whitespace), "{invite}");
        let joined = world.json(home, &["join", &invite, "--name", name]);
        assert_eq!(joined["community_id"], community.as_str());
    }
    let _node_b = world.start(&b, &[]);
    let _node_c = world.start(&c, &[]);

    wait_until("Bob and Carol ask to join", PROPAGATION, || {
        let mut pending = names(&world.json(&a, &["members", "--pending"]));
        pending.sort();
        pending == ["Bob", "Carol"]
    });
    let bob = world.json(&b, &["status"]);
    assert_eq!(bob["role"], "pending");
    assert_eq!(bob["community_name"], "Test Street");

    world.kith(&a, &["vouch", "bob", "--note", "lives at number 12"]).ok();
    world.kith(&a, &["vouch", "Carol"]).ok();
    wait_until("Bob and Carol are members on their own nodes", PROPAGATION, || {
        world.json(&b, &["status"])["role"] == "member" && world.json(&c, &["status"])["role"] == "member"
    });
    assert!(world.json(&a, &["members", "--pending"]).as_array().expect("an array").is_empty());

    let post = world.kith(&a, &["offer", "Lifts to the surgery", "--category", "transport"]).ok().to_string();
    assert!(is_id(&post), "{post}");
    wait_until("Bob sees the offer on his board", PROPAGATION, || {
        let board = world.json(&b, &["board"]);
        board.as_array().expect("an array").iter().any(|p| {
            p["id"] == post.as_str() && p["author_name"] == "Alice" && p["kind"] == "offer" && p["status"] == "open"
        })
    });
    let board = world.json(&b, &["board", "--kind", "offer"]);
    for key in
        ["id", "kind", "title", "details", "category", "author", "author_name", "status", "created_at", "replies"]
    {
        assert!(board[0].get(key).is_some(), "board entries have `{key}`: {board}");
    }

    let transfer =
        world.kith(&b, &["pay", "alice", "1h", "--for", &post[..8], "--memo", "Tuesday's lift"]).ok().to_string();
    assert!(is_id(&transfer), "{transfer}");
    wait_until("all three nodes agree on the balances", PROPAGATION, || {
        [&a, &b, &c].iter().all(|home| {
            balance(&world, home, "alice") == 60
                && balance(&world, home, "bob") == -60
                && balance(&world, home, "carol") == 0
        })
    });
    let statement = world.json(&c, &["statement", "bob"]);
    assert_eq!(statement[0]["id"], transfer.as_str());
    assert_eq!(statement[0]["minutes"], 60);
    assert_eq!(statement[0]["for_post"], post.as_str());
    assert_eq!(statement[0]["claimed"], true);

    // Over the credit limit (2h): refused with the reason, and nothing changes.
    let before = entries(&world, &b);
    let refused = world.kith(&b, &["pay", "alice", "2h"]);
    let line = refused.fails(1);
    assert!(line.contains("limit"), "{line}");
    assert_eq!(entries(&world, &b), before);
    assert_eq!(balance(&world, &b, "bob"), -60);

    // Bad input: a clear error, nothing published.
    let cases: [(&[&str], i32, &str); 6] = [
        (&["pay", "alice", "1x"], 2, "not a duration"),
        (&["pay", "zed", "1h"], 1, "no member"),
        (&["pay", "alice", "0m"], 2, "more than zero"),
        (&["offer", "  "], 2, "title must not be empty"),
        (&["reply", &post[..8], &"x".repeat(5000)], 2, "at most"),
        (&["pay", "alice", "1h", "--for", "nothex"], 2, "not a post id"),
    ];
    for (args, code, words) in cases {
        let line = world.kith(&b, args).fails(code).to_string();
        assert!(line.contains(words), "`kith {}` said {line:?}", args.join(" "));
    }
    assert_eq!(entries(&world, &b), before);
}

#[test]
fn bad_input_is_refused_and_publishes_nothing() {
    let world = World::new();
    let a = world.home("alice");
    world.kith(&a, &["init", "--name", "Alice"]).ok();
    world.kith(&a, &["community", "create", "Lonely Lane"]).ok();
    let _node = world.start(&a, &[]);

    // 17 posts: two of them must share their first hex digit.
    for i in 0..17 {
        world.kith(&a, &["request", &format!("Help with job {i}")]).ok();
    }
    let board = world.json(&a, &["board"]);
    let ids: Vec<String> =
        board.as_array().expect("an array").iter().map(|p| p["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 17);
    let shared = (0..16)
        .map(|d| format!("{d:x}"))
        .find(|digit| ids.iter().filter(|id| id.starts_with(digit.as_str())).count() >= 2)
        .expect("pigeonhole");

    let before = entries(&world, &a);
    let long_title = "t".repeat(200);
    let long_details = "d".repeat(3000);
    let cases: [(&[&str], i32, &str); 9] = [
        (&["done", &shared], 1, "give more of the id"),
        (&["show", &shared], 1, "give more of the id"),
        (&["pay", "nobody", "1h"], 1, "no member"),
        (&["vouch", "nobody"], 1, "no member"),
        (&["pay", "alice", "1.h"], 2, "not a duration"),
        (&["offer", ""], 2, "title must not be empty"),
        (&["offer", &long_title], 2, "title is 200 bytes long; at most 120"),
        (&["request", "ok", "--details", &long_details], 2, "at most 2000"),
        (&["gathering", "Knitting"], 2, "--when"),
    ];
    for (args, code, words) in cases {
        let shown: Vec<&str> = args.iter().map(|a| if a.len() > 40 { "…" } else { a }).collect();
        let line = world.kith(&a, args).fails(code).to_string();
        assert!(line.contains(words), "`kith {}` said {line:?}", shown.join(" "));
    }
    assert_eq!(world.kith(&a, &["pay", "alice", "1h"]).fails(1), "error: you cannot pay yourself");
    assert_eq!(entries(&world, &a), before);
    assert_eq!(world.json(&a, &["board"]).as_array().map(Vec::len), Some(17));
}

#[test]
fn a_command_with_no_running_node_says_how_to_start_one() {
    let world = World::new();
    let home = world.home("nobody");
    let expected = |home: &std::path::Path| {
        format!("error: no node is running for home {} — start it with `kith run`\n", home.display())
    };
    let missing = world.kith(&home, &["status"]);
    assert_eq!(missing.code, 1);
    assert_eq!(missing.stderr, expected(&home));
    assert!(missing.stdout.is_empty());

    // A home whose node is gone but left an api.json behind.
    world.kith(&home, &["init"]).ok();
    let home = std::fs::canonicalize(&home).expect("the home exists now");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
    std::fs::write(home.join("api.json"), format!(r#"{{"url":"http://{closed}","token":"00"}}"#)).expect("write");
    let stale = world.kith(&home, &["board"]);
    assert_eq!(stale.code, 1);
    assert_eq!(stale.stderr, expected(&home));
}

#[test]
fn a_key_comes_back_from_its_words() {
    let world = World::new();
    let (first, second) = (world.home("first"), world.home("second"));
    let member = world.kith(&first, &["init", "--name", "Dora"]).ok().to_string();
    assert!(world.kith(&first, &["init"]).fails(1).contains("refusing to overwrite"));

    let backup = world.json(&first, &["key", "backup"]);
    let words: Vec<&str> = backup["words"].as_array().expect("words").iter().map(|w| w.as_str().unwrap()).collect();
    assert_eq!(words.len(), 24);
    assert_eq!(backup["member_id"], member.as_str());

    // Two words swapped: the backup's checksum is 8 bits, so about one swap in 256 still reads
    // as a backup (of another key, which the member id printed shows). Swap neighbours until
    // the checksum catches one, each into a home of its own: a swap that passes must not give
    // back this key, and one that is caught restores nothing.
    let caught = (0..words.len() - 1).filter(|&i| words[i] != words[i + 1]).find(|&i| {
        let mut wrong = words.clone();
        wrong.swap(i, i + 1);
        let attempt = world.home(&format!("swapped-{i}"));
        let mut args = vec!["key", "restore"];
        args.extend(&wrong);
        let restored = world.kith(&attempt, &args);
        if restored.code == 0 {
            assert_ne!(restored.stdout.trim(), member, "swapped words gave back the same key");
            return false;
        }
        assert!(restored.fails(2).contains("not a key backup"), "{restored:?}");
        assert!(!attempt.join("key").exists() && !attempt.join("config.json").exists(), "a refused restore wrote");
        true
    });
    assert!(caught.is_some(), "no swap of neighbouring words was caught by the checksum");

    let mut args = vec!["key", "restore"];
    args.extend(&words);
    assert_eq!(world.kith(&second, &args).ok(), member);
    assert_eq!(world.json(&second, &["key", "backup"])["words"], backup["words"]);
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(second.join("config.json")).expect("config")).expect("json");
    assert_eq!(config["restored"], true);
    assert!(world.kith(&second, &args).fails(1).contains("already has a key"));
    // A restored home must find its community before it runs, or it would found another.
    assert!(world.kith(&second, &["run"]).fails(1).contains("kith join"));
}

#[test]
fn a_bare_run_founds_a_community_prints_an_invite_and_stops_cleanly() {
    let world = World::new();
    let home = world.home("fresh");
    let mut node = world.start(&home, &[]);
    // The API answers before the node has printed its invite (it asks the network for its
    // addresses first): wait for the line rather than read stdout once.
    let has_invite = |text: &str| text.lines().any(|l| l.trim().starts_with("kith:"));
    wait_until("the invite is printed", harness::START_TIMEOUT, || has_invite(&node.printed()));
    let printed = node.printed();
    assert!(printed.contains("A new community was founded"), "{printed}");
    let invite = printed.lines().map(str::trim).find(|l| l.starts_with("kith:")).expect("an invite line");
    assert!(invite.len() > 40);

    let status = world.json(&home, &["status"]);
    assert_eq!(status["role"], "member");
    assert_eq!(status["organiser"], true);
    assert_eq!(status["members"], 1);
    for key in [
        "member_id",
        "name",
        "peer_id",
        "community_id",
        "community_name",
        "listen_addrs",
        "connected_peers",
        "entries",
        "members",
        "pending_members",
        "balance_minutes",
        "role",
    ] {
        assert!(status.get(key).is_some(), "status has `{key}`: {status}");
    }
    let addr = status["listen_addrs"][0].as_str().expect("an address");
    assert!(addr.starts_with("/ip4/127.0.0.1/tcp/") && addr.contains("/p2p/"), "{addr}");

    // The API wants its token.
    let api: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("api.json")).expect("api.json")).expect("json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.join("api.json")).expect("api.json").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let url = format!("{}/api/status", api["url"].as_str().expect("url"));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let no_token = agent.get(&url).call().expect("an answer");
    assert_eq!(no_token.status().as_u16(), 401);
    let mut wrong = agent.get(&url).header("Authorization", "Bearer 1234").call().expect("an answer");
    assert_eq!(wrong.status().as_u16(), 401);
    let body: Value = wrong.body_mut().read_json().expect("a JSON error");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("token")), "{body}");
    let token = format!("Bearer {}", api["token"].as_str().expect("token"));
    assert_eq!(agent.get(&url).header("Authorization", &token).call().expect("an answer").status().as_u16(), 200);

    // The event stream tells of a new post.
    let events_url = format!("{}/api/events", api["url"].as_str().expect("url"));
    let streaming = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .new_agent();
    let mut events = streaming.get(&events_url).header("Authorization", &token).call().expect("the event stream");
    assert_eq!(events.status().as_u16(), 200);
    let post = world.kith(&home, &["offer", "Seedlings to share"]).ok().to_string();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(events.body_mut().as_reader()));
    let data = lines
        .by_ref()
        .map_while(Result::ok)
        .skip_while(|line| line != "event: entry")
        .find(|line| line.starts_with("data:"))
        .expect("an entry event");
    let event: Value = serde_json::from_str(data.trim_start_matches("data:").trim()).expect("JSON data");
    assert_eq!(event["id"], post.as_str());
    assert_eq!(event["kind"], "post");
    drop(lines);

    let status = node.terminate();
    assert!(status.success(), "kith run exits 0 on SIGTERM: {status}");
    assert!(!home.join("api.json").exists(), "api.json is removed at shutdown");
}

#[test]
fn a_restored_key_fetches_its_own_log_before_it_writes() {
    let world = World::new();
    let (a, b, restored) = (world.home("alice"), world.home("bob"), world.home("bob-again"));
    world.kith(&a, &["init", "--name", "Alice"]).ok();
    world.kith(&a, &["community", "create", "Restore Road"]).ok();
    let _node_a = world.start(&a, &[]);
    let invite = world.kith(&a, &["invite"]).ok().to_string();
    world.kith(&b, &["join", &invite, "--name", "Bob"]).ok();
    let mut node_b = world.start(&b, &[]);
    wait_until("Bob asks to join", PROPAGATION, || names(&world.json(&a, &["members", "--pending"])) == ["Bob"]);
    world.kith(&a, &["vouch", "Bob"]).ok();
    wait_until("Bob is a member", PROPAGATION, || world.json(&b, &["status"])["role"] == "member");
    let soup = world.kith(&b, &["offer", "Soup on Sundays"]).ok().to_string();
    world.kith(&a, &["pay", "bob", "30m"]).ok();
    wait_until("Bob has claimed his 30m and Alice has his offer", PROPAGATION, || {
        balance(&world, &a, "bob") == 30 && world.json(&a, &["board"]).to_string().contains(&soup)
    });
    let words = world.json(&b, &["key", "backup"])["words"].clone();
    assert!(node_b.terminate().success());

    let words: Vec<&str> = words.as_array().expect("words").iter().map(|w| w.as_str().unwrap()).collect();
    let mut args = vec!["key", "restore"];
    args.extend(&words);
    world.kith(&restored, &args).ok();
    let invite = world.kith(&a, &["invite"]).ok().to_string();
    world.kith(&restored, &["join", &invite]).ok();
    let _node = world.start(&restored, &[]);
    wait_until("the restored node has Bob's own log back and may write", PROPAGATION, || {
        let status = world.json(&restored, &["status"]);
        status["read_only"] == false && status["role"] == "member" && status["balance_minutes"] == 30
    });
    assert!(world.json(&restored, &["board"]).to_string().contains(&soup));
    let bread = world.kith(&restored, &["offer", "Bread on Mondays"]).ok().to_string();
    wait_until("Alice sees the new offer, Bob's log going on unforked", PROPAGATION, || {
        world.json(&a, &["board"]).to_string().contains(&bread)
    });
    assert_eq!(balance(&world, &a, "bob"), 30);
    let bob = world.json(&a, &["members"]);
    let bob = bob.as_array().expect("members").iter().find(|m| m["name"] == "Bob").expect("Bob").clone();
    assert_eq!(bob["status"], "member");
}

#[test]
fn a_revoked_invite_lets_no_one_in() {
    let world = World::new();
    let (a, dave, erin) = (world.home("alice"), world.home("dave"), world.home("erin"));
    world.kith(&a, &["init", "--name", "Alice"]).ok();
    world.kith(&a, &["community", "create", "Revoke Row"]).ok();
    let _node_a = world.start(&a, &[]);
    let made = world.json(&a, &["invite", "--uses", "3", "--expires", "1d"]);
    assert_eq!(made["signed"], true);
    assert_eq!(made["uses"], 3);
    let invite = made["invite"].as_str().expect("an invite line").to_string();
    let id = made["id"].as_str().expect("an invite id").to_string();
    world.kith(&a, &["invite", "revoke", "not-an-invite"]).fails(2);
    assert!(is_id(world.kith(&a, &["invite", "revoke", &id]).ok()));
    // The control: Erin joins at the same moment with an invite that still holds, so the same
    // wait is shown to be long enough for a join request to arrive when the door is open.
    let good = world.kith(&a, &["invite"]).ok().to_string();
    world.kith(&dave, &["join", &invite, "--name", "Dave"]).ok();
    world.kith(&erin, &["join", &good, "--name", "Erin"]).ok();
    let _node_d = world.start(&dave, &[]);
    let _node_e = world.start(&erin, &[]);
    // Dave's node is refused at the door: well past the 5 s it has to show a valid invite, his
    // join request has reached no one, while Erin's, sent at the same time, has.
    std::thread::sleep(Duration::from_secs(8));
    let pending = world.json(&a, &["members", "--pending"]);
    assert_eq!(names(&pending), ["Erin"], "only the newcomer with a valid invite is waiting: {pending}");
}

#[test]
fn a_newcomer_whose_invite_is_used_up_is_told_why() {
    let world = World::new();
    let (a, bob, carol) = (world.home("alice"), world.home("bob"), world.home("carol"));
    world.kith(&a, &["init", "--name", "Alice"]).ok();
    world.kith(&a, &["community", "create", "Once Only Lane"]).ok();
    let _node_a = world.start(&a, &[]);
    let made = world.json(&a, &["invite", "--uses", "1"]);
    let invite = made["invite"].as_str().expect("an invite line").to_string();
    // The control: the first newcomer on the invite is let in, and told of no refusal.
    world.kith(&bob, &["join", &invite, "--name", "Bob"]).ok();
    let _node_b = world.start(&bob, &[]);
    wait_until("Bob asks to join", PROPAGATION, || names(&world.json(&a, &["members", "--pending"])) == ["Bob"]);
    assert_eq!(world.json(&bob, &["status"])["invite_refused"], Value::Null);
    // The second one on the same invite is refused, and its status says why.
    world.kith(&carol, &["join", &invite, "--name", "Carol"]).ok();
    let _node_c = world.start(&carol, &[]);
    wait_until("Carol's node hears why her invite was refused", PROPAGATION, || {
        world.json(&carol, &["status"])["invite_refused"].is_string()
    });
    let status = world.json(&carol, &["status"]);
    let reason = status["invite_refused"].as_str().expect("a reason");
    assert!(reason.contains("used") && reason.contains("ask for a new one"), "{reason}");
    let plain = world.kith(&carol, &["status"]).ok().to_string();
    assert!(plain.contains("invite refused") && plain.contains("ask for a new one"), "{plain}");
    assert!(!plain.contains("not reached yet"), "{plain}");
    assert_eq!(world.json(&bob, &["status"])["invite_refused"], Value::Null);
}

/// Status of `GET url` with `cookie` (if any), and the `Set-Cookie` it answered with.
fn fetch(url: &str, cookie: Option<&str>) -> (u16, Option<String>) {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().new_agent();
    let mut request = agent.get(url);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    let response = request.call().expect("the page answers");
    let set_cookie = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()).map(str::to_string);
    (response.status().as_u16(), set_cookie)
}

/// The text of the page at `url`, signed in with `cookie`.
fn page_text(url: &str, cookie: &str) -> String {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let mut response = agent.get(url).header("Cookie", cookie).call().expect("the page answers");
    assert_eq!(response.status().as_u16(), 200, "{url}");
    response.body_mut().read_to_string().expect("a page of text")
}

#[test]
fn a_signed_in_page_stays_signed_in_when_the_node_restarts() {
    let world = World::new();
    let home = world.home("volunteer");
    let mut node = world.start(&home, &[]);
    let link = world.kith(&home, &["open"]).ok().lines().next().unwrap_or_default().to_string();
    let base = link.split("/login").next().unwrap_or_default().to_string();
    let port = base.rsplit(':').next().unwrap_or_default().to_string();
    let (status, set_cookie) = fetch(&link, None);
    assert_eq!(status, 303, "the link signs in and goes to the board");
    let cookie = set_cookie.expect("a session cookie").split(';').next().unwrap_or_default().to_string();
    assert_eq!(fetch(&format!("{base}/"), Some(&cookie)).0, 200);
    assert_eq!(fetch(&format!("{base}/"), None).0, 401, "without the cookie: the sign-in page");

    // The computer restarts; Kith comes back at the same address.
    node.terminate();
    let api = format!("127.0.0.1:{port}");
    let args = ["run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--api", api.as_str()];
    let _again = world.launch(None, &home, &args, "info", "node-again");
    assert_eq!(fetch(&format!("{base}/"), Some(&cookie)).0, 200, "still signed in after the restart");
    let forged = format!("kith_session_{port}=0000");
    assert_eq!(fetch(&format!("{base}/"), Some(&forged)).0, 401, "a made-up session is not let in");
}

#[test]
fn repair_rebuilds_the_views_of_a_stopped_node_and_refuses_a_running_one() {
    let world = World::new();
    let home = world.home("alice");
    world.kith(&home, &["init", "--name", "Alice"]).ok();
    world.kith(&home, &["community", "create", "Test Street"]).ok();
    let mut node = world.start(&home, &[]);
    world.kith(&home, &["offer", "Lifts to the surgery"]).ok();

    let refused = world.kith(&home, &["repair"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.starts_with("error: ") && refused.stderr.contains("kith run"), "{}", refused.stderr);
    node.terminate();

    let repaired = world.kith(&home, &["repair"]);
    assert_eq!(repaired.code, 0, "{repaired:?}");
    assert_eq!(repaired.stdout, "", "prints nothing");
    assert!(repaired.stderr.contains("rebuilt the views of"), "progress on stderr: {}", repaired.stderr);
    let _node = world.start(&home, &[]);
    let board = world.json(&home, &["board"]);
    assert_eq!(board.as_array().map(Vec::len), Some(1), "{board}");
}

#[test]
fn a_suspended_member_is_told_cannot_pay_and_pays_again_once_reinstated() {
    let world = World::new();
    let (a, b, c) = (world.home("alice"), world.home("bob"), world.home("carol"));
    world.kith(&a, &["init", "--name", "Alice"]).ok();
    world.kith(&a, &["community", "create", "Quiet Lane"]).ok();
    let _node_a = world.start(&a, &[]);
    for (home, name) in [(&b, "Bob"), (&c, "Carol")] {
        let invite = world.kith(&a, &["invite"]).ok().to_string();
        world.kith(home, &["join", &invite, "--name", name]).ok();
    }
    let mut node_b = world.start(&b, &[]);
    let _node_c = world.start(&c, &[]);
    wait_until("Bob and Carol ask to join", PROPAGATION, || {
        names(&world.json(&a, &["members", "--pending"])).len() == 2
    });
    world.kith(&a, &["vouch", "Bob"]).ok();
    world.kith(&a, &["vouch", "Carol"]).ok();
    wait_until("Bob and Carol are members on their own nodes", PROPAGATION, || {
        world.json(&b, &["status"])["role"] == "member" && world.json(&c, &["status"])["role"] == "member"
    });

    // Only organisers moderate: Carol may not suspend, reinstate or dismiss anyone.
    world.kith(&c, &["suspend", "Bob", "--reason", "no reason"]).fails(1);
    world.kith(&c, &["reinstate", "Bob"]).fails(1);
    world.kith(&c, &["dismiss", "Alice"]).fails(1);

    // Bob's node is offline when he is suspended (no gossip can bring it the news): when it
    // comes back, the others hand it the suspension before they cut it off, and it says why.
    node_b.terminate();
    let done = world.json(&a, &["suspend", "Bob", "--reason", "shouting at the gathering"]);
    assert!(done["id"].as_str().is_some_and(is_id), "{done}");
    let suspended_at = |home: &std::path::Path| {
        let list = world.json(home, &["members"]);
        list.as_array().expect("members").iter().any(|m| m["name"] == "Bob" && m["status"] == "suspended")
    };
    wait_until("Carol's node holds the suspension", PROPAGATION, || suspended_at(&c));
    let _node_b = world.start(&b, &[]);
    wait_until("Bob's node knows he is suspended", PROPAGATION, || world.json(&b, &["status"])["role"] == "suspended");
    let status = world.json(&b, &["status"]);
    assert_eq!(status["suspended_reason"], "shouting at the gathering", "{status}");
    assert!(world.kith(&b, &["status"]).ok().contains("shouting at the gathering"));
    // His page says so too, in plain words, with the reason.
    let link = world.kith(&b, &["open"]).ok().lines().next().unwrap_or_default().to_string();
    let base = link.split("/login").next().unwrap_or_default().to_string();
    let cookie = fetch(&link, None).1.expect("a session cookie").split(';').next().unwrap_or_default().to_string();
    let page = page_text(&format!("{base}/thank"), &cookie);
    assert!(page.contains("An organiser has suspended you"), "{page}");
    assert!(page.contains("shouting at the gathering"), "{page}");
    // What suspension stops is refused on his own node: one `error:` line, nothing signed.
    let before = entries(&world, &b);
    let line = world.kith(&b, &["pay", "Alice", "1h"]).fails(1).to_string();
    assert!(line.starts_with("error:") && line.contains("suspended"), "{line}");
    for args in [&["vouch", "Carol"][..], &["offer", "Soup"], &["suspend", "Carol", "--reason", "x"]] {
        world.kith(&b, args).fails(1);
    }
    assert_eq!(entries(&world, &b), before, "a refused command signed something");

    // Alice is not suspended, so there is nothing to reinstate for her; Bob is reinstated.
    world.kith(&a, &["reinstate", "Alice"]).fails(1);
    let done = world.json(&a, &["reinstate", "Bob"]);
    assert!(done["id"].as_str().is_some_and(is_id), "{done}");
    wait_until("Bob's node knows he is reinstated", PROPAGATION, || world.json(&b, &["status"])["role"] == "member");
    assert_eq!(world.json(&b, &["status"])["suspended_reason"], Value::Null);
    assert!(is_id(world.kith(&b, &["pay", "Alice", "1h"]).ok()));
    wait_until("Alice holds Bob's payment", PROPAGATION, || balance(&world, &a, "alice") == 60);

    // A role given can be taken back, by the founder.
    world.kith(&a, &["appoint", "Carol"]).ok();
    wait_until("Carol is an organiser on her node", PROPAGATION, || world.json(&c, &["status"])["organiser"] == true);
    world.kith(&a, &["dismiss", "Bob"]).fails(1); // not an organiser
    let done = world.json(&a, &["dismiss", "Carol"]);
    assert!(done["id"].as_str().is_some_and(is_id), "{done}");
    wait_until("Carol is no longer an organiser on her node", PROPAGATION, || {
        world.json(&c, &["status"])["organiser"] == false
    });
    let line = world.kith(&c, &["suspend", "Bob", "--reason", "again"]).fails(1).to_string();
    assert!(line.starts_with("error:"), "{line}");
}
