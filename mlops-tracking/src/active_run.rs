//! [`ActiveRun`]: the guard of a running run, with its metric buffer.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::backend::{TrackingBackend, TrackingBackendExt};
use crate::clock::Clock;
use crate::error::{Result, TrackingError};
use crate::ids::{
    ExperimentId, MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS, RunId, validate_key,
};
use crate::model::{ArtifactInfo, Batch, Metric, RunInfo, RunStatus, UpdateRun};

/// The guard of a running run: logs to it, and ends it when dropped.
///
/// # What is durable when
/// - [`log_param`](Self::log_param), [`log_params`](Self::log_params),
///   [`set_tag`](Self::set_tag), [`set_tags`](Self::set_tags) and
///   [`log_artifact`](Self::log_artifact) write through: when they return `Ok` the value is
///   stored (on [`FileTrackingBackend`](crate::FileTrackingBackend) with fsync on, on disk).
/// - [`log_metric`](Self::log_metric) and [`log_metrics`](Self::log_metrics) append to an
///   in-memory buffer (a few tens of nanoseconds). The buffer is written with one
///   [`log_batch`](TrackingBackend::log_batch) per 1,000 metrics, and is durable once that
///   returns, when: [`flush`](Self::flush) is called; the buffer holds the tracker's buffer
///   capacity (1,000 by default); a `log_metric` call finds the oldest buffered metric older
///   than the flush interval (1 s by default; there is no background thread, so a loop that
///   stops logging holds its buffer until `flush`, `end` or drop); [`end`](Self::end) is
///   called; the guard is dropped.
/// - A crash therefore loses at most the buffered metrics: never more than the buffer capacity,
///   and while the loop keeps logging, never older than the flush interval.
///
/// Memory is bounded by the buffer capacity whatever the number of metrics logged.
///
/// Dropping the guard without [`end`](Self::end) flushes and ends the run as `FINISHED`, or as
/// `FAILED` when the thread is panicking (like MLflow's `with mlflow.start_run():`). Errors at
/// drop cannot be returned; they are reported through `tracing`. The guard is `Send`: move it
/// into the training thread.
pub struct ActiveRun {
    backend: Arc<dyn TrackingBackend>,
    clock: Arc<dyn Clock>,
    info: RunInfo,
    /// Validated metric keys, interned: the buffer stores indexes.
    keys: Vec<String>,
    key_index: HashMap<String, u32>,
    /// The index of the key expected next.
    next_key: u32,
    buffer: Vec<(u32, f64, i64, i64)>,
    capacity: usize,
    flush_interval_ms: i64,
    /// Concurrent `log_batch` calls per flush.
    flush_requests: usize,
    /// Timestamp of the oldest buffered metric.
    oldest: Option<i64>,
    /// Reused batch (its key strings are reused too).
    batch: Batch,
    ended: bool,
}

impl fmt::Debug for ActiveRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActiveRun")
            .field("run_id", &self.info.run_id)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl ActiveRun {
    pub(crate) fn new(
        backend: Arc<dyn TrackingBackend>,
        clock: Arc<dyn Clock>,
        info: RunInfo,
        capacity: usize,
        flush_interval_ms: i64,
        flush_requests: usize,
    ) -> Self {
        Self {
            backend,
            clock,
            info,
            keys: Vec::new(),
            key_index: HashMap::new(),
            next_key: 0,
            buffer: Vec::with_capacity(capacity),
            capacity,
            flush_interval_ms,
            flush_requests,
            oldest: None,
            batch: Batch::default(),
            ended: false,
        }
    }

    /// The run's id.
    #[must_use]
    pub fn run_id(&self) -> RunId {
        self.info.run_id
    }

    /// The run's experiment.
    #[must_use]
    pub fn experiment_id(&self) -> &ExperimentId {
        &self.info.experiment_id
    }

    /// The run's info as of its start.
    #[must_use]
    pub fn info(&self) -> &RunInfo {
        &self.info
    }

    /// How many metric values are buffered (not yet written).
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Log one metric value at `step`, timestamped now. Buffered: see the type's docs for when
    /// it becomes durable. The value is anything that converts to `f64` without loss (`f32`,
    /// `i32`, `u32`, ...), the step any integer type.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad key or a step beyond `i64` (nothing buffered); the error of a flush that this call
    /// triggered (the value is then not buffered, and the earlier buffer is kept for a retry).
    #[inline]
    pub fn log_metric(
        &mut self,
        key: &str,
        value: impl Into<f64>,
        step: impl TryInto<i64>,
    ) -> Result<()> {
        let Ok(step) = step.try_into() else {
            return Err(TrackingError::invalid(
                "metric step",
                format!("a step of {key:?} does not fit in an i64"),
            ));
        };
        self.log_metric_f64(key, value.into(), step)
    }

    #[inline]
    fn log_metric_f64(&mut self, key: &str, value: f64, step: i64) -> Result<()> {
        // Training loops log their keys in a fixed cycle: try the key after the last one first
        // (a string compare), then the index (a hash), then validate and intern.
        let guess = self.next_key as usize;
        let idx = if self.keys.get(guess).is_some_and(|k| k == key) {
            self.next_key
        } else {
            match self.key_index.get(key) {
                Some(&i) => i,
                None => self.intern(key)?,
            }
        };
        let now = self.clock.now_ms();
        if self.buffer.len() >= self.capacity
            || self
                .oldest
                .is_some_and(|t| now.saturating_sub(t) >= self.flush_interval_ms)
        {
            self.flush()?;
        }
        if self.buffer.is_empty() {
            self.oldest = Some(now);
        }
        self.buffer.push((idx, value, now, step));
        self.next_key = if (idx as usize) + 1 < self.keys.len() {
            idx + 1
        } else {
            0
        };
        Ok(())
    }

    #[cold]
    fn intern(&mut self, key: &str) -> Result<u32> {
        validate_key("metric key", key)?;
        let idx = u32::try_from(self.keys.len()).map_err(|_| {
            TrackingError::invalid("metric key", "more than 4 billion distinct metric keys")
        })?;
        self.keys.push(key.to_owned());
        self.key_index.insert(key.to_owned(), idx);
        Ok(idx)
    }

    /// Log several metric values at the same step.
    ///
    /// # Errors
    /// As [`log_metric`](Self::log_metric); values before the failing one are buffered.
    pub fn log_metrics<K: AsRef<str>, V: Into<f64>>(
        &mut self,
        metrics: impl IntoIterator<Item = (K, V)>,
        step: impl TryInto<i64>,
    ) -> Result<()> {
        let Ok(step) = step.try_into() else {
            return Err(TrackingError::invalid(
                "metric step",
                "the step does not fit in an i64",
            ));
        };
        for (k, v) in metrics {
            self.log_metric_f64(k.as_ref(), v.into(), step)?;
        }
        Ok(())
    }

    /// Write the buffered metrics now (one `log_batch` per 1,000). Durable once this returns
    /// `Ok` (on the file backend with fsync on).
    ///
    /// # Errors
    /// The backend's error; the values not yet written stay buffered.
    pub fn flush(&mut self) -> Result<()> {
        if self.flush_requests > 1 && self.buffer.len() > MAX_BATCH_METRICS {
            return self.flush_concurrently();
        }
        while !self.buffer.is_empty() {
            let n = self.buffer.len().min(MAX_BATCH_METRICS);
            let metrics = &mut self.batch.metrics;
            metrics.truncate(n);
            for (i, &(idx, value, timestamp, step)) in self.buffer[..n].iter().enumerate() {
                let key = &self.keys[idx as usize];
                if let Some(m) = metrics.get_mut(i) {
                    if m.key != *key {
                        m.key.clear();
                        m.key.push_str(key);
                    }
                    m.value = value;
                    m.timestamp = timestamp;
                    m.step = step;
                } else {
                    metrics.push(Metric::new(key.clone(), value, timestamp, step));
                }
            }
            self.backend.log_batch(&self.info.run_id, &self.batch)?;
            self.buffer.drain(..n);
        }
        self.oldest = None;
        Ok(())
    }

    /// [`flush`](Self::flush) with up to `flush_requests` `log_batch` calls at a time; the
    /// batches that fail stay buffered, in order.
    fn flush_concurrently(&mut self) -> Result<()> {
        let batches: Vec<Batch> = self
            .buffer
            .chunks(MAX_BATCH_METRICS)
            .map(|chunk| Batch {
                metrics: chunk
                    .iter()
                    .map(|&(idx, value, timestamp, step)| {
                        Metric::new(self.keys[idx as usize].clone(), value, timestamp, step)
                    })
                    .collect(),
                ..Batch::default()
            })
            .collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<parking_lot::Mutex<Option<Result<()>>>> = batches
            .iter()
            .map(|_| parking_lot::Mutex::new(None))
            .collect();
        let (backend, run_id) = (&*self.backend, self.info.run_id);
        std::thread::scope(|s| {
            for _ in 0..self.flush_requests.min(batches.len()) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(batch) = batches.get(i) else { break };
                        *results[i].lock() = Some(backend.log_batch(&run_id, batch));
                    }
                });
            }
        });
        let mut kept = Vec::new();
        let mut first_error = None;
        for (i, result) in results.into_iter().enumerate() {
            if let Some(Err(e)) = result.into_inner() {
                let start = i * MAX_BATCH_METRICS;
                let end = (start + MAX_BATCH_METRICS).min(self.buffer.len());
                kept.extend_from_slice(&self.buffer[start..end]);
                first_error.get_or_insert(e);
            }
        }
        self.buffer.clear();
        self.buffer.extend_from_slice(&kept);
        match first_error {
            Some(e) => Err(e),
            None => {
                self.oldest = None;
                Ok(())
            }
        }
    }

    /// Log a param (write-once), written through.
    ///
    /// # Errors
    /// `Conflict` when the key already has another value; `InvalidArgument` for a bad key or an
    /// over-long value.
    pub fn log_param(&mut self, key: &str, value: impl fmt::Display) -> Result<()> {
        self.backend.log_batch(
            &self.info.run_id,
            &Batch::new().param(key, value.to_string()),
        )
    }

    /// Log several params, written through (100 per batch, MLflow's limit; all or nothing per
    /// batch).
    ///
    /// # Errors
    /// As [`log_param`](Self::log_param).
    pub fn log_params<K: AsRef<str>, V: fmt::Display>(
        &mut self,
        params: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()> {
        let all: Vec<(String, String)> = params
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.to_string()))
            .collect();
        for chunk in all.chunks(MAX_BATCH_PARAMS) {
            let batch = Batch {
                params: chunk.to_vec(),
                ..Batch::default()
            };
            self.backend.log_batch(&self.info.run_id, &batch)?;
        }
        Ok(())
    }

    /// Set a tag, written through.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad key or an over-long value.
    pub fn set_tag(&mut self, key: &str, value: impl fmt::Display) -> Result<()> {
        self.backend
            .log_batch(&self.info.run_id, &Batch::new().tag(key, value.to_string()))
    }

    /// Set several tags, written through (100 per batch).
    ///
    /// # Errors
    /// As [`set_tag`](Self::set_tag).
    pub fn set_tags<K: AsRef<str>, V: fmt::Display>(
        &mut self,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()> {
        let all: Vec<(String, String)> = tags
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.to_string()))
            .collect();
        for chunk in all.chunks(MAX_BATCH_TAGS) {
            let batch = Batch {
                tags: chunk.to_vec(),
                ..Batch::default()
            };
            self.backend.log_batch(&self.info.run_id, &batch)?;
        }
        Ok(())
    }

    /// Store the local file `local` as the artifact `path` of this run.
    ///
    /// # Errors
    /// `Io` naming `local` when it cannot be read; as [`TrackingBackend::log_artifact`].
    pub fn log_artifact(&mut self, path: &str, local: &Path) -> Result<ArtifactInfo> {
        self.backend
            .log_artifact_file(&self.info.run_id, path, local)
    }

    /// Store `data` as the artifact `path` of this run.
    ///
    /// # Errors
    /// As [`TrackingBackend::log_artifact`].
    pub fn log_artifact_bytes(&mut self, path: &str, data: &[u8]) -> Result<ArtifactInfo> {
        let mut reader = data;
        self.backend
            .log_artifact(&self.info.run_id, path, &mut reader)
    }

    /// Flush and end the run with `status` and the current time as end time.
    ///
    /// # Errors
    /// The flush's error (the run is then marked `FAILED`, best effort); the backend's error
    /// when updating the run.
    pub fn end(mut self, status: RunStatus) -> Result<RunInfo> {
        self.ended = true;
        if let Err(e) = self.flush() {
            let _ = self.finish(RunStatus::Failed);
            return Err(e);
        }
        self.finish(status)
    }

    fn finish(&self, status: RunStatus) -> Result<RunInfo> {
        let update = UpdateRun::new()
            .status(status)
            .end_time(self.clock.now_ms());
        self.backend.update_run(&self.info.run_id, &update)
    }
}

impl Drop for ActiveRun {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let panicking = std::thread::panicking();
        let mut status = if panicking {
            RunStatus::Failed
        } else {
            RunStatus::Finished
        };
        if let Err(e) = self.flush() {
            tracing::error!(run_id = %self.info.run_id, error = %e, lost = self.buffer.len(), "cannot flush metrics when ending the run");
            status = RunStatus::Failed;
        }
        if let Err(e) = self.finish(status) {
            tracing::error!(run_id = %self.info.run_id, error = %e, "cannot end the run");
        }
    }
}
