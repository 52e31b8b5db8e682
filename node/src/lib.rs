//! `kith-node`: a Kith node. The sled store ([`store`]), the replica that joins the store with
//! the protocol's reducer ([`replica`]), the libp2p swarm and sync ([`network`], [`sync`]), the
//! node's lifecycle ([`node`]), invites ([`invite`]) and its local HTTP API ([`api`]).

pub mod api;
pub mod clock;
pub mod home;
pub mod invite;
pub mod network;
pub mod node;
pub mod replica;
pub mod store;
pub mod sync;

pub use node::{Node, NodeConfig, NodeError, NodeHandle};
pub mod verify;
