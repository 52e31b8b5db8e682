//! The large-community scenarios (issue 17 §4), each with real node processes: `big` fills a
//! home with a million entries and has a fresh node catch up from it while `kith status` is
//! asked every half second; `hub` has many fresh nodes join one hub at once.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kith_tests::history::{History, generate};

use crate::{dir_size, fill_home, founder_invite};

/// Resident and peak memory of process `pid`, from /proc (Linux), in bytes (0 once it has
/// gone).
pub fn process_memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A node process serving `home`, with the time from its start to its first address.
struct Served {
    child: Child,
    addr: String,
    start_seconds: f64,
}

impl Served {
    fn start(home: &Path) -> anyhow::Result<Served> {
        let started = Instant::now();
        // Under the command `KITH_BENCH_SERVE_UNDER` names, if set (`heaptrack`: what the
        // serving node holds; its peak below is then the wrapper's).
        let mut child = crate::under("KITH_BENCH_SERVE_UNDER", &std::env::current_exe()?)
            .arg("serve-node")
            .arg(home)
            .stdout(Stdio::piped())
            .stdin(Stdio::piped())
            .spawn()?;
        let out = child.stdout.take().context("the node's stdout")?;
        // The first line that is an address (a wrapper may print lines of its own first); the
        // rest is read and dropped, so that whatever prints later is not cut off.
        let mut lines = std::io::BufReader::new(out).lines().map_while(Result::ok);
        let addr = lines.find(|line| line.starts_with("/ip")).context("the node printed no address")?;
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Served { child, addr, start_seconds: started.elapsed().as_secs_f64() })
    }

    /// Stops the node (closing its stdin); returns its peak resident bytes.
    fn stop(mut self) -> u64 {
        let (_, peak) = process_memory(self.child.id());
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        peak
    }
}

/// Writes a fresh home that will join with the founder's invite through `addr`.
fn joining_home(history: &History, home: &Path, addr: &str) -> anyhow::Result<()> {
    kith_node::home::Home::open(home)?.write_config(&kith_node::home::HomeConfig {
        community: Some(history.genesis.community().to_string()),
        invite: Some(founder_invite(history, vec![addr.to_string()])),
        bootstrap: vec![addr.to_string()],
        ..Default::default()
    })?;
    Ok(())
}

/// Starts `join-node` on `home` (with its local API when `api`), which exits holding `wanted`.
fn start_joiner(home: &Path, wanted: usize, api: bool) -> anyhow::Result<Child> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("join-node").arg(home).arg(wanted.to_string());
    if api {
        command.arg("--api");
    }
    Ok(command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?)
}

/// The joiner's one line: seconds taken and peak resident bytes.
fn joiner_result(child: Child) -> anyhow::Result<(f64, u64)> {
    let output = child.wait_with_output()?;
    let line = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let mut fields = line.split_whitespace();
    match (fields.next().map(str::parse::<f64>), fields.next().map(str::parse::<u64>)) {
        (Some(Ok(seconds)), Some(Ok(peak))) => Ok((seconds, peak)),
        _ => bail!("a joining node failed: {line:?} ({})", output.status),
    }
}

/// The `kith` program beside this one (built with it: `cargo build --release -p kith-cli`).
fn kith_program() -> Option<PathBuf> {
    let path = std::env::current_exe().ok()?.parent()?.join("kith");
    path.exists().then_some(path)
}

/// Runs `kith status --json` on `home`: how long it took, if it answered.
fn time_status(kith: &Path, home: &Path) -> Option<f64> {
    let started = Instant::now();
    let output = Command::new(kith).arg("--home").arg(home).args(["status", "--json"]).output().ok()?;
    output.status.success().then(|| started.elapsed().as_secs_f64())
}

fn rounded(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

fn megabytes(bytes: u64) -> f64 {
    rounded(bytes as f64 / 1e6, 1)
}

/// `big`: a home of `total` entries (200 members) filled; the node on it started; a fresh
/// node (with its local API) catches up from it while `kith status` is asked every 500 ms; the
/// caught-up home started again.
pub fn scenario_big(total: usize) -> anyhow::Result<serde_json::Value> {
    eprintln!("generating {total} entries…");
    let history = generate(total, 200, 13)?;
    let wanted = history.entries.len() + 1;
    let raw: usize = history.entries.iter().map(|e| e.bytes().len()).sum();
    let work = tempfile::tempdir()?;
    let server_home = work.path().join("server");
    eprintln!("filling a home with them…");
    let fill_started = Instant::now();
    fill_home(&history, &server_home)?;
    let fill_seconds = fill_started.elapsed().as_secs_f64();
    let server_disk = dir_size(&server_home.join("db"));
    eprintln!("  {fill_seconds:.1} s, {:.0} MB on disk; starting a node on it…", server_disk as f64 / 1e6);
    let server = Served::start(&server_home)?;
    let start_seconds = server.start_seconds;
    let (server_rss_started, _) = process_memory(server.child.id());
    eprintln!("  started in {:.2} s, {:.0} MB resident", server.start_seconds, server_rss_started as f64 / 1e6);

    let join_home = work.path().join("joiner");
    joining_home(&history, &join_home, &server.addr)?;
    let kith = kith_program();
    if kith.is_none() {
        eprintln!("  no `kith` beside this program: status is not timed (cargo build --release -p kith-cli)");
    }
    eprintln!("a fresh node joins…");
    let joiner = start_joiner(&join_home, wanted, true)?;
    let joiner_pid = joiner.id();
    let watcher = std::thread::spawn({
        let join_home = join_home.clone();
        move || -> (Vec<f64>, u64) {
            let mut times = Vec::new();
            let mut rss_max = 0;
            let mut last_report = Instant::now();
            loop {
                // 0 once the joining node has exited (it is waited for meanwhile).
                let (rss, _) = process_memory(joiner_pid);
                if rss == 0 {
                    break;
                }
                rss_max = rss_max.max(rss);
                if let Some(kith) = &kith
                    && join_home.join("api.json").exists()
                    && let Some(took) = time_status(kith, &join_home)
                {
                    times.push(took);
                }
                if last_report.elapsed() > Duration::from_secs(10) {
                    eprintln!("  joining node at {:.0} MB resident", rss as f64 / 1e6);
                    last_report = Instant::now();
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            (times, rss_max)
        }
    });
    let (join_seconds, join_peak) = joiner_result(joiner)?;
    let (mut status_seconds, joiner_rss_max) = watcher.join().unwrap_or_default();
    let server_peak = server.stop();
    let join_disk = dir_size(&join_home.join("db"));
    eprintln!("starting the caught-up home again…");
    let again = Served::start(&join_home)?;
    let restart_seconds = again.start_seconds;
    let (restart_rss, _) = process_memory(again.child.id());
    again.stop();
    status_seconds.sort_by(f64::total_cmp);
    let status_median = status_seconds.get(status_seconds.len() / 2).copied().unwrap_or(0.0);
    let status_worst = status_seconds.last().copied().unwrap_or(0.0);
    Ok(serde_json::json!({
        "scenario": "big",
        "entries": wanted,
        "fill_seconds": rounded(fill_seconds, 1),
        "disk_mb": megabytes(server_disk),
        "disk_to_raw": rounded(server_disk as f64 / raw as f64, 2),
        "start_seconds": rounded(start_seconds, 2),
        "started_rss_mb": megabytes(server_rss_started),
        "serving_peak_mb": megabytes(server_peak),
        "join_seconds": rounded(join_seconds, 1),
        "join_entries_per_s": (wanted as f64 / join_seconds).round(),
        "join_peak_mb": megabytes(join_peak.max(joiner_rss_max)),
        "join_disk_mb": megabytes(join_disk),
        "restart_seconds": rounded(restart_seconds, 2),
        "restart_rss_mb": megabytes(restart_rss),
        "status_asked": status_seconds.len(),
        "status_median_ms": rounded(status_median * 1000.0, 1),
        "status_worst_ms": rounded(status_worst * 1000.0, 1),
    }))
}

/// `hub`: `nodes` fresh node processes join one hub process holding `total` entries, all at
/// once; each must finish; the hub's peak memory is read before it stops.
pub fn scenario_hub(total: usize, nodes: usize) -> anyhow::Result<serde_json::Value> {
    eprintln!("generating {total} entries…");
    let history = generate(total, 200, 17)?;
    let wanted = history.entries.len() + 1;
    let work = tempfile::tempdir()?;
    let hub_home = work.path().join("hub");
    fill_home(&history, &hub_home)?;
    let hub = Served::start(&hub_home)?;
    let (hub_rss_started, _) = process_memory(hub.child.id());
    eprintln!("{nodes} fresh nodes join the hub at once…");
    let started = Instant::now();
    let mut joiners = Vec::new();
    for index in 0..nodes {
        let home = work.path().join(format!("join-{index}"));
        joining_home(&history, &home, &hub.addr)?;
        joiners.push(start_joiner(&home, wanted, false)?);
    }
    let mut seconds = Vec::new();
    let mut peaks = Vec::new();
    let mut failures = Vec::new();
    for (index, joiner) in joiners.into_iter().enumerate() {
        match joiner_result(joiner) {
            Ok((took, peak)) => {
                eprintln!("  node {index}: {took:.1} s, peak {:.0} MB", peak as f64 / 1e6);
                seconds.push(took);
                peaks.push(peak);
            }
            Err(error) => failures.push(format!("node {index}: {error:#}")),
        }
    }
    let all_seconds = started.elapsed().as_secs_f64();
    let hub_peak = hub.stop();
    seconds.sort_by(f64::total_cmp);
    Ok(serde_json::json!({
        "scenario": "hub",
        "entries": wanted,
        "nodes": nodes,
        "completed": seconds.len(),
        "failures": failures,
        "all_done_seconds": rounded(all_seconds, 1),
        "fastest_seconds": rounded(seconds.first().copied().unwrap_or(0.0), 1),
        "slowest_seconds": rounded(seconds.last().copied().unwrap_or(0.0), 1),
        "joiner_worst_peak_mb": megabytes(peaks.iter().copied().max().unwrap_or(0)),
        "hub_started_rss_mb": megabytes(hub_rss_started),
        "hub_peak_mb": megabytes(hub_peak),
    }))
}
