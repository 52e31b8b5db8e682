//! End-to-end tests of the organisers' tools through real `kith` processes: the report a node
//! gives (`kith report`) against the same figures counted here from its export.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::collections::BTreeSet;
use std::time::Duration;

use harness::{World, is_id, wait_until};
use serde_json::Value;

/// How long entries may take to travel between local nodes.
const PROPAGATION: Duration = Duration::from_secs(45);

fn array(value: &Value) -> &Vec<Value> {
    value.as_array().expect("an array")
}

fn text(value: &Value) -> String {
    value.as_str().expect("a string").to_string()
}

/// Ada founds a community; Bob and Cy join; Ada vouches for both. The three nodes run.
fn community_of_three(world: &World) -> ([std::path::PathBuf; 3], Vec<harness::Node>) {
    let (a, b, c) = (world.home("ada"), world.home("bob"), world.home("cy"));
    world.kith(&a, &["init", "--name", "Ada"]).ok();
    world.kith(&a, &["community", "create", "Elm Street", "--credit-limit", "2"]).ok();
    let mut nodes = vec![world.start(&a, &[])];
    for (home, name) in [(&b, "Bob"), (&c, "Cy")] {
        let invite = world.kith(&a, &["invite"]).ok().to_string();
        world.json(home, &["join", &invite, "--name", name]);
        nodes.push(world.start(home, &[]));
    }
    wait_until("Bob and Cy ask to join", PROPAGATION, || array(&world.json(&a, &["members", "--pending"])).len() == 2);
    world.kith(&a, &["vouch", "Bob"]).ok();
    world.kith(&a, &["vouch", "Cy"]).ok();
    wait_until("Bob and Cy are members", PROPAGATION, || {
        world.json(&b, &["status"])["role"] == "member" && world.json(&c, &["status"])["role"] == "member"
    });
    ([a, b, c], nodes)
}

#[test]
fn the_report_of_a_node_matches_a_count_from_its_export() {
    let world = World::new();
    let ([a, b, c], _nodes) = community_of_three(&world);

    let garden = world.kith(&a, &["request", "Help in the garden", "--category", "Garden"]).ok().to_string();
    let soup = world.kith(&b, &["offer", "Soup on Sundays", "--category", "food"]).ok().to_string();
    let _lonely = world.kith(&b, &["request", "Someone to talk to"]).ok().to_string();
    assert!(is_id(&garden) && is_id(&soup));
    wait_until("Bob and Cy see Ada's request", PROPAGATION, || {
        [&b, &c].iter().all(|h| array(&world.json(h, &["board"])).iter().any(|p| p["id"] == garden.as_str()))
    });
    world.kith(&b, &["reply", &garden[..8], "I can come on Saturday"]).ok();
    wait_until("Ada sees Bob's offer", PROPAGATION, || {
        array(&world.json(&a, &["board"])).iter().any(|p| p["id"] == soup.as_str())
    });
    world.kith(&a, &["pay", "Bob", "1h30m", "--for", &soup[..8], "--memo", "soup"]).ok();
    world.kith(&b, &["pay", "Ada", "45m", "--for", &garden[..8]]).ok();

    // Everyone holds everything, then Cy's node reports.
    let held = |home: &std::path::Path| world.json(home, &["status"])["entries"].as_u64().unwrap();
    wait_until("the three nodes hold the same entries", PROPAGATION, || {
        let n = held(&a);
        let statement = world.json(&c, &["statement", "Ada"]);
        let claimed = array(&statement).iter().filter(|t| t["claimed"] == true).count();
        held(&b) == n && held(&c) == n && claimed == 2
    });
    let report = world.json(&c, &["report"]);
    let export = world.json(&c, &["export"]);

    // The same figures, counted from the export.
    let transfers = array(&export["transfers"]);
    let minutes: u64 = transfers.iter().map(|t| t["minutes"].as_u64().unwrap()).sum();
    let givers: BTreeSet<String> = transfers.iter().map(|t| text(&t["from"])).collect();
    let receivers: BTreeSet<String> = transfers.iter().map(|t| text(&t["to"])).collect();
    let posts = array(&export["posts"]);
    let of_kind = |kind: &str| posts.iter().filter(|p| p["kind"] == kind).collect::<Vec<_>>();
    let answered =
        of_kind("request").iter().filter(|p| array(&p["replies"]).iter().any(|r| r["author"] != p["author"])).count();
    let paid_for: BTreeSet<String> =
        transfers.iter().filter_map(|t| t["for_post"].as_str().map(String::from)).collect();
    let taken_up = of_kind("offer").iter().filter(|p| paid_for.contains(&text(&p["id"]))).count();
    let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
    for t in transfers {
        let (x, y) = (text(&t["from"]), text(&t["to"]));
        pairs.insert(if x < y { (x, y) } else { (y, x) });
    }
    let traded: BTreeSet<String> = givers.union(&receivers).cloned().collect();
    let never: BTreeSet<String> =
        array(&export["members"]).iter().map(|m| text(&m["member_id"])).filter(|m| !traded.contains(m)).collect();

    assert_eq!(report["entries_held"].as_u64(), Some(held(&c)));
    assert_eq!(report["exchanges"].as_u64(), Some(transfers.len() as u64));
    assert_eq!(report["minutes_exchanged"].as_u64(), Some(minutes));
    assert_eq!(report["givers"].as_u64(), Some(givers.len() as u64));
    assert_eq!(report["receivers"].as_u64(), Some(receivers.len() as u64));
    assert_eq!(report["requests"]["posted"].as_u64(), Some(of_kind("request").len() as u64));
    assert_eq!(report["requests"]["answered_1d"].as_u64(), Some(answered as u64));
    assert_eq!(report["requests"]["answered_7d"].as_u64(), Some(answered as u64));
    assert_eq!(array(&report["requests"]["unanswered_7d"]).len(), 0, "nothing is a week old yet");
    assert_eq!(report["offers"]["posted"].as_u64(), Some(of_kind("offer").len() as u64));
    assert_eq!(report["offers"]["taken_up"].as_u64(), Some(taken_up as u64));
    let reported_pairs: BTreeSet<(String, String)> = array(&report["new_connections"])
        .iter()
        .map(|p| {
            let (x, y) = (text(&p[0]["member_id"]), text(&p[1]["member_id"]));
            if x < y { (x, y) } else { (y, x) }
        })
        .collect();
    assert_eq!(reported_pairs, pairs);
    let reported_never: BTreeSet<String> =
        array(&report["never_exchanged"]).iter().map(|p| text(&p["member_id"])).collect();
    assert_eq!(reported_never, never);
    assert_eq!(report["members"]["total"].as_u64(), Some(3));
    assert_eq!(report["members"]["new"].as_u64(), Some(3));
    assert_eq!(report["members"]["active"].as_u64(), Some(3));
    assert_eq!(report["members"]["pending"].as_u64(), Some(0));
    let by_category: Vec<(String, u64)> = array(&report["hours_by_category"])
        .iter()
        .map(|c| (text(&c["category"]), c["minutes"].as_u64().unwrap()))
        .collect();
    assert_eq!(by_category, [("food".to_string(), 90), ("garden".to_string(), 45)]);
    for key in ["hours_by_month", "members", "requests", "gatherings", "forks", "entries_held"] {
        assert!(report.get(key).is_some(), "the report has `{key}`: {report}");
    }
    let source = text(&report["source"]);
    assert!(source.starts_with(&format!("from {} entries held by this node", held(&c))), "{source}");

    // The other forms, and refusals.
    let csv = world.kith(&c, &["report", "--csv"]).ok().to_string();
    assert!(csv.starts_with("section,item,value"), "{csv}");
    assert!(csv.contains("exchanges,count,2"), "{csv}");
    let human = world.kith(&c, &["report"]).ok().to_string();
    assert!(human.contains("Exchanges:  2 (2h15m given by 2 people to 2)"), "{human}");
    let both = world.kith(&c, &["--json", "report", "--csv"]);
    assert!(both.fails(2).contains("--json and --csv"));
    assert!(world.kith(&c, &["report", "--from", "2026-02-31"]).fails(2).contains("not a date"));
    assert!(world.kith(&c, &["report", "--from", "2026-03-02", "--to", "2026-03-01"]).fails(2).contains("before"));
    // A period before the community: nothing happened in it.
    let before = world.json(&c, &["report", "--from", "2000-01-01", "--to", "2000-01-31"]);
    assert_eq!(before["exchanges"].as_u64(), Some(0));
    assert_eq!(before["members"]["new"].as_u64(), Some(0));
}

#[test]
fn only_an_organisers_announcement_reaches_the_board() {
    let world = World::new();
    let ([a, b, c], _nodes) = community_of_three(&world);

    // Bob is no organiser: his node refuses to write it, and nothing is published.
    let before = world.json(&b, &["status"])["entries"].as_u64();
    let refused = world.kith(&b, &["announce", "Free cake", "--text", "At mine"]);
    assert!(refused.fails(1).contains("only organisers"), "{}", refused.stderr);
    assert_eq!(world.json(&b, &["status"])["entries"].as_u64(), before);
    assert!(world.kith(&a, &["announce", "Bad date", "--until", "2026-02-31"]).fails(2).contains("not a date"));
    assert!(world.kith(&a, &["announce", " "]).fails(2).contains("title"));

    // Ada is the founder, so an organiser: everyone's board is headed by her notice.
    let id =
        world.kith(&a, &["announce", "Hall closed on Monday", "--text", "Soup moves to the library."]).ok().to_string();
    assert!(is_id(&id), "{id}");
    wait_until("Bob and Cy see Ada's notice", PROPAGATION, || {
        [&b, &c].iter().all(|home| {
            let list = world.json(home, &["announcements"]);
            list.as_array().is_some_and(|l| l.iter().any(|n| n["id"] == id.as_str() && n["author_name"] == "Ada"))
        })
    });

    // It is in Bob's inbox too, heading it even above the hours Ada gives him after it.
    world.kith(&a, &["pay", "Bob", "30m", "--memo", "for the lift"]).ok();
    wait_until("Bob's inbox has the hours", PROPAGATION, || {
        array(&world.json(&b, &["inbox"])).iter().any(|i| i["kind"] == "hours")
    });
    let inbox = world.json(&b, &["inbox"]);
    assert_eq!(array(&inbox).len(), 2, "{inbox}");
    let first = &array(&inbox)[0];
    assert_eq!(first["kind"], "announcement", "{inbox}");
    assert_eq!(first["id"], id.as_str());
    assert_eq!(first["member_id"], world.json(&a, &["status"])["member_id"]);
    assert_eq!(text(&first["text"]), "Ada announced: Hall closed on Monday — Soup moves to the library.");
    let human = world.kith(&b, &["inbox"]).ok().to_string();
    assert!(human.contains("Hall closed on Monday"), "{human}");
}

/// The short code printed beside `title` on a printed board.
fn code_beside(html: &str, title: &str) -> String {
    let at = html.find(&format!("<h3>{title}</h3>")).expect("the post is on the printed board");
    let start = html[..at].rfind("</span>").expect("its code") + "</span>".len();
    html[start..].split('<').next().expect("the code's text").to_string()
}

#[test]
fn the_printed_board_names_posts_by_codes_that_work_everywhere() {
    let world = World::new();
    let ([a, b, _c], _nodes) = community_of_three(&world);
    let request = world.kith(&a, &["request", "Lift to the surgery", "--details", "Tuesday at 9"]).ok().to_string();
    world.kith(&a, &["announce", "Hall closed on Monday"]).ok();
    wait_until("Bob holds the request and the notice", PROPAGATION, || {
        let html = world.kith(&b, &["board", "--print"]).ok().to_string();
        html.contains("Lift to the surgery") && html.contains("Hall closed on Monday")
    });
    let html = world.kith(&b, &["board", "--print"]).ok().to_string();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<style>"), "a standalone page");
    assert!(html.contains("@page { size: A4"), "laid out for A4");
    let code = code_beside(&html, "Lift to the surgery");
    assert!(code.len() >= 4 && code.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()), "{code}");

    // The code names the post wherever an id does, in any case.
    let shown = world.json(&b, &["show", &code.to_lowercase()]);
    assert_eq!(shown["id"], request.as_str());
    world.kith(&b, &["reply", &code, "I can drive you"]).ok();
    world.kith(&a, &["done", &code]).ok();
    assert_eq!(world.json(&a, &["show", &code])["status"], "done");
    assert!(world.kith(&b, &["board", "--print", "--all"]).fails(2).contains("cannot be used"));
}
