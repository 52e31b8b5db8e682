//! Every sync message a node decodes from a peer (requests, including a newcomer's hello, and
//! responses, including heads and fork proofs), through the codec libp2p's request-response
//! `cbor` behaviour uses: bytes either fail to decode or decode to a message that encodes and
//! decodes back to itself; nothing panics.
#![no_main]

use kith_node::sync::{SyncRequest, SyncResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = cbor4ii::serde::from_slice::<SyncRequest>(data) {
        let bytes = cbor4ii::serde::to_vec(Vec::new(), &request).expect("a decoded request encodes");
        let again: SyncRequest = cbor4ii::serde::from_slice(&bytes).expect("an encoded request decodes");
        assert_eq!(again, request);
    }
    if let Ok(response) = cbor4ii::serde::from_slice::<SyncResponse>(data) {
        let bytes = cbor4ii::serde::to_vec(Vec::new(), &response).expect("a decoded response encodes");
        let again: SyncResponse = cbor4ii::serde::from_slice(&bytes).expect("an encoded response decodes");
        assert_eq!(again, response);
        if let SyncResponse::Heads { forks, .. } = &response {
            for proof in forks {
                // A fork proof from a peer is checked strictly; checking never panics.
                let _ = proof.verify();
            }
        }
    }
});
