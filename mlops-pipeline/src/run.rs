//! Running a pipeline: the scheduler, the attempt loop, timeouts and the cache lookup.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use parking_lot::{Condvar, Mutex};

use crate::builder::{CacheSpec, Node, Pipeline};
use crate::cache::{CacheEntry, CacheKey, Fingerprint, StepCache};
use crate::observer::{Event, Observer};
use crate::report::{
    AttemptOutcome, AttemptRecord, Attempts, Outputs, RunReport, SkipReason, StepReport, StepStatus,
};
use crate::retry::{Sleeper, ThreadSleeper};
use crate::step::{CancelToken, Output, StepCtx, StepError, StepErrorKind};

/// How to run a pipeline: threads, failure policy, cache, observer, sleeper.
///
/// ```
/// use std::sync::Arc;
/// use mlops_pipeline::{InMemoryCache, RunOptions};
///
/// let opts = RunOptions::new()
///     .threads(2)
///     .fail_fast(true)
///     .cache(Arc::new(InMemoryCache::new()));
/// # let _ = opts;
/// ```
#[derive(Clone, Default)]
pub struct RunOptions {
    threads: usize,
    fail_fast: bool,
    cache: Option<Arc<dyn StepCache>>,
    observer: Option<Arc<dyn Observer>>,
    sleeper: Option<Arc<dyn Sleeper>>,
    jitter_seed: u64,
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("threads", &self.threads)
            .field("fail_fast", &self.fail_fast)
            .field("cache", &self.cache)
            .field("observer", &self.observer)
            .field("sleeper", &self.sleeper)
            .field("jitter_seed", &self.jitter_seed)
            .finish()
    }
}

impl RunOptions {
    /// The defaults: as many threads as the machine's available parallelism, failures skip
    /// only their dependents, no cache, no observer, real sleeps between retries.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Run at most `threads` steps at once (0: the available parallelism). With 1, steps run
    /// one at a time on the calling thread, in a deterministic order: ready steps in the order
    /// they became ready, the initial ones in declaration order.
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Stop scheduling new steps after the first failure: every step not yet started is
    /// skipped, and running steps see their [`CancelToken`] cancelled (default: off, only
    /// the failed step's dependents are skipped and independent branches continue).
    #[must_use]
    pub fn fail_fast(mut self, on: bool) -> Self {
        self.fail_fast = on;
        self
    }

    /// Restore and store the outputs of cached steps in `cache`.
    #[must_use]
    pub fn cache(mut self, cache: Arc<dyn StepCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Send the run's events to `observer`.
    #[must_use]
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Wait between retries with `sleeper` (default: [`ThreadSleeper`]).
    #[must_use]
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = Some(sleeper);
        self
    }

    /// The seed of the retry jitter (default 0).
    #[must_use]
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = seed;
        self
    }
}

/// Sets attempts' cancel flags when their deadline passes.
#[derive(Default)]
struct Watchdog {
    state: Mutex<WatchState>,
    cv: Condvar,
}

#[derive(Default)]
struct WatchState {
    next_id: u64,
    active: Vec<(u64, Instant, Arc<AtomicBool>)>,
    shutdown: bool,
}

impl Watchdog {
    fn register(&self, deadline: Instant, flag: Arc<AtomicBool>) -> u64 {
        let mut s = self.state.lock();
        s.next_id += 1;
        let id = s.next_id;
        s.active.push((id, deadline, flag));
        self.cv.notify_one();
        id
    }

    fn unregister(&self, id: u64) {
        self.state.lock().active.retain(|e| e.0 != id);
    }

    fn shutdown(&self) {
        self.state.lock().shutdown = true;
        self.cv.notify_one();
    }

    fn run(&self) {
        let mut s = self.state.lock();
        while !s.shutdown {
            let now = Instant::now();
            s.active.retain(|(_, deadline, flag)| {
                if *deadline <= now {
                    flag.store(true, Ordering::Relaxed);
                    false
                } else {
                    true
                }
            });
            match s.active.iter().map(|e| e.1).min() {
                Some(deadline) => {
                    self.cv.wait_until(&mut s, deadline);
                }
                None => self.cv.wait(&mut s),
            }
        }
    }
}

/// Shuts the watchdog down when dropped, even on unwinding.
struct StopOnDrop<'a>(&'a Watchdog);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

/// The scheduler's state, under one lock.
struct Sched {
    ready: VecDeque<usize>,
    pending: Vec<u32>,
    records: Vec<Option<StepReport>>,
    started: Vec<bool>,
    unfinished: usize,
    running: usize,
    waiting: usize,
    /// Workers started, the calling thread included.
    workers: usize,
    stopped: bool,
}

struct Shared<'p> {
    p: &'p Pipeline,
    opts: &'p RunOptions,
    sleeper: &'p dyn Sleeper,
    /// The most workers at once.
    threads: usize,
    outputs: Vec<OnceLock<Output>>,
    fingerprints: Vec<OnceLock<Fingerprint>>,
    sched: Mutex<Sched>,
    cv: Condvar,
    run_cancel: Arc<AtomicBool>,
    /// The run's cancel token, shared by the attempts that have no timeout of their own.
    run_token: CancelToken,
    watchdog: Option<Watchdog>,
    /// The run's start, on both clocks: wall-clock times in the report are derived from
    /// monotonic instants (one clock read per step start and end).
    base: (Instant, DateTime<Utc>),
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

impl Shared<'_> {
    fn wall(&self, at: Instant) -> DateTime<Utc> {
        let since =
            TimeDelta::from_std(at.saturating_duration_since(self.base.0)).unwrap_or_default();
        self.base.1 + since
    }

    /// Send `event` to the observer. A panicking observer cannot stall the run: the panic is
    /// caught and logged.
    fn emit(&self, event: &Event<'_>) {
        if let Some(o) = &self.opts.observer
            && panic::catch_unwind(AssertUnwindSafe(|| o.on_event(event))).is_err()
        {
            tracing::error!("the run's observer panicked; event dropped");
        }
    }

    /// A worker: takes ready steps until every step is final. Workers are started lazily, when
    /// a ready step is left over and no worker is idle, up to the thread limit, so a chain
    /// runs on one thread whatever the limit.
    fn worker<'scope>(&'scope self, scope: &'scope thread::Scope<'scope, '_>) {
        let mut st = self.sched.lock();
        loop {
            if let Some(i) = st.ready.pop_front() {
                st.started[i] = true;
                st.running += 1;
                let mut spawn = false;
                if !st.ready.is_empty() {
                    if st.waiting > 0 {
                        self.cv.notify_one();
                    } else if st.workers < self.threads {
                        st.workers += 1;
                        spawn = true;
                    }
                }
                let report = parking_lot::MutexGuard::unlocked(&mut st, || {
                    if spawn
                        && thread::Builder::new()
                            .name("mlops-pipeline".to_owned())
                            .spawn_scoped(scope, move || self.worker(scope))
                            .is_err()
                    {
                        // No thread available: carry on with the workers there are.
                        self.sched.lock().workers -= 1;
                    }
                    self.execute(i)
                });
                st.running -= 1;
                let skipped = self.complete(&mut st, i, report);
                if !skipped.is_empty() {
                    parking_lot::MutexGuard::unlocked(&mut st, || {
                        for (j, reason) in &skipped {
                            self.emit(&Event::StepSkipped {
                                step: &self.p.nodes[*j].name,
                                reason,
                            });
                        }
                    });
                }
                continue;
            }
            if st.unfinished == 0 || st.running == 0 {
                self.cv.notify_all();
                return;
            }
            st.waiting += 1;
            self.cv.wait(&mut st);
            st.waiting -= 1;
        }
    }

    /// Record step `i`'s final state and release or skip its dependents. Returns the steps
    /// skipped as a consequence, for the observer.
    fn complete(&self, st: &mut Sched, i: usize, report: StepReport) -> Vec<(usize, SkipReason)> {
        let status = report.status;
        st.records[i] = Some(report);
        st.unfinished -= 1;
        let node = &self.p.nodes[i];
        let mut skipped = Vec::new();
        if status.is_success() {
            for &d in &node.dependents {
                st.pending[d] -= 1;
                if st.pending[d] == 0 && st.records[d].is_none() && !st.stopped {
                    st.ready.push_back(d);
                }
            }
            return skipped;
        }
        // Skip every transitive dependent, naming this step as the cause.
        let mut stack: Vec<usize> = node.dependents.clone();
        while let Some(d) = stack.pop() {
            if st.records[d].is_some() || st.started[d] {
                continue;
            }
            let reason = SkipReason::UpstreamFailed {
                step: node.name.clone(),
            };
            st.records[d] = Some(StepReport::skipped(
                self.p.nodes[d].name.clone(),
                reason.clone(),
            ));
            st.unfinished -= 1;
            skipped.push((d, reason));
            stack.extend_from_slice(&self.p.nodes[d].dependents);
        }
        if self.opts.fail_fast && !st.stopped {
            st.stopped = true;
            self.run_cancel.store(true, Ordering::Relaxed);
            st.ready.clear();
            for j in 0..st.records.len() {
                if st.records[j].is_none() && !st.started[j] {
                    let reason = SkipReason::FailFast {
                        failed: node.name.clone(),
                    };
                    st.records[j] = Some(StepReport::skipped(
                        self.p.nodes[j].name.clone(),
                        reason.clone(),
                    ));
                    st.unfinished -= 1;
                    skipped.push((j, reason));
                }
            }
        }
        skipped
    }

    fn cache_key(&self, node: &Node, spec: &CacheSpec) -> Option<CacheKey> {
        let deps: Option<Vec<_>> = node
            .deps
            .iter()
            .map(|(n, j)| self.fingerprints[*j].get().map(|fp| (n, *fp)))
            .collect();
        Some(CacheKey::compute(
            &node.name,
            &spec.version,
            &node.params,
            &deps?,
        ))
    }

    /// Try to restore step `i` from the cache. Returns the key to store under on a miss.
    fn lookup(
        &self,
        i: usize,
        cache: &dyn StepCache,
        spec: &CacheSpec,
        report: &mut StepReport,
    ) -> Option<CacheKey> {
        let node = &self.p.nodes[i];
        let Some(key) = self.cache_key(node, spec) else {
            let note = "not cached: a dependency's output has no fingerprint".to_owned();
            self.emit(&Event::CacheProblem {
                step: &node.name,
                detail: &note,
            });
            report.cache_note = Some(note);
            return None;
        };
        report.cache_key = Some(key);
        let problem = match cache.get(&key) {
            Ok(Some(entry)) if Fingerprint::of(&entry.output) != entry.fingerprint => {
                format!("entry {key} does not match its fingerprint; treated as a miss")
            }
            Ok(Some(entry)) => match (spec.codec.decode)(&entry.output) {
                Ok(out) => {
                    let _ = self.outputs[i].set(out);
                    let _ = self.fingerprints[i].set(entry.fingerprint);
                    report.status = StepStatus::Cached;
                    self.emit(&Event::StepCached {
                        step: &node.name,
                        key: &key,
                    });
                    return Some(key);
                }
                Err(e) => format!(
                    "entry {key} does not decode as the step's output ({e}); treated as a miss"
                ),
            },
            Ok(None) => return Some(key),
            Err(e) => format!("{e}; treated as a miss"),
        };
        tracing::warn!(step = %node.name, "{problem}");
        self.emit(&Event::CacheProblem {
            step: &node.name,
            detail: &problem,
        });
        report.cache_note = Some(problem);
        Some(key)
    }

    /// Store a completed step's output in the cache (and remember its fingerprint).
    fn store(
        &self,
        i: usize,
        cache: &dyn StepCache,
        spec: &CacheSpec,
        key: Option<CacheKey>,
        report: &mut StepReport,
    ) {
        let node = &self.p.nodes[i];
        let Some(out) = self.outputs[i].get() else {
            return;
        };
        let problem = match (spec.codec.encode)(out.value.as_ref()) {
            Ok(bytes) => {
                let entry = CacheEntry::new(node.name.clone(), bytes);
                let _ = self.fingerprints[i].set(entry.fingerprint);
                match key.map(|k| cache.put(&k, &entry)) {
                    Some(Err(e)) => format!("not stored: {e}"),
                    _ => return,
                }
            }
            Err(e) => format!("output not serializable, not stored: {e}"),
        };
        tracing::warn!(step = %node.name, "{problem}");
        self.emit(&Event::CacheProblem {
            step: &node.name,
            detail: &problem,
        });
        report.cache_note = Some(match report.cache_note.take() {
            Some(prev) => format!("{prev}; {problem}"),
            None => problem,
        });
    }

    fn execute(&self, i: usize) -> StepReport {
        let node = &self.p.nodes[i];
        let t0 = Instant::now();
        let started_at = self.wall(t0);
        let mut report = StepReport {
            name: node.name.clone(),
            status: StepStatus::Completed,
            attempts: Attempts::new(),
            started_at: Some(started_at),
            finished_at: None,
            duration: Duration::ZERO,
            error: None,
            skip_reason: None,
            cache_key: None,
            cache_note: None,
        };
        let cache = match (&self.opts.cache, &node.cache) {
            (Some(c), Some(spec)) => Some((c.as_ref(), spec)),
            _ => None,
        };
        let mut key = None;
        if let Some((c, spec)) = cache {
            key = self.lookup(i, c, spec, &mut report);
            if report.status == StepStatus::Cached {
                let end = Instant::now();
                report.duration = end - t0;
                report.finished_at = Some(self.wall(end));
                return report;
            }
        }
        let (error, mut end) = self.attempts(node, &mut report, i, (t0, started_at));
        if error.is_none()
            && let Some((c, spec)) = cache
        {
            self.store(i, c, spec, key, &mut report);
            end = Instant::now();
        }
        if let Some(e) = &error {
            report.status = if e.kind() == StepErrorKind::TimedOut {
                StepStatus::TimedOut
            } else {
                StepStatus::Failed
            };
            report.error = Some(e.message().to_owned());
        }
        report.duration = end - t0;
        report.finished_at = Some(self.wall(end));
        self.emit(&Event::StepFinished {
            step: &node.name,
            status: report.status,
            duration: report.duration,
            error: error.as_ref(),
        });
        report
    }

    /// Run the attempts of a step, the first starting at `t0` (on both clocks: the first
    /// attempt's wall-clock start is the step's); the final error (`None` when it completed)
    /// and when the last attempt ended.
    fn attempts(
        &self,
        node: &Node,
        report: &mut StepReport,
        i: usize,
        (t0, t0_wall): (Instant, DateTime<Utc>),
    ) -> (Option<StepError>, Instant) {
        let has_step = |s: &str| self.p.has_step(s);
        let mut retries_done = 0u32;
        loop {
            let attempt = retries_done + 1;
            self.emit(&Event::StepStarted {
                step: &node.name,
                attempt,
            });
            let flag = node.timeout.map(|_| Arc::new(AtomicBool::new(false)));
            let a0 = if retries_done == 0 {
                t0
            } else {
                Instant::now()
            };
            let watch = match (node.timeout, &flag, &self.watchdog) {
                (Some(t), Some(f), Some(w)) => Some((w, w.register(a0 + t, Arc::clone(f)))),
                _ => None,
            };
            let attempt_token = flag
                .as_ref()
                .map(|f| CancelToken::for_attempt(&self.run_cancel, Some(Arc::clone(f))));
            let ctx = StepCtx {
                name: &node.name,
                attempt,
                params: &node.params,
                deps: &node.deps,
                outputs: &self.outputs,
                all_steps: &has_step,
                token: match &attempt_token {
                    Some(t) => t,
                    None => &self.run_token,
                },
            };
            let result = panic::catch_unwind(AssertUnwindSafe(|| (node.func)(&ctx)));
            let a_end = Instant::now();
            let elapsed = a_end - a0;
            if let Some((w, id)) = watch {
                w.unregister(id);
            }
            let mut result = result.unwrap_or_else(|payload| {
                Err(StepError::with_kind(
                    StepErrorKind::Panicked,
                    format!("step panicked: {}", panic_message(payload.as_ref())),
                ))
            });
            if let Some(t) = node.timeout
                && (elapsed > t || flag.as_ref().is_some_and(|f| f.load(Ordering::Relaxed)))
            {
                result = Err(StepError::with_kind(
                    StepErrorKind::TimedOut,
                    format!("timed out after {t:?} (attempt {attempt} ran {elapsed:?})"),
                ));
                self.emit(&Event::StepTimedOut {
                    step: &node.name,
                    attempt,
                    timeout: t,
                });
            }
            match result {
                Ok(out) => {
                    report.attempts.push(AttemptRecord {
                        attempt,
                        started_at: if retries_done == 0 {
                            t0_wall
                        } else {
                            self.wall(a0)
                        },
                        duration: elapsed,
                        outcome: AttemptOutcome::Succeeded,
                        error: None,
                        retry_after: None,
                    });
                    let _ = self.outputs[i].set(out);
                    return (None, a_end);
                }
                Err(e) => {
                    let retry = !self.run_cancel.load(Ordering::Relaxed)
                        && node.retry.should_retry(&e, retries_done);
                    let delay = retry.then(|| {
                        node.retry.delay_for(
                            node.name.as_str(),
                            retries_done + 1,
                            self.opts.jitter_seed,
                        )
                    });
                    report.attempts.push(AttemptRecord {
                        attempt,
                        started_at: if retries_done == 0 {
                            t0_wall
                        } else {
                            self.wall(a0)
                        },
                        duration: elapsed,
                        outcome: match e.kind() {
                            StepErrorKind::Panicked => AttemptOutcome::Panicked,
                            StepErrorKind::TimedOut => AttemptOutcome::TimedOut,
                            StepErrorKind::Failed => AttemptOutcome::Failed,
                        },
                        error: Some(e.message().to_owned()),
                        retry_after: delay,
                    });
                    let Some(delay) = delay else {
                        return (Some(e), a_end);
                    };
                    self.emit(&Event::AttemptFailed {
                        step: &node.name,
                        attempt,
                        error: &e,
                        retry_in: delay,
                    });
                    self.sleeper.sleep(delay);
                    retries_done += 1;
                }
            }
        }
    }
}

impl Pipeline {
    /// Run the pipeline and return its report. Never fails as a whole: every step ends in
    /// exactly one final state ([`StepStatus`]) recorded in the report. A step runs only after
    /// all its dependencies completed (or were restored from the cache).
    ///
    /// Failure policy: a failed or timed-out step (after its retries) marks all its transitive
    /// dependents [`StepStatus::Skipped`] with [`SkipReason::UpstreamFailed`] naming it; the
    /// other branches continue, unless [`RunOptions::fail_fast`] is on. A panicking step is a
    /// failed step: the panic is caught (the process's panic hook still prints it).
    pub fn run(&self, opts: &RunOptions) -> RunReport {
        let n = self.nodes.len();
        let threads = match opts.threads {
            0 => thread::available_parallelism().map_or(1, std::num::NonZero::get),
            t => t,
        }
        .clamp(1, n.max(1));
        let started_at = Utc::now();
        let t0 = Instant::now();
        let thread_sleeper = ThreadSleeper;
        let sleeper: &dyn Sleeper = opts.sleeper.as_deref().unwrap_or(&thread_sleeper);
        let mut pending = Vec::with_capacity(n);
        let mut ready = VecDeque::new();
        for (i, node) in self.nodes.iter().enumerate() {
            pending.push(u32::try_from(node.deps.len()).unwrap_or(u32::MAX));
            if node.deps.is_empty() {
                ready.push_back(i);
            }
        }
        let run_cancel = Arc::new(AtomicBool::new(false));
        let shared = Shared {
            p: self,
            opts,
            sleeper,
            threads,
            outputs: (0..n).map(|_| OnceLock::new()).collect(),
            fingerprints: (0..n).map(|_| OnceLock::new()).collect(),
            sched: Mutex::new(Sched {
                ready,
                pending,
                records: (0..n).map(|_| None).collect(),
                started: vec![false; n],
                unfinished: n,
                running: 0,
                waiting: 0,
                workers: 1,
                stopped: false,
            }),
            cv: Condvar::new(),
            run_token: CancelToken::for_attempt(&run_cancel, None),
            run_cancel,
            base: (t0, started_at),
            watchdog: self
                .nodes
                .iter()
                .any(|n| n.timeout.is_some())
                .then(Watchdog::default),
        };
        shared.emit(&Event::RunStarted {
            pipeline: &self.name,
            steps: n,
            threads,
        });
        thread::scope(|s| {
            let shared = &shared;
            let _stop_watchdog = shared.watchdog.as_ref().map(|w| {
                s.spawn(move || w.run());
                StopOnDrop(w)
            });
            // The calling thread is the first worker; it returns once every step is final.
            shared.worker(s);
        });
        let Shared { outputs, sched, .. } = shared;
        let records = sched.into_inner().records;
        let steps = records
            .into_iter()
            .zip(&self.nodes)
            .map(|(r, node)| {
                r.unwrap_or_else(|| StepReport {
                    status: StepStatus::Failed,
                    error: Some("internal error: the step was never scheduled".to_owned()),
                    skip_reason: None,
                    ..StepReport::skipped(
                        node.name.clone(),
                        SkipReason::UpstreamFailed {
                            step: node.name.clone(),
                        },
                    )
                })
            })
            .collect();
        let outputs: Arc<[Option<Output>]> =
            outputs.into_iter().map(OnceLock::into_inner).collect();
        let report = RunReport {
            pipeline: self.name.clone(),
            started_at,
            finished_at: Utc::now(),
            duration: t0.elapsed(),
            threads,
            fail_fast: opts.fail_fast,
            steps,
            outputs: Outputs(outputs),
        };
        if let Some(o) = &opts.observer {
            o.on_event(&Event::RunFinished { report: &report });
        }
        report
    }
}
