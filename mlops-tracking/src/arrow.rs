//! Search results as an Arrow record batch (cargo feature `arrow`) and as a Parquet file
//! (feature `parquet`), so runs can be analysed in Polars, DuckDB or pandas.
//!
//! One row per run, the columns of MLflow's `mlflow.search_runs()` DataFrame, in its order:
//! `run_id`, `experiment_id`, `status` (`FINISHED`, ...), `artifact_uri`, `start_time`,
//! `end_time` (`timestamp[ms, tz=UTC]`, null while running), then `metrics.<key>` (`double`,
//! the latest value), `params.<key>` and `tags.<key>` (`string`), each group sorted by key,
//! null where a run lacks the key. The run name is the `tags.mlflow.runName` column, as in
//! MLflow (added from [`RunInfo::run_name`](crate::RunInfo) when the tag is absent).
//!
//! ```
//! use mlops_tracking::{CreateRun, InMemoryTrackingBackend, RunStatus, Tracker};
//! let tracker = Tracker::new(InMemoryTrackingBackend::new());
//! let mut run = tracker.start_run("exp", CreateRun::new().run_name("first"))?;
//! run.log_param("lr", 0.1)?;
//! run.log_metric("loss", 0.25, 0)?;
//! run.end(RunStatus::Finished)?;
//! let runs = tracker.search_runs("exp", "")?;
//! let batch = mlops_tracking::arrow::runs_to_record_batch(&runs)?;
//! assert_eq!(batch.num_rows(), 1);
//! assert!(batch.schema().field_with_name("metrics.loss").is_ok());
//! assert!(batch.schema().field_with_name("tags.mlflow.runName").is_ok());
//! # Ok::<(), mlops_tracking::TrackingError>(())
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, StringBuilder, TimestampMillisecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};

/// The `arrow-array` crate this module is built with.
pub use arrow_array;
/// The `arrow-schema` crate this module is built with.
pub use arrow_schema;
/// The `parquet` crate this module is built with.
#[cfg(feature = "parquet")]
pub use parquet as parquet_crate;

use crate::error::{Result, TrackingError};
use crate::model::{Run, TAG_RUN_NAME};

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

fn millis(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    let mut b = TimestampMillisecondBuilder::new().with_timezone("UTC");
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

/// The runs as a record batch (see the [module docs](self) for the columns).
///
/// # Errors
/// [`TrackingError::InvalidArgument`] if Arrow refuses the batch (it does not for runs this
/// crate returns).
pub fn runs_to_record_batch(runs: &[Run]) -> Result<RecordBatch> {
    let mut metric_keys = BTreeSet::new();
    let mut param_keys = BTreeSet::new();
    let mut tag_keys = BTreeSet::new();
    for r in runs {
        metric_keys.extend(r.data.metrics.keys().map(String::as_str));
        param_keys.extend(r.data.params.keys().map(String::as_str));
        tag_keys.extend(r.data.tags.keys().map(String::as_str));
        if !r.info.run_name.is_empty() {
            tag_keys.insert(TAG_RUN_NAME);
        }
    }
    let mut columns: Vec<(String, ArrayRef, bool)> = vec![
        (
            "run_id".into(),
            strings(runs.iter().map(|r| Some(r.info.run_id.as_str()))),
            false,
        ),
        (
            "experiment_id".into(),
            strings(runs.iter().map(|r| Some(r.info.experiment_id.as_str()))),
            false,
        ),
        (
            "status".into(),
            strings(runs.iter().map(|r| Some(r.info.status.as_str()))),
            false,
        ),
        (
            "artifact_uri".into(),
            strings(runs.iter().map(|r| Some(r.info.artifact_uri.as_str()))),
            false,
        ),
        (
            "start_time".into(),
            millis(runs.iter().map(|r| Some(r.info.start_time))),
            false,
        ),
        (
            "end_time".into(),
            millis(runs.iter().map(|r| r.info.end_time)),
            true,
        ),
    ];
    for k in &metric_keys {
        let mut b = Float64Builder::with_capacity(runs.len());
        for r in runs {
            b.append_option(r.data.metrics.get(*k).map(|m| m.value));
        }
        columns.push((format!("metrics.{k}"), Arc::new(b.finish()), true));
    }
    for k in &param_keys {
        let a = strings(
            runs.iter()
                .map(|r| r.data.params.get(*k).map(String::as_str)),
        );
        columns.push((format!("params.{k}"), a, true));
    }
    for k in &tag_keys {
        let a = strings(runs.iter().map(|r| {
            r.data.tags.get(*k).map(String::as_str).or_else(|| {
                (*k == TAG_RUN_NAME && !r.info.run_name.is_empty())
                    .then_some(r.info.run_name.as_str())
            })
        }));
        columns.push((format!("tags.{k}"), a, true));
    }
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a, nullable)| Field::new(n, a.data_type().clone(), *nullable))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a, _)| a).collect(),
    )
    .map_err(|e| TrackingError::invalid("record batch", e.to_string()))
}

/// Write the runs to a Parquet file (the columns of [`runs_to_record_batch`]), atomically
/// (temp file, fsync, rename): the file appears only when complete. Snappy compression.
///
/// # Errors
/// As [`runs_to_record_batch`]; [`TrackingError::Io`] naming the file.
#[cfg(feature = "parquet")]
pub fn write_runs_parquet(runs: &[Run], path: impl AsRef<std::path::Path>) -> Result<()> {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;

    let path = path.as_ref();
    let batch = runs_to_record_batch(runs)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut bytes = Vec::new();
    let encode = |bytes: &mut Vec<u8>| -> parquet::errors::Result<()> {
        let mut w = ArrowWriter::try_new(bytes, batch.schema(), Some(props))?;
        w.write(&batch)?;
        w.close()?;
        Ok(())
    };
    encode(&mut bytes)
        .map_err(|e| TrackingError::invalid("parquet file", format!("{}: {e}", path.display())))?;
    mlops_fs::write_atomic(path, &bytes, true).map_err(|e| TrackingError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}
