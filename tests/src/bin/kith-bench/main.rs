//! `kith-bench`: benchmark programs that print figures (never timed assertions). Each
//! scenario measures its own reference bound in the same run, on the same machine.
//!
//! `cargo run --release -p kith-tests --bin kith-bench -- <scenario> [--json] [--entries N]`
//! Scenarios: `ingest`, `catch-up`, `propagation`, `memory`, `heads`, `all` (which runs those
//! five), and `join [--runs R]`: a fresh node process joins a node process serving the history,
//! R times, and the worst run is reported beside the median; `inbox [--members M]`: the founder's
//! inbox of a community of M members (1,000 by default) who all asked to be checked on,
//! worked out, then kept, beside the quiet members' pass done the old way (every member
//! against everyone).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ed25519_dalek::{Signature, VerifyingKey};
use kith_node::replica::{Received, Replica};
use kith_node::store::Store;
use kith_node::verify::Verifier;
use kith_protocol::{Entry, EntryHash, Keypair};
use kith_tests::history::{History, Rng, generate};

mod apply;
mod scale;

/// Resident and peak memory of this process, from /proc (Linux), in bytes.
fn rss_bytes() -> (u64, u64) {
    scale::process_memory(std::process::id())
}

/// CPU time (user and system) from a /proc `stat` file (Linux; zero elsewhere), in the kernel's
/// ticks of 1/100 s.
fn cpu_time(stat_path: &Path) -> Duration {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // The fields after the command's name (which may hold spaces) closed by `)`: utime and stime
    // are the 14th and 15th of the line, the 12th and 13th after it.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after.split_whitespace().skip(11).take(2).filter_map(|v| v.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 10)
}

/// CPU time so far: of this process (its finished threads included), and of each of its live
/// threads by name, their numbers dropped (`sled-io-3` counts as `sled-io`).
fn cpu_times() -> (Duration, std::collections::BTreeMap<String, Duration>) {
    let mut by_thread = std::collections::BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().filter_map(Result::ok) {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let name = name.trim().trim_end_matches(|c: char| c.is_ascii_digit()).trim_end_matches('-');
        *by_thread.entry(name.to_string()).or_default() += cpu_time(&task.path().join("stat"));
    }
    (cpu_time(Path::new("/proc/self/stat")), by_thread)
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Raw single-core `verify_strict` over the same signed bytes, keys parsed beforehand.
fn raw_verify_rate(entries: &[Entry]) -> anyhow::Result<f64> {
    let mut prepared = Vec::with_capacity(entries.len());
    for entry in entries {
        let key = VerifyingKey::from_bytes(entry.author().as_bytes())?;
        let mut message = kith_protocol::entry::SIGNATURE_DOMAIN.to_vec();
        message.extend_from_slice(entry.header_bytes());
        prepared.push((key, message, Signature::from_bytes(entry.signature())));
    }
    let start = Instant::now();
    for (key, message, signature) in &prepared {
        key.verify_strict(message, signature)?;
    }
    Ok(per_second(prepared.len(), start.elapsed()))
}

/// Raw sled inserts of the same bytes (hash → entry bytes), no flush, same cache size.
fn raw_sled_rate(entries: &[Entry], dir: &Path) -> anyhow::Result<f64> {
    let db = sled::Config::new().path(dir).cache_capacity(kith_node::store::DEFAULT_CACHE_BYTES).open()?;
    let tree = db.open_tree("raw")?;
    let start = Instant::now();
    for entry in entries {
        tree.insert(entry.hash().as_bytes(), entry.bytes())?;
    }
    let rate = per_second(entries.len(), start.elapsed());
    drop(tree);
    drop(db);
    Ok(rate)
}

/// Feeds a history through the path a peer's entries take in catch-up: pages of 512,
/// decoded and verified on the verifier thread (`kith_node::verify::Verifier`, as the network
/// loop does) while the page before is judged by the reducer and stored with its views
/// (`engine::store_page`, as the node's storing thread does).
/// What [`ingest_paged`] took: in all, and on the thread that judges and stores (the rest of
/// that thread's time is waiting for signatures and decoding).
struct Ingested {
    elapsed: Duration,
    applying: Duration,
    /// CPU time of the whole process, and of its threads by name (the thread that judges and
    /// stores is `kith-bench`).
    cpu: Duration,
    cpu_by_thread: std::collections::BTreeMap<String, Duration>,
    replica: Replica,
}

fn ingest_paged(history: &History, home: &Path) -> anyhow::Result<Ingested> {
    let store = Store::open(home, kith_node::store::DEFAULT_CACHE_BYTES)?;
    let key = Keypair::from_secret_bytes([0xAB; 32]);
    let mut replica = Replica::open(store, key, Some(history.genesis.community()), u64::MAX / 2)?;
    replica.adopt_genesis(&history.genesis)?;
    // Behind a lock, as the node keeps it (`engine::store_page` takes it a chunk at a time).
    let replica = std::sync::Mutex::new(replica);
    let now = u64::MAX / 2;
    let start = Instant::now();
    let (cpu_before, threads_before) = cpu_times();
    let mut applying = Duration::ZERO;
    // As the network loop does: pages go to the verifier thread as they come (at most two
    // ahead of the store, as the loop asks for the next ordered page), and each verified page
    // is applied in chunks of `INGEST_CHUNK`.
    let (sender, verified) = std::sync::mpsc::channel();
    let verifier = Verifier::start(move |page| sender.send(page).is_ok())?;
    let mut pages = history.entries.chunks(512).enumerate();
    let submit = |pages: &mut dyn Iterator<Item = (usize, &[Entry])>| match pages.next() {
        Some((index, page)) => {
            let wire = page.iter().map(|e| e.bytes().to_vec()).collect();
            verifier.submit(index, wire).map_err(|_| anyhow::anyhow!("the verifier thread stopped"))
        }
        None => Ok(()),
    };
    submit(&mut pages)?;
    submit(&mut pages)?;
    for page_index in 0..history.entries.len().div_ceil(512) {
        let page = verified.recv().context("the verifier thread stopped")?;
        submit(&mut pages)?;
        if let Some(fault) = page.fault {
            bail!("entry {} of page {page_index} failed verification: {}", fault.index, fault.reason);
        }
        let started = Instant::now();
        let stored = kith_node::engine::store_page(&replica, page.entries, now);
        if let Some((_, other)) = stored.outcomes.iter().find(|(_, o)| !matches!(o, Received::Applied(_))) {
            bail!("entry not applied: {other:?}");
        }
        applying += started.elapsed();
        if page_index % 40 == 39 {
            eprintln!("  ingested {} entries…", (page_index + 1) * 512);
        }
    }
    let replica = replica.into_inner().map_err(|_| anyhow::anyhow!("the replica's lock was poisoned"))?;
    replica.store().flush()?;
    let (cpu_after, mut cpu_by_thread) = cpu_times();
    for (name, before) in threads_before {
        if let Some(after) = cpu_by_thread.get_mut(&name) {
            *after = after.saturating_sub(before);
        }
    }
    Ok(Ingested {
        elapsed: start.elapsed(),
        applying,
        cpu: cpu_after.saturating_sub(cpu_before),
        cpu_by_thread,
        replica,
    })
}

/// The gossip path: one entry at a time, `Entry::decode` with `verify_strict`.
fn ingest_one_by_one(history: &History, home: &Path) -> anyhow::Result<Duration> {
    let store = Store::open(home, kith_node::store::DEFAULT_CACHE_BYTES)?;
    let key = Keypair::from_secret_bytes([0xCD; 32]);
    let mut replica = Replica::open(store, key, Some(history.genesis.community()), u64::MAX / 2)?;
    replica.adopt_genesis(&history.genesis)?;
    let start = Instant::now();
    for entry in &history.entries {
        match replica.receive_bytes(entry.bytes().to_vec(), u64::MAX / 2) {
            Received::Applied(_) => {}
            other => bail!("entry not applied: {other:?}"),
        }
    }
    Ok(start.elapsed())
}

fn scenario_ingest(total: usize) -> anyhow::Result<serde_json::Value> {
    eprintln!("generating {total} entries from 200 members…");
    let history = generate(total, 200, 42)?;
    let raw_bytes: usize = history.entries.iter().map(|e| e.bytes().len()).sum();
    let work = tempfile::tempdir()?;
    eprintln!("measuring raw verify_strict…");
    let verify_per_s = raw_verify_rate(&history.entries)?;
    eprintln!("measuring raw sled inserts…");
    let sled_per_s = raw_sled_rate(&history.entries, &work.path().join("raw"))?;
    eprintln!("ingesting through the node's catch-up path…");
    let Ingested { elapsed, applying, cpu, cpu_by_thread, replica } =
        ingest_paged(&history, &work.path().join("paged"))?;
    let entries_per_s = per_second(history.entries.len(), elapsed);
    let (rss, peak) = rss_bytes();
    let disk = dir_size(&work.path().join("paged"));
    drop(replica);
    eprintln!("ingesting one by one (the gossip path)…");
    let gossip_elapsed = ingest_one_by_one(&history, &work.path().join("single"))?;
    Ok(serde_json::json!({
        "scenario": "ingest",
        "entries": history.entries.len(),
        "members": history.members,
        "entries_per_s": entries_per_s.round(),
        "gossip_path_entries_per_s": per_second(history.entries.len(), gossip_elapsed).round(),
        "verify_strict_per_s": verify_per_s.round(),
        "signature_arithmetic": signature_arithmetic(),
        "sled_insert_per_s": sled_per_s.round(),
        "ratio_to_verify": (entries_per_s / verify_per_s * 100.0).round() / 100.0,
        "seconds": (elapsed.as_secs_f64() * 100.0).round() / 100.0,
        "applying_seconds": (applying.as_secs_f64() * 100.0).round() / 100.0,
        "cpu_seconds": (cpu.as_secs_f64() * 100.0).round() / 100.0,
        "cpu_seconds_by_thread": cpu_by_thread
            .iter()
            .map(|(name, cpu)| (name.clone(), serde_json::json!((cpu.as_secs_f64() * 100.0).round() / 100.0)))
            .collect::<serde_json::Map<_, _>>(),
        "raw_bytes_per_entry": raw_bytes / history.entries.len(),
        "disk_bytes_per_entry": disk as usize / history.entries.len(),
        "process_rss_bytes_after": rss,
        "process_peak_rss_bytes": peak,
    }))
}

/// The arithmetic curve25519-dalek picks at run time for the signature checks timed here, by its
/// own rule: AVX-512 IFMA when built with it (`.cargo/config.toml`) and the processor has it,
/// else AVX2 when the processor has it, else portable code. The figures depend on it.
fn signature_arithmetic() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        let ifma = std::is_x86_feature_detected!("avx512ifma") && std::is_x86_feature_detected!("avx512vl");
        if cfg!(curve25519_dalek_backend = "avx512") && ifma {
            return "avx512ifma";
        }
        if std::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
    }
    "portable"
}

/// Bytes received on the loopback interface so far (Linux): what two local nodes sent each other.
fn loopback_rx_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
    text.lines()
        .find(|l| l.trim_start().starts_with("lo:"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// An invite line from the founder to `addrs`, so a fresh node is let through the gate.
fn founder_invite(history: &History, addrs: Vec<String>) -> String {
    let community = history.genesis.community();
    let expires = kith_node::clock::now_ms() + 3_600_000;
    let capability = kith_protocol::invite::Capability::issue(&history.founder, community, [7; 16], expires, 100);
    kith_node::invite::Invite { community, addrs, capability }.encode()
}

/// A node on loopback, port 0, mDNS off.
fn bench_node_config(home: &Path) -> anyhow::Result<kith_node::NodeConfig> {
    let mut config = kith_node::NodeConfig::new(home);
    config.network.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    config.network.mdns = false;
    Ok(config)
}

/// Fills a home with a history (as if the node had received it), ready for `Node::start`.
fn fill_home(history: &History, home: &Path) -> anyhow::Result<()> {
    let mut ingested = ingest_paged(history, &home.join("db"))?;
    // As a node does when it stops: the next start begins from this snapshot.
    ingested.replica.save_snapshot(kith_node::replica::SNAPSHOT_AFTER);
    drop(ingested);
    let home = kith_node::home::Home::open(home)?;
    if !home.has_key() {
        home.write_key(&history.founder)?;
    }
    home.write_config(&kith_node::home::HomeConfig {
        community: Some(history.genesis.community().to_string()),
        ..Default::default()
    })?;
    Ok(())
}

fn scenario_catch_up(total: usize) -> anyhow::Result<serde_json::Value> {
    eprintln!("generating {total} entries…");
    let history = generate(total, 200, 7)?;
    let entry_bytes: usize =
        history.entries.iter().map(|e| e.bytes().len()).sum::<usize>() + history.genesis.bytes().len();
    let work = tempfile::tempdir()?;
    eprintln!("measuring the ingest rate in this run…");
    let ingest_per_s =
        per_second(history.entries.len(), ingest_paged(&history, &work.path().join("ingest-ref"))?.elapsed);
    eprintln!("filling the serving node's home…");
    fill_home(&history, &work.path().join("server"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let server = kith_node::Node::start(bench_node_config(&work.path().join("server"))?).await?;
        let fresh_home = work.path().join("fresh");
        let home = kith_node::home::Home::open(&fresh_home)?;
        let addrs: Vec<String> = server.listen_addrs().iter().map(ToString::to_string).collect();
        home.write_config(&kith_node::home::HomeConfig {
            community: Some(history.genesis.community().to_string()),
            invite: Some(founder_invite(&history, addrs.clone())),
            bootstrap: addrs,
            ..Default::default()
        })?;
        let wanted = history.entries.len() + 1;
        let rx_before = loopback_rx_bytes();
        let start = Instant::now();
        let fresh = kith_node::Node::start(bench_node_config(&fresh_home)?).await?;
        let mut last_report = Instant::now();
        loop {
            let held = fresh.replica().community().map_or(0, |c| c.entry_count());
            if held >= wanted {
                break;
            }
            if start.elapsed() > Duration::from_secs(600) {
                bail!("catch-up did not finish in 10 minutes ({held} of {wanted})");
            }
            if last_report.elapsed() > Duration::from_secs(2) {
                let (pending, waits) = fresh.replica().community().map_or((0, String::new()), |c| {
                    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
                    for (_, wait) in c.pending() {
                        let kind = format!("{wait:?}");
                        let kind = kind.split([' ', '{']).next().unwrap_or("").to_string();
                        *kinds.entry(kind).or_default() += 1;
                    }
                    (c.pending_count(), format!("{kinds:?}"))
                });
                eprintln!("  {held} of {wanted} entries, {pending} waiting {waits}…");
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let elapsed = start.elapsed();
        let wire = loopback_rx_bytes().saturating_sub(rx_before);
        fresh.shutdown().await?;
        server.shutdown().await?;
        let entries_per_s = per_second(wanted, elapsed);
        Ok(serde_json::json!({
            "scenario": "catch-up",
            "entries": wanted,
            "seconds": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "entries_per_s": entries_per_s.round(),
            "ingest_entries_per_s": ingest_per_s.round(),
            "ratio_to_ingest": (entries_per_s / ingest_per_s * 100.0).round() / 100.0,
            "wire_bytes_per_entry": wire as usize / wanted,
            "entry_bytes_per_entry": entry_bytes / wanted,
        }))
    })
}

/// Summary statistics of latencies, in ms.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn scenario_propagation(nodes: usize, seconds: u64) -> anyhow::Result<serde_json::Value> {
    use kith_node::network::NodeEvent;
    use kith_tests::cluster::{Cluster, ClusterOptions};
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        eprintln!("forming a cluster of {nodes} nodes…");
        let options = ClusterOptions {
            full_mesh: false,
            sync_interval: Duration::from_secs(30),
            heartbeat: Duration::from_secs(1),
            form_timeout: Duration::from_secs(240),
            ..ClusterOptions::default()
        };
        let mut cluster = Cluster::start_with(nodes, options).await?;
        // A sparse random graph: every node links to three others, then node 0 (which every
        // joiner dialled first) keeps only three of its links.
        let mut rng = Rng(0x5eed);
        for i in 1..nodes {
            for _ in 0..3 {
                let j = 1 + rng.below(nodes - 1);
                if j != i {
                    cluster.connect(i, j).await?;
                }
            }
        }
        for j in 4..nodes {
            cluster.isolate(0, j).await?;
        }
        tokio::time::sleep(Duration::from_secs(3)).await; // let the meshes settle after the cuts
        let mut receivers: Vec<_> = (0..nodes).map(|i| cluster.node(i).events()).collect();
        let publisher = 1;
        let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String, Instant)>();
        for (i, mut rx) in receivers.drain(..).enumerate() {
            let tx = seen_tx.clone();
            tokio::spawn(async move {
                loop {
                    match rx.recv().await {
                        Ok(NodeEvent::Entry { id, .. }) => {
                            let _ = tx.send((i, id.to_string(), Instant::now()));
                        }
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    }
                }
            });
        }
        drop(seen_tx);
        let duplicates_before: Vec<u64> = (0..nodes).map(|i| cluster.node(i).stats().gossip_duplicates).collect();
        eprintln!("publishing one entry every 100 ms for {seconds} s…");
        let mut published: Vec<(String, Instant)> = Vec::new();
        let mut ticker = tokio::time::interval(Duration::from_millis(100));
        let until = Instant::now() + Duration::from_secs(seconds);
        while Instant::now() < until {
            ticker.tick().await;
            let entry = cluster.publish(publisher, kith_tests::cluster::post(&format!("post {}", published.len()))).await?;
            published.push((entry.hash().to_string(), Instant::now()));
        }
        let hashes: Vec<_> = published.iter().map(|(h, _)| h.parse::<EntryHash>()).collect::<Result<_, _>>()?;
        for hash in &hashes {
            cluster.wait_everywhere(*hash, Duration::from_secs(60)).await?;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut arrivals: std::collections::HashMap<String, Vec<Instant>> = std::collections::HashMap::new();
        while let Ok((i, id, at)) = seen_rx.try_recv() {
            if i != publisher {
                arrivals.entry(id).or_default().push(at);
            }
        }
        let mut latencies: Vec<f64> = published
            .iter()
            .filter_map(|(id, at)| {
                let times = arrivals.get(id)?;
                let last = times.iter().max()?;
                Some(last.saturating_duration_since(*at).as_secs_f64() * 1000.0)
            })
            .collect();
        latencies.sort_by(f64::total_cmp);
        let duplicates: u64 = (0..nodes)
            .map(|i| cluster.node(i).stats().gossip_duplicates.saturating_sub(duplicates_before[i]))
            .sum();
        let measured = latencies.len();
        cluster.shutdown().await;
        Ok(serde_json::json!({
            "scenario": "propagation",
            "nodes": nodes,
            "entries": published.len(),
            "entries_timed": measured,
            "p50_ms": (percentile(&latencies, 0.50) * 10.0).round() / 10.0,
            "p95_ms": (percentile(&latencies, 0.95) * 10.0).round() / 10.0,
            "p99_ms": (percentile(&latencies, 0.99) * 10.0).round() / 10.0,
            "max_ms": (percentile(&latencies, 1.0) * 10.0).round() / 10.0,
            "duplicates_per_node": (duplicates as f64 / (nodes as f64) / (published.len().max(1) as f64) * 100.0).round() / 100.0,
        }))
    })
}

/// Runs this program again as a node on `home`, returns its peak RSS after `settle`.
fn child_node_peak_rss(home: &Path, bootstrap: Option<&str>, settle: Duration) -> anyhow::Result<(u64, String)> {
    let exe = std::env::current_exe()?;
    let mut command = std::process::Command::new(exe);
    command.arg("serve-node").arg(home);
    if let Some(addr) = bootstrap {
        command.arg(addr);
    }
    let mut child = command.stdout(std::process::Stdio::piped()).stdin(std::process::Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().context("child stdout")?;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let addr = lines.next().context("the child node printed nothing")??;
    std::thread::sleep(settle);
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?;
    let peak = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    drop(child.stdin.take()); // closing stdin stops the child
    let _ = child.wait();
    Ok((peak, addr))
}

/// Hidden helper: run a node on a home until stdin closes; prints its first address.
fn serve_node(home: &Path, bootstrap: Option<&str>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let mut config = bench_node_config(home)?;
        if let Some(addr) = bootstrap {
            config.network.bootstrap.push(addr.parse()?);
        }
        let node = kith_node::Node::start(config).await?;
        let addr = node.listen_addrs().first().map(ToString::to_string).unwrap_or_default();
        if let Some(community) = node.replica().community() {
            eprintln!("  the node holds {} entries, {} waiting", community.entry_count(), community.pending_count());
        }
        println!("{addr}");
        tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            let _ = std::io::stdin().read_line(&mut sink);
        })
        .await?;
        node.shutdown().await?;
        Ok(())
    })
}

/// Hidden helper of `join`: starts a node on `home` (its config holds the invite and the
/// serving node's address; with its local API when `api`), waits until it holds `wanted`
/// entries, and prints one line: seconds taken, peak resident bytes.
fn join_node(home: &Path, wanted: usize, api: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let start = Instant::now();
        let mut node = kith_node::Node::start(bench_node_config(home)?).await?;
        if api {
            kith_node::http::serve_node(&mut node, "127.0.0.1:0".parse()?, None).await?;
        }
        loop {
            let held = node.replica().community().map_or(0, |c| c.entry_count());
            if held >= wanted {
                break;
            }
            if start.elapsed() > Duration::from_secs(300) {
                bail!("the join did not finish in 5 minutes ({held} of {wanted})");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let elapsed = start.elapsed().as_secs_f64();
        let (_, peak) = rss_bytes();
        println!("{elapsed} {peak}");
        node.shutdown().await?;
        Ok(())
    })
}

/// A command running `exe`, under the command the environment variable `var` names if it is
/// set: `KITH_BENCH_JOIN_UNDER="valgrind --tool=callgrind"` counts the joining process's
/// instructions (`KITH_BENCH_SERVE_UNDER`, the serving one's).
fn under(var: &str, exe: &Path) -> std::process::Command {
    let wrapper = std::env::var(var).unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut command = std::process::Command::new(program);
            command.args(words).arg(exe);
            command
        }
        None => std::process::Command::new(exe),
    }
}

/// A fresh node process joins a node process holding `total` entries, `runs` times; reports
/// the median and the worst run in time, peak memory of the joining process and bytes moved on
/// loopback, so that a run that fetches twice or fills its waiting area shows.
fn scenario_join(total: usize, runs: usize) -> anyhow::Result<serde_json::Value> {
    eprintln!("generating {total} entries…");
    let history = generate(total, 200, 7)?;
    let wanted = history.entries.len() + 1;
    let entry_bytes: usize =
        history.entries.iter().map(|e| e.bytes().len()).sum::<usize>() + history.genesis.bytes().len();
    let work = tempfile::tempdir()?;
    eprintln!("filling the serving node's home…");
    fill_home(&history, &work.path().join("server"))?;
    let exe = std::env::current_exe()?;
    let mut server = under("KITH_BENCH_SERVE_UNDER", &exe)
        .arg("serve-node")
        .arg(work.path().join("server"))
        .stdout(std::process::Stdio::piped())
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    let server_out = server.stdout.take().context("server stdout")?;
    let addr = std::io::BufRead::lines(std::io::BufReader::new(server_out)).next().context("no address")??;
    let mut seconds = Vec::new();
    let mut peaks = Vec::new();
    let mut moved = Vec::new();
    for run in 0..runs.max(1) {
        let home = work.path().join(format!("join-{run}"));
        kith_node::home::Home::open(&home)?.write_config(&kith_node::home::HomeConfig {
            community: Some(history.genesis.community().to_string()),
            invite: Some(founder_invite(&history, vec![addr.clone()])),
            bootstrap: vec![addr.clone()],
            ..Default::default()
        })?;
        let rx_before = loopback_rx_bytes();
        let output = under("KITH_BENCH_JOIN_UNDER", &exe)
            .arg("join-node")
            .arg(&home)
            .arg(wanted.to_string())
            .stderr(std::process::Stdio::inherit())
            .output()?;
        let rx = loopback_rx_bytes().saturating_sub(rx_before);
        let line = String::from_utf8_lossy(&output.stdout).trim().to_string();
        let mut fields = line.split_whitespace();
        let (Some(Ok(secs)), Some(Ok(peak))) =
            (fields.next().map(str::parse::<f64>), fields.next().map(str::parse::<u64>))
        else {
            bail!("join run {run} failed: {line}");
        };
        eprintln!("  run {run}: {secs:.2} s, peak {:.1} MB, {:.1} MB on loopback", peak as f64 / 1e6, rx as f64 / 1e6);
        seconds.push(secs);
        peaks.push(peak);
        moved.push(rx);
        let _ = std::fs::remove_dir_all(&home);
    }
    drop(server.stdin.take());
    let _ = server.wait();
    let median = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    let median_s = median(&seconds);
    let worst_s = seconds.iter().copied().fold(0.0, f64::max);
    let worst_peak = peaks.iter().copied().max().unwrap_or(0);
    let moved_f: Vec<f64> = moved.iter().map(|&b| b as f64).collect();
    Ok(serde_json::json!({
        "scenario": "join",
        "entries": wanted,
        "signature_arithmetic": signature_arithmetic(),
        "runs": seconds.len(),
        "median_seconds": (median_s * 100.0).round() / 100.0,
        "worst_seconds": (worst_s * 100.0).round() / 100.0,
        "worst_over_median": (worst_s / median_s.max(1e-9) * 100.0).round() / 100.0,
        "median_peak_mb": (median(&peaks.iter().map(|&p| p as f64).collect::<Vec<_>>()) / 1e5).round() / 10.0,
        "worst_peak_mb": (worst_peak as f64 / 1e5).round() / 10.0,
        "entry_mb": (entry_bytes as f64 / 1e5).round() / 10.0,
        "median_loopback_mb": (median(&moved_f) / 1e5).round() / 10.0,
        "worst_loopback_mb": (moved_f.iter().copied().fold(0.0, f64::max) / 1e5).round() / 10.0,
        "seconds": seconds,
    }))
}

fn scenario_memory(total: usize) -> anyhow::Result<serde_json::Value> {
    let work = tempfile::tempdir()?;
    eprintln!("idle: two connected nodes as processes…");
    let history_small = generate(10, 5, 3)?;
    fill_home(&history_small, &work.path().join("idle-a"))?;
    let exe = std::env::current_exe()?;
    let mut a = std::process::Command::new(&exe)
        .arg("serve-node")
        .arg(work.path().join("idle-a"))
        .stdout(std::process::Stdio::piped())
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    let a_out = a.stdout.take().context("child stdout")?;
    let a_addr = std::io::BufRead::lines(std::io::BufReader::new(a_out)).next().context("no address")??;
    let b_home = work.path().join("idle-b");
    kith_node::home::Home::open(&b_home)?.write_config(&kith_node::home::HomeConfig {
        community: Some(history_small.genesis.community().to_string()),
        invite: Some(founder_invite(&history_small, vec![a_addr.clone()])),
        ..Default::default()
    })?;
    let (idle_rss, _) = child_node_peak_rss(&b_home, Some(&a_addr), Duration::from_secs(8))?;
    drop(a.stdin.take());
    let _ = a.wait();
    eprintln!("loaded: a node holding {total} entries…");
    let history = generate(total, 200, 11)?;
    let raw: usize = history.entries.iter().map(|e| e.bytes().len()).sum();
    let loaded_home = work.path().join("loaded");
    fill_home(&history, &loaded_home)?;
    let disk = dir_size(&loaded_home.join("db"));
    let (loaded_rss, _) = child_node_peak_rss(&loaded_home, None, Duration::from_secs(3))?;
    Ok(serde_json::json!({
        "scenario": "memory",
        "entries": history.entries.len(),
        "idle_rss_bytes": idle_rss,
        "loaded_rss_bytes": loaded_rss,
        "disk_bytes_per_entry": disk as usize / history.entries.len(),
        "raw_bytes_per_entry": raw / history.entries.len(),
        "disk_to_raw": (disk as f64 / raw as f64 * 100.0).round() / 100.0,
    }))
}

/// Bytes one sync round between two nodes already in sync puts on the stream (the heads
/// request and answer, encoded by the same codec the node uses), per member.
fn scenario_heads() -> anyhow::Result<serde_json::Value> {
    use futures::io::Cursor;
    use kith_node::sync::{LogHead, SyncRequest, SyncResponse};
    use libp2p::request_response::Codec;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let mut result = serde_json::json!({ "scenario": "heads" });
    for members in [100usize, 1_000, 10_000] {
        let heads: Vec<LogHead> = (0..members)
            .map(|i| {
                let mut key = [0u8; 32];
                key[..8].copy_from_slice(&(i as u64).to_le_bytes());
                key[8..].copy_from_slice(&[0x5a; 24]);
                LogHead(key.to_vec(), 200 + (i as u64 % 5_000), vec![0xa5; kith_node::sync::HEAD_HASH_PREFIX])
            })
            .collect();
        let request = SyncRequest::Heads { community: vec![7; 32] };
        let response = SyncResponse::Heads { heads, forks: Vec::new() };
        let bytes = runtime.block_on(async {
            let mut codec = libp2p::request_response::cbor::codec::Codec::<SyncRequest, SyncResponse>::default()
                .set_response_size_maximum(kith_node::sync::MAX_RESPONSE_BYTES);
            let protocol = libp2p::StreamProtocol::new(kith_node::sync::SYNC_PROTOCOL);
            let mut request_bytes = Cursor::new(Vec::new());
            codec.write_request(&protocol, &mut request_bytes, request).await?;
            let mut response_bytes = Cursor::new(Vec::new());
            codec.write_response(&protocol, &mut response_bytes, response).await?;
            anyhow::Ok(request_bytes.into_inner().len() + response_bytes.into_inner().len())
        })?;
        result[format!("bytes_per_member_{members}")] =
            serde_json::json!((bytes as f64 / members as f64 * 10.0).round() / 10.0);
    }
    Ok(result)
}

/// The founder's inbox over `total` entries of `members` members, every one of whom asked to be
/// checked on (so the quiet members' pass meets each of them).
fn scenario_inbox(total: usize, members: usize) -> anyhow::Result<serde_json::Value> {
    use kith_protocol::{Body, Draft};
    let history = generate(total.max(2 * members), members, 17)?;
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), kith_node::store::DEFAULT_CACHE_BYTES)?;
    let now = u64::MAX / 4;
    let mut replica = Replica::open(store, history.founder.clone(), Some(history.genesis.community()), now)?;
    replica.adopt_genesis(&history.genesis)?;
    for entry in &history.entries {
        if !matches!(replica.receive_bytes(entry.bytes().to_vec(), now), Received::Applied(_)) {
            bail!("an entry of the history was not applied");
        }
    }
    let founder = history.founder.member_id();
    for key in history.keys.iter().skip(1) {
        let community = replica.community().context("a community")?;
        let head = community.member(&key.member_id()).and_then(|m| m.head).context("a member's head")?;
        let body = Body::CheckIns { days: Some(3), buddies: vec![founder] };
        let draft = Draft {
            community: Some(history.genesis.community()),
            seq: head.seq + 1,
            prev: Some(head.hash),
            timestamp_ms: head.timestamp_ms + 1,
            body,
        };
        if !matches!(replica.receive(Entry::sign(key, draft)?, now), Received::Applied(_)) {
            bail!("a check-in wish was not applied");
        }
    }
    // Ten days later one of them says "I'm fine today": everyone else has gone quiet.
    let later = 10 * 24 * 3600 * 1000;
    let fine = history.keys.get(1).context("a second member")?;
    let head = replica.community().and_then(|c| c.member(&fine.member_id())).and_then(|m| m.head).context("a head")?;
    let draft = Draft {
        community: Some(history.genesis.community()),
        seq: head.seq + 1,
        prev: Some(head.hash),
        timestamp_ms: head.timestamp_ms + later,
        body: Body::CheckIn,
    };
    if !matches!(replica.receive(Entry::sign(fine, draft)?, now), Received::Applied(_)) {
        bail!("a check-in was not applied");
    }
    let community = replica.community().context("a community")?;
    let clock = community.heads().map(|(_, h)| h.timestamp_ms).max().unwrap_or(0) + 1;
    let cache = kith_node::inbox::Cache::default();
    let start = Instant::now();
    let first = kith_node::inbox::items(&replica, &cache, clock)?;
    let computed = start.elapsed();
    let start = Instant::now();
    let again = kith_node::inbox::items(&replica, &cache, clock)?;
    let kept = start.elapsed();
    let start = Instant::now();
    let quiet = community.quiet_members(founder, clock).len();
    let quiet_pass = start.elapsed();
    // The old pass, as a reference: for each member who asked, the latest head of everyone else.
    let start = Instant::now();
    let mut old_quiet = 0;
    for (id, member) in community.members() {
        let (Some(wish), Some(head)) = (&member.checkins, member.head) else { continue };
        let others = community
            .members()
            .filter(|(other, _)| *other != id && **other != founder)
            .filter_map(|(_, m)| m.head.map(|h| h.timestamp_ms))
            .max()
            .unwrap_or(0);
        if kith_protocol::rules::quiet_days(wish.days, head.timestamp_ms, others, clock).is_some() {
            old_quiet += 1;
        }
    }
    let old_pass = start.elapsed();
    if first.len() != again.len() || quiet != old_quiet {
        bail!("the kept inbox or the quiet pass differ from a fresh one");
    }
    let ms = |d: Duration| (d.as_secs_f64() * 10_000.0).round() / 10.0;
    Ok(serde_json::json!({
        "scenario": "inbox",
        "members": members,
        "entries": community.entry_count(),
        "items": first.len(),
        "quiet_members": quiet,
        "inbox_worked_out_ms": ms(computed),
        "inbox_kept_ms": ms(kept),
        "quiet_pass_ms": ms(quiet_pass),
        "quiet_pass_old_ms": ms(old_pass),
    }))
}

fn print(result: &serde_json::Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(result)?);
    } else if let Some(object) = result.as_object() {
        for (key, value) in object {
            println!("{key:>28}  {value}");
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let entries = match args.iter().position(|a| a == "--entries") {
        Some(i) => args.get(i + 1).context("--entries needs a number")?.parse().context("--entries needs a number")?,
        None => 100_000,
    };
    if args.first().map(String::as_str) == Some("fill-home") {
        // Hidden helper for profiling: a home holding `--entries` entries, kept on disk.
        let home = args.get(1).context("fill-home HOME")?;
        return fill_home(&generate(entries, 200, 11)?, Path::new(home));
    }
    if args.first().map(String::as_str) == Some("join-node") {
        // Hidden helper of `join`: a fresh node that exits once it holds `WANTED` entries.
        let home = args.get(1).context("join-node HOME WANTED")?;
        let wanted = args.get(2).context("join-node HOME WANTED")?.parse().context("WANTED is a count")?;
        return join_node(Path::new(home), wanted, args.iter().any(|a| a == "--api"));
    }
    if args.first().map(String::as_str) == Some("dump-history") {
        // Hidden helper for counting instructions: the `join` scenario's history in a file.
        return apply::dump_history(Path::new(args.get(1).context("dump-history FILE")?), entries);
    }
    if args.first().map(String::as_str) == Some("apply") {
        // Hidden helper for counting instructions: a dumped history through the catch-up's
        // store path and back out through a serving node's answers, signatures not checked.
        return apply::apply(Path::new(args.get(1).context("apply FILE")?));
    }
    if args.first().map(String::as_str) == Some("serve-node") {
        let home = args.get(1).context("serve-node HOME [BOOTSTRAP]")?;
        return serve_node(Path::new(home), args.get(2).map(String::as_str));
    }
    let Some(scenario) = args.iter().find(|a| !a.starts_with("--") && a.parse::<usize>().is_err()) else {
        bail!(
            "usage: kith-bench <ingest|catch-up|propagation|memory|heads|join|inbox|big|hub|all> [--json] [--entries N] [--nodes K] [--runs R]"
        );
    };
    let nodes = match args.iter().position(|a| a == "--nodes") {
        Some(i) => args.get(i + 1).context("--nodes needs a number")?.parse().context("--nodes needs a number")?,
        None => 30,
    };
    let seconds = match args.iter().position(|a| a == "--seconds") {
        Some(i) => args.get(i + 1).context("--seconds needs a number")?.parse().context("--seconds needs a number")?,
        None => 30,
    };
    let runs = match args.iter().position(|a| a == "--runs") {
        Some(i) => args.get(i + 1).context("--runs needs a number")?.parse().context("--runs needs a number")?,
        None => 20,
    };
    let members = match args.iter().position(|a| a == "--members") {
        Some(i) => args.get(i + 1).context("--members needs a number")?.parse().context("--members needs a number")?,
        None => 1_000,
    };
    let scenarios: Vec<&str> = match scenario.as_str() {
        "all" => vec!["ingest", "catch-up", "propagation", "memory", "heads"],
        one => vec![one],
    };
    for scenario in scenarios {
        let result = match scenario {
            "ingest" => scenario_ingest(entries)?,
            "catch-up" => scenario_catch_up(entries)?,
            "propagation" => scenario_propagation(nodes, seconds)?,
            "memory" => scenario_memory(entries)?,
            "heads" => scenario_heads()?,
            "join" => scenario_join(entries, runs)?,
            "inbox" => scenario_inbox(entries.min(20_000), members)?,
            "big" => scale::scenario_big(entries)?,
            "hub" => scale::scenario_hub(entries, nodes)?,
            other => {
                bail!(
                    "unknown scenario `{other}`; known: ingest, catch-up, propagation, memory, heads, join, inbox, big, hub, all"
                )
            }
        };
        print(&result, json)?;
    }
    Ok(())
}
