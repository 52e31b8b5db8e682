//! Verifying pages of entries off the network loop: a long-lived helper thread decodes and
//! checks the signatures of each page a peer sends while the loop stores the page before it,
//! so signature checks and storing — the two halves of ingest — keep both cores busy. A long
//! page is decoded and checked a few entries at a time by as many threads as the machine has
//! cores (at most four; rayon's pool): while the store waits for the next page, its core
//! verifies too, and the threads finish a page together.

use std::sync::OnceLock;

use kith_protocol::{AuthorKeys, Entry};
use rayon::iter::{IndexedParallelIterator, IntoParallelIterator, ParallelIterator};

use crate::worker::Worker;

/// Why a page stopped short: the index of its first bad entry, and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageFault {
    pub index: usize,
    pub reason: String,
}

/// A page after the helper thread: its entries up to the first bad one, decoded and with good
/// signatures, in the order they came.
#[derive(Debug)]
pub struct VerifiedPage<C> {
    /// What the submitter needs to carry on with the page (who sent it, what it answers).
    pub context: C,
    pub entries: Vec<Entry>,
    pub fault: Option<PageFault>,
}

/// The helper thread. Pages come back, through the sink given to [`Verifier::start`], in the
/// order they were submitted. Dropping the `Verifier` lets the thread finish what was
/// submitted and stop.
pub struct Verifier<C> {
    worker: Worker<(C, Vec<Vec<u8>>)>,
}

impl<C> std::fmt::Debug for Verifier<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

impl<C: Send + 'static> Verifier<C> {
    /// Starts the helper thread; `sink` receives each verified page (and returns `false` once
    /// nobody listens, which stops the thread).
    pub fn start(mut sink: impl FnMut(VerifiedPage<C>) -> bool + Send + 'static) -> std::io::Result<Verifier<C>> {
        // The authors' keys, decoded once for every page this thread checks.
        let mut keys = AuthorKeys::default();
        let worker = Worker::start("kith-verify", move |(context, page)| {
            let (entries, fault) = verify_page_with(page, &mut keys);
            sink(VerifiedPage { context, entries, fault })
        })?;
        Ok(Verifier { worker })
    }

    /// Queues a page of wire bytes. Gives them back if the helper thread has stopped (its
    /// sink said nobody listens), to verify them elsewhere.
    pub fn submit(&self, context: C, page: Vec<Vec<u8>>) -> Result<(), (C, Vec<Vec<u8>>)> {
        self.worker.submit((context, page))
    }
}

/// Decodes a page and checks every signature (`verify_strict`, keys decoded once per author):
/// the entries before the first bad one, and what was wrong with it.
pub fn verify_page(page: Vec<Vec<u8>>) -> (Vec<Entry>, Option<PageFault>) {
    verify_page_with(page, &mut AuthorKeys::default())
}

/// [`verify_page`] with the authors' keys decoded for earlier pages (`keys` takes this page's
/// new ones).
pub fn verify_page_with(page: Vec<Vec<u8>>, keys: &mut AuthorKeys) -> (Vec<Entry>, Option<PageFault>) {
    let decoded = side_by_side(page, Entry::decode_unverified);
    let mut entries = Vec::with_capacity(decoded.len());
    let mut fault = None;
    for (index, entry) in decoded.into_iter().enumerate() {
        match entry {
            Ok(entry) => entries.push(entry),
            Err(error) => {
                fault = Some(PageFault { index, reason: error.to_string() });
                break;
            }
        }
    }
    keys.add(&entries);
    let keys = &*keys;
    let verdicts = side_by_side(entries.iter().collect(), |entry| keys.verify(entry));
    if let Some((bad, Err(error))) = verdicts.iter().enumerate().find(|(_, verdict)| verdict.is_err()) {
        fault = Some(PageFault { index: bad, reason: error.to_string() });
        entries.truncate(bad);
    }
    (entries, fault)
}

/// Pages shorter than this are checked on the calling thread alone: handing them to the
/// threads would cost more than it saves.
const SIDE_BY_SIDE_FROM: usize = 64;

/// Entries handed to a thread at a time: small enough that the threads finish a page together
/// (a thread the storing thread took the core from is not left with half the page), large
/// enough that handing them out costs nothing next to a signature check (~25 µs each).
const ENTRIES_PER_TASK: usize = 8;

/// The threads that decode and check a page side by side: as many as the machine has cores, at
/// most four (`None` with one core, or if none could start: the caller's thread does it all).
fn verify_threads() -> Option<&'static rayon::ThreadPool> {
    static THREADS: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    THREADS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
            if cores < 2 {
                return None;
            }
            rayon::ThreadPoolBuilder::new()
                .num_threads(cores)
                .thread_name(|index| format!("kith-verify-{index}"))
                .build()
                .inspect_err(|error| tracing::warn!(%error, "no threads to check pages on; the verifier checks alone"))
                .ok()
        })
        .as_ref()
}

/// `work` on every item, results in the items' order: on the verify threads, a few items at a
/// time to whichever thread is free, when the page is long enough and the threads exist.
fn side_by_side<T: Send, R: Send>(items: Vec<T>, work: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
    match verify_threads() {
        Some(threads) if items.len() >= SIDE_BY_SIDE_FROM => {
            threads.install(|| items.into_par_iter().with_min_len(ENTRIES_PER_TASK).map(work).collect())
        }
        _ => items.into_iter().map(work).collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use kith_protocol::{Body, Draft, EntryError, EntryHash, Keypair, PostKind};

    use std::sync::mpsc;

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
                    schedule: None,
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

    fn wire(entries: &[Entry]) -> Vec<Vec<u8>> {
        entries.iter().map(|e| e.bytes().to_vec()).collect()
    }

    /// Runs pages through a `Verifier` and collects what comes back.
    fn through_verifier(pages: Vec<Vec<Vec<u8>>>) -> Vec<VerifiedPage<usize>> {
        let (sender, receiver) = mpsc::channel();
        let verifier = Verifier::start(move |page| sender.send(page).is_ok()).unwrap();
        let count = pages.len();
        for (index, page) in pages.into_iter().enumerate() {
            assert!(verifier.submit(index, page).is_ok());
        }
        drop(verifier);
        let back: Vec<VerifiedPage<usize>> = receiver.iter().collect();
        assert_eq!(back.len(), count);
        back
    }

    #[test]
    fn pages_come_back_whole_and_in_order() {
        let entries = page(300, None);
        let pages: Vec<Vec<Vec<u8>>> = entries.chunks(64).map(wire).collect();
        let back = through_verifier(pages);
        assert_eq!(back.iter().map(|p| p.context).collect::<Vec<_>>(), (0..back.len()).collect::<Vec<_>>());
        let hashes: Vec<EntryHash> = back.iter().flat_map(|p| p.entries.iter().map(Entry::hash)).collect();
        assert_eq!(hashes, entries.iter().map(Entry::hash).collect::<Vec<_>>());
        assert!(back.iter().all(|p| p.fault.is_none()));
    }

    #[test]
    fn a_page_stops_at_its_first_bad_signature() {
        let count = 200;
        for broken in [0, 1, 63, 64, count - 1] {
            let entries = page(count, Some(broken));
            let (good, fault) = verify_page(wire(&entries));
            let expected: Vec<EntryHash> = entries[..broken].iter().map(Entry::hash).collect();
            assert_eq!(good.iter().map(Entry::hash).collect::<Vec<_>>(), expected, "broken at {broken}");
            let fault = fault.unwrap();
            assert_eq!(fault.index, broken);
            assert_eq!(fault.reason, EntryError::BadSignature.to_string());
        }
    }

    #[test]
    fn keys_kept_from_page_to_page_still_find_a_bad_signature() {
        let mut keys = AuthorKeys::default();
        let (good, fault) = verify_page_with(wire(&page(100, None)), &mut keys);
        assert_eq!((good.len(), fault), (100, None));
        assert_eq!(keys.len(), 1);
        // The author's key is held from the page before; each signature is still checked.
        for broken in [0, 70] {
            let (good, fault) = verify_page_with(wire(&page(100, Some(broken))), &mut keys);
            assert_eq!(good.len(), broken);
            assert_eq!(fault.map(|f| (f.index, f.reason)), Some((broken, EntryError::BadSignature.to_string())));
        }
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn a_long_page_decoded_side_by_side_stops_at_its_first_bytes_that_do_not_decode() {
        let entries = page(200, None);
        assert!(entries.len() >= SIDE_BY_SIDE_FROM);
        let mut bytes = wire(&entries);
        bytes[70] = vec![0xFF; 7];
        bytes[150] = vec![0xFF; 7];
        let (good, fault) = verify_page(bytes);
        let expected: Vec<EntryHash> = entries[..70].iter().map(Entry::hash).collect();
        assert_eq!(good.iter().map(Entry::hash).collect::<Vec<_>>(), expected);
        assert_eq!(fault.map(|f| f.index), Some(70));
    }

    #[test]
    fn a_page_stops_at_bytes_that_do_not_decode() {
        let entries = page(10, None);
        let mut bytes = wire(&entries);
        bytes[4] = vec![0xFF; 7];
        let back = through_verifier(vec![bytes, wire(&entries[..2])]);
        assert_eq!(back[0].entries.len(), 4);
        assert_eq!(back[0].fault.as_ref().map(|f| f.index), Some(4));
        assert_eq!(back[1].entries.len(), 2, "the next page is verified on its own");
        assert!(back[1].fault.is_none());
    }
}
