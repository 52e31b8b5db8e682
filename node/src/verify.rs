//! Verifying pages of entries while the verified ones are stored: signature checks and the
//! store are the two halves of ingest, and catch-up sync hands us hundreds of entries at once.

use std::sync::mpsc;

use kith_protocol::{Entry, EntryError};

/// Smallest page worth a helper thread.
const MIN_PARALLEL: usize = 64;
/// Entries verified ahead of the thread that applies them, per step of
/// [`verify_and_apply`]: small enough that the first step is a short wait.
const PIPELINE_CHUNK: usize = 64;
/// Verified chunks waiting to be applied, at most.
const PIPELINE_DEPTH: usize = 2;

/// Verifies a page on a helper thread, a chunk at a time, while this thread hands each
/// verified chunk, in order, to `apply`: signature checks and storing overlap, so two cores
/// stay busy. Stops at the first entry whose signature fails: the entries before it are
/// applied, the rest are not, and its index and error are returned.
pub fn verify_and_apply(entries: &[Entry], mut apply: impl FnMut(&[Entry])) -> Option<(usize, EntryError)> {
    if available_threads() < 2 || entries.len() < MIN_PARALLEL {
        return apply_verified(entries, &Entry::verify_many(entries), 0, &mut apply);
    }
    std::thread::scope(|scope| {
        let (verified, receiver) = mpsc::sync_channel(PIPELINE_DEPTH);
        let helper = scope.spawn(move || {
            for chunk in entries.chunks(PIPELINE_CHUNK) {
                let verdicts = Entry::verify_many(chunk);
                let failed = verdicts.iter().any(Result::is_err);
                // A closed channel means the applying side stopped early.
                if verified.send(verdicts).is_err() || failed {
                    break;
                }
            }
        });
        let mut chunks = entries.chunks(PIPELINE_CHUNK);
        let mut offset = 0;
        for verdicts in &receiver {
            let Some(chunk) = chunks.next() else { break };
            if let Some(bad) = apply_verified(chunk, &verdicts, offset, &mut apply) {
                return Some(bad);
            }
            offset += chunk.len();
        }
        // The helper stops before the end only after a failure (returned above) or if it
        // panicked, a bug of ours: verify what it left on this thread.
        let _ = helper.join();
        for chunk in chunks {
            if let Some(bad) = apply_verified(chunk, &Entry::verify_many(chunk), offset, &mut apply) {
                return Some(bad);
            }
            offset += chunk.len();
        }
        None
    })
}

/// Applies the entries of `chunk` before the first failed verdict; returns that failure with
/// its index in the page (`offset` is the chunk's).
fn apply_verified(
    chunk: &[Entry],
    verdicts: &[Result<(), EntryError>],
    offset: usize,
    apply: &mut impl FnMut(&[Entry]),
) -> Option<(usize, EntryError)> {
    let bad = verdicts.iter().position(Result::is_err);
    let good = &chunk[..bad.unwrap_or(chunk.len()).min(chunk.len())];
    if !good.is_empty() {
        apply(good);
    }
    let bad = bad?;
    match verdicts.get(bad) {
        Some(Err(error)) => Some((offset + bad, error.clone())),
        _ => None,
    }
}

fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use kith_protocol::{Body, Draft, EntryHash, Keypair, PostKind};

    use super::*;

    /// A log of `count` posts, with the signature of entry `broken` (if any) spoilt.
    fn page(count: usize, broken: Option<usize>) -> Vec<Entry> {
        let keypair = Keypair::from_secret_bytes([4; 32]);
        let mut prev: Option<EntryHash> = None;
        (0..count)
            .map(|i| {
                let body = Body::Post {
                    kind: PostKind::Offer,
                    title: format!("post {i}"),
                    details: String::new(),
                    category: String::new(),
                    when: String::new(),
                    place: String::new(),
                    expires_at: None,
                };
                let community = Some(kith_protocol::CommunityId([2; 32]));
                let after = Some(prev.unwrap_or(EntryHash([1; 32])));
                let draft = Draft { community, seq: i as u64 + 2, prev: after, timestamp_ms: 10, body };
                let entry = Entry::sign(&keypair, draft).unwrap();
                prev = Some(entry.hash());
                if broken != Some(i) {
                    return entry;
                }
                // Flip a bit of the signature: the wire bytes end with the payload, so find it.
                let mut bytes = entry.bytes().to_vec();
                let at = bytes.windows(64).position(|w| w == entry.signature()).unwrap();
                bytes[at] ^= 1;
                Entry::decode_unverified(bytes).unwrap()
            })
            .collect()
    }

    fn applied_by_pipeline(entries: &[Entry]) -> (Vec<EntryHash>, Option<(usize, EntryError)>) {
        let mut applied = Vec::new();
        let failure = verify_and_apply(entries, |chunk| applied.extend(chunk.iter().map(Entry::hash)));
        (applied, failure)
    }

    #[test]
    fn the_pipeline_applies_every_good_entry_in_order() {
        for count in [0, 1, MIN_PARALLEL, 3 * PIPELINE_CHUNK + 5] {
            let entries = page(count, None);
            let (applied, failure) = applied_by_pipeline(&entries);
            assert_eq!(applied, entries.iter().map(Entry::hash).collect::<Vec<_>>(), "{count} entries");
            assert_eq!(failure, None);
        }
    }

    #[test]
    fn the_pipeline_stops_at_the_first_bad_signature() {
        let count = 3 * PIPELINE_CHUNK + 5;
        for broken in [0, 1, PIPELINE_CHUNK - 1, PIPELINE_CHUNK, 2 * PIPELINE_CHUNK + 3, count - 1] {
            let entries = page(count, Some(broken));
            let (applied, failure) = applied_by_pipeline(&entries);
            let expected: Vec<EntryHash> = entries[..broken].iter().map(Entry::hash).collect();
            assert_eq!(applied, expected, "broken at {broken}");
            assert_eq!(failure, Some((broken, EntryError::BadSignature)), "broken at {broken}");
            assert_eq!(Entry::verify_many(&entries).iter().position(Result::is_err), Some(broken));
        }
    }
}
