//! Tests of what installing and operating `kith` relies on: the shell completion scripts and
//! the man page generated from the clap definitions, `kith run --log-format json` writing one
//! JSON object a line for a log collector, and `kith status` saying whether a catch-up is
//! under way.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::process::{Command, Stdio};
use std::time::Duration;

use harness::{World, wait_until};
use serde_json::Value;

/// Subcommands every completion script must offer.
const SUBCOMMANDS: [&str; 6] = ["run", "status", "vouch", "completions", "manpage", "board"];

#[test]
fn completion_scripts_name_the_subcommands_and_parse() {
    let world = World::new();
    let home = world.home("unused");
    for shell in ["bash", "zsh", "fish"] {
        let script = world.kith(&home, &["completions", shell]).ok().to_string();
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "the {shell} script names `{sub}`:\n{script}");
        }
        assert!(script.contains("log-format"), "the {shell} script completes `kith run`'s options");
    }
    // bash reads the script without a syntax error.
    let bash = world.kith(&home, &["completions", "bash"]).ok().to_string();
    let checked = Command::new("bash").arg("-n").arg("-c").arg(&bash).output().expect("run bash -n");
    assert!(checked.status.success(), "bash -n: {}", String::from_utf8_lossy(&checked.stderr));
    assert!(!home.exists(), "printing a completion script makes no home");
    // An unknown shell is a usage error.
    world.kith(&home, &["completions", "tcsh"]).fails(2);
}

#[test]
fn man_page_is_roff_that_groff_reads_and_lists_every_command() {
    let world = World::new();
    let home = world.home("unused");
    let page = world.kith(&home, &["manpage"]).ok().to_string();
    assert!(page.lines().any(|l| l.starts_with(".TH kith 1")), "a .TH kith 1 title line:\n{page}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH COMMANDS"] {
        assert!(page.contains(section), "the page has {section}");
    }
    for command in ["kith vouch", "kith community create", "kith key restore", "kith run"] {
        assert!(page.contains(&command.replace('-', "\\-")), "the page documents `{command}`");
    }
    assert!(page.contains("\\-\\-log\\-format"), "the page documents `kith run --log-format`");
    assert!(!home.exists(), "printing the man page makes no home");

    // groff formats it without a warning (-ww: every warning; -z: no output).
    let Ok(mut groff) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("groff is not installed: the page was checked as text only");
        return;
    };
    std::io::Write::write_all(&mut groff.stdin.take().expect("groff's stdin"), page.as_bytes()).expect("feed groff");
    let formatted = groff.wait_with_output().expect("groff ends");
    assert!(formatted.status.success());
    let warnings = String::from_utf8_lossy(&formatted.stderr);
    assert!(warnings.trim().is_empty(), "groff warnings:\n{warnings}");
}

#[test]
fn run_with_json_logs_writes_one_json_object_a_line() {
    let world = World::new();
    let home = world.home("hub");
    let node = world.start(&home, &["--log-format", "json"]);
    wait_until("the node logs that it started", Duration::from_secs(30), || {
        std::fs::read_to_string(&node.log).unwrap_or_default().contains("node started")
    });
    let log = std::fs::read_to_string(&node.log).expect("the node's log");
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let object: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(object["timestamp"].is_string(), "{line}");
        assert!(object["level"].is_string(), "{line}");
        assert!(object["fields"].is_object(), "{line}");
    }
    assert!(lines.iter().any(|l| l.contains("\"node started\"")), "{log}");
}

#[test]
fn status_has_a_null_catch_up_when_level_with_its_peers() {
    let world = World::new();
    let home = world.home("alone");
    let _node = world.start(&home, &[]);
    let status = world.json(&home, &["status"]);
    assert!(status.get("catch_up").is_some_and(Value::is_null), "`catch_up` is there and null: {status}");
    let text = world.kith(&home, &["status"]).ok().to_string();
    assert!(!text.contains("catching up"), "{text}");
}
