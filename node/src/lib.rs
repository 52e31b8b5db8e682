//! `kith-node`: a Kith node. The sled store ([`store`]), the replica that joins the store with
//! the protocol's reducer ([`replica`]), the libp2p swarm and sync ([`network`], [`sync`]), the
//! node's lifecycle ([`node`]) and its local HTTP API ([`api`]).

pub mod store;
pub mod replica;
pub mod sync;
pub mod clock;
pub mod network;
pub mod home;
pub mod api;
pub mod node;

pub use node::{Node, NodeConfig, NodeError, NodeHandle};
