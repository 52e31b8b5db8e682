//! The child process of the crash test: starts a node on a home (founding a community there if
//! it has none), publishes posts, prints each post's id on its own line, and aborts the process
//! right after the last publish returned — no clean shutdown, no destructors.
//!
//! Usage: `kith-test-node <home> <posts> [title prefix]`. Exit: aborts (SIGABRT) on success,
//! exits 2 with a message on error.

use std::io::Write;

use kith_node::{Node, NodeConfig};
use kith_protocol::{Body, PostKind, Rules};

fn usage() -> ! {
    eprintln!("usage: kith-test-node <home> <posts> [title prefix]");
    std::process::exit(2)
}

fn fail(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("kith-test-node: {what}: {error}");
    std::process::exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let Some(home) = args.next() else { usage() };
    let Some(posts) = args.next().and_then(|n| n.parse::<u32>().ok()) else { usage() };
    let prefix = args.next().unwrap_or_else(|| "crash".to_string());
    let mut config = NodeConfig::new(&home);
    config.network.mdns = false;
    config.found = Some(("Crash street".into(), "a community that crashes".into(), Rules::default()));
    let node = match Node::start(config).await {
        Ok(node) => node,
        Err(error) => fail("cannot start the node", error),
    };
    let mut stdout = std::io::stdout().lock();
    for i in 0..posts {
        let body = Body::Post {
            kind: PostKind::Request,
            title: format!("{prefix} {i}"),
            details: "published right before an abort".into(),
            category: "test".into(),
            when: String::new(),
            place: String::new(),
            expires_at: None,
        };
        match node.publish(body).await {
            Ok(entry) => {
                if writeln!(stdout, "{}", entry.hash()).and_then(|()| stdout.flush()).is_err() {
                    fail("cannot print", "stdout closed");
                }
            }
            Err(error) => fail("cannot publish", error),
        }
    }
    std::process::abort();
}
