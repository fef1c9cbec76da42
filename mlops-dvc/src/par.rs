//! One small parallel map over a slice, used by hashing, checkout and transfers: bounded scoped
//! worker threads pull the next index from a shared counter, results come back in input order,
//! and the first error stops the workers (items not yet started are skipped).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::model::{Phase, Progress, ProgressFn};

/// A failed [`par_map`]: the first error, and the results of the items that had succeeded (in
/// input order, with gaps), so the caller can undo their effects (remove temps, ...).
pub(crate) struct Failed<R, E> {
    /// The first error any worker hit.
    pub error: E,
    /// The results that were ready when the workers stopped.
    pub done: Vec<R>,
}

/// Apply `f` to every item of `items` on at most `threads` threads (inline when one is enough)
/// and return the results in the order of `items`. On the first error no new item is started;
/// the error and the finished results are returned.
pub(crate) fn par_map<T, R, E, F>(threads: usize, items: &[T], f: F) -> Result<Vec<R>, Failed<R, E>>
where
    T: Sync,
    R: Send,
    E: Send,
    F: Fn(usize, &T) -> Result<R, E> + Sync,
{
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<E>> = Mutex::new(None);
    let work = || {
        while !failed.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            match f(i, item) {
                Ok(r) => *slots[i].lock() = Some(r),
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    first_error.lock().get_or_insert(e);
                }
            }
        }
    };
    let threads = threads.min(items.len()).max(1);
    if threads == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(work);
            }
        });
    }
    let done = slots.into_iter().filter_map(Mutex::into_inner);
    match first_error.into_inner() {
        Some(error) => Err(Failed {
            error,
            done: done.collect(),
        }),
        None => Ok(done.collect()),
    }
}

/// Counts finished files and bytes across worker threads and reports them to an optional
/// [`ProgressFn`].
pub(crate) struct Tally<'a> {
    phase: Phase,
    progress: Option<&'a ProgressFn>,
    files_total: u64,
    bytes_total: u64,
    files: AtomicU64,
    bytes: AtomicU64,
}

impl<'a> Tally<'a> {
    pub(crate) fn new(
        phase: Phase,
        progress: Option<&'a ProgressFn>,
        files_total: u64,
        bytes_total: u64,
    ) -> Self {
        Self {
            phase,
            progress,
            files_total,
            bytes_total,
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// One more file (or object) of `bytes` bytes is done.
    pub(crate) fn add(&self, bytes: u64) {
        let files_done = self.files.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes_done = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(p) = self.progress {
            p(&Progress {
                phase: self.phase,
                files_done,
                files_total: self.files_total,
                bytes_done,
                bytes_total: self.bytes_total,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_input_order() {
        let items: Vec<u64> = (0..500).collect();
        for threads in [1, 2, 7] {
            let out = par_map(threads, &items, |i, x| Ok::<_, ()>(x * 2 + i as u64)).ok();
            let want: Vec<u64> = items.iter().map(|x| x * 3).collect();
            assert_eq!(out, Some(want), "{threads} threads");
        }
        assert!(par_map(4, &[] as &[u8], |_, _| Ok::<u8, ()>(0)).is_ok_and(|v| v.is_empty()));
    }

    #[test]
    fn first_error_wins_and_stops_new_work() {
        let items: Vec<u32> = (0..2_000).collect();
        let started = AtomicU64::new(0);
        let err = par_map(2, &items, |_, &x| {
            started.fetch_add(1, Ordering::Relaxed);
            if x == 10 {
                return Err(format!("bad {x}"));
            }
            // Slow items: without the early stop, the run would take a second per thread.
            std::thread::sleep(std::time::Duration::from_millis(1));
            Ok(x)
        })
        .err()
        .unwrap();
        assert_eq!(err.error, "bad 10");
        assert!(!err.done.is_empty() && err.done.len() < items.len());
        // The workers stopped after the failure, not at the end of the list.
        assert!(started.load(Ordering::Relaxed) < items.len() as u64);
        // Inline (one thread): everything before the failing item is done, nothing after.
        let err = par_map(1, &items, |_, &x| if x == 10 { Err(()) } else { Ok(x) })
            .err()
            .unwrap();
        assert_eq!(err.done, (0..10).collect::<Vec<_>>());
    }
}
