//! A real network topology made of Linux network namespaces, for tests that run `kith`
//! processes on separate hosts: a public segment (a bridge in its own namespace) with public
//! hosts on it, and homes each behind their own NAT router (iptables MASQUERADE, no new
//! connections in from outside). Everything lives in namespaces this run creates, named with
//! a prefix unique to the run; the host's own network is never touched. Dropping the
//! [`Topology`] kills every process left in its namespaces, then deletes them.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Node, Output, World, finish_within};

/// Longest one `ip`, `iptables` or `sysctl` command may take.
const SETUP_COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest a TCP probe may wait for an answer before it counts as unreachable.
const PROBE_TIMEOUT_SECS: u32 = 3;
/// The public segment's /24 (hosts get `.1` … `.254`).
const PUBLIC_SUBNET_PREFIX_LEN: u8 = 24;
/// The log filter of every node started in a namespace.
const NODE_LOG_FILTER: &str = "info,kith_node=debug";
/// How many lines of each node's log a failing test prints.
const LOG_TAIL_LINES: usize = 60;

/// What one finished setup command printed.
struct Ran {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `program ARGS…` to its end (at most [`SETUP_COMMAND_TIMEOUT`]), capturing its output.
fn run(program: &str, args: &[&str]) -> Ran {
    let what = format!("`{program} {}`", args.join(" "));
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            return Ran { success: false, stdout: String::new(), stderr: format!("cannot run {what}: {error}") };
        }
    };
    let status = finish_within(&mut child, SETUP_COMMAND_TIMEOUT, &what);
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_string(&mut stdout);
    }
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    Ran { success: status.success(), stdout, stderr }
}

/// Runs a setup command that must succeed; fails the test naming the command and its error.
fn must(program: &str, args: &[&str]) {
    let ran = run(program, args);
    assert!(ran.success, "topology setup failed: `{program} {}`: {}", args.join(" "), ran.stderr.trim());
}

/// Runs `program ARGS…` inside `namespace`; it must succeed.
fn must_in(namespace: &str, program: &str, args: &[&str]) {
    let mut all = vec!["netns", "exec", namespace, program];
    all.extend_from_slice(args);
    must("ip", &all);
}

/// The prefix of every namespace this run creates: `k` and the last four digits of the pid.
fn run_prefix() -> String {
    format!("k{}", std::process::id() % 10_000)
}

/// Why namespaced tests cannot run here (not root, a tool missing, namespaces refused), or
/// `None` when they can.
pub fn unavailable() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective_uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1));
    if effective_uid != Some("0") {
        return Some("not running as root (network namespaces need root)".into());
    }
    for (program, package) in [("ip", "iproute2"), ("iptables", "iptables"), ("bash", "bash"), ("timeout", "coreutils")]
    {
        if !run(program, &["--version"]).success && !run(program, &["-V"]).success {
            return Some(format!("`{program}` is missing (install {package})"));
        }
    }
    let probe = format!("{}probe", run_prefix());
    let added = run("ip", &["netns", "add", &probe]);
    if !added.success {
        return Some(format!("`ip netns add` failed: {}", added.stderr.trim()));
    }
    let nat = run("ip", &["netns", "exec", &probe, "iptables", "-t", "nat", "-L", "-n"]);
    let _ = run("ip", &["netns", "del", &probe]);
    if !nat.success {
        return Some(format!("iptables' nat table does not work in a namespace: {}", nat.stderr.trim()));
    }
    None
}

/// The namespaces of one run: a public segment, public hosts and homes behind NAT routers.
#[derive(Debug)]
pub struct Topology {
    prefix: String,
    /// Every namespace created so far, in creation order (deleted in reverse).
    namespaces: Vec<String>,
    public_segment: String,
    /// Veths on the bridge so far, to name the next one.
    bridge_ports: usize,
}

impl Topology {
    /// The public segment: a namespace holding only a bridge that public hosts plug into.
    pub fn new() -> Topology {
        let prefix = run_prefix();
        let mut topology =
            Topology { public_segment: format!("{prefix}pub"), prefix, namespaces: Vec::new(), bridge_ports: 0 };
        let segment = topology.public_segment.clone();
        topology.add_namespace(&segment);
        must("ip", &["-n", &segment, "link", "add", "br0", "type", "bridge"]);
        must("ip", &["-n", &segment, "link", "set", "br0", "up"]);
        topology
    }

    fn add_namespace(&mut self, namespace: &str) {
        must("ip", &["netns", "add", namespace]);
        self.namespaces.push(namespace.to_string());
        must("ip", &["-n", namespace, "link", "set", "lo", "up"]);
    }

    /// Plugs `interface` of `namespace` into the public bridge with address `ip`/24.
    fn plug_into_public_segment(&mut self, namespace: &str, interface: &str, ip: &str) {
        let port = format!("p{}", self.bridge_ports);
        self.bridge_ports += 1;
        let segment = self.public_segment.clone();
        must(
            "ip",
            &["-n", &segment, "link", "add", &port, "type", "veth", "peer", "name", interface, "netns", namespace],
        );
        must("ip", &["-n", &segment, "link", "set", &port, "master", "br0", "up"]);
        must("ip", &["-n", namespace, "addr", "add", &format!("{ip}/{PUBLIC_SUBNET_PREFIX_LEN}"), "dev", interface]);
        must("ip", &["-n", namespace, "link", "set", interface, "up"]);
    }

    /// A host on the public segment at `ip` (10.99.0.x); returns its namespace.
    pub fn add_public_host(&mut self, name: &str, ip: &str) -> String {
        let namespace = format!("{}{name}", self.prefix);
        self.add_namespace(&namespace);
        self.plug_into_public_segment(&namespace, "eth0", ip);
        namespace
    }

    /// A home behind its own NAT router: the router's WAN is `wan_ip` on the public segment,
    /// its LAN `{lan_prefix}.1/24`, the home `{lan_prefix}.2` with its default route through
    /// the router. The router masquerades what leaves by the WAN, forwards from the WAN only
    /// what belongs to connections the home opened, and silently drops anything else arriving
    /// on the WAN. Returns the home's namespace.
    pub fn add_home_behind_nat(&mut self, name: &str, wan_ip: &str, lan_prefix: &str) -> String {
        let router = format!("{}{name}r", self.prefix);
        let home = format!("{}{name}", self.prefix);
        self.add_namespace(&router);
        self.add_namespace(&home);
        self.plug_into_public_segment(&router, "wan", wan_ip);
        must("ip", &["-n", &router, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", &home]);
        must("ip", &["-n", &router, "addr", "add", &format!("{lan_prefix}.1/24"), "dev", "lan"]);
        must("ip", &["-n", &router, "link", "set", "lan", "up"]);
        must("ip", &["-n", &home, "addr", "add", &format!("{lan_prefix}.2/24"), "dev", "eth0"]);
        must("ip", &["-n", &home, "link", "set", "eth0", "up"]);
        must("ip", &["-n", &home, "route", "add", "default", "via", &format!("{lan_prefix}.1")]);
        must_in(&router, "sysctl", &["-q", "-w", "net.ipv4.ip_forward=1"]);
        must_in(&router, "iptables", &["-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"]);
        // Like a home router: nothing new in from the WAN, neither to the router itself (an
        // unsolicited SYN is dropped, not answered with a reset that would end a hole punch)…
        must_in(
            &router,
            "iptables",
            &["-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate", "NEW,INVALID", "-j", "DROP"],
        );
        // …nor through it to the home.
        must_in(&router, "iptables", &["-P", "FORWARD", "DROP"]);
        must_in(&router, "iptables", &["-A", "FORWARD", "-i", "lan", "-o", "wan", "-j", "ACCEPT"]);
        must_in(
            &router,
            "iptables",
            &[
                "-A",
                "FORWARD",
                "-i",
                "wan",
                "-o",
                "lan",
                "-m",
                "conntrack",
                "--ctstate",
                "ESTABLISHED,RELATED",
                "-j",
                "ACCEPT",
            ],
        );
        home
    }

    /// Whether a TCP connection from `namespace` to `ip:port` reaches that host: `Ok` when it
    /// connects or the host refuses it (nothing listens, but the packets made the round trip),
    /// `Err` with the reason when the network does not get there (no route, dropped, timeout).
    pub fn tcp_reaches(&self, namespace: &str, ip: &str, port: u16) -> Result<(), String> {
        let script = format!("exec 3<>/dev/tcp/{ip}/{port}");
        let limit = PROBE_TIMEOUT_SECS.to_string();
        let ran = run("ip", &["netns", "exec", namespace, "timeout", &limit, "bash", "-c", &script]);
        if ran.success || ran.stderr.contains("Connection refused") {
            Ok(())
        } else if ran.stderr.trim().is_empty() {
            Err(format!("no answer within {PROBE_TIMEOUT_SECS} s"))
        } else {
            Err(ran.stderr.trim().lines().last().unwrap_or_default().to_string())
        }
    }

    /// Runs `probe` while `namespace` has a route to `network` through `gateway`, then takes
    /// the route away again.
    pub fn with_route<T>(&self, namespace: &str, network: &str, gateway: &str, probe: impl FnOnce() -> T) -> T {
        must("ip", &["-n", namespace, "route", "add", network, "via", gateway]);
        let result = probe();
        must("ip", &["-n", namespace, "route", "del", network, "via", gateway]);
        result
    }

    /// The process ids still running in `namespace`.
    fn pids_in(namespace: &str) -> Vec<String> {
        run("ip", &["netns", "pids", namespace]).stdout.split_whitespace().map(str::to_string).collect()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for namespace in self.namespaces.iter().rev() {
            for pid in Topology::pids_in(namespace) {
                let _ = run("kill", &["-KILL", &pid]);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while !Topology::pids_in(namespace).is_empty() && Instant::now() < deadline {
                sleep(Duration::from_millis(50));
            }
            let deleted = run("ip", &["netns", "del", namespace]);
            if !deleted.success {
                eprintln!("could not delete network namespace {namespace}: {}", deleted.stderr.trim());
            }
        }
    }
}

/// One home folder on one host of the topology: `kith` commands for it run in its namespace.
#[derive(Debug)]
pub struct Site<'w> {
    world: &'w World,
    pub namespace: String,
    pub home: PathBuf,
    /// Names the node's log files.
    pub label: String,
}

impl<'w> Site<'w> {
    pub fn new(world: &'w World, namespace: &str, label: &str) -> Site<'w> {
        Site { world, namespace: namespace.to_string(), home: world.home(label), label: label.to_string() }
    }

    /// `kith --home HOME ARGS…` inside the namespace.
    pub fn kith(&self, args: &[&str]) -> Output {
        self.world.kith_in(Some(&self.namespace), &self.home, args)
    }

    /// `kith ARGS… --json` inside the namespace, which must succeed.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        self.kith(&all).json()
    }

    /// Starts `kith run ARGS…` inside the namespace (API on the namespace's loopback, logs at
    /// debug for kith-node) and waits until its API answers.
    pub fn run(&self, args: &[&str]) -> Node {
        let mut all = vec!["run", "--api", "127.0.0.1:0"];
        all.extend_from_slice(args);
        self.world.launch(Some(&self.namespace), &self.home, &all, NODE_LOG_FILTER, &self.label)
    }
}

/// Prints the end of every node log of `world` when the test is failing (on drop during a
/// panic), so a failure explains itself.
#[derive(Debug)]
pub struct LogTailsOnFailure<'w>(pub &'w World);

impl Drop for LogTailsOnFailure<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let Ok(dir) = std::fs::read_dir(self.0.root.path()) else { return };
        let mut logs: Vec<PathBuf> = dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with("-log")))
            .collect();
        logs.sort();
        for log in logs {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
            eprintln!("===== last {} lines of {} =====\n{}", tail.len(), log.display(), tail.join("\n"));
        }
    }
}
