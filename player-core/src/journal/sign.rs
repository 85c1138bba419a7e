//! Signing a batch on every core while this thread inserts what is signed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use super::JournalError;
use crate::record::{Signer, UnsignedRecord};

/// Batches at least this large are signed on several threads.
const PARALLEL_SIGN_MIN: usize = 64;
/// Records per signing chunk of a large batch.
const SIGN_CHUNK: usize = 128;

/// Sign every header and hand each signed chunk, in order, to `insert`.
///
/// Small batches (or one core) are signed on this thread. Larger ones are signed
/// by one worker per core, chunk by chunk, while this thread inserts the chunks
/// that are ready: signing and SQLite work overlap. Stops at the first `insert`
/// error (workers see the stop flag and quit).
pub(super) fn sign_pipelined<F>(
    signer: &dyn Signer,
    unsigned: &[UnsignedRecord],
    mut insert: F,
) -> Result<Vec<[u8; 64]>, JournalError>
where
    F: FnMut(&[UnsignedRecord], &[[u8; 64]]) -> Result<(), JournalError>,
{
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || unsigned.len() < PARALLEL_SIGN_MIN {
        let sigs: Vec<[u8; 64]> = unsigned
            .iter()
            .map(|u| signer.sign(&u.header_bytes))
            .collect();
        insert(unsigned, &sigs)?;
        return Ok(sigs);
    }
    let n_chunks = unsigned.len().div_ceil(SIGN_CHUNK);
    let chunk_range = |i: usize| i * SIGN_CHUNK..((i + 1) * SIGN_CHUNK).min(unsigned.len());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<(usize, Vec<[u8; 64]>)>();
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n_chunks || stop.load(Ordering::Relaxed) {
                    break;
                }
                let sigs = unsigned[chunk_range(i)]
                    .iter()
                    .map(|u| signer.sign(&u.header_bytes))
                    .collect();
                if tx.send((i, sigs)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut ready = BTreeMap::new();
        let mut all = Vec::with_capacity(unsigned.len());
        let mut want = 0;
        for (i, sigs) in rx {
            ready.insert(i, sigs);
            while let Some(sigs) = ready.remove(&want) {
                if let Err(e) = insert(&unsigned[chunk_range(want)], &sigs) {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                all.extend(sigs);
                want += 1;
            }
        }
        // Every chunk arrives unless a worker panicked; the scope re-raises that.
        Ok(all)
    })
}
