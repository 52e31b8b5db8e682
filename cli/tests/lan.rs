//! The page on the home network (`kith run --lan`), on a home network made of Linux network
//! namespaces: the computer running Kith and a tablet on one segment. An unpaired tablet gets
//! nothing but the pairing page; the API is not reachable from the home network (neither its
//! port nor `/api` on the page's port); a wrong code opens nothing; `kith pair`'s code pairs
//! the tablet, which then uses the page, and is listed by its name; its cookie does not work
//! from another address. Root only (network namespaces); skips, saying why, otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::process::Command;

use harness::World;
use harness::netns::{LogTailsOnFailure, Site, Topology, unavailable};

const PC_IP: &str = "10.99.0.10";
const TABLET_IP: &str = "10.99.0.20";
const LAN_PORT: u16 = 7475;

/// What curl saw: the status code, the headers and the body.
struct Answer {
    status: u16,
    headers: String,
    body: String,
}

/// `curl` inside `namespace` (at most 10 s): `extra` are more curl arguments.
fn curl(namespace: &str, extra: &[&str], url: &str) -> Result<Answer, String> {
    let out = Command::new("ip")
        .args(["netns", "exec", namespace, "curl", "-s", "-S", "--max-time", "10", "-D", "-", "-o", "-"])
        .args(extra)
        .arg(url)
        .output()
        .expect("run curl");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = headers.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok(Answer { status, headers: headers.to_string(), body: body.to_string() })
}

fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer.headers.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[test]
fn a_tablet_pairs_over_the_home_network_and_nothing_else_gets_in() {
    if let Some(reason) = unavailable() {
        eprintln!("SKIPPED: {reason}");
        return;
    }
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("SKIPPED: curl is not installed");
        return;
    }
    let world = World::new();
    let _logs = LogTailsOnFailure(&world);
    let mut topology = Topology::new();
    let pc_ns = topology.add_public_host("pc", PC_IP);
    let tablet_ns = topology.add_public_host("tablet", TABLET_IP);
    let pc = Site::new(&world, &pc_ns, "pc");
    let lan = format!("{PC_IP}:{LAN_PORT}");
    let _node = pc.run(&["--listen", &format!("/ip4/{PC_IP}/tcp/0"), "--no-mdns", "--lan", &lan]);
    let page = format!("http://{lan}");

    // Unpaired: every page sends the tablet to the pairing page, which shows nothing of the
    // community.
    let board = curl(&tablet_ns, &[], &format!("{page}/")).expect("the page answers on the home network");
    assert_eq!(board.status, 303, "{}", board.headers);
    assert_eq!(header(&board, "location"), Some("/pair"));
    let pairing_page = curl(&tablet_ns, &[], &format!("{page}/pair")).expect("the pairing page");
    assert!(pairing_page.body.contains("Pair this device"), "{}", pairing_page.body);
    assert!(!pairing_page.body.contains("Kith neighbours"), "no community name before pairing");
    let login = curl(&tablet_ns, &[], &format!("{page}/login?code=x")).expect("an answer");
    assert_eq!(header(&login, "location"), Some("/pair"), "sign-in links are for the computer itself");

    // The API: not on the page's port, and its own port is not open to the home network.
    let api = curl(&tablet_ns, &[], &format!("{page}/api/status")).expect("an answer");
    assert_eq!(api.status, 404, "no API on the home network's port");
    let api_url = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(pc.home.join("api.json")).expect("api.json"),
    )
    .expect("api.json is JSON")["url"]
        .as_str()
        .expect("url")
        .to_string();
    let api_port = api_url.rsplit(':').next().expect("a port").to_string();
    assert!(
        curl(&tablet_ns, &[], &format!("http://{PC_IP}:{api_port}/api/status")).is_err(),
        "the API's port answers on the home network"
    );

    // A wrong code opens nothing.
    let origin = format!("Origin: {page}");
    let wrong = curl(&tablet_ns, &["-H", &origin, "--data", "code=AAAA-AAAA&device=Intruder"], &format!("{page}/pair"))
        .expect("an answer");
    assert_eq!(wrong.status, 401);
    assert!(header(&wrong, "set-cookie").is_none());

    // `kith pair` on the computer: a code, and a link naming the home network's address.
    let pairing = pc.json(&["pair"]);
    let code = pairing["code"].as_str().expect("a code").to_string();
    assert_eq!(code.len(), 8, "{pairing}");
    let url = pairing["url"].as_str().expect("a url");
    assert_eq!(url, format!("{page}/pair?code={code}"), "the QR code's link names the LAN address");
    let text = pc.kith(&["pair"]).ok().to_string();
    assert!(text.contains("Pairing code: ") && text.contains('█'), "a code and a QR code: {text}");

    // The tablet types the code and a name: its own session, and the page.
    let jar = world.home("tablet-cookies");
    let jar = jar.to_str().expect("a path");
    let paired = curl(
        &tablet_ns,
        &["-H", &origin, "-c", jar, "--data", &format!("code={}&device=Kitchen+tablet", code.to_lowercase())],
        &format!("{page}/pair"),
    )
    .expect("pairing answers");
    assert_eq!(paired.status, 303, "{}{}", paired.headers, paired.body);
    assert!(header(&paired, "set-cookie").is_some_and(|c| c.contains("HttpOnly")));
    let board = curl(&tablet_ns, &["-b", jar], &format!("{page}/")).expect("the board");
    assert_eq!(board.status, 200, "{}", board.headers);
    assert!(board.body.contains("What's on in Kith neighbours"), "{}", board.body);
    let devices = curl(&tablet_ns, &["-b", jar], &format!("{page}/devices")).expect("the devices page");
    assert!(devices.body.contains("Kitchen tablet"), "{}", devices.body);
    // The code worked once.
    let again =
        curl(&tablet_ns, &["-H", &origin, "--data", &format!("code={code}&device=Second")], &format!("{page}/pair"))
            .expect("an answer");
    assert_eq!(again.status, 401);

    // The tablet's cookie, taken to another address (here the computer itself), opens nothing.
    let stolen = curl(&pc_ns, &["-b", jar], &format!("{page}/")).expect("an answer");
    assert_eq!(stolen.status, 303, "a paired device's session is bound to its address");
    assert_eq!(header(&stolen, "location"), Some("/pair"));
    drop(topology);
}
