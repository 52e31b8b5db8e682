//! `kith run`: starts the node in the foreground (network, store, local API and `api.json`),
//! founds a community with default rules on a home that has none, prints where things are (with
//! a one-time sign-in link to the web page),
//! and shuts down cleanly on Ctrl-C or SIGTERM.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};

use anyhow::{Context, Result, bail};

use kith_node::api::wire::NewInvite;
use kith_node::home::Home;
use kith_node::{Node, NodeConfig, NodeHandle};
use kith_protocol::{Body, Rules};

use crate::progress::{Progress, Stream};
use crate::validate::RunOptions;

/// The API's port when it is free; otherwise any free port (`api.json` says which).
pub const DEFAULT_API_PORT: u16 = 7474;
/// Where `--lan` (or `"lan": true` in config.json) serves the page on the home network.
const DEFAULT_LAN_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7475));
/// The name of a community founded by a bare `kith run`.
pub const DEFAULT_COMMUNITY_NAME: &str = "Kith neighbours";
/// Where a home node listens unless told otherwise.
const DEFAULT_LISTEN: &str = "/ip4/0.0.0.0/tcp/0";
/// Where a hub listens unless told otherwise: a fixed port, so invites and home nodes can
/// keep its address.
const DEFAULT_HUB_LISTEN: &str = "/ip4/0.0.0.0/tcp/4001";

/// Runs the node until Ctrl-C or SIGTERM.
pub fn run(home: &Home, options: RunOptions) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kith")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_node(home, options))
}

async fn run_node(home: &Home, options: RunOptions) -> Result<()> {
    let mut config = home.config()?;
    if config.restored && config.community.is_none() {
        bail!(
            "this home holds a restored key but does not know its community: join it with `kith join INVITE`, then `kith run`"
        );
    }
    if options.hub && config.community.is_none() {
        bail!(
            "a hub serves an existing community: first run `kith join INVITE --name \"Library hub\"` with an invite from an organiser, then `kith run --hub`"
        );
    }
    let founding = config.community.is_none();
    if founding && config.join_name.is_none() {
        config.join_name = Some(default_name());
        home.write_config(&config)?;
    }
    let mut node_config = NodeConfig::new(home.dir());
    node_config.network.listen = if options.listen.is_empty() {
        let default = if options.hub { DEFAULT_HUB_LISTEN } else { DEFAULT_LISTEN };
        vec![default.parse().context("the default listen address")?]
    } else {
        options.listen
    };
    node_config.network.hub = options.hub;
    if let Some(interval) = options.sync_interval {
        node_config.network.sync_interval = interval;
    }
    node_config.network.bootstrap = options.bootstrap;
    node_config.network.mdns = options.mdns;
    let api = options.api.unwrap_or_else(default_api_addr);
    let lan = options.lan.or_else(|| config.lan.then_some(DEFAULT_LAN_ADDR));
    node_config.found = Some((DEFAULT_COMMUNITY_NAME.to_string(), String::new(), Rules::default()));
    let mut node = Node::start(node_config).await?;
    kith_node::http::serve_node(&mut node, api, lan).await?;
    let handle = node.handle();
    publish_missing_profile(&handle, config.join_name.clone()).await;
    print_started(&node, home, founding, config.restored, options.hub).await;
    if options.hub {
        print_hub_next_steps(&node);
    }
    tokio::spawn(show_catch_up(handle.clone()));

    wait_for_stop().await;
    eprintln!("stopping…");
    node.shutdown().await?;
    Ok(())
}

/// The name a founder gets when a bare `kith run` founds a community: the login name, or
/// "Founder".
fn default_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .map(|n| n.trim().to_string())
        .filter(|n| {
            !n.is_empty() && n.len() <= kith_protocol::body::limits::PERSON_NAME && !n.contains(char::is_control)
        })
        .unwrap_or_else(|| "Founder".to_string())
}

/// 127.0.0.1 on the default port when it is free, or on any port.
fn default_api_addr() -> SocketAddr {
    let preferred = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, DEFAULT_API_PORT));
    match TcpListener::bind(preferred) {
        Ok(_) => preferred,
        Err(_) => SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)),
    }
}

/// A member with no profile yet (a founder) introduces themselves with the home's name.
async fn publish_missing_profile(node: &NodeHandle, name: Option<String>) {
    let Some(name) = name else { return };
    let needed = {
        let replica = node.replica();
        let me = replica.me();
        replica.community().and_then(|c| c.member(&me)).is_some_and(|m| m.admitted && m.profile.is_none())
    };
    if !needed {
        return;
    }
    let profile =
        Body::Profile { name, about: String::new(), area: String::new(), skills: Vec::new(), contact: String::new() };
    if let Err(error) = node.publish(profile).await {
        tracing::warn!(%error, "could not publish this member's profile");
    }
}

async fn print_started(node: &Node, home: &Home, founded: bool, restored: bool, hub: bool) {
    let handle = node.handle();
    let (community, member, admitted) = {
        let replica = node.replica();
        let me = replica.me();
        let community = replica.community().map(|c| format!("{} ({})", c.name(), c.id()));
        let community = community.or_else(|| replica.community_id().map(|id| format!("{id} (joining)")));
        let member = replica.community().and_then(|c| c.member(&me));
        (
            community,
            format!("{} ({me})", member.map_or_else(|| me.short(), |m| m.name())),
            member.is_some_and(|m| m.admitted),
        )
    };
    println!("Kith node running. Stop it with Ctrl-C.");
    println!("  home        {}", home.dir().display());
    println!("  member      {member}");
    println!("  community   {}", community.unwrap_or_else(|| "none".into()));
    for (i, addr) in handle.listen_addrs().await.iter().enumerate() {
        println!("  {}{addr}", if i == 0 { "listening   " } else { "            " });
    }
    if let Some(addr) = node.api_addr() {
        match login_link(home).await {
            Ok(url) => {
                println!("  web page    {url}");
                println!(
                    "              (open it in your browser: it works once, within 10 minutes; `kith open` makes a new one)"
                );
            }
            Err(error) => println!("  web page    http://{addr} (no sign-in link: {error:#}; try `kith open`)"),
        }
        println!("  local API   http://{addr} (for `kith` commands)");
        if node.lan_enabled() {
            println!("  home network  the page is served there too; pair a tablet or phone with `kith pair`");
        }
    }
    if founded {
        println!();
        println!("A new community was founded with you as its founder.");
        match kith_node::api::make_invite(&handle, &NewInvite::default()).await {
            Ok(invite) => {
                println!("Invite a neighbour: give them this line (good for 7 days):");
                println!();
                println!("  {}", invite.invite);
                println!();
                println!("They run:  kith join '<invite>' --name THEIR_NAME   then   kith run");
            }
            Err(error) => println!("(no invite yet: {error}; make one with `kith invite`)"),
        }
        println!("Then admit them:  kith members --pending   and   kith vouch THEIR_NAME");
        println!("Post an offer:    kith offer \"Lifts to the surgery\" --category transport");
    } else if restored {
        println!();
        println!(
            "Restored key: fetching your own log from peers. You can write again once it is back (see `kith status`)."
        );
    } else if !admitted && !hub {
        println!();
        println!("Waiting to be admitted: once connected, a member sees you in `kith members --pending`.");
    }
}

/// What a hub's operator does next: have an organiser appoint it, and hand out its address.
fn print_hub_next_steps(node: &Node) {
    let (me, appointed) = {
        let replica = node.replica();
        let me = replica.me();
        (me, replica.community().and_then(|c| c.member(&me)).is_some_and(|m| m.hub))
    };
    println!();
    println!("Running as a community hub: it keeps every entry and relays for homes behind routers.");
    if !appointed {
        println!("Ask an organiser to admit it as the community's hub:");
        println!();
        println!("  kith appoint {me} --hub");
        println!();
    }
    println!("Put its address in invites:  kith invite --hub <one of the addresses above>");
}

/// A one-time sign-in link for the web page, asked of the node's own API as `kith open` does.
async fn login_link(home: &Home) -> Result<String> {
    let home = home.clone();
    let asked = tokio::task::spawn_blocking(move || crate::client::Client::connect(&home)?.login_link()).await;
    Ok(asked.context("the sign-in link could not be made")??.url)
}

/// Shows a catch-up's progress while one is under way (the first one, of a big community, can
/// take minutes): a bar on a terminal, "catching up: 45,000 of about 100,000 entries (12 s
/// left)" lines otherwise, and a last line once level with the peers.
async fn show_catch_up(node: NodeHandle) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut shown: Option<Progress> = None;
    loop {
        tokio::select! {
            () = node.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match (node.catch_up(), shown.as_mut()) {
            (Some(catch_up), Some(progress)) => progress.update(catch_up.held, catch_up.expected),
            (Some(catch_up), None) => {
                let mut progress = Progress::new("catching up", "entries", true, Stream::Stdout);
                progress.update(catch_up.held, catch_up.expected);
                shown = Some(progress);
            }
            (None, Some(progress)) => {
                let held = node.replica().community().map_or(0, |c| c.entry_count() as u64);
                progress.finish(held);
                shown = None;
            }
            (None, None) => {}
        }
    }
}

/// Until Ctrl-C or SIGTERM.
async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; stop with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
