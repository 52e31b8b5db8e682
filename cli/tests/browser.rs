//! Browser tests of the web page: real `kith run` nodes in separate homes, Debian's chromium
//! driven headless through chromedriver (WebDriver, with fantoccini). Two volunteers sign in
//! through `kith open` links; Alice vouches for Bob, asks for help, Bob sees it arrive without
//! reloading, replies, Alice thanks him with hours and both pages show the new balances. axe-core
//! checks every page (zero violations), a keyboard-only walk posts and closes a request, the
//! page reflows at phone width and at 200% zoom, and forms work with JavaScript off. The test
//! writes docs/screenshots/*.png. It needs `.ci/setup` (chromium, chromium-driver, axe-core in
//! tests/browser/node_modules) and fails, saying so, when any of them is missing.
//!
//! A second test checks the page's door over plain HTTP: no cookie, no page; a used or wrong
//! code, no session; a POST from another origin or without the form's token changes nothing.
//!
//! A third (root only: network namespaces; skips saying why otherwise) puts the node on a home
//! network and a tablet's chromium beside it (chromedriver in the tablet's namespace, reached
//! through a small tunnel): unpaired, every page is the pairing page; the API answers neither
//! on the page's port nor on its own from the home network; after typing `kith pair`'s code the
//! tablet uses the page (the devices page from the navigation, a post the computer's node holds).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::fmt::Display;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use harness::{World, wait_until};
use serde_json::{Value, json};

/// How long entries may take to travel between two local nodes.
const PROPAGATION: Duration = Duration::from_secs(45);
/// How long a page or an element may take to appear.
const PAGE: Duration = Duration::from_secs(20);
/// The flags chromium runs with: headless, no sandbox (root in CI), nothing fetched.
const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--lang=en-GB",
];
/// The WCAG rules axe checks, plus its best practices.
const AXE_TAGS: [&str; 7] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn must<T, E: Display>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{what}: {error}"),
    }
}

/// What the browser tests need installed, or a failure that says how to install it.
struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
    axe: String,
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

fn tools() -> Tools {
    let hint = "run `.ci/setup` first (it installs Debian's chromium and chromium-driver and runs `npm ci` in \
                tests/browser for axe-core)";
    let chromium = find_program(&["chromium", "chromium-browser"])
        .unwrap_or_else(|| panic!("the browser tests need chromium, which is not on PATH: {hint}"));
    let chromedriver = find_program(&["chromedriver"])
        .unwrap_or_else(|| panic!("the browser tests need chromedriver, which is not on PATH: {hint}"));
    let axe_path = repo_root().join("tests/browser/node_modules/axe-core/axe.min.js");
    let axe = std::fs::read_to_string(&axe_path)
        .unwrap_or_else(|e| panic!("the browser tests need axe-core at {} ({e}): {hint}", axe_path.display()));
    Tools { chromium, chromedriver, axe }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// A chromedriver process on a loopback port in a process group of its own, which is killed
/// on drop: the chromiums it started go with it even when a test fails before closing them.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(tools: &Tools, log: &Path) -> Driver {
        let port = free_port();
        let child = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
        wait_until("chromedriver listens", PAGE, || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group's id is chromedriver's process id (`process_group(0)`).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        // Chromedriver alone, should `kill` be missing.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless chromium with its own profile folder.
async fn browser(driver: &Driver, tools: &Tools, profile: &Path, javascript: bool) -> Client {
    browser_with(driver, tools, profile, javascript, false).await
}

/// A headless chromium whose sites may show notifications when the page asks (as a member who
/// once answered "Allow" has it), or not.
async fn browser_with(driver: &Driver, tools: &Tools, profile: &Path, javascript: bool, notify: bool) -> Client {
    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push("--window-size=1024,1300".to_string());
    let mut options = json!({ "binary": tools.chromium.display().to_string(), "args": args });
    if !javascript {
        options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
    } else if notify {
        options["prefs"] = json!({ "profile.default_content_setting_values.notifications": 1 });
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector).capabilities(capabilities).connect(&driver.url).await;
    must(client, "start a chromium session through chromedriver")
}

/// A sign-in link from `kith open` for a home.
fn login_link(world: &World, home: &Path) -> String {
    let out = world.kith(home, &["open"]);
    let url = out.ok().lines().next().unwrap_or_default().to_string();
    assert!(url.starts_with("http://127.0.0.1:") && url.contains("/login?code="), "kith open printed {url:?}");
    url
}

fn base_of(link: &str) -> String {
    link.split("/login").next().unwrap_or_default().to_string()
}

/// Runs axe-core on the page and fails on any violation, listing them.
async fn axe(client: &Client, tools: &Tools, page: &str) {
    let present = must(client.execute("return typeof window.axe === 'object';", vec![]).await, "ask for axe");
    if present != json!(true) {
        must(client.execute(&format!("{};\nreturn true;", tools.axe), vec![]).await, "inject axe-core");
    }
    let script = "var done = arguments[arguments.length - 1];\n\
        axe.run(document, { runOnly: { type: 'tag', values: arguments[0] } }).then(function (r) {\n\
          done(r.violations.map(function (v) {\n\
            return v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.map(function (n) {\n\
              return n.target.join(' ');\n\
            }).join(', ');\n\
          }));\n\
        }, function (e) { done(['axe failed: ' + e]); });";
    let found = must(client.execute_async(script, vec![json!(AXE_TAGS)]).await, "run axe-core");
    let violations: Vec<String> = found
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default();
    assert!(violations.is_empty(), "axe-core found violations on {page}:\n  {}", violations.join("\n  "));
}

async fn goto(client: &Client, url: &str) {
    must(client.goto(url).await, &format!("open {url}"));
}

async fn find(client: &Client, css: &str) -> fantoccini::elements::Element {
    must(client.wait().at_most(PAGE).for_element(Locator::Css(css)).await, &format!("find `{css}`"))
}

/// The text of an element; tried again while a page is being replaced by the next one.
async fn text_of(client: &Client, css: &str) -> String {
    let deadline = Instant::now() + PAGE;
    loop {
        let read = match client.wait().at_most(PAGE).for_element(Locator::Css(css)).await {
            Ok(element) => element.text().await,
            Err(error) => Err(error),
        };
        match read {
            Ok(text) => return text,
            Err(error) if Instant::now() >= deadline => panic!("read `{css}`: {error}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn click(client: &Client, css: &str) {
    must(find(client, css).await.click().await, &format!("click `{css}`"));
}

async fn type_into(client: &Client, css: &str, text: &str) {
    let element = find(client, css).await;
    must(element.clear().await, &format!("clear `{css}`"));
    must(element.send_keys(text).await, &format!("type into `{css}`"));
}

async fn click_text(client: &Client, text: &str) {
    let xpath = format!("//*[(self::a or self::button) and normalize-space()=\"{text}\"]");
    let element =
        must(client.wait().at_most(PAGE).for_element(Locator::XPath(&xpath)).await, &format!("find “{text}”"));
    must(element.click().await, &format!("click “{text}”"));
}

async fn path_of(client: &Client) -> String {
    let url = must(client.current_url().await, "read the address");
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    }
}

async fn page_text(client: &Client) -> String {
    text_of(client, "body").await
}

/// Waits until the page's text holds `words`, reloading between tries when `reload`.
async fn wait_for_text(client: &Client, css: &str, words: &str, reload: bool, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let text = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(words) {
            return;
        }
        if Instant::now() >= deadline {
            let url = client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let body = match client.find(Locator::Css("body")).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!("timed out after {timeout:?} waiting for “{words}” in `{css}` at {url}; the page says:\n{body}");
        }
        if reload {
            must(client.refresh().await, "reload");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn screenshot(client: &Client, name: &str) {
    let png = must(client.screenshot().await, "take a screenshot");
    let dir = repo_root().join("docs/screenshots");
    must(std::fs::create_dir_all(&dir), "create docs/screenshots");
    must(std::fs::write(dir.join(name), png), "write a screenshot");
}

/// A picture for people reviewing a run (in the build's temporary folder, not the repository).
async fn look(client: &Client, name: &str) {
    let png = must(client.screenshot().await, "take a screenshot");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-looks");
    must(std::fs::create_dir_all(&dir), "create the looks folder");
    must(std::fs::write(dir.join(name), png), "write a look");
}

/// Presses one key on the page, as a keyboard does.
async fn press(client: &Client, key: Key) {
    let key: char = key.into();
    let actions =
        KeyActions::new("keyboard".to_string()).then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
    must(client.perform_actions(actions).await, "press a key");
}

/// Types text into whatever has the focus, key by key.
async fn type_keys(client: &Client, text: &str) {
    let mut actions = KeyActions::new("typing".to_string());
    for c in text.chars() {
        actions = actions.then(KeyAction::Down { value: c }).then(KeyAction::Up { value: c });
    }
    must(client.perform_actions(actions).await, "type");
}

/// What has the keyboard focus: tag, id, text (or value) and whether its focus ring shows.
async fn focused(client: &Client) -> (String, String, String, bool) {
    let script = "var e = document.activeElement; var s = window.getComputedStyle(e);\n\
        var ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none';\n\
        return [e.tagName.toLowerCase(), e.id || '', (e.innerText || e.value || '').trim(), ring];";
    let value = must(client.execute(script, vec![]).await, "ask what has the focus");
    let get = |i: usize| value[i].as_str().unwrap_or_default().to_string();
    (get(0), get(1), get(2), value[3].as_bool().unwrap_or(false))
}

/// Tabs forward until an element whose text is `text` has the focus (at most `limit` presses);
/// returns how many presses it took. Every element reached must show its focus ring.
async fn tab_to(client: &Client, text: &str, limit: usize) -> usize {
    let mut seen = Vec::new();
    for presses in 1..=limit {
        press(client, Key::Tab).await;
        let (tag, id, label, ring) = focused(client).await;
        assert!(ring || tag == "main", "the focus on <{tag} id={id:?}> “{label}” has no visible ring");
        if label == text {
            return presses;
        }
        seen.push(format!("<{tag}> {label}"));
    }
    panic!("“{text}” was not reached in {limit} presses of Tab; the focus went to: {}", seen.join(" | "));
}

/// Whether the page fits its width (nothing to scroll sideways).
async fn fits_width(client: &Client) -> (bool, Value) {
    let value = must(
        client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth, \
                 parseFloat(window.getComputedStyle(document.body).fontSize)];",
                vec![],
            )
            .await,
        "measure the page",
    );
    let fits = value[0].as_f64().unwrap_or(f64::MAX) <= value[1].as_f64().unwrap_or(0.0);
    (fits, value)
}

fn balance(world: &World, home: &Path, member: &str) -> i64 {
    world.json(home, &["balance", member])["balance_minutes"].as_i64().expect("balance_minutes is a number")
}

#[test]
fn volunteers_help_each_other_through_the_page() {
    let tools = tools();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    runtime.block_on(volunteers(&tools));
}

async fn volunteers(tools: &Tools) {
    let world = World::new();
    let (a, b) = (world.home("alice"), world.home("bob"));
    world.kith(&a, &["init", "--name", "Alice"]).ok();
    world.kith(&a, &["community", "create", "Elm Street", "--credit-limit", "5"]).ok();
    let _node_a = world.start(&a, &[]);
    let invite = world.kith(&a, &["invite"]).ok().to_string();
    world.kith(&b, &["join", &invite, "--name", "Bob"]).ok();
    let _node_b = world.start(&b, &[]);
    wait_until("Bob asks to join", PROPAGATION, || {
        world.json(&a, &["members", "--pending"]).as_array().is_some_and(|list| !list.is_empty())
    });

    let scratch = tempfile::tempdir().expect("a folder for browser profiles");
    let driver = Driver::start(tools, &scratch.path().join("chromedriver.log"));
    let alice = browser(&driver, tools, &scratch.path().join("alice"), true).await;
    let link_a = login_link(&world, &a);
    let base_a = base_of(&link_a);

    // Without the link: nothing of the community, only how to get in.
    goto(&alice, &format!("{base_a}/")).await;
    let text = page_text(&alice).await;
    assert!(text.contains("Please open Kith with your sign-in link") && text.contains("kith open"), "{text}");
    assert!(!text.contains("Elm Street"), "a signed-out page shows nothing of the community: {text}");
    axe(&alice, tools, "the signed-out page").await;
    goto(&alice, &format!("{base_a}/login?code=not-a-code")).await;
    assert!(page_text(&alice).await.contains("This sign-in link has expired"));
    axe(&alice, tools, "the expired-link page").await;

    // Alice signs in through the link and lands on the board.
    goto(&alice, &link_a).await;
    assert_eq!(path_of(&alice).await, "/");
    assert!(text_of(&alice, "h1").await.contains("What's on in Elm Street"));
    axe(&alice, tools, "the empty board").await;
    goto(&alice, &link_a).await;
    assert_eq!(path_of(&alice).await, "/", "a used link still leads a signed-in browser to the board");

    // Alice vouches for Bob from the neighbours page.
    click_text(&alice, "Neighbours (1 waiting to join)").await;
    wait_for_text(&alice, "main", "Waiting to join (1)", false, PAGE).await;
    axe(&alice, tools, "neighbours with a join request").await;
    screenshot(&alice, "neighbours.png").await;
    let note = find(&alice, "main form input[name=note]").await;
    must(note.send_keys("My neighbour at number 12").await, "type a note");
    click_text(&alice, "I know Bob: let them in").await;
    wait_for_text(&alice, ".flash", "Bob is now a member", false, PAGE).await;
    axe(&alice, tools, "neighbours after vouching").await;
    wait_until("Bob is a member on his own node", PROPAGATION, || world.json(&b, &["status"])["role"] == "member");

    // A fuller board for the pictures: an offer and a gathering from the command line.
    world
        .kith(
            &b,
            &[
                "offer",
                "Lifts to the surgery",
                "--category",
                "lifts",
                "--details",
                "Tuesday and Thursday mornings, in my blue car.",
            ],
        )
        .ok();
    world
        .kith(&a, &["gathering", "Knitting circle", "--when", "Thursdays at 2pm", "--place", "Elm Street library"])
        .ok();

    // Bob signs in and keeps his board open.
    let bob = browser(&driver, tools, &scratch.path().join("bob"), true).await;
    let link_b = login_link(&world, &b);
    let base_b = base_of(&link_b);
    goto(&bob, &link_b).await;
    wait_for_text(&bob, "#board", "Knitting circle", true, PROPAGATION).await;
    must(bob.execute("window.kithStayed = 'yes'; return true;", vec![]).await, "mark Bob's page");

    // Alice asks for help; a missing title is explained beside the field, and nothing is lost.
    goto(&alice, &format!("{base_a}/")).await;
    click(&alice, "main .actions a[href='/new/request']").await;
    wait_for_text(&alice, "h1", "Ask for help", false, PAGE).await;
    axe(&alice, tools, "the new request form").await;
    screenshot(&alice, "new-request.png").await;
    type_into(&alice, "#f-details", "I can't carry the heavy bags up the hill any more.").await;
    click_text(&alice, "Put my request on the board").await;
    let problem = text_of(&alice, "#f-title-error").await;
    assert!(problem.contains("Please write a few words"), "{problem}");
    let kept = must(find(&alice, "#f-details").await.prop("value").await, "read details");
    assert_eq!(kept.as_deref(), Some("I can't carry the heavy bags up the hill any more."));
    axe(&alice, tools, "the new request form with a problem").await;
    type_into(&alice, "#f-title", "Shopping on Tuesday").await;
    must(find(&alice, "#f-category").await.select_by_value("shopping").await, "choose a category");
    type_into(&alice, "#f-when", "Tuesday morning").await;
    type_into(&alice, "#f-place", "Elm Street, near the post office").await;
    click_text(&alice, "Put my request on the board").await;
    wait_for_text(&alice, ".flash", "Your request is on the board", false, PAGE).await;
    assert_eq!(text_of(&alice, "h1").await, "Shopping on Tuesday");
    let post_path = path_of(&alice).await;
    let post_path = post_path.split('?').next().unwrap_or_default().to_string();
    axe(&alice, tools, "a new post").await;

    // Bob sees it arrive on the board he has open, without reloading.
    wait_for_text(&bob, "#board", "Shopping on Tuesday", false, PROPAGATION).await;
    let stayed = must(bob.execute("return window.kithStayed || 'reloaded';", vec![]).await, "read the mark");
    assert_eq!(stayed, json!("yes"), "the board updated itself without a reload");
    assert!(text_of(&bob, "#live-news").await.contains("The board has something new"));
    axe(&bob, tools, "the board after a live update").await;
    goto(&bob, &format!("{base_b}/")).await;
    screenshot(&bob, "board.png").await;

    // Search and category filter.
    type_into(&bob, "#f-q", "heavy bags").await;
    click_text(&bob, "Search").await;
    wait_for_text(&bob, "#board", "1 post matches", false, PAGE).await;
    let board = text_of(&bob, "#board").await;
    assert!(
        board.contains("1 post matches") && board.contains("Shopping on Tuesday") && !board.contains("Knitting"),
        "{board}"
    );
    goto(&bob, &format!("{base_b}/?category=lifts")).await;
    let board = text_of(&bob, "#board").await;
    assert!(board.contains("Lifts to the surgery") && !board.contains("Shopping on Tuesday"), "{board}");
    axe(&bob, tools, "the board, searched").await;

    // Bob replies "I can help".
    goto(&bob, &format!("{base_b}{post_path}")).await;
    axe(&bob, tools, "someone else's request").await;
    type_into(&bob, "#f-text", "I can help: I shop at ten on Tuesdays anyway.").await;
    click_text(&bob, "I can help").await;
    wait_for_text(&bob, ".flash", "Your reply is sent", false, PAGE).await;

    // Alice's open page shows the reply; she thanks Bob with hours.
    wait_for_text(&alice, "#replies", "I shop at ten", false, PROPAGATION).await;
    look(&alice, "post-with-reply.png").await;
    click_text(&alice, "Thank Bob with hours").await;
    wait_for_text(&alice, "h1", "Thank someone with hours", false, PAGE).await;
    axe(&alice, tools, "the thank-you form").await;
    type_into(&alice, "#f-hours", "90x").await;
    type_into(&alice, "#f-memo", "Tuesday's shopping").await;
    click_text(&alice, "Send my thanks").await;
    assert!(text_of(&alice, "#f-hours-error").await.contains("could not read “90x”"));
    let memo = must(find(&alice, "#f-memo").await.prop("value").await, "read memo");
    assert_eq!(memo.as_deref(), Some("Tuesday's shopping"), "the memo is kept");
    axe(&alice, tools, "the thank-you form with a problem").await;
    type_into(&alice, "#f-hours", "6h").await;
    click_text(&alice, "Send my thanks").await;
    wait_for_text(&alice, "#f-hours-error", "more than you can give", false, PAGE).await;
    let over = text_of(&alice, "#f-hours-error").await;
    assert!(over.contains("more than you can give") && over.contains("-5h"), "{over}");
    look(&alice, "thank-over-limit.png").await;
    type_into(&alice, "#f-hours", "1h30m").await;
    click_text(&alice, "Send my thanks").await;
    wait_for_text(&alice, ".flash", "You thanked Bob with 1h30m", false, PAGE).await;
    assert!(text_of(&alice, ".balance").await.contains("-1h30m"));
    axe(&alice, tools, "my hours").await;

    // Bob's page shows his new balance once his node has claimed the hours.
    goto(&bob, &format!("{base_b}/hours")).await;
    wait_for_text(&bob, ".balance", "Your balance: 1h30m", false, PROPAGATION).await;
    let statement = text_of(&bob, ".statement").await;
    assert!(
        statement.contains("From Alice") && statement.contains("+1h30m") && statement.contains("Tuesday's shopping"),
        "{statement}"
    );
    axe(&bob, tools, "Bob's hours").await;
    screenshot(&bob, "my-hours.png").await;
    let printed = must(bob.print(fantoccini::wd::PrintConfiguration::default()).await, "print my hours");
    assert!(printed.starts_with(b"%PDF"), "printing makes a PDF");
    let looks = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-looks");
    must(std::fs::create_dir_all(&looks), "create the looks folder");
    must(std::fs::write(looks.join("my-hours-printed.pdf"), printed), "write the printed page");
    goto(&alice, &format!("{base_a}/hours")).await;
    assert!(text_of(&alice, ".balance").await.contains("-1h30m"));
    assert_eq!(balance(&world, &a, "alice"), -90);
    wait_until("Bob's node agrees", PROPAGATION, || balance(&world, &b, "bob") == 90);

    // The other pages: profiles, the connection, marking done.
    goto(&bob, &format!("{base_b}/profile")).await;
    axe(&bob, tools, "editing my profile").await;
    type_into(&bob, "#f-area", "Elm Street").await;
    type_into(&bob, "#f-skills", "lifts, shopping, <b>bold</b>").await;
    click_text(&bob, "Save my profile").await;
    wait_for_text(&bob, ".flash", "Your profile is saved", false, PAGE).await;
    assert!(text_of(&bob, "main").await.contains("lifts, shopping, <b>bold</b>"), "user text is shown as text");
    axe(&bob, tools, "my profile").await;
    goto(&bob, &format!("{base_b}/connection")).await;
    let connection = text_of(&bob, "main").await;
    look(&bob, "connection.png").await;
    assert!(connection.contains("Connected to 1 neighbour") && connection.contains("Alice"), "{connection}");
    assert!(!connection.contains("/ip4/") && !connection.contains("12D3Koo"), "no addresses: {connection}");
    axe(&bob, tools, "the connection").await;
    goto(&alice, &format!("{base_a}{post_path}")).await;
    click_text(&alice, "Mark as done").await;
    wait_for_text(&alice, ".flash", "Marked as done", false, PAGE).await;
    axe(&alice, tools, "my post, done").await;

    // Phone width and 200% zoom: one column, nothing to scroll sideways, 20px text.
    for (width, what) in [(360, "a phone"), (640, "200% zoom of a 1280px window")] {
        must(alice.set_window_size(width, 900).await, "resize");
        for path in ["/", "/hours", "/thank", "/neighbours", &post_path] {
            goto(&alice, &format!("{base_a}{path}")).await;
            let (fits, measured) = fits_width(&alice).await;
            assert!(
                fits,
                "{path} scrolls sideways at {what} ({width}px): [scrollWidth, innerWidth, font] = {measured}"
            );
            look(&alice, &format!("{width}{}.png", path.replace('/', "-"))).await;
        }
    }
    must(alice.set_window_size(1024, 1300).await, "resize");
    goto(&alice, &format!("{base_a}/")).await;
    let (_, measured) = fits_width(&alice).await;
    assert_eq!(measured[2].as_f64(), Some(20.0), "the text is 20px by default: {measured}");

    // A keyboard-only walk: skip link, ask for help, fill the form, post it, mark it done.
    goto(&bob, &format!("{base_b}/")).await;
    press(&bob, Key::Tab).await;
    assert_eq!(focused(&bob).await.2, "Skip to main content");
    press(&bob, Key::Enter).await;
    assert_eq!(focused(&bob).await.1, "main", "the skip link moves the focus to the main content");
    assert_eq!(tab_to(&bob, "Ask for help", 1).await, 1, "the first thing in the main content is “Ask for help”");
    press(&bob, Key::Enter).await;
    wait_for_text(&bob, "h1", "Ask for help", false, PAGE).await;
    press(&bob, Key::Tab).await;
    press(&bob, Key::Enter).await;
    press(&bob, Key::Tab).await;
    assert_eq!(focused(&bob).await.1, "f-title");
    type_keys(&bob, "Help with my garden").await;
    press(&bob, Key::Tab).await;
    assert_eq!(focused(&bob).await.1, "f-details");
    type_keys(&bob, "The hedge needs cutting.").await;
    press(&bob, Key::Tab).await;
    assert_eq!(focused(&bob).await.1, "f-category");
    type_keys(&bob, "Garden").await;
    press(&bob, Key::Tab).await;
    assert_eq!(focused(&bob).await.1, "f-when");
    type_keys(&bob, "Saturday").await;
    press(&bob, Key::Tab).await;
    assert_eq!(focused(&bob).await.1, "f-place");
    tab_to(&bob, "Put my request on the board", 1).await;
    press(&bob, Key::Enter).await;
    wait_for_text(&bob, ".flash", "Your request is on the board", false, PAGE).await;
    assert_eq!(text_of(&bob, "h1").await, "Help with my garden");
    assert!(text_of(&bob, ".facts-list").await.contains("garden"), "the category was chosen by keyboard");
    tab_to(&bob, "Mark as done", 30).await;
    press(&bob, Key::Enter).await;
    wait_for_text(&bob, ".flash", "Marked as done", false, PAGE).await;
    // The header's order: skip link, community, then the navigation.
    goto(&bob, &format!("{base_b}/")).await;
    tab_to(&bob, "Skip to main content", 1).await;
    tab_to(&bob, "Elm Street", 1).await;
    tab_to(&bob, "What's on", 1).await;
    tab_to(&bob, "Ask for help", 1).await;
    tab_to(&bob, "My hours", 3).await;
    press(&bob, Key::Enter).await;
    wait_for_text(&bob, "h1", "My hours", false, PAGE).await;

    // With JavaScript off, the forms still work.
    let plain = browser(&driver, tools, &scratch.path().join("plain"), false).await;
    goto(&plain, &login_link(&world, &a)).await;
    click(&plain, "main .actions a[href='/new/offer']").await;
    type_into(&plain, "#f-title", "Company for a cup of tea").await;
    click_text(&plain, "Put my offer on the board").await;
    wait_for_text(&plain, ".flash", "Your offer is on the board", false, PAGE).await;
    goto(&plain, &format!("{base_a}/hours")).await;
    assert!(text_of(&plain, "main").await.contains("use your browser's Print command"), "no-script print hint");

    for client in [alice, bob, plain] {
        let _ = client.close().await;
    }
}

/// Plain HTTP requests to the page's door: what a stranger, another site or a stale form gets.
#[test]
fn the_page_keeps_strangers_out() {
    let world = World::new();
    let a = world.home("alice");
    world.kith(&a, &["init", "--name", "Alice"]).ok();
    world.kith(&a, &["community", "create", "Elm Street"]).ok();
    let _node = world.start(&a, &[]);
    let link = login_link(&world, &a);
    let base = base_of(&link);
    let agent = ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().new_agent();
    let get = |url: &str, cookie: &str| {
        let mut response = agent.get(url).header("Cookie", cookie).call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.body_mut().read_to_string().unwrap_or_default())
    };

    let (status, _, body) = get(&format!("{base}/"), "");
    assert_eq!(status, 401);
    assert!(body.contains("kith open") && !body.contains("Elm Street"));
    let (status, _, _) = get(&format!("{base}/hours"), "kith_session_1=forged");
    assert_eq!(status, 401);

    let (status, headers, _) = get(&link, "");
    assert_eq!(status, 303);
    let cookie = headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap_or_default().to_string();
    let (status, _, _) = get(&link, "");
    assert_eq!(status, 401, "a link works once");
    let (status, _, body) = get(&format!("{base}/"), &pair);
    assert_eq!(status, 200);
    assert!(body.contains("Elm Street"));
    let csrf = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string();
    assert_eq!(csrf.len(), 64, "every form carries the session's token");

    let host = base.trim_start_matches("http://").to_string();
    let post = |origin: &str, form: &str| {
        let mut request = agent
            .post(format!("{base}/new/request"))
            .header("Cookie", &pair)
            .header("Content-Type", "application/x-www-form-urlencoded");
        if !origin.is_empty() {
            request = request.header("Origin", origin);
        }
        let mut response = request.send(form.as_bytes()).unwrap_or_else(|e| panic!("a POST: {e}"));
        (response.status().as_u16(), response.body_mut().read_to_string().unwrap_or_default())
    };
    let before = world.json(&a, &["status"])["entries"].clone();
    let (status, body) = post("http://evil.example", &format!("csrf={csrf}&title=Hello"));
    assert_eq!(status, 403, "{body}");
    let (status, _) = post(&format!("http://{host}"), "csrf=wrong&title=Hello");
    assert_eq!(status, 403);
    let (status, _) = post(&format!("http://{host}"), "title=Hello");
    assert_eq!(status, 403);
    assert_eq!(world.json(&a, &["status"])["entries"], before, "nothing was published");
    let (status, _) = post(&format!("http://{host}"), &format!("csrf={csrf}&title=Hello+%3Cb%3E"));
    assert_eq!(status, 303, "the page's own form with its token works");

    // Another name for this computer (DNS rebinding) gets nothing.
    let mut response =
        agent.get(format!("{base}/")).header("Host", "evil.example").header("Cookie", &pair).call().expect("a GET");
    assert_eq!(response.status().as_u16(), 421);
    assert!(!response.body_mut().read_to_string().unwrap_or_default().contains("Elm Street"));

    // User text is escaped.
    let (_, _, body) = get(&format!("{base}/"), &pair);
    assert!(body.contains("Hello &lt;b&gt;") && !body.contains("Hello <b>"), "escaped on the board");

    // The API still wants its token; the page's cookie is not enough.
    let mut response = agent.get(format!("{base}/api/status")).header("Cookie", &pair).call().expect("a GET");
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.body_mut().read_to_string().unwrap_or_default().contains("error"));
}

/// Makes the page look as it would on paper: every `@media print` rule of the stylesheet is
/// applied to the screen (what print media emulation does), so computed styles can be read.
async fn as_printed(client: &Client) {
    let script = "var added = 0;\n\
        for (var s of document.styleSheets) { var rules = Array.from(s.cssRules);\n\
          for (var r of rules) { if (r.media && r.media.mediaText.indexOf('print') >= 0) {\n\
            for (var inner of Array.from(r.cssRules)) {\n\
              if (inner.type === 1) { s.insertRule(inner.cssText, s.cssRules.length); added++; } } } } }\n\
        return added;";
    let added = must(client.execute(script, vec![]).await, "apply the print rules");
    assert!(added.as_u64().unwrap_or(0) > 5, "the stylesheet has print rules: {added}");
}

async fn display_of(client: &Client, css: &str) -> String {
    let script = format!("return window.getComputedStyle(document.querySelector('{css}')).display;");
    must(client.execute(&script, vec![]).await, "read a style").as_str().unwrap_or_default().to_string()
}

#[test]
fn an_organiser_reads_and_prints_how_the_community_is_doing() {
    let tools = tools();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    runtime.block_on(organiser_report(&tools));
}

async fn organiser_report(tools: &Tools) {
    let world = World::new();
    let (a, b) = (world.home("alice"), world.home("bob"));
    world.kith(&a, &["init", "--name", "Alice"]).ok();
    world.kith(&a, &["community", "create", "Elm Street", "--credit-limit", "5"]).ok();
    let _node_a = world.start(&a, &[]);
    let invite = world.kith(&a, &["invite"]).ok().to_string();
    world.kith(&b, &["join", &invite, "--name", "Bob"]).ok();
    let _node_b = world.start(&b, &[]);
    wait_until("Bob asks to join", PROPAGATION, || {
        world.json(&a, &["members", "--pending"]).as_array().is_some_and(|list| !list.is_empty())
    });
    world.kith(&a, &["vouch", "Bob"]).ok();
    wait_until("Bob is a member", PROPAGATION, || world.json(&b, &["status"])["role"] == "member");
    let garden = world.kith(&a, &["request", "Help in the garden", "--category", "garden"]).ok().to_string();
    wait_until("Bob sees the request", PROPAGATION, || {
        world.json(&b, &["board"]).as_array().is_some_and(|l| l.iter().any(|p| p["id"] == garden.as_str()))
    });
    world.kith(&b, &["reply", &garden[..8], "I can come on Saturday"]).ok();
    world.kith(&a, &["pay", "Bob", "1h30m", "--for", &garden[..8]]).ok();
    world.kith(&a, &["announce", "Hall closed on Monday", "--text", "Soup moves to the library."]).ok();

    let scratch = tempfile::tempdir().expect("a folder for browser profiles");
    let driver = Driver::start(tools, &scratch.path().join("chromedriver.log"));
    let alice = browser(&driver, tools, &scratch.path().join("alice"), true).await;
    goto(&alice, &login_link(&world, &a)).await;
    assert_eq!(path_of(&alice).await, "/");
    // The notice heads the board.
    assert!(text_of(&alice, ".announcements").await.contains("Hall closed on Monday"));
    axe(&alice, tools, "the board with a notice").await;

    // Keyboard only: from the top of the page to "How we're doing".
    tab_to(&alice, "How we're doing", 20).await;
    press(&alice, Key::Enter).await;
    wait_for_text(&alice, "h1", "How we're doing", false, PAGE).await;
    assert_eq!(path_of(&alice).await, "/report");
    let text = page_text(&alice).await;
    for words in [
        "1 pair of neighbours helped each other for the first time",
        "Alice and Bob",
        "1h30m in 1 exchange",
        "entries held by this node",
        "Garden",
    ] {
        assert!(text.contains(words), "the report says “{words}”:\n{text}");
    }
    axe(&alice, tools, "the organisers' report").await;
    screenshot(&alice, "report.png").await;

    // A second notice, from the organisers' form: it heads the board, and Bob's "For you".
    tab_to(&alice, "Post a notice to everyone", 30).await;
    press(&alice, Key::Enter).await;
    wait_for_text(&alice, "h1", "A notice to everyone", false, PAGE).await;
    axe(&alice, tools, "the notice form").await;
    click_text(&alice, "Post the notice").await;
    wait_for_text(&alice, "#problems", "Please write a few words for the title", false, PAGE).await;
    axe(&alice, tools, "the notice form with a problem").await;
    type_into(&alice, "#f-title", "Soup on Friday").await;
    type_into(&alice, "#f-text", "Bring a bowl.").await;
    must(
        alice.execute("document.getElementById('f-until').value = '2030-01-01'; return true;", vec![]).await,
        "set the last day",
    );
    screenshot(&alice, "announce.png").await;
    click_text(&alice, "Post the notice").await;
    wait_for_text(&alice, ".announcements", "Soup on Friday", false, PAGE).await;
    assert!(text_of(&alice, ".announcements").await.contains("Bring a bowl."));
    wait_until("Bob's inbox has the notice", PROPAGATION, || {
        world.json(&b, &["inbox"]).as_array().is_some_and(|items| {
            items
                .iter()
                .any(|i| i["kind"] == "announcement" && i["text"] == "Alice announced: Soup on Friday — Bring a bowl.")
        })
    });
    goto(&alice, &format!("{}/report", base_of(&login_link(&world, &a)))).await;

    // Another period, chosen with the keyboard-usable form.
    goto(&alice, &format!("{}/report?period=all", base_of(&login_link(&world, &a)))).await;
    let all = page_text(&alice).await;
    assert!(all.contains("Since the community began in Elm Street: up to"), "{all}");

    // On paper: no navigation, no forms, and it prints.
    as_printed(&alice).await;
    assert_eq!(display_of(&alice, ".banner nav").await, "none");
    assert_eq!(display_of(&alice, "form.report-period").await, "none");
    assert_eq!(display_of(&alice, ".footer").await, "none");
    screenshot(&alice, "report-print.png").await;
    let pdf = must(alice.print(fantoccini::wd::PrintConfiguration::default()).await, "print to PDF");
    assert!(pdf.starts_with(b"%PDF"), "a PDF");

    // The printed board, for a noticeboard: the notice, the request with its code.
    goto(&alice, &format!("{}/board/print", base_of(&login_link(&world, &a)))).await;
    let text = page_text(&alice).await;
    assert!(text.contains("Hall closed on Monday") && text.contains("Help in the garden"), "{text}");
    assert!(find(&alice, ".paper-post .code").await.text().await.is_ok_and(|c| c.trim().len() >= 4));
    axe(&alice, tools, "the printed board").await;
    screenshot(&alice, "board-print.png").await;

    // Bob is no organiser: no link to the report in his navigation.
    let bob = browser(&driver, tools, &scratch.path().join("bob"), true).await;
    goto(&bob, &login_link(&world, &b)).await;
    assert!(!text_of(&bob, "nav").await.contains("How we're doing"));
    goto(&bob, &format!("{}/announce", base_of(&login_link(&world, &b)))).await;
    assert!(text_of(&bob, "main").await.contains("Only organisers can post a notice to everyone"));
    assert!(bob.find(Locator::Css("#f-title")).await.is_err(), "no form for Bob");
    let _ = alice.close().await;
    let _ = bob.close().await;
}

/// Issue 14 in the page: a gathering started from its form, "I'll come" by keyboard (to the
/// series, then not to one date and to it again), the author's "For you" page with its live
/// count and browser notifications (none by default, one when turned on, none when stopped), a request heading the board of the neighbour
/// whose skill it names and "Neighbours who offer this" on it, and check-ins turned on and
/// answered with "I'm fine today". axe on every new page and state; phone width and 200% zoom.
#[test]
fn neighbours_come_together_through_the_page() {
    let tools = tools();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    runtime.block_on(come_together(&tools));
}

/// Records the body of every notification the page shows (each still shown by the browser's own
/// `Notification`) in `window.kithShown`.
const COUNT_NOTIFICATIONS: &str = "var Real = window.Notification; window.kithShown = [];\n\
    var Counted = function (title, options) { window.kithShown.push(options.body); return new Real(title, options); };\n\
    Object.defineProperty(Counted, 'permission', { get: function () { return Real.permission; } });\n\
    Counted.requestPermission = function () { return Real.requestPermission(); };\n\
    window.Notification = Counted; return Real.permission;";

async fn notifications_shown(client: &Client) -> Vec<String> {
    let shown = must(client.execute("return window.kithShown;", vec![]).await, "read the notifications shown");
    serde_json::from_value(shown).unwrap_or_default()
}

async fn come_together(tools: &Tools) {
    let world = World::new();
    let (a, b) = (world.home("alice"), world.home("bob"));
    world.kith(&a, &["init", "--name", "Alice"]).ok();
    world.kith(&a, &["community", "create", "Elm Street"]).ok();
    let _node_a = world.start(&a, &[]);
    let invite = world.kith(&a, &["invite"]).ok().to_string();
    world.kith(&b, &["join", &invite, "--name", "Bob"]).ok();
    let _node_b = world.start(&b, &[]);
    wait_until("Bob asks to join", PROPAGATION, || {
        world.json(&a, &["members", "--pending"]).as_array().is_some_and(|list| !list.is_empty())
    });
    world.kith(&a, &["vouch", "Bob"]).ok();
    wait_until("Bob is a member on his own node", PROPAGATION, || world.json(&b, &["status"])["role"] == "member");
    world.kith(&b, &["profile", "--skill", "shopping", "--contact", "07700 900123"]).ok();

    let scratch = tempfile::tempdir().expect("a folder for browser profiles");
    let driver = Driver::start(tools, &scratch.path().join("chromedriver.log"));
    let alice = browser_with(&driver, tools, &scratch.path().join("alice"), true, true).await;
    let link_a = login_link(&world, &a);
    let base_a = base_of(&link_a);
    goto(&alice, &link_a).await;

    // Alice starts a weekly gathering from the form.
    goto(&alice, &format!("{base_a}/new/gathering")).await;
    axe(&alice, tools, "the new gathering form").await;
    type_into(&alice, "#f-title", "Knitting circle").await;
    must(
        alice.execute("document.getElementById('f-starts').value = '2030-01-03T14:00'; return true;", vec![]).await,
        "set the start",
    );
    must(alice.execute("document.getElementById('f-ends').value = '16:00'; return true;", vec![]).await, "set the end");
    must(find(&alice, "#f-repeat").await.select_by_value("weekly").await, "choose weekly");
    type_into(&alice, "#f-capacity", "8").await;
    type_into(&alice, "#f-place", "Elm Street library").await;
    screenshot(&alice, "new-gathering.png").await;
    click_text(&alice, "Put my gathering on the board").await;
    wait_for_text(&alice, ".flash", "Your gathering is on the board", false, PAGE).await;
    let facts = text_of(&alice, ".facts-list").await;
    assert!(facts.contains("Thursday 3 January 2030, 2:00 pm to 4:00 pm, every week"), "{facts}");
    let gathering = path_of(&alice).await.split('?').next().unwrap_or_default().to_string();
    axe(&alice, tools, "a new gathering").await;

    // Bob opens it and says he'll come, by keyboard.
    let bob = browser(&driver, tools, &scratch.path().join("bob"), true).await;
    let link_b = login_link(&world, &b);
    let base_b = base_of(&link_b);
    goto(&bob, &link_b).await;
    wait_for_text(&bob, "#board", "Knitting circle", true, PROPAGATION).await;
    goto(&bob, &format!("{base_b}{gathering}")).await;
    axe(&bob, tools, "someone else's gathering").await;
    assert!(text_of(&bob, "#coming").await.contains("Nobody has said they are coming yet"));
    tab_to(&bob, "I'll come (every time)", 40).await;
    press(&bob, Key::Enter).await;
    wait_for_text(&bob, ".flash", "Alice will see that you are coming", false, PAGE).await;
    assert!(text_of(&bob, "#coming").await.contains("1 person coming (room for 8)"));
    axe(&bob, tools, "a gathering one is coming to").await;
    screenshot(&bob, "gathering.png").await;
    let ics = must(
        bob.execute(
            "var r = new XMLHttpRequest(); r.open('GET', arguments[0], false); r.send(); return r.responseText;",
            vec![json!(format!("{gathering}/calendar.ics"))],
        )
        .await,
        "fetch the .ics",
    );
    assert!(ics.as_str().is_some_and(|t| t.contains("RRULE:FREQ=WEEKLY")), "{ics}");

    // One date of the series, by keyboard: Bob can't come on the second date, the count of
    // that date alone goes down (here and on Alice's node), then he says he'll come after all.
    let id = gathering.trim_start_matches("/posts/").to_string();
    assert!(text_of(&bob, "#date-2030-01-10").await.contains("1 person coming (room for 8)"));
    goto(&bob, &format!("{base_b}{gathering}")).await;
    tab_to(&bob, "I can't come on Thursday 10 January 2030", 60).await;
    press(&bob, Key::Enter).await;
    wait_for_text(&bob, ".flash", "Alice will see that you can't come on Thursday 10 January 2030", false, PAGE).await;
    assert!(text_of(&bob, "#date-2030-01-10").await.contains("Nobody has said they are coming yet"));
    assert!(text_of(&bob, "#date-2030-01-17").await.contains("1 person coming (room for 8)"));
    assert!(text_of(&bob, "#coming").await.contains("Who's coming on Thursday 3 January 2030\n1 person coming"));
    axe(&bob, tools, "a repeating gathering with one date declined").await;
    screenshot(&bob, "gathering-dates.png").await;
    wait_until("Alice's node counts nobody on the second date", PROPAGATION, || {
        let dates = world.json(&a, &["show", &id])["dates"].clone();
        dates[1]["date"] == "2030-01-10" && dates[1]["coming"] == json!([]) && dates[2]["coming"][0]["name"] == "Bob"
    });
    tab_to(&bob, "I'll come on Thursday 10 January 2030", 10).await;
    press(&bob, Key::Enter).await;
    wait_for_text(&bob, ".flash", "Alice will see that you are coming on Thursday 10 January 2030", false, PAGE).await;
    assert!(text_of(&bob, "#date-2030-01-10").await.contains("1 person coming (room for 8)"));

    // Alice's "For you" count goes up on the page she has open; her inbox says Bob is coming.
    goto(&alice, &format!("{base_a}/")).await;
    wait_for_text(&alice, "#inbox-count", "For you (1 new)", false, PROPAGATION).await;
    click_text(&alice, "For you (1 new)").await;
    wait_for_text(&alice, "#inbox", "Bob is coming to “Knitting circle”", false, PAGE).await;
    axe(&alice, tools, "the inbox").await;
    screenshot(&alice, "for-you.png").await;
    click_text(&alice, "Mark everything as seen").await;
    wait_for_text(&alice, "#inbox", "Nothing new", false, PAGE).await;
    assert_eq!(text_of(&alice, "#inbox-count").await, "For you");

    // Browser notifications: off until Alice turns them on (her browser would allow them), on
    // for the next new item, off again when she stops them.
    let permission = must(alice.execute(COUNT_NOTIFICATIONS, vec![]).await, "count notifications");
    assert_eq!(permission, json!("granted"));
    world.kith(&b, &["reply", &id, "Shall I bring wool?"]).ok();
    wait_for_text(&alice, "#inbox-count", "For you (1 new)", false, PROPAGATION).await;
    assert_eq!(notifications_shown(&alice).await, Vec::<String>::new(), "off by default");
    tab_to(&alice, "Show a notification when something new arrives", 40).await;
    press(&alice, Key::Enter).await;
    wait_for_text(&alice, "#notify-toggle", "Stop notifications on this computer", false, PAGE).await;
    axe(&alice, tools, "the inbox with notifications on").await;
    world.kith(&b, &["reply", &id, "And needles?"]).ok();
    wait_for_text(&alice, "#inbox-count", "For you (2 new)", false, PROPAGATION).await;
    assert_eq!(notifications_shown(&alice).await, vec!["For you (2 new)".to_string()]);
    press(&alice, Key::Enter).await;
    wait_for_text(&alice, "#notify-toggle", "Show a notification when something new arrives", false, PAGE).await;
    world.kith(&b, &["reply", &id, "Never mind, I have some"]).ok();
    wait_for_text(&alice, "#inbox-count", "For you (3 new)", false, PROPAGATION).await;
    assert_eq!(notifications_shown(&alice).await, vec!["For you (2 new)".to_string()], "stopped");
    goto(&alice, &format!("{base_a}/inbox")).await;
    click_text(&alice, "Mark everything as seen").await;
    wait_for_text(&alice, "#inbox", "Nothing new", false, PAGE).await;

    // Alice asks for help with shopping: it heads Bob's board, with the reason.
    world.kith(&a, &["request", "Help with the weekly shop", "--category", "shopping"]).ok();
    goto(&bob, &format!("{base_b}/")).await;
    wait_for_text(&bob, "main", "You might help with", true, PROPAGATION).await;
    assert!(text_of(&bob, "main").await.contains("Because you offer: shopping"));
    axe(&bob, tools, "the board with a request Bob might help with").await;
    screenshot(&bob, "you-might-help.png").await;
    let request = world.json(&a, &["board", "--kind", "request"])[0]["id"].as_str().unwrap_or_default().to_string();
    goto(&alice, &format!("{base_a}/posts/{request}")).await;
    wait_for_text(&alice, "main", "Neighbours who offer this", false, PAGE).await;
    assert!(text_of(&alice, "main").await.contains("Bob — offers: shopping"));
    axe(&alice, tools, "a request with neighbours who offer it").await;

    // Bob asks to be checked on, with Alice as his buddy, then says he is fine today.
    goto(&bob, &format!("{base_b}/checkins")).await;
    axe(&bob, tools, "check-ins, off").await;
    type_into(&bob, "#f-days", "3").await;
    type_into(&bob, "#f-buddy", "Alice").await;
    click_text(&bob, "Turn it on").await;
    wait_for_text(
        &bob,
        "main",
        "It is on: if you are quiet for 3 days, Alice and the organisers are told.",
        false,
        PAGE,
    )
    .await;
    axe(&bob, tools, "check-ins, on").await;
    screenshot(&bob, "checkins.png").await;
    tab_to(&bob, "I'm fine today", 40).await;
    press(&bob, Key::Enter).await;
    wait_for_text(&bob, ".flash", "Your buddies will not be worried", false, PAGE).await;
    axe(&bob, tools, "check-ins, after I'm fine today").await;

    // Phone width and 200% zoom.
    for (width, what) in [(360, "a phone"), (640, "200% zoom of a 1280px window")] {
        must(bob.set_window_size(width, 900).await, "resize");
        for path in ["/inbox", "/checkins", "/new/gathering", gathering.as_str()] {
            goto(&bob, &format!("{base_b}{path}")).await;
            let (fits, measured) = fits_width(&bob).await;
            assert!(fits, "{path} scrolls sideways at {what} ({width}px): {measured}");
        }
    }
    for client in [alice, bob] {
        let _ = client.close().await;
    }
}

/// The computer running Kith and the tablet, on one home network segment (namespaces).
const LAN_PC_IP: &str = "10.99.0.10";
const LAN_TABLET_IP: &str = "10.99.0.20";
const LAN_PORT: u16 = 7475;
/// chromedriver's port inside the tablet's namespace (a fresh namespace: nothing else there).
const TABLET_DRIVER_PORT: u16 = 9515;

/// Carries each TCP connection to a loopback port here over to `target` on the loopback of
/// `namespace` (a bash `/dev/tcp` socket inside it), so that this test can drive a chromedriver
/// that runs, with its browser, on the tablet. Returns the port here. The relays end when the
/// topology kills what runs in its namespaces.
fn tunnel_into(namespace: &str, target: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the tunnel");
    let port = listener.local_addr().expect("its address").port();
    let namespace = namespace.to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut inbound) = stream else { return };
            let relay = Command::new("ip")
                .args(["netns", "exec", &namespace, "bash", "-c"])
                .arg(format!("exec 3<>/dev/tcp/127.0.0.1/{target}; cat <&3 & cat >&3; wait"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn();
            let Ok(mut relay) = relay else { return };
            let (Some(mut to_relay), Some(mut from_relay)) = (relay.stdin.take(), relay.stdout.take()) else { return };
            let Ok(mut outbound) = inbound.try_clone() else { return };
            std::thread::spawn(move || pass_on(&mut inbound, &mut to_relay));
            std::thread::spawn(move || {
                pass_on(&mut from_relay, &mut outbound);
                let _ = outbound.shutdown(std::net::Shutdown::Both);
                let _ = relay.wait();
            });
        }
    });
    port
}

/// Copies what arrives on `from` to `to` as it arrives, until either end closes.
fn pass_on(from: &mut impl std::io::Read, to: &mut impl std::io::Write) {
    let mut buffer = [0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buffer) {
        if n == 0 || to.write_all(&buffer[..n]).and_then(|()| to.flush()).is_err() {
            return;
        }
    }
}

#[test]
fn a_tablet_on_the_home_network_pairs_in_its_browser_and_uses_the_page() {
    if let Some(reason) = harness::netns::unavailable() {
        // Straight to stderr, past the test harness's capture.
        eprintln!("SKIPPED: {reason}");
        return;
    }
    let tools = tools();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    runtime.block_on(tablet_pairs(&tools));
}

async fn tablet_pairs(tools: &Tools) {
    use harness::netns::{LogTailsOnFailure, Site, Topology};
    let world = World::new();
    let _logs = LogTailsOnFailure(&world);
    let mut topology = Topology::new();
    let pc_ns = topology.add_public_host("pc", LAN_PC_IP);
    let tablet_ns = topology.add_public_host("tablet", LAN_TABLET_IP);
    let pc = Site::new(&world, &pc_ns, "pc");
    let lan = format!("{LAN_PC_IP}:{LAN_PORT}");
    let _node = pc.run(&["--listen", &format!("/ip4/{LAN_PC_IP}/tcp/0"), "--no-mdns", "--lan", &lan]);
    let page = format!("http://{lan}");
    let community = pc.json(&["status"])["community_name"].as_str().unwrap_or_default().to_string();
    assert!(!community.is_empty(), "the node founded a community");

    // The tablet: chromedriver and chromium inside its namespace, driven through a tunnel.
    let scratch = tempfile::tempdir().expect("a folder for the tablet's browser");
    let log = scratch.path().join("chromedriver.log");
    let child = Command::new("ip")
        .args(["netns", "exec", &tablet_ns])
        .arg(&tools.chromedriver)
        .arg(format!("--port={TABLET_DRIVER_PORT}"))
        .arg("--allowed-ips=127.0.0.1")
        .arg(format!("--log-path={}", log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver on the tablet");
    let here = tunnel_into(&tablet_ns, TABLET_DRIVER_PORT);
    let driver = Driver { child, url: format!("http://127.0.0.1:{here}") };
    wait_until("the tablet's chromedriver answers", PAGE, || {
        ureq::get(format!("{}/status", driver.url)).call().is_ok()
    });
    let tablet = browser(&driver, tools, &scratch.path().join("tablet"), true).await;

    // Unpaired: the board sends the tablet to the pairing page, which shows nothing of the
    // community.
    goto(&tablet, &format!("{page}/")).await;
    assert_eq!(path_of(&tablet).await, "/pair");
    wait_for_text(&tablet, "h1", "Pair this device", false, PAGE).await;
    assert!(!page_text(&tablet).await.contains(&community), "no community name before pairing");
    axe(&tablet, tools, "the pairing page").await;
    for path in ["/neighbours", "/devices", "/hours"] {
        goto(&tablet, &format!("{page}{path}")).await;
        assert_eq!(path_of(&tablet).await, "/pair", "{path} before pairing");
    }

    // The API: not on the page's port, and its own port does not answer on the home network.
    goto(&tablet, &format!("{page}/api/status")).await;
    assert!(!page_text(&tablet).await.contains("member_id"), "no API on the home network's port");
    let info = std::fs::read_to_string(pc.home.join("api.json")).expect("api.json");
    let info: Value = serde_json::from_str(&info).expect("api.json is JSON");
    let api_url = info["url"].as_str().expect("a url").to_string();
    let api_port = api_url.rsplit(':').next().expect("a port").to_string();
    let reached = tablet.goto(&format!("http://{LAN_PC_IP}:{api_port}/api/status")).await;
    if reached.is_ok() {
        assert!(!page_text(&tablet).await.contains("member_id"), "the API's port answers on the home network");
    }

    // `kith pair` on the computer; the tablet types the code and its name.
    let pairing = pc.json(&["pair"]);
    let code = pairing["code"].as_str().expect("a code").to_string();
    goto(&tablet, &format!("{page}/pair")).await;
    type_into(&tablet, "#f-code", &code).await;
    type_into(&tablet, "#f-device", "Kitchen tablet").await;
    click_text(&tablet, "Pair this device").await;
    wait_for_text(&tablet, "h1", &format!("What's on in {community}"), false, PAGE).await;
    assert_eq!(path_of(&tablet).await, "/");
    axe(&tablet, tools, "the board on the tablet").await;

    // Every page links to the devices page, which lists the tablet by its name.
    click(&tablet, "nav a[href='/devices']").await;
    wait_for_text(&tablet, "main", "Kitchen tablet", false, PAGE).await;
    axe(&tablet, tools, "the devices page on the tablet").await;

    // The tablet posts; the computer's node holds it.
    goto(&tablet, &format!("{page}/new/request")).await;
    type_into(&tablet, "#f-title", "A lift to the dentist").await;
    click_text(&tablet, "Put my request on the board").await;
    wait_for_text(&tablet, ".flash", "Your request is on the board", false, PAGE).await;
    let board = pc.json(&["board"]).to_string();
    assert!(board.contains("A lift to the dentist"), "the computer's node holds the tablet's post: {board}");

    // The API still does not answer the paired tablet on the home network's port.
    goto(&tablet, &format!("{page}/api/status")).await;
    assert!(!page_text(&tablet).await.contains("member_id"), "no API for a paired device either");

    must(tablet.close().await, "close the tablet's browser");
    drop(driver);
    drop(topology);
}

#[test]
fn a_helper_acts_for_a_neighbour_and_prints_the_directory() {
    let tools = tools();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    runtime.block_on(helper_and_directory(&tools));
}

/// Ada records for Mrs Patel, a neighbour without a computer, with the "acting for" switch
/// (reached and used from the keyboard), and Mrs Patel's request shows "helped by Ada"; then
/// Mrs Patel (through Ada) agrees to be listed, and the directory prints without its forms.
async fn helper_and_directory(tools: &Tools) {
    let world = World::new();
    let a = world.home("ada");
    world.kith(&a, &["init", "--name", "Ada"]).ok();
    world.kith(&a, &["community", "create", "Elm Street"]).ok();
    let _node_a = world.start(&a, &[]);
    world.kith(&a, &["member", "add", "--helped", "Mrs Patel"]).ok();
    world.kith(&a, &["vouch", "Mrs Patel"]).ok();
    wait_until("Mrs Patel is a member, helped by Ada", PROPAGATION, || {
        world.json(&a, &["members"]).as_array().is_some_and(|l| {
            l.iter().any(|m| m["name"] == "Mrs Patel" && m["status"] == "member" && m["helped_by_name"] == "Ada")
        })
    });

    let scratch = tempfile::tempdir().expect("a folder for browser profiles");
    let driver = Driver::start(tools, &scratch.path().join("chromedriver.log"));
    let ada = browser(&driver, tools, &scratch.path().join("ada"), true).await;
    goto(&ada, &login_link(&world, &a)).await;
    let base = base_of(&login_link(&world, &a));
    assert_eq!(text_of(&ada, "label[for='acting-for']").await, "Acting for:");
    axe(&ada, tools, "the board with the acting-for switch").await;

    // Keyboard only: the switch is in the tab order; a letter picks Mrs Patel, Enter switches.
    tab_to(&ada, "Switch", 30).await;
    must(ada.execute("document.getElementById('acting-for').focus(); return true;", vec![]).await, "focus the list");
    type_keys(&ada, "M").await;
    press(&ada, Key::Tab).await;
    press(&ada, Key::Enter).await;
    wait_for_text(&ada, "#acting-notice", "You are acting for Mrs Patel", false, PAGE).await;
    axe(&ada, tools, "the board acting for a neighbour").await;
    screenshot(&ada, "acting-for.png").await;

    goto(&ada, &format!("{base}/new/request")).await;
    type_into(&ada, "#f-title", "Shopping on Thursdays").await;
    click_text(&ada, "Put my request on the board").await;
    wait_for_text(&ada, ".flash", "Your request is on the board", false, PAGE).await;
    goto(&ada, &format!("{base}/")).await;
    wait_for_text(&ada, "#board", "Mrs Patel (helped by Ada)", false, PAGE).await;
    let board = world.json(&a, &["board"]);
    let post = board.as_array().and_then(|l| l.iter().find(|p| p["title"] == "Shopping on Thursdays").cloned());
    let post = post.expect("the request on the board");
    assert_eq!(post["author_name"], "Mrs Patel", "posted in her log, not Ada's: {post}");

    // The directory: nobody listed until they say so; Mrs Patel says yes through Ada.
    goto(&ada, &format!("{base}/directory")).await;
    assert!(page_text(&ada).await.contains("No one is listed yet."));
    axe(&ada, tools, "the empty directory").await;
    click_text(&ada, "List me in the directory").await;
    wait_for_text(&ada, "table.directory", "Mrs Patel", false, PAGE).await;
    assert!(!text_of(&ada, "table.directory").await.contains("Ada"), "Ada did not agree to be listed");
    axe(&ada, tools, "the directory").await;
    screenshot(&ada, "directory.png").await;
    as_printed(&ada).await;
    assert_eq!(display_of(&ada, "main form").await, "none", "no forms on paper");
    assert_eq!(display_of(&ada, ".banner nav").await, "none", "no navigation on paper");
    assert_ne!(display_of(&ada, "table.directory").await, "none");
    must(ada.close().await, "close Ada's browser");
}
