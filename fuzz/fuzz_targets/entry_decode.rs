//! Entry decoding: any bytes either fail to decode with a reason, or decode to an entry whose
//! bytes are exactly the input (one entry, one byte string), and `decode` (which also checks
//! the signature) agrees with `decode_unverified` followed by `verify_signature`.
#![no_main]

use kith_protocol::Entry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(entry) = Entry::decode_unverified(data.to_vec()) else {
        assert!(Entry::decode(data.to_vec()).is_err(), "decode accepted what decode_unverified refused");
        return;
    };
    assert_eq!(entry.bytes(), data, "a decoded entry re-encodes to other bytes");
    assert_eq!(entry.header().seq, entry.seq());
    let verified = Entry::decode(data.to_vec());
    assert_eq!(verified.is_ok(), entry.verify_signature().is_ok(), "decode and verify_signature disagree");
    if let Ok(again) = verified {
        assert_eq!(again.hash(), entry.hash());
    }
});
