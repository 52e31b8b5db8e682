//! End-to-end tests of issue 14 ("nobody left alone") through real `kith` processes on three
//! nodes: a weekly gathering people say they will come to, seen on the author's node, in
//! `kith show --json`, as an `.ics` file naming its repetition rule and in the calendar feed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{Node, World, is_id, wait_until};
use serde_json::Value;

/// How long entries may take to travel between three local nodes.
const PROPAGATION: Duration = Duration::from_secs(45);

/// Ada founds "Elm Street"; Bob and Cat join with her invites and she vouches for both.
fn three_neighbours(world: &World) -> ([PathBuf; 3], Vec<Node>) {
    let (ada, bob, cat) = (world.home("ada"), world.home("bob"), world.home("cat"));
    world.kith(&ada, &["init", "--name", "Ada"]).ok();
    world.kith(&ada, &["community", "create", "Elm Street"]).ok();
    let mut nodes = vec![world.start(&ada, &[])];
    for (home, name) in [(&bob, "Bob"), (&cat, "Cat")] {
        let invite = world.kith(&ada, &["invite"]).ok().to_string();
        world.kith(home, &["join", &invite, "--name", name]).ok();
    }
    nodes.push(world.start(&bob, &[]));
    nodes.push(world.start(&cat, &[]));
    wait_until("Bob and Cat ask to join", PROPAGATION, || {
        world.json(&ada, &["members", "--pending"]).as_array().map(Vec::len) == Some(2)
    });
    world.kith(&ada, &["vouch", "Bob"]).ok();
    world.kith(&ada, &["vouch", "Cat"]).ok();
    wait_until("Bob and Cat are members on their own nodes", PROPAGATION, || {
        world.json(&bob, &["status"])["role"] == "member" && world.json(&cat, &["status"])["role"] == "member"
    });
    ([ada, bob, cat], nodes)
}

fn coming_names(post: &Value) -> Vec<String> {
    post["coming"]
        .as_array()
        .expect("coming is an array")
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

fn show(world: &World, home: &Path, post: &str) -> Value {
    world.json(home, &["show", post])
}

#[test]
fn a_weekly_gathering_people_come_to() {
    let world = World::new();
    let ([ada, bob, cat], _nodes) = three_neighbours(&world);

    // Thursday 3 January 2030, 14:00 UTC, weekly until the end of the month, room for two.
    let tea = world
        .kith(
            &bob,
            &[
                "gathering",
                "Tea and talk",
                "--starts",
                "2030-01-03T14:00:00Z",
                "--ends",
                "2030-01-03T16:00:00Z",
                "--repeat",
                "weekly",
                "--until",
                "2030-01-31",
                "--capacity",
                "2",
                "--place",
                "The library",
            ],
        )
        .ok()
        .to_string();
    assert!(is_id(&tea), "{tea}");
    let shown = show(&world, &bob, &tea);
    assert_eq!(shown["starts_at"], "2030-01-03T14:00:00Z");
    assert_eq!(shown["ends_at"], "2030-01-03T16:00:00Z");
    assert_eq!(shown["repeat"], "weekly");
    assert_eq!(shown["capacity"], 2);
    assert_eq!(coming_names(&shown), Vec::<String>::new());

    wait_until("Cat and Ada see the gathering", PROPAGATION, || {
        [&cat, &ada].iter().all(|home| world.kith(home, &["show", &tea[..12]]).code == 0)
    });
    world.kith(&cat, &["come", &tea[..12]]).ok();
    // Not a date it takes place on (a Friday): refused by the protocol's rule, nothing sent.
    let friday = world.kith(&ada, &["come", &tea[..12], "--date", "2030-01-04"]);
    assert!(friday.fails(1).contains("does not take place on that date"), "{:?}", friday.stderr);
    world.kith(&ada, &["come", &tea[..12], "--date", "2030-01-10"]).ok();

    wait_until("Bob sees that Cat is coming", PROPAGATION, || coming_names(&show(&world, &bob, &tea)) == ["Cat"]);
    // Bob's inbox says so.
    let inbox = world.json(&bob, &["inbox"]);
    let coming = inbox
        .as_array()
        .expect("an array")
        .iter()
        .find(|i| i["kind"] == "coming" && i["name"] == "Cat")
        .unwrap_or_else(|| panic!("Bob's inbox has Cat coming: {inbox}"))
        .clone();
    assert_eq!(coming["post"], tea.as_str());
    assert_eq!(coming["read"], false);
    for key in ["id", "kind", "post", "member_id", "name", "text", "at", "read"] {
        assert!(coming.get(key).is_some(), "inbox items have `{key}`: {coming}");
    }
    world.kith(&bob, &["inbox", "read", coming["id"].as_str().unwrap()]).ok();
    let unread = world.json(&bob, &["inbox"]);
    assert!(!unread.as_array().unwrap().iter().any(|i| i["id"] == coming["id"]), "read items leave: {unread}");
    let all = world.json(&bob, &["inbox", "--all"]);
    assert!(all.as_array().unwrap().iter().any(|i| i["id"] == coming["id"] && i["read"] == true), "{all}");
    let on_bob = show(&world, &bob, &tea);
    assert_eq!(on_bob["full"], false);
    assert_eq!(on_bob["next_date"], "2030-01-03");

    // The gathering as iCalendar text: its repetition rule and its last date.
    let ics = world.kith(&cat, &["calendar", &tea[..12]]).ok().to_string();
    assert!(ics.starts_with("BEGIN:VCALENDAR"), "{ics}");
    assert!(ics.contains("SUMMARY:Tea and talk"), "{ics}");
    assert!(ics.contains("RRULE:FREQ=WEEKLY;UNTIL=20300131T235959"), "{ics}");
    assert!(ics.contains("LOCATION:The library"), "{ics}");

    // Cat's own calendar feed, behind its secret address, lists what she is coming to.
    let feed = world.json(&cat, &["calendar", "--feed"]);
    let url = feed["url"].as_str().expect("a url").to_string();
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with(".ics"), "{url}");
    let fetch = |url: &str| -> (u16, String) {
        let mut response =
            ureq::get(url).config().http_status_as_error(false).build().call().expect("the node answers");
        (response.status().as_u16(), response.body_mut().read_to_string().unwrap_or_default())
    };
    let (status, text) = fetch(&url);
    assert_eq!(status, 200);
    assert!(text.contains("SUMMARY:Tea and talk"), "{text}");
    let (status, _) = fetch(&url.replace("/calendar/", "/calendar/0"));
    assert_eq!(status, 404, "a wrong secret gets nothing");

    // "Can't come after all": the latest answer counts, everywhere.
    world.kith(&cat, &["come", &tea[..12], "--no"]).ok();
    wait_until("Bob sees that Cat is not coming any more", PROPAGATION, || {
        coming_names(&show(&world, &bob, &tea)).is_empty()
    });
    let (_, text) = fetch(&url);
    assert!(!text.contains("Tea and talk"), "{text}");
}

#[test]
fn a_request_reaches_the_neighbour_who_offers_that_skill() {
    let world = World::new();
    let ([ada, bob, cat], _nodes) = three_neighbours(&world);

    // Cat lists a skill without giving her name again: only that field changes.
    world.kith(&cat, &["profile", "--skill", "shopping", "--area", "Elm Street"]).ok();
    wait_until("Ada sees Cat's new profile", PROPAGATION, || {
        world
            .json(&ada, &["members"])
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "Cat" && m["area"] == "Elm Street")
    });
    assert_eq!(world.json(&cat, &["status"])["name"], "Cat");

    let request =
        world.kith(&ada, &["request", "Help with the weekly shop", "--category", "shopping"]).ok().to_string();
    wait_until("the request is in Cat's inbox as a match", PROPAGATION, || {
        world.json(&cat, &["inbox"]).as_array().unwrap().iter().any(|i| {
            i["kind"] == "match" && i["post"] == request.as_str() && i["reason"] == "because you offer: shopping"
        })
    });
    // Bob has no such skill: nothing for him.
    wait_until("Bob has the request", PROPAGATION, || world.kith(&bob, &["show", &request[..12]]).code == 0);
    assert!(!world.json(&bob, &["inbox"]).as_array().unwrap().iter().any(|i| i["kind"] == "match"));
}

#[test]
fn a_quiet_neighbour_who_asked_is_noticed_by_her_buddy() {
    let world = World::new();
    let clock = world.root().join("clock-offset-ms");
    std::fs::write(&clock, "0").expect("write the clock file");
    world.set_env("KITH_TEST_CLOCK_FILE", clock.to_str().expect("a UTF-8 path"));
    let ([ada, bob, cat], mut nodes) = three_neighbours(&world);

    world.kith(&cat, &["checkins", "on", "--days", "2", "--buddy", "Bob"]).ok();
    let held = |home: &Path| world.json(home, &["status"])["entries"].as_u64().expect("entries");
    wait_until("Bob and Ada hold Cat's check-in wish", PROPAGATION, || {
        held(&bob) == held(&cat) && held(&ada) == held(&cat)
    });
    // Cat's computer is switched off, and three days pass.
    nodes[2].terminate();
    std::fs::write(&clock, (3 * 24 * 3600 * 1000u64).to_string()).expect("move the clock on");
    let alerts = |home: &Path| -> Vec<Value> {
        let inbox = world.json(home, &["inbox"]);
        inbox.as_array().expect("an array").iter().filter(|i| i["kind"] == "checkin_alert").cloned().collect()
    };
    // Bob's clock alone says three days passed; nobody else has written since: no alarm.
    assert!(alerts(&bob).is_empty(), "{:?}", alerts(&bob));
    // Ada writes three days on: now the community's own entries show Cat has been quiet.
    world.kith(&ada, &["offer", "Soup on Sundays"]).ok();
    wait_until("Bob's inbox has the alert about Cat", PROPAGATION, || {
        alerts(&bob)
            .iter()
            .any(|a| a["name"] == "Cat" && a["text"].as_str().is_some_and(|t| t.contains("quiet for 3 days")))
    });
    // Ada (the founder, an organiser) would be told too, but her node counts only others'
    // entries as time passing, and Bob has written nothing since: no alert there yet.
    assert!(alerts(&ada).is_empty(), "{:?}", alerts(&ada));
}

#[test]
fn a_post_leaves_the_board_unless_its_author_renews_it() {
    const DAY: u64 = 24 * 3600 * 1000;
    let world = World::new();
    let clock = world.root().join("clock-offset-ms");
    std::fs::write(&clock, "0").expect("write the clock file");
    world.set_env("KITH_TEST_CLOCK_FILE", clock.to_str().expect("a UTF-8 path"));
    let ([ada, bob, _cat], _nodes) = three_neighbours(&world);

    let soup = world.kith(&ada, &["request", "Soup for a poorly neighbour"]).ok().to_string();
    wait_until("Bob sees the request", PROPAGATION, || world.kith(&bob, &["show", &soup[..12]]).code == 0);
    let first_expiry = show(&world, &bob, &soup)["expires_at_ms"].as_u64().expect("expires_at_ms");

    // 28 of the community's 30 days later, Ada's inbox asks "still needed?".
    std::fs::write(&clock, (28 * DAY).to_string()).expect("move the clock on");
    let expiring = |home: &Path| {
        world
            .json(home, &["inbox"])
            .as_array()
            .expect("an array")
            .iter()
            .any(|i| i["kind"] == "expiring" && i["post"] == soup.as_str())
    };
    assert!(expiring(&ada), "{}", world.json(&ada, &["inbox"]));
    assert!(!expiring(&bob), "only the author is asked");
    world.kith(&ada, &["renew", &soup[..12]]).ok();
    wait_until("Bob sees the request renewed", PROPAGATION, || {
        show(&world, &bob, &soup)["expires_at_ms"].as_u64().is_some_and(|at| at >= first_expiry + 27 * DAY)
    });
    assert!(!expiring(&ada), "renewed: not about to leave any more");
    assert!(world.kith(&bob, &["renew", &soup[..12]]).fails(1).contains("only the person who wrote a post"));

    // Past the renewed lifetime it leaves the board, but --all still lists it.
    std::fs::write(&clock, (60 * DAY).to_string()).expect("move the clock on");
    let on_board = |all: bool| {
        let args: &[&str] = if all { &["board", "--all"] } else { &["board"] };
        world.json(&bob, args).as_array().expect("an array").iter().find(|p| p["id"] == soup.as_str()).cloned()
    };
    assert!(on_board(false).is_none());
    assert_eq!(on_board(true).map(|p| p["status"].clone()), Some(Value::from("expired")));
}
