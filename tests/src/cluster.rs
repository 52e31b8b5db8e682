//! The cluster harness: N in-process Kith nodes on `127.0.0.1` (port 0, mDNS off) with
//! temporary homes, one community founded by node 0 and joined by the others, and the means to
//! wait on conditions with deadlines, stop and restart nodes, and cut or heal links between them.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use kith_tests::Cluster;
//! let mut cluster = Cluster::start(3).await?;
//! cluster.publish(1, kith_tests::cluster::post("lifts to the surgery")).await?;
//! cluster.wait_converged(std::time::Duration::from_secs(30)).await?;
//! cluster.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Nothing here sleeps to synchronise: every wait polls a condition until a deadline, and a
//! timeout reports what each node holds.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use libp2p::{Multiaddr, PeerId};
use tempfile::TempDir;

use kith_node::home::{Home, HomeConfig};
use kith_node::invite::Invite;
use kith_node::store::StoreError;
use kith_node::{Node, NodeConfig, NodeError};
use kith_protocol::invite::Capability;
use kith_protocol::{Body, CommunityId, Entry, EntryHash, MemberId, PostKind, Rules};

/// How long the harness's invites are good for.
const INVITE_LIFETIME: Duration = Duration::from_secs(3600);

/// How often conditions are polled.
const POLL: Duration = Duration::from_millis(25);

/// How a cluster's nodes are set up.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// How often each node compares heads with a random peer (30 s in production).
    pub sync_interval: Duration,
    /// The gossipsub heartbeat (1 s in production).
    pub heartbeat: Duration,
    /// Connect every pair of nodes at start (otherwise the joiners only know node 0).
    pub full_mesh: bool,
    /// The community's rules, fixed in node 0's Genesis.
    pub rules: Rules,
    /// Longest wait for the cluster to form (every node a member, all converged).
    pub form_timeout: Duration,
    /// How many connections each node takes.
    pub limits: kith_node::network::ConnectionCaps,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            sync_interval: Duration::from_secs(2),
            heartbeat: Duration::from_millis(200),
            full_mesh: true,
            rules: Rules::default(),
            form_timeout: Duration::from_secs(60),
            limits: kith_node::network::ConnectionCaps::default(),
        }
    }
}

/// One node of the cluster: its home (kept across restarts) and, while it runs, the node.
#[derive(Debug)]
struct Slot {
    name: String,
    dir: TempDir,
    node: Option<Node>,
    peer_id: PeerId,
    member: MemberId,
    /// Where the node listened last (with `/p2p/<peer id>`).
    addrs: Vec<Multiaddr>,
}

/// N nodes of one community, all members (node 0 founded it and vouched for the others).
#[derive(Debug)]
pub struct Cluster {
    slots: Vec<Slot>,
    community: CommunityId,
    options: ClusterOptions,
    /// Pairs `(i, j)` with `i < j` cut off from each other by [`Cluster::isolate`].
    cut: BTreeSet<(usize, usize)>,
}

/// Polls `condition` every few milliseconds until it holds or `timeout` has passed. Returns how
/// long it took, or an error naming `what` on timeout.
pub async fn wait_until(
    timeout: Duration,
    what: &str,
    mut condition: impl FnMut() -> bool,
) -> anyhow::Result<Duration> {
    wait_until_async(timeout, what, || std::future::ready(condition())).await
}

/// [`wait_until`] for conditions that need to await (asking a node's network loop, say).
pub async fn wait_until_async<F, Fut>(timeout: Duration, what: &str, mut condition: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    let deadline = start + timeout;
    loop {
        if condition().await {
            return Ok(start.elapsed());
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting until {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A post body with `title`, for tests and benchmarks.
pub fn post(title: &str) -> Body {
    Body::Post {
        kind: PostKind::Offer,
        title: title.to_string(),
        details: format!("details of {title}"),
        category: "test".into(),
        when: String::new(),
        place: String::new(),
        expires_at: None,
        schedule: None,
    }
}

/// A reply body.
pub fn reply(post: EntryHash, text: &str) -> Body {
    Body::Reply { post, text: text.to_string() }
}

/// A transfer of `minutes` to `to`.
pub fn transfer(to: MemberId, minutes: u32, memo: &str) -> Body {
    Body::Transfer { to, minutes: kith_protocol::Minutes(minutes), memo: memo.to_string(), for_post: None }
}

impl Cluster {
    /// Starts `n` nodes with the default options (2 s sync, 200 ms heartbeat, full mesh).
    pub async fn start(n: usize) -> anyhow::Result<Cluster> {
        Cluster::start_with(n, ClusterOptions::default()).await
    }

    /// Starts `n ≥ 1` nodes: node 0 founds the community; every other node joins through its
    /// home config (community, name, bootstrap = node 0), fetches the Genesis, sends its join
    /// request, and node 0 vouches for it. Returns once every node sees all `n` as members and
    /// all digests agree.
    pub async fn start_with(n: usize, options: ClusterOptions) -> anyhow::Result<Cluster> {
        if n == 0 {
            bail!("a cluster needs at least one node");
        }
        let started = Instant::now();
        let founder_dir = tempfile::Builder::new().prefix("kith-node0-").tempdir()?;
        let mut config = node_config(founder_dir.path(), &options);
        config.found = Some(("Test street".into(), "a test community".into(), options.rules));
        let founder = Node::start(config).await.context("starting node 0")?;
        let community = founder.community_id().ok_or_else(|| anyhow!("node 0 founded no community"))?;
        let mut cluster = Cluster { slots: Vec::with_capacity(n), community, options, cut: BTreeSet::new() };
        cluster.slots.push(Slot {
            name: "node0".into(),
            dir: founder_dir,
            peer_id: founder.peer_id(),
            member: founder.member_id(),
            addrs: founder.listen_addrs(),
            node: Some(founder),
        });
        let bootstrap: Vec<String> = cluster.slots[0].addrs.iter().map(ToString::to_string).collect();
        for i in 1..n {
            let name = format!("node{i}");
            let dir = tempfile::Builder::new().prefix(&format!("kith-{name}-")).tempdir()?;
            let home = Home::open(dir.path())?;
            home.write_config(&HomeConfig {
                community: Some(community.to_string()),
                join_name: Some(name.clone()),
                bootstrap: bootstrap.clone(),
                invite: Some(cluster.invite(0, INVITE_LIFETIME, 1)?),
                ..HomeConfig::default()
            })?;
            let node = Node::start(node_config(dir.path(), &cluster.options))
                .await
                .with_context(|| format!("starting {name}"))?;
            cluster.slots.push(Slot {
                name,
                dir,
                peer_id: node.peer_id(),
                member: node.member_id(),
                addrs: node.listen_addrs(),
                node: Some(node),
            });
        }
        let timeout = cluster.options.form_timeout;
        // Each joiner fetches the Genesis from node 0 and sends its join request.
        wait_until(timeout, "every joiner has sent its join request", || {
            cluster.slots.iter().skip(1).all(|slot| {
                slot.node.as_ref().is_some_and(|node| {
                    let replica = node.replica();
                    replica.community().is_some() && replica.head_seq(&slot.member) >= 1
                })
            })
        })
        .await
        .map_err(|e| anyhow!("{e}\n{}", cluster.describe()))?;
        for i in 1..n {
            let member = cluster.slots[i].member;
            cluster.publish(0, Body::Vouch { member, note: format!("welcome {}", cluster.slots[i].name) }).await?;
        }
        if cluster.options.full_mesh {
            for i in 1..n {
                for j in (i + 1)..n {
                    cluster.connect(i, j).await?;
                }
            }
        }
        let members: Vec<MemberId> = cluster.slots.iter().map(|s| s.member).collect();
        wait_until(timeout, "every node sees every node as a member", || {
            cluster.running().all(|(_, node)| {
                let replica = node.replica();
                replica.community().is_some_and(|c| members.iter().all(|m| c.is_member(m)))
            })
        })
        .await
        .map_err(|e| anyhow!("{e}\n{}", cluster.describe()))?;
        cluster.wait_converged(timeout).await?;
        tracing::info!(nodes = n, elapsed = ?started.elapsed(), "cluster formed");
        Ok(cluster)
    }

    /// An invite line signed by node `i` (with its addresses), good for `lifetime` and `uses`.
    pub fn invite(&self, i: usize, lifetime: Duration, uses: u32) -> anyhow::Result<String> {
        let node = self.try_node(i).ok_or_else(|| anyhow!("node {i} is not running"))?;
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| anyhow!("random bytes: {e}"))?;
        let expires = kith_node::clock::now_ms().saturating_add(lifetime.as_millis() as u64);
        let capability = Capability::issue(node.replica().keypair(), self.community, nonce, expires, uses);
        let addrs = self.addrs(i).iter().map(ToString::to_string).collect();
        Ok(Invite { community: self.community, addrs, capability }.encode())
    }

    /// Number of nodes (running or stopped).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the cluster has no node (never true for a started cluster).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn community_id(&self) -> CommunityId {
        self.community
    }

    pub fn options(&self) -> &ClusterOptions {
        &self.options
    }

    /// Node `i`. Panics if it is stopped (a test bug).
    pub fn node(&self, i: usize) -> &Node {
        match self.slots[i].node.as_ref() {
            Some(node) => node,
            None => panic!("{} is stopped", self.slots[i].name),
        }
    }

    /// Node `i` if it runs.
    pub fn try_node(&self, i: usize) -> Option<&Node> {
        self.slots[i].node.as_ref()
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.slots[i].node.is_some()
    }

    /// The running nodes with their index.
    pub fn running(&self) -> impl Iterator<Item = (usize, &Node)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| s.node.as_ref().map(|n| (i, n)))
    }

    pub fn member(&self, i: usize) -> MemberId {
        self.slots[i].member
    }

    pub fn peer_id(&self, i: usize) -> PeerId {
        self.slots[i].peer_id
    }

    pub fn name(&self, i: usize) -> &str {
        &self.slots[i].name
    }

    /// Node `i`'s home folder (kept while the cluster lives).
    pub fn home(&self, i: usize) -> &Path {
        self.slots[i].dir.path()
    }

    /// Where node `i` listens (with `/p2p/<peer id>`); its last addresses if it is stopped.
    pub fn addrs(&self, i: usize) -> &[Multiaddr] {
        &self.slots[i].addrs
    }

    /// Publishes `body` on node `i` (signed with its member's key, stored, flushed, gossiped).
    pub async fn publish(&self, i: usize, body: Body) -> anyhow::Result<Entry> {
        let node = self.slots[i].node.as_ref().ok_or_else(|| anyhow!("{} is stopped", self.slots[i].name))?;
        node.publish(body).await.with_context(|| format!("publishing on {}", self.slots[i].name))
    }

    /// Whether node `i` currently has a connection to node `j`.
    pub async fn connected(&self, i: usize, j: usize) -> bool {
        let Some(node) = self.try_node(i) else { return false };
        let peer = self.slots[j].peer_id.to_string();
        node.peers().await.iter().any(|p| p.peer_id == peer)
    }

    /// Dials node `j` from node `i` and waits until the connection is up.
    pub async fn connect(&self, i: usize, j: usize) -> anyhow::Result<()> {
        let node = self.try_node(i).ok_or_else(|| anyhow!("{} is stopped", self.slots[i].name))?;
        if self.try_node(j).is_none() {
            bail!("{} is stopped", self.slots[j].name);
        }
        for addr in &self.slots[j].addrs {
            node.dial(addr.clone()).await?;
        }
        let what = format!("{} is connected to {}", self.slots[i].name, self.slots[j].name);
        wait_until_async(Duration::from_secs(20), &what, || self.connected(i, j)).await?;
        Ok(())
    }

    /// Cuts nodes `i` and `j` off from each other: each blocks the other's peer id (closing
    /// their connections and refusing new ones) until [`Cluster::heal`]. Waits until the
    /// connection is gone on both sides.
    pub async fn isolate(&mut self, i: usize, j: usize) -> anyhow::Result<()> {
        if let Some(node) = self.try_node(i) {
            node.block(self.slots[j].peer_id).await?;
        }
        if let Some(node) = self.try_node(j) {
            node.block(self.slots[i].peer_id).await?;
        }
        self.cut.insert((i.min(j), i.max(j)));
        let what = format!("{} and {} are disconnected", self.slots[i].name, self.slots[j].name);
        wait_until_async(Duration::from_secs(20), &what, || async {
            !self.connected(i, j).await && !self.connected(j, i).await
        })
        .await?;
        Ok(())
    }

    /// Lifts the block between `i` and `j` and reconnects them (if both run).
    pub async fn heal(&mut self, i: usize, j: usize) -> anyhow::Result<()> {
        self.cut.remove(&(i.min(j), i.max(j)));
        if let Some(node) = self.try_node(i) {
            node.unblock(self.slots[j].peer_id).await?;
        }
        if let Some(node) = self.try_node(j) {
            node.unblock(self.slots[i].peer_id).await?;
        }
        if self.is_running(i) && self.is_running(j) {
            self.connect(i, j).await?;
        }
        Ok(())
    }

    /// Splits the cluster: every node of `a` is cut off from every node of `b`.
    pub async fn partition(&mut self, a: &[usize], b: &[usize]) -> anyhow::Result<()> {
        for &i in a {
            for &j in b {
                self.isolate(i, j).await?;
            }
        }
        Ok(())
    }

    /// Heals every cut made by [`Cluster::isolate`] or [`Cluster::partition`].
    pub async fn heal_all(&mut self) -> anyhow::Result<()> {
        let cut: Vec<(usize, usize)> = self.cut.iter().copied().collect();
        for (i, j) in cut {
            self.heal(i, j).await?;
        }
        Ok(())
    }

    /// Starts a node outside the cluster that joins the community with `invite` (a line) or
    /// none, bootstrapping from node `via` only; `hub` runs it as a community hub.
    pub async fn start_newcomer(
        &self,
        via: usize,
        name: &str,
        invite: Option<String>,
        hub: bool,
    ) -> anyhow::Result<(tempfile::TempDir, Node)> {
        let dir = tempfile::Builder::new().prefix(&format!("kith-{name}-")).tempdir()?;
        kith_node::home::Home::open(dir.path())?.write_config(&kith_node::home::HomeConfig {
            community: Some(self.community_id().to_string()),
            join_name: Some(name.into()),
            bootstrap: self.addrs(via).iter().map(ToString::to_string).collect(),
            invite,
            ..kith_node::home::HomeConfig::default()
        })?;
        let mut config = node_config(dir.path(), &self.options);
        config.network.hub = hub;
        let node = Node::start(config).await.with_context(|| format!("starting {name}"))?;
        Ok((dir, node))
    }

    /// Stops node `i` cleanly (every task ended, store flushed and closed). Its home is kept.
    pub async fn stop(&mut self, i: usize) -> anyhow::Result<()> {
        let node = self.slots[i].node.take().ok_or_else(|| anyhow!("{} is already stopped", self.slots[i].name))?;
        node.shutdown().await.with_context(|| format!("stopping {}", self.slots[i].name))?;
        Ok(())
    }

    /// Starts node `i` again on its home (a new port). The node itself reconnects to the peers
    /// it remembers; blocks made by [`Cluster::isolate`] are applied again at once.
    pub async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        if self.slots[i].node.is_some() {
            bail!("{} is running", self.slots[i].name);
        }
        let config = node_config(self.slots[i].dir.path(), &self.options);
        // sled's background threads may hold the database's lock a moment after the previous
        // instance is dropped.
        let start = Instant::now();
        let node = loop {
            match Node::start(config.clone()).await {
                Ok(node) => break node,
                Err(NodeError::Store(StoreError::InUse { .. })) if start.elapsed() < Duration::from_secs(10) => {
                    tracing::debug!(node = i, "the store is still locked by the stopped instance; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => return Err(error).with_context(|| format!("restarting {}", self.slots[i].name)),
            }
        };
        for &(a, b) in &self.cut {
            let other = match (a == i, b == i) {
                (true, _) => b,
                (_, true) => a,
                _ => continue,
            };
            node.block(self.slots[other].peer_id).await?;
        }
        self.slots[i].addrs = node.listen_addrs();
        self.slots[i].node = Some(node);
        Ok(())
    }

    /// Each running node's community digest (`None` for a node without a community yet).
    pub fn digests(&self) -> Vec<(usize, Option<[u8; 32]>)> {
        self.running().map(|(i, node)| (i, node.replica().community().map(|c| c.digest()))).collect()
    }

    /// Whether every running node holds a community and all digests are equal.
    pub fn converged(&self) -> bool {
        let digests = self.digests();
        let Some((_, Some(first))) = digests.first() else { return false };
        digests.iter().all(|(_, d)| d.as_ref() == Some(first))
    }

    /// Whether the nodes `among` (all running) have the same digest: one side of a partition.
    pub fn converged_among(&self, among: &[usize]) -> bool {
        let digest = |i: usize| self.try_node(i).and_then(|n| n.replica().community().map(|c| c.digest()));
        let Some(first) = among.first().and_then(|&i| digest(i)) else { return false };
        among.iter().all(|&i| digest(i) == Some(first))
    }

    /// Waits until [`Cluster::converged_among`] holds for `among`.
    pub async fn wait_converged_among(&self, among: &[usize], timeout: Duration) -> anyhow::Result<Duration> {
        let what = format!("nodes {among:?} have the same digest");
        wait_until(timeout, &what, || self.converged_among(among))
            .await
            .map_err(|e| anyhow!("{e}\n{}", self.describe()))
    }

    /// Waits until [`Cluster::converged`]; on timeout the error describes every node.
    pub async fn wait_converged(&self, timeout: Duration) -> anyhow::Result<Duration> {
        wait_until(timeout, "all running nodes have the same digest", || self.converged())
            .await
            .map_err(|e| anyhow!("{e}\n{}", self.describe()))
    }

    /// Waits until every running node holds the entry `hash` (applied or as fork evidence).
    pub async fn wait_everywhere(&self, hash: EntryHash, timeout: Duration) -> anyhow::Result<Duration> {
        let what = format!("every node holds entry {}", hash.short());
        wait_until(timeout, &what, || {
            self.running().all(|(_, node)| node.replica().community().is_some_and(|c| c.holds(&hash)))
        })
        .await
        .map_err(|e| anyhow!("{e}\n{}", self.describe()))
    }

    /// One line per node: heads, entries held, pending entries, members, forks and digest.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(node) = slot.node.as_ref() else {
                out.push_str(&format!("  {} ({}): stopped\n", i, slot.name));
                continue;
            };
            let replica = node.replica();
            let Some(c) = replica.community() else {
                out.push_str(&format!("  {} ({}): no community yet\n", i, slot.name));
                continue;
            };
            let heads: Vec<String> = self
                .slots
                .iter()
                .map(|s| format!("{}", c.member(&s.member).and_then(|m| m.head).map_or(0, |h| h.seq)))
                .collect();
            let admitted = c.members().filter(|(_, m)| m.admitted).count();
            out.push_str(&format!(
                "  {} ({}): digest {} heads [{}] held {} pending {} members {} forks {} store entries {}\n",
                i,
                slot.name,
                hex::encode(&c.digest()[..4]),
                heads.join(" "),
                c.entry_count(),
                c.pending_count(),
                admitted,
                c.forks().count(),
                replica.store().entry_count(),
            ));
        }
        out
    }

    /// Stops every running node cleanly and deletes the homes.
    pub async fn shutdown(mut self) {
        for i in 0..self.slots.len() {
            if self.slots[i].node.is_some()
                && let Err(error) = self.stop(i).await
            {
                tracing::warn!(%error, "could not stop a node cleanly");
            }
        }
    }
}

/// A node's config in a cluster: loopback, port 0, mDNS off, short timers.
/// A node config for the cluster: loopback, port 0, mDNS off, the cluster's timings.
pub fn node_config(home: &Path, options: &ClusterOptions) -> NodeConfig {
    let mut config = NodeConfig::new(home);
    config.network.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("a valid multiaddr")];
    config.network.mdns = false;
    config.network.sync_interval = options.sync_interval;
    config.network.heartbeat = options.heartbeat;
    config.network.limits = options.limits;
    config
}
