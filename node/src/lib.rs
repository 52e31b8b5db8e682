//! `kith-node`: a Kith node. The sled store ([`store`]), the replica that joins the store with
//! the protocol's reducer ([`replica`]), the libp2p swarm and sync ([`network`], [`sync`]), the
//! node's lifecycle ([`node`]), invites ([`invite`]), its local HTTP API ([`api`]) and the web page
//! for volunteers served beside it ([`web`]), both reading through [`read`], signing people in
//! through [`sessions`] and assembled by [`http`]; the CLI's offline commands ([`offline`]).

pub mod api;
pub mod clock;
pub mod engine;
pub mod gate;
pub mod gated;
pub mod helped;
pub mod home;
pub mod http;
pub mod inbox;
pub mod invite;
pub mod network;
pub mod node;
pub mod offline;
pub mod progress;
pub mod read;
pub mod reconcile;
pub mod replica;
pub mod sessions;
pub mod storage;
pub mod store;
pub mod sync;
pub mod web;
pub mod when;

pub use node::{Node, NodeConfig, NodeError, NodeHandle};
pub mod verify;
pub mod worker;
