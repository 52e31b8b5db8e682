//! `kith-node`: a Kith node. The sled store ([`store`]), the replica that joins the store with
//! the protocol's reducer ([`replica`]), the libp2p swarm and sync ([`network`], [`sync`]), the
//! node's lifecycle ([`node`]), invites ([`invite`]), its local HTTP API ([`api`]) and the web page
//! for volunteers served beside it ([`web`]).

pub mod api;
pub mod clock;
pub mod engine;
pub mod gate;
pub mod gated;
pub mod helped;
pub mod home;
pub mod inbox;
pub mod invite;
pub mod network;
pub mod node;
pub mod progress;
pub mod reconcile;
pub mod replica;
pub mod storage;
pub mod store;
pub mod sync;
pub mod web;
pub mod when;

pub use node::{Node, NodeConfig, NodeError, NodeHandle};
pub mod verify;
