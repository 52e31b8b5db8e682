//! A node's lifecycle: start from a config (home, network, API), publish local entries,
//! answer queries, and shut down cleanly with every task tracked.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[cfg(test)]
use kith_protocol::Keypair;
use kith_protocol::{Body, CommunityId, Entry, MemberId, Rules};

use crate::clock::now_ms;
use crate::home::{Home, HomeError};
use crate::network::{self, Command, NetworkConfig, NetworkLoop, NodeEvent, PeerInfo, ReachInfo, Reachability};
use crate::progress::CatchUp;
use crate::replica::{PublishError, Replica, ReplicaError};
use crate::store::{Store, StoreError};

/// Default sled cache for a home node: small, the node must stay light.
pub const DEFAULT_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// How a node starts.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub home: PathBuf,
    pub network: NetworkConfig,
    pub cache_bytes: u64,
    /// Found a new community at start if the home has none (name, description, rules).
    pub found: Option<(String, String, Rules)>,
}

impl NodeConfig {
    pub fn new(home: impl Into<PathBuf>) -> Self {
        NodeConfig {
            home: home.into(),
            network: NetworkConfig::default(),
            cache_bytes: DEFAULT_CACHE_BYTES,
            found: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("network: {0}")]
    Network(String),
    #[error("the local API: {0}")]
    Api(String),
    #[error("the node has stopped")]
    Stopped,
}

/// A running node. Cheap handles to it are the replica (shared state) and the command channel.
#[derive(Debug)]
pub struct Node {
    home: Home,
    replica: Arc<Mutex<Replica>>,
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<NodeEvent>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    peer_id: PeerId,
    listen_addrs: Vec<Multiaddr>,
    api_addr: Option<SocketAddr>,
    lan: bool,
    counters: Arc<network::NetworkCounters>,
    hub: bool,
}

/// The shared parts of a node that API handlers hold.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    pub home: Home,
    pub replica: Arc<Mutex<Replica>>,
    pub commands: mpsc::Sender<Command>,
    pub events: broadcast::Sender<NodeEvent>,
    pub peer_id: PeerId,
    pub shutdown: CancellationToken,
    /// Runs as a community hub (`kith run --hub`).
    pub hub: bool,
    /// The network loop's counters (the catch-up's expected count among them).
    pub counters: Arc<network::NetworkCounters>,
}

/// Takes the replica's lock from any thread, async code on the runtime's workers included.
///
/// The lock may be held for seconds (a rebuild after a fork, at a million entries), and a
/// worker thread waiting for it runs none of its other tasks: with two workers, two such waits
/// stopped every task, the network loop and the page included. So the lock is tried first, and
/// a wait for it on a worker of a multi-threaded runtime (`kith run`'s) happens inside
/// [`tokio::task::block_in_place`], which first hands the worker's other tasks to another
/// thread. On a blocking thread (`spawn_blocking`) or off the runtime it simply waits; on a
/// current-thread runtime (`#[tokio::test]`'s) it waits too, as `block_in_place` panics there
/// and there is no other thread to hand anything to.
fn lock_replica(replica: &Mutex<Replica>) -> MutexGuard<'_, Replica> {
    match replica.try_lock() {
        Ok(guard) => return guard,
        Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => {}
    }
    #[cfg(test)]
    let _waiting = tests::Waiting::on(replica);
    crate::worker::off_the_runtime(|| replica.lock().unwrap_or_else(PoisonError::into_inner))
}

impl NodeHandle {
    /// The replica, locked; a wait for the lock leaves the runtime's other tasks running
    /// (`lock_replica`). Work that reads every entry goes to [`NodeHandle::read_blocking`].
    pub fn replica(&self) -> MutexGuard<'_, Replica> {
        lock_replica(&self.replica)
    }

    /// Runs `read` on a blocking thread with the replica locked, for the reads that go through
    /// every entry (a report, an export, the printed board): the lock is then held for long,
    /// and not by a worker of the runtime.
    pub async fn read_blocking<T, F>(&self, read: F) -> Result<T, tokio::task::JoinError>
    where
        F: FnOnce(&Replica) -> T + Send + 'static,
        T: Send + 'static,
    {
        let replica = Arc::clone(&self.replica);
        tokio::task::spawn_blocking(move || read(&lock_replica(&replica))).await
    }

    /// Signs, checks, stores (flushed) and gossips a new entry of this member's log. The
    /// signing, the store's writes and its fsyncs run on a blocking thread, not on one of the
    /// runtime's workers (an fsync can take a second on an SD card), and the fsyncs without the
    /// replica's lock, so the network loop is not held up by them.
    ///
    /// Within [`crate::helped::acting_for`] (`--as`, the page's "acting for" switch) it writes
    /// in that helped member's log instead, a payment's memo saying it was on their behalf.
    pub async fn publish(&self, body: Body) -> Result<Entry, PublishError> {
        self.publish_as(crate::helped::acting_for(), body).await
    }

    /// [`NodeHandle::publish`] in `author`'s log (a helped member held here; `None`: this
    /// member's own).
    pub async fn publish_as(&self, author: Option<MemberId>, body: Body) -> Result<Entry, PublishError> {
        let body = match author {
            Some(author) => crate::helped::on_behalf(&self.replica(), author, body),
            None => body,
        };
        let replica = Arc::clone(&self.replica);
        let published = tokio::task::spawn_blocking(move || -> Result<Entry, PublishError> {
            let lock = || lock_replica(&replica);
            let (entry, mark, flush) = {
                let mut replica = lock();
                let entry = replica.publish_unflushed_as(author, body, now_ms())?;
                // The network loop reads the view when it gossips the entry.
                replica.publish_view();
                (entry, replica.flush_mark(), replica.store().flush_later())
            };
            // The fsync without the replica's lock: the network loop and the API go on; no peer
            // is served the entry until it is durable (`Replica::unserved_from`).
            flush()?;
            lock().flushed(mark);
            Ok(entry)
        })
        .await;
        let entry = match published {
            Ok(result) => result?,
            Err(error) => {
                return Err(StoreError::Io(std::io::Error::other(format!("publishing stopped: {error}"))).into());
            }
        };
        let _ = self.commands.send(Command::Gossip(vec![entry.clone()])).await;
        let _ = self.events.send(NodeEvent::Entry {
            id: entry.hash(),
            author: entry.author(),
            kind: entry.body().kind_name(),
        });
        Ok(entry)
    }

    pub async fn peers(&self) -> Vec<PeerInfo> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Peers(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::ListenAddrs(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// The catch-up under way, if any: entries held against what peers' heads say they hold.
    pub fn catch_up(&self) -> Option<CatchUp> {
        let held = self.replica().community().map_or(0, |c| c.entry_count() as u64);
        CatchUp::of(held, self.counters.expected_entries.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// AutoNAT's verdict on this node and the hubs relaying for it.
    pub async fn reach(&self) -> ReachInfo {
        let unknown = ReachInfo { reachability: Reachability::Unknown, relays: Vec::new() };
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Reach(tx)).await.is_err() {
            return unknown;
        }
        rx.await.unwrap_or(unknown)
    }
}

/// After a key restore the node starts read-only; once the network loop has fetched the
/// member's own log and lifted that, the home forgets it was restored.
async fn forget_restore_once_caught_up(node: NodeHandle) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = node.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if node.replica().is_read_only() {
            continue;
        }
        match node.home.config() {
            Ok(mut config) => {
                config.restored = false;
                if let Err(error) = node.home.write_config(&config) {
                    tracing::warn!(%error, "cannot note in the home that the restore is complete");
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read the home's config"),
        }
        return;
    }
}

impl Node {
    /// Opens the home, the store and the replica, starts the network (and the API), and
    /// returns once the node listens.
    pub async fn start(config: NodeConfig) -> Result<Node, NodeError> {
        let home = Home::open(&config.home)?;
        let keypair = home.key_or_create()?;
        let home_config = home.config()?;
        let store = Store::open(&home.db_path(), config.cache_bytes)?;
        let now = now_ms();
        let mut replica = Replica::open(store, keypair.clone(), home.community()?, now)?;
        if replica.community().is_none()
            && replica.community_id().is_none()
            && let Some((name, description, rules)) = &config.found
        {
            let genesis = replica.found(name, description, *rules, now)?;
            let mut stored = home.config()?;
            stored.community = Some(genesis.community().to_string());
            home.write_config(&stored)?;
            tracing::info!(community = %genesis.community(), "founded a new community");
        }
        if home_config.restored {
            replica.set_read_only(true);
        }
        if home_config.join_name.is_some() {
            // A home that joined before requests were dated at `kith join` dates it now, once.
            let timestamp_ms = match home_config.join_timestamp_ms {
                Some(timestamp_ms) => timestamp_ms,
                None => {
                    let mut stored = home.config()?;
                    let timestamp_ms = *stored.join_timestamp_ms.get_or_insert(now_ms());
                    home.write_config(&stored)?;
                    timestamp_ms
                }
            };
            replica.set_join_timestamp(timestamp_ms);
        }
        for (keypair, file) in home.helped()? {
            replica.add_helped(keypair, file.taken);
        }
        // A newcomer's join request carries the invite that let it in: the community counts an
        // invite's uses from the join requests naming it. Without an invite there is none to
        // send (once admitted, the name is published as a profile).
        let join_invite = home_config
            .invite
            .as_ref()
            .and_then(|text| crate::invite::Invite::decode(text).ok())
            .map(|invite| invite.capability.to_bytes());
        let join_profile = match (&home_config.join_name, join_invite) {
            (Some(name), Some(invite)) => Some(Body::JoinRequest { invite, name: name.clone() }),
            _ => None,
        };
        let mut network_config = config.network.clone();
        for addr in &home_config.bootstrap {
            if let Ok(addr) = addr.parse() {
                network_config.bootstrap.push(addr);
            }
        }
        if let Some(text) = &home_config.invite {
            match crate::invite::Invite::decode(text) {
                Ok(invite) => network_config.invite = Some(invite.capability.to_bytes()),
                Err(error) => tracing::warn!(%error, "the home's invite cannot be read; joining without it"),
            }
        }
        let libp2p_key = network::libp2p_keypair(keypair.secret_bytes()).map_err(NodeError::Network)?;
        // Read while the replica is this function's alone, so the loop takes no lock for them.
        // The gate's memory, read once: the engine and the gated behaviours share it in memory.
        let gate = crate::gate::Gate::load(replica.store());
        let admits = network::admits_of(replica.view(), gate.clone());
        let known_peers = replica.store().known_peers().unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot read the peers this node knew; finding them again");
            Vec::new()
        });
        let replica = Arc::new(Mutex::new(replica));
        let swarm = network::build_swarm(libp2p_key, &network_config, admits).map_err(NodeError::Network)?;
        let (commands_tx, commands_rx) = mpsc::channel(256);
        let (events_tx, _) = broadcast::channel(1024);
        let mut network_loop = NetworkLoop::new(
            swarm,
            replica.clone(),
            commands_rx,
            events_tx.clone(),
            network_config,
            join_profile,
            gate,
        );
        network_loop.start(known_peers).map_err(NodeError::Network)?;
        let listen_addrs = network_loop.wait_listening(Duration::from_secs(10)).await;
        let peer_id = network_loop.local_peer_id();
        let counters = network_loop.counters();
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(network_loop.run(shutdown.clone()));
        let node = Node {
            home,
            replica,
            commands: commands_tx,
            events: events_tx,
            shutdown,
            tasks,
            peer_id,
            listen_addrs,
            api_addr: None,
            lan: false,
            counters,
            hub: config.network.hub,
        };
        if home_config.restored {
            node.tasks.spawn(forget_restore_once_caught_up(node.handle()));
        }
        node.tasks.spawn(crate::helped::tend(node.handle()));
        tracing::info!(peer = %node.peer_id, "node started");
        Ok(node)
    }

    pub fn handle(&self) -> NodeHandle {
        NodeHandle {
            home: self.home.clone(),
            replica: self.replica.clone(),
            commands: self.commands.clone(),
            events: self.events.clone(),
            peer_id: self.peer_id,
            shutdown: self.shutdown.clone(),
            hub: self.hub,
            counters: self.counters.clone(),
        }
    }

    pub fn home(&self) -> &Home {
        &self.home
    }
    /// The replica, locked, as [`NodeHandle::replica`] takes it.
    pub fn replica(&self) -> MutexGuard<'_, Replica> {
        lock_replica(&self.replica)
    }
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }
    pub fn member_id(&self) -> MemberId {
        self.replica().me()
    }
    pub fn community_id(&self) -> Option<CommunityId> {
        self.replica().community_id()
    }
    /// Addresses bound at start, with `/p2p/<peer id>`.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.listen_addrs.iter().map(|a| a.clone().with_p2p(self.peer_id).unwrap_or_else(|a| a)).collect()
    }
    /// The network loop's counters (gossip received, duplicates).
    pub fn stats(&self) -> network::NetworkStats {
        self.counters.snapshot()
    }
    /// Where the local API and the page answer, once `http::serve_node` serves them.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api_addr
    }
    /// Records what `http::serve_node` serves: the API's address, and whether the
    /// page is on the home network too.
    pub(crate) fn served(&mut self, api: SocketAddr, lan: bool) {
        self.api_addr = Some(api);
        self.lan = lan;
    }
    /// The node's tasks: whatever serves it joins them, so that shutting down waits for it.
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }
    /// Whether the page is served on the home network too (`kith run --lan`).
    pub fn lan_enabled(&self) -> bool {
        self.lan
    }
    pub fn events(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    pub async fn publish(&self, body: Body) -> Result<Entry, PublishError> {
        self.handle().publish(body).await
    }

    pub async fn peers(&self) -> Vec<PeerInfo> {
        self.handle().peers().await
    }

    async fn command(&self, command: Command) -> Result<(), NodeError> {
        self.commands.send(command).await.map_err(|_| NodeError::Stopped)
    }

    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NodeError> {
        self.command(Command::Dial(addr)).await
    }
    /// Refuses a peer until unblocked (cuts any connection to it).
    pub async fn block(&self, peer: PeerId) -> Result<(), NodeError> {
        self.command(Command::Block(peer)).await
    }
    pub async fn unblock(&self, peer: PeerId) -> Result<(), NodeError> {
        self.command(Command::Unblock(peer)).await
    }
    /// Lets a peer in as if it had shown a valid invite (remembered across restarts).
    pub async fn allow(&self, peer: PeerId) -> Result<(), NodeError> {
        self.command(Command::Allow(peer)).await
    }
    /// Compares heads with every connected peer now.
    pub async fn sync_now(&self) -> Result<(), NodeError> {
        self.command(Command::SyncNow).await
    }

    /// A token that, once cancelled, stops the node (used for Ctrl-C).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the shutdown token is cancelled, then stops.
    pub async fn run_until_stopped(self) -> Result<(), NodeError> {
        self.shutdown.cancelled().await;
        self.shutdown().await
    }

    /// Stops every task, flushes the store and removes `api.json`.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.home.remove_api_info();
        let replica = Arc::clone(&self.replica);
        let flushed = tokio::task::spawn_blocking(move || {
            let mut replica = lock_replica(&replica);
            // The next start begins from here rather than replaying every entry.
            replica.save_snapshot(crate::replica::SNAPSHOT_AFTER);
            replica.store().flush()
        })
        .await;
        match flushed {
            Ok(result) => result?,
            Err(error) => {
                return Err(StoreError::Io(std::io::Error::other(format!("flushing stopped: {error}"))).into());
            }
        }
        tracing::info!("node stopped");
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// How many callers of `lock_replica` wait for each replica's lock now, by its address.
    static WAITING: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());

    /// A caller of `lock_replica` that found the lock taken, counted until it has it.
    pub(super) struct Waiting(usize);

    impl Waiting {
        pub(super) fn on(replica: &Mutex<Replica>) -> Waiting {
            let key = std::ptr::from_ref(replica).addr();
            *WAITING.lock().unwrap_or_else(PoisonError::into_inner).entry(key).or_default() += 1;
            Waiting(key)
        }

        fn count(replica: &Mutex<Replica>) -> usize {
            let key = std::ptr::from_ref(replica).addr();
            WAITING.lock().unwrap_or_else(PoisonError::into_inner).get(&key).copied().unwrap_or(0)
        }
    }

    impl Drop for Waiting {
        fn drop(&mut self) {
            let mut waiting = WAITING.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = waiting.get_mut(&self.0) {
                *count -= 1;
            }
        }
    }

    /// Waits until `done` holds; a minute without it means a hang.
    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "hung: {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Holds `replica`'s lock on a thread of its own until the returned sender is dropped or
    /// sends; returns once the lock is held.
    fn hold_lock(replica: Arc<Mutex<Replica>>) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
        let (held, is_held) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let guard = replica.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = held.send(());
            let _ = released.recv();
            drop(guard);
        });
        is_held.recv().unwrap();
        (release, holder)
    }

    /// A GET of a node's API on `addr`: the answer's status line, once the answer is whole.
    async fn api_get(addr: SocketAddr, token: String, path: &'static str) -> std::io::Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok(String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_string())
    }

    #[test]
    fn api_reads_waiting_for_the_replica_lock_leave_the_runtime_running() {
        let dir = tempfile::TempDir::new().unwrap();
        // As `kith run` builds it, with this machine's two cores.
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let mut config = NodeConfig::new(dir.path());
        config.network.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        config.network.mdns = false;
        config.found = Some(("Elm Street".into(), String::new(), Rules::default()));
        let (node, api) = runtime.block_on(async {
            let mut node = Node::start(config).await.unwrap();
            let api = crate::http::serve_node(&mut node, "127.0.0.1:0".parse().unwrap(), None).await.unwrap();
            (node, api)
        });
        let token = node.home().api_info().unwrap().unwrap().token;
        // A task of the runtime's that has nothing to do with the replica.
        let ticks = Arc::new(AtomicU64::new(0));
        let ticker = runtime.spawn({
            let ticks = Arc::clone(&ticks);
            async move {
                let mut tick = tokio::time::interval(Duration::from_millis(5));
                loop {
                    tick.tick().await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let replica = Arc::clone(&node.replica);
        // Another thread holds the lock, as a rebuild after a fork does for seconds.
        let (release, holder) = hold_lock(Arc::clone(&replica));
        // As many reads as the runtime has workers, each handled on one. The node's own
        // once-a-second task (`helped::tend`) comes to wait too: any two waits on workers were
        // enough to stop the runtime.
        let reads = ["/api/members", "/api/balance"].map(|path| runtime.spawn(api_get(api, token.clone(), path)));
        wait_until("nothing waited for the lock", || Waiting::count(&replica) >= 2);
        let before = ticks.load(Ordering::Relaxed);
        wait_until("the runtime stalled while two waited", || ticks.load(Ordering::Relaxed) >= before + 3);
        // A read that goes through every entry waits on a blocking thread: then the two reads,
        // the node's task and the export all wait.
        let export = runtime.spawn(api_get(api, token.clone(), "/api/export"));
        wait_until("the reads, the node's task and the export never all waited", || Waiting::count(&replica) == 4);
        let before = ticks.load(Ordering::Relaxed);
        wait_until("the runtime stalled while the export waited", || ticks.load(Ordering::Relaxed) >= before + 3);
        let _ = release.send(());
        holder.join().unwrap();
        runtime.block_on(async {
            for read in reads.into_iter().chain([export]) {
                let answer = tokio::time::timeout(Duration::from_secs(60), read).await;
                let status = answer.expect("a read hung after the lock was let go").unwrap().unwrap();
                assert!(status.starts_with("HTTP/1.1 200"), "a read failed: {status}");
            }
            // The other reads of every entry, on a blocking thread too.
            for path in ["/api/board/print", "/api/report"] {
                let status = api_get(api, token.clone(), path).await.unwrap();
                assert!(status.starts_with("HTTP/1.1 200"), "{path} failed: {status}");
            }
            ticker.abort();
            node.shutdown().await.unwrap();
        });
    }

    #[test]
    fn a_read_waiting_for_the_replica_lock_on_a_current_thread_runtime_waits() {
        let dir = tempfile::TempDir::new().unwrap();
        let (handle, _go) = handle_with_held_flush(&dir);
        let replica = Arc::clone(&handle.replica);
        let (release, holder) = hold_lock(Arc::clone(&replica));
        let releaser = std::thread::spawn(move || {
            wait_until("the read never waited for the lock", || Waiting::count(&replica) == 1);
            let _ = release.send(());
        });
        // `#[tokio::test]`'s runtime: no other thread to hand tasks to, and no `block_in_place`.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let me = runtime.block_on(async { handle.replica().me() });
        assert_eq!(me, Keypair::from_secret_bytes([9; 32]).member_id());
        releaser.join().unwrap();
        holder.join().unwrap();
    }

    /// A founded home's node handle whose next flush waits for the signal sent on the sender.
    fn handle_with_held_flush(dir: &tempfile::TempDir) -> (NodeHandle, std::sync::mpsc::Sender<()>) {
        let home = Home::open(dir.path()).unwrap();
        let store = Store::open(&home.db_path(), 1024 * 1024).unwrap();
        let mut replica = Replica::open(store, Keypair::from_secret_bytes([9; 32]), None, now_ms()).unwrap();
        replica.found("Elm Street", "", Rules::default(), now_ms()).unwrap();
        let (go, signal) = std::sync::mpsc::channel();
        replica.store().hold_next_flush(signal);
        let handle = NodeHandle {
            home,
            replica: Arc::new(Mutex::new(replica)),
            commands: mpsc::channel(8).0,
            events: broadcast::channel(8).0,
            peer_id: PeerId::random(),
            shutdown: CancellationToken::new(),
            hub: false,
            counters: Arc::default(),
        };
        (handle, go)
    }

    fn profile() -> Body {
        Body::Profile {
            name: "Ann".into(),
            about: String::new(),
            area: String::new(),
            skills: Vec::new(),
            contact: String::new(),
        }
    }

    #[test]
    fn a_publish_leaves_the_runtime_thread_free_while_it_flushes() {
        let dir = tempfile::TempDir::new().unwrap();
        let (handle, go) = handle_with_held_flush(&dir);
        // One runtime thread: the flush can only be let go by the second task if the publish
        // does not hold that thread while it waits.
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (published, ()) = runtime.block_on(async {
            tokio::join!(handle.publish(profile()), async {
                tokio::task::yield_now().await;
                let _ = go.send(());
            })
        });
        published.unwrap_or_else(|e| panic!("the flush was never let go: {e}"));
    }

    #[test]
    fn a_publish_fsyncs_without_the_replica_lock_and_peers_get_the_entry_only_once_durable() {
        let dir = tempfile::TempDir::new().unwrap();
        let (handle, go) = handle_with_held_flush(&dir);
        let replica = Arc::clone(&handle.replica);
        let me = handle.replica().me();
        let community = handle.replica().community_id().unwrap();
        let body = profile();
        let publisher = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(handle.publish(body)).map(|entry| entry.hash())
        });
        // The entry is applied, and its flush waits for `go`. Taking the lock meanwhile must not
        // wait for the flush (it would until the held flush gives up, and the publish fails).
        let mut applied = false;
        for _ in 0..20_000 {
            if replica.lock().unwrap().head_seq(&me) == 2 {
                applied = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(applied, "the publish never stored its entry");
        let own_log = crate::sync::SyncRequest::Range {
            community: community.0.to_vec(),
            author: me.0.to_vec(),
            from_seq: 1,
            limit: 64,
        };
        let in_order = crate::sync::SyncRequest::Since { community: community.0.to_vec(), after: 0, limit: 64 };
        let hash = replica.lock().unwrap().community().and_then(|c| c.entry_at(&me, 2)).unwrap();
        let by_hash = crate::sync::SyncRequest::Entry { community: community.0.to_vec(), hash: hash.0.to_vec() };
        // What a peer is served: of this log, in the applied order, by hash.
        let served = |replica: &Mutex<Replica>| {
            [&own_log, &in_order, &by_hash].map(|request| match crate::engine::read_answer(replica, request) {
                crate::sync::SyncResponse::Entries(entries) => entries.len(),
                crate::sync::SyncResponse::Ordered { entries, last } => {
                    assert_eq!(last, entries.len() as u64, "the next page must start after what was sent");
                    entries.len()
                }
                other => panic!("not served: {other:?}"),
            })
        };
        assert_eq!(served(&replica), [1, 1, 0], "an entry not yet durable was served to a peer");
        let _ = go.send(());
        let published = publisher.join().unwrap();
        published.unwrap_or_else(|e| panic!("the publish failed: {e}"));
        assert_eq!(served(&replica), [2, 2, 1], "the durable entry is not served");
    }
}
