//! What the `kith` command does to a home's database with no node running (`kith community
//! create`, `kith repair`): the one way in to the store from outside the node, so that the
//! CLI never opens it itself. Each call opens the store (its lock says if a node runs on it),
//! does its work and closes it.

use kith_protocol::{CommunityId, Keypair, Rules};

use crate::clock::now_ms;
use crate::home::Home;
use crate::replica::{PublishError, Replica, ReplicaError};
use crate::store::{DEFAULT_CACHE_BYTES, Store, StoreError};

/// Why an offline command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("this home's database already holds community {0}")]
    AlreadyHolds(CommunityId),
    #[error("this home has no database yet ({0}); nothing to repair")]
    NoDatabase(String),
}

/// Writes the Genesis of a new community, signed by `keypair`, into the home's store.
pub fn found_community(
    home: &Home,
    keypair: Keypair,
    name: &str,
    description: &str,
    rules: Rules,
) -> Result<CommunityId, OfflineError> {
    let store = Store::open(&home.db_path(), DEFAULT_CACHE_BYTES)?;
    let mut replica = Replica::open(store, keypair, None, now_ms())?;
    if let Some(existing) = replica.community_id() {
        return Err(OfflineError::AlreadyHolds(existing));
    }
    let genesis = replica.found(name, description, rules, now_ms())?;
    Ok(genesis.community())
}

/// Rebuilds every view from the entry file (`kith repair`). Opening the store first finishes
/// whatever a crash left (a torn entry file, damaged sled files moved aside). `started` hears
/// how many entries there are, `progress` (done, total) as the work goes; returns how many
/// entries the views were rebuilt from.
pub fn repair(
    home: &Home,
    started: impl FnOnce(usize),
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize, OfflineError> {
    let path = home.db_path();
    if !path.exists() {
        return Err(OfflineError::NoDatabase(path.display().to_string()));
    }
    let store = Store::open(&path, DEFAULT_CACHE_BYTES)?;
    started(store.entry_count());
    Ok(store.rebuild_views_with(progress)?)
}
