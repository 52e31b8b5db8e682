//! Verifying pages of entries on every core: signature checks are the ingest ceiling, and
//! catch-up sync hands us hundreds of entries at once.

use kith_protocol::{Entry, EntryError};

/// Smallest page worth splitting across threads.
const MIN_PARALLEL: usize = 64;

/// `verify_strict` for each entry, spread over the machine's cores. One result per entry.
pub fn verify_page(entries: &[Entry]) -> Vec<Result<(), EntryError>> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if threads < 2 || entries.len() < MIN_PARALLEL {
        return Entry::verify_many(entries);
    }
    let chunk = entries.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = entries.chunks(chunk).map(|part| scope.spawn(move || Entry::verify_many(part))).collect();
        let mut results = Vec::with_capacity(entries.len());
        for (handle, part) in handles.into_iter().zip(entries.chunks(chunk)) {
            match handle.join() {
                Ok(part_results) => results.extend(part_results),
                // A panicking verifier is a bug of ours; verify that part again on this thread.
                Err(_) => results.extend(Entry::verify_many(part)),
            }
        }
        results
    })
}
