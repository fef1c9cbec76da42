//! Scoped-thread helpers for independent work items (drift columns, expectations, the two
//! samples of a test). Work runs on the calling thread when it is small or only one CPU is
//! available; no thread outlives the call.

use std::thread;

pub(crate) fn threads() -> usize {
    thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// `items.iter().map(f)` in order, spread over the available CPUs when `parallel`.
pub(crate) fn map<T: Sync, R: Send>(
    items: &[T],
    parallel: bool,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let k = threads().min(items.len());
    if !parallel || k <= 1 {
        return items.iter().map(f).collect();
    }
    let f = &f;
    let mut out: Vec<(usize, R)> = thread::scope(|s| {
        let handles: Vec<_> = (0..k)
            .map(|t| {
                s.spawn(move || {
                    items
                        .iter()
                        .enumerate()
                        .skip(t)
                        .step_by(k)
                        .map(|(i, item)| (i, f(item)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    out.sort_unstable_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Run `a` and `b`, on two threads when `parallel` and more than one CPU is available.
pub(crate) fn join<A: Send, B: Send>(
    parallel: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if !parallel || threads() <= 1 {
        return (a(), b());
    }
    thread::scope(|s| {
        let hb = s.spawn(b);
        let ra = a();
        match hb.join() {
            Ok(rb) => (ra, rb),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}
