//! Invite parsing: a signed capability's bytes and an invite line either fail with a reason or
//! parse to a value that encodes and parses back to itself.
#![no_main]

use kith_node::invite::Invite;
use kith_protocol::invite::Capability;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(capability) = Capability::from_bytes(data) {
        let again = Capability::from_bytes(&capability.to_bytes());
        assert!(again.as_ref().is_ok_and(|c| c.id() == capability.id()), "a capability does not round-trip");
    }
    // The same bytes as an invite line, and as the base64 payload of one.
    let text = String::from_utf8_lossy(data);
    for line in [text.to_string(), format!("kith:{text}")] {
        if let Ok(invite) = Invite::decode(&line) {
            let again = Invite::decode(&invite.encode());
            assert!(
                again.as_ref().is_ok_and(|i| i.capability.id() == invite.capability.id() && i.addrs == invite.addrs),
                "an invite line does not round-trip"
            );
        }
    }
});
