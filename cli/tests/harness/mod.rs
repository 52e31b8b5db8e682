//! The end-to-end harness: runs the real `kith` binary as separate processes, each home in
//! its own temporary folder, nodes on 127.0.0.1 only — or, with [`netns`], on hosts of a
//! network topology made of Linux network namespaces. Every command and every wait has a
//! deadline; running nodes are killed when their guard drops, even when a test fails.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod netns;

/// Longest one `kith` command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a node may take to start and answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How often conditions are polled.
const POLL: Duration = Duration::from_millis(150);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A temporary folder holding one test's homes and the output of every command.
#[derive(Debug)]
pub struct World {
    root: tempfile::TempDir,
    /// Variables set in the environment of every command started after [`World::set_env`].
    env: std::cell::RefCell<Vec<(String, String)>>,
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Asserts success and returns stdout trimmed.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "command failed: stdout={:?} stderr={:?}", self.stdout, self.stderr);
        self.stdout.trim()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("not one JSON document ({e}): {:?}", self.stdout))
    }

    /// Asserts a failure with `code` and one `error:` line on stderr; returns that line.
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "expected exit {code}: stdout={:?} stderr={:?}", self.stdout, self.stderr);
        let line = self.stderr.trim_end();
        assert!(line.starts_with("error: "), "stderr must start with `error: `: {line:?}");
        assert!(!line.contains('\n'), "the error must be one line: {line:?}");
        line
    }
}

/// A running `kith run`, killed on drop.
#[derive(Debug)]
pub struct Node {
    child: Option<Child>,
    pub home: PathBuf,
    pub log: PathBuf,
    pub stdout: PathBuf,
}

impl Node {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends SIGTERM and waits (with a deadline) for a clean exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the node is running");
        let sent = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("run kill");
        assert!(sent.success());
        finish_within(&mut child, START_TIMEOUT, "the node's shutdown after SIGTERM")
    }

    pub fn printed(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl World {
    pub fn new() -> World {
        World { root: tempfile::tempdir().expect("a temporary folder"), env: std::cell::RefCell::default() }
    }

    /// Sets a variable in the environment of every `kith` started from now on.
    #[allow(dead_code)]
    pub fn set_env(&self, key: &str, value: &str) {
        self.env.borrow_mut().push((key.to_string(), value.to_string()));
    }

    /// The folder holding this test's homes.
    #[allow(dead_code)]
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A home folder path (not created: `kith` creates it).
    pub fn home(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    fn log_path(&self, label: &str) -> PathBuf {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        self.root.path().join(format!("out-{n:04}-{label}"))
    }

    /// `kith --home HOME ARGS…`, on this machine's network or (with `namespace`) run through
    /// `ip netns exec` inside that network namespace, where its node's API is reachable.
    fn command(&self, namespace: Option<&str>, home: &Path, args: &[&str]) -> Command {
        let mut command = match namespace {
            None => Command::new(env!("CARGO_BIN_EXE_kith")),
            Some(namespace) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", namespace, env!("CARGO_BIN_EXE_kith")]);
                command
            }
        };
        command.arg("--home").arg(home).args(args).env_remove("KITH_HOME").stdin(Stdio::null());
        for (key, value) in self.env.borrow().iter() {
            command.env(key, value);
        }
        command
    }

    /// Runs `kith --home HOME ARGS…` to its end (at most [`COMMAND_TIMEOUT`]).
    pub fn kith(&self, home: &Path, args: &[&str]) -> Output {
        self.kith_in(None, home, args)
    }

    /// [`World::kith`] inside a network namespace when `namespace` names one.
    pub fn kith_in(&self, namespace: Option<&str>, home: &Path, args: &[&str]) -> Output {
        let out = self.log_path("stdout");
        let err = self.log_path("stderr");
        let mut child = self
            .command(namespace, home, args)
            .stdout(File::create(&out).expect("stdout file"))
            .stderr(File::create(&err).expect("stderr file"))
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("start kith");
        let status = finish_within(&mut child, COMMAND_TIMEOUT, &format!("`kith {}`", args.join(" ")));
        Output {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(out).unwrap_or_default(),
            stderr: std::fs::read_to_string(err).unwrap_or_default(),
        }
    }

    /// `kith … --json`, which must succeed.
    pub fn json(&self, home: &Path, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        self.kith(home, &all).json()
    }

    /// Starts `kith run` on loopback with no mDNS, and waits until its API answers.
    pub fn start(&self, home: &Path, extra: &[&str]) -> Node {
        let mut args = vec!["run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--api", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        self.launch(None, home, &args, "info", "node")
    }

    /// Starts `kith ARGS…` (a `kith run`) in `namespace` if given, logging at `rust_log` into
    /// files named after `label`, and waits until its API answers there.
    pub fn launch(&self, namespace: Option<&str>, home: &Path, args: &[&str], rust_log: &str, label: &str) -> Node {
        let stdout = self.log_path(&format!("{label}-stdout"));
        let log = self.log_path(&format!("{label}-log"));
        let child = self
            .command(namespace, home, args)
            .stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&log).expect("log file"))
            .env("RUST_LOG", rust_log)
            .spawn()
            .expect("start kith run");
        let mut node = Node { child: Some(child), home: home.to_path_buf(), log, stdout };
        let started = Instant::now();
        loop {
            if let Some(child) = node.child.as_mut()
                && let Some(status) = child.try_wait().expect("wait for kith run")
            {
                panic!(
                    "`kith run` exited ({status}); its log:\n{}",
                    std::fs::read_to_string(&node.log).unwrap_or_default()
                );
            }
            if home.join("api.json").exists() && self.kith_in(namespace, home, &["status"]).code == 0 {
                return node;
            }
            assert!(started.elapsed() < START_TIMEOUT, "the node in {} did not start in time", home.display());
            sleep(POLL);
        }
    }
}

/// Waits for `child` to exit, killing it and failing (naming `what`) after `timeout`.
pub fn finish_within(child: &mut Child, timeout: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child process") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} took more than {timeout:?}");
        }
        sleep(Duration::from_millis(10));
    }
}

/// Polls `condition` until it holds or `timeout` passes (then fails naming `what`).
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting until {what}");
        sleep(POLL);
    }
}

/// A 64-digit lowercase hex id.
pub fn is_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
