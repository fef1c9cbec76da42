//! Search results as a record batch and a Parquet file, with MLflow's `search_runs` columns.
#![cfg(feature = "arrow")]

use mlops_tracking::arrow::arrow_array::{
    Array, Float64Array, StringArray, TimestampMillisecondArray,
};
use mlops_tracking::arrow::runs_to_record_batch;
use mlops_tracking::{CreateRun, InMemoryTrackingBackend, RunStatus, Tracker};

fn tracker() -> Tracker {
    let t = Tracker::new(InMemoryTrackingBackend::new());
    let mut a = t
        .start_run("exp", CreateRun::new().run_name("a").start_time(1_000))
        .unwrap();
    a.log_param("lr", 0.1).unwrap();
    a.log_metric("loss", 0.5, 0).unwrap();
    a.log_metric("loss", 0.25, 1).unwrap();
    a.set_tag("team", "ünïcode").unwrap();
    a.end(RunStatus::Finished).unwrap();
    let mut b = t
        .start_run("exp", CreateRun::new().run_name("b").start_time(2_000))
        .unwrap();
    b.log_metric("acc", f64::NAN, 0).unwrap();
    b.log_param("depth", 3).unwrap();
    // b stays running: end_time is null.
    b.flush().unwrap();
    std::mem::forget(b);
    t
}

#[test]
fn one_row_per_run_with_mlflows_columns() {
    let t = tracker();
    let mut runs = t.search_runs("exp", "").unwrap();
    runs.sort_by_key(|r| r.info.start_time);
    let batch = runs_to_record_batch(&runs).unwrap();
    let names: Vec<&str> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(
        &names[..6],
        [
            "run_id",
            "experiment_id",
            "status",
            "artifact_uri",
            "start_time",
            "end_time"
        ]
    );
    assert_eq!(
        &names[6..10],
        ["metrics.acc", "metrics.loss", "params.depth", "params.lr"]
    );
    // Then the tags, sorted by key (the tracker may add tags of its own, as MLflow does).
    let tags = &names[10..];
    assert!(tags.iter().all(|n| n.starts_with("tags.")), "{tags:?}");
    assert!(tags.windows(2).all(|w| w[0] < w[1]), "{tags:?}");
    assert!(tags.contains(&"tags.mlflow.runName") && tags.contains(&"tags.team"));
    assert_eq!(batch.num_rows(), 2);
    let col = |n: &str| batch.column_by_name(n).unwrap().clone();
    let ids = col("run_id");
    let ids = ids.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(ids.value(0), runs[0].info.run_id.as_str());
    let status = col("status");
    let status = status.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(status.value(0), "FINISHED");
    assert_eq!(status.value(1), "RUNNING");
    let start = col("start_time");
    let start = start
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .unwrap();
    assert_eq!(start.value(0), 1_000);
    assert_eq!(col("end_time").null_count(), 1);
    assert!(col("end_time").is_valid(0));
    let loss = col("metrics.loss");
    let loss = loss.as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(loss.value(0), 0.25);
    assert!(loss.is_null(1));
    let acc = col("metrics.acc");
    let acc = acc.as_any().downcast_ref::<Float64Array>().unwrap();
    assert!(acc.is_null(0));
    assert!(acc.value(1).is_nan());
    let lr = col("params.lr");
    let lr = lr.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(lr.value(0), "0.1");
    let name = col("tags.mlflow.runName");
    let name = name.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!((name.value(0), name.value(1)), ("a", "b"));
    let team = col("tags.team");
    let team = team.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(team.value(0), "ünïcode");
    assert!(team.is_null(1));
    // No runs: the six attribute columns only.
    assert_eq!(runs_to_record_batch(&[]).unwrap().num_columns(), 6);
}

#[cfg(feature = "parquet")]
#[test]
fn runs_to_parquet_round_trip() {
    use mlops_tracking::arrow::write_runs_parquet;
    use parquet_reader::read;
    let t = tracker();
    let runs = t.search_runs("exp", "").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.parquet");
    write_runs_parquet(&runs, &path).unwrap();
    assert_eq!(read(&path), runs_to_record_batch(&runs).unwrap());
}

#[cfg(feature = "parquet")]
mod parquet_reader {
    use mlops_tracking::arrow::arrow_array::RecordBatch;
    use mlops_tracking::arrow::parquet_crate::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    pub fn read(path: &std::path::Path) -> RecordBatch {
        let f = std::fs::File::open(path).unwrap();
        let mut r = ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap();
        r.next().unwrap().unwrap()
    }
}

/// The Python of the interop tests: `$MLOPS_PYTHON`, default the venv `.ci/run` installs
/// (pyarrow 26.0.1, DuckDB 2.0.0, Polars 2.1.0); panics with what to install when it cannot
/// import `modules`.
#[cfg(feature = "parquet")]
fn python_with(modules: &str) -> String {
    let py = std::env::var("MLOPS_PYTHON").unwrap_or_else(|_| {
        "/root/.cache/mlops/venvs/pydata-pyarrow-26.0.1-duckdb-2.0.0-polars-2.1.0/bin/python"
            .to_owned()
    });
    let ok = std::process::Command::new(&py)
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "needs a python with {modules} at {py} (set MLOPS_PYTHON, or run: python3 -m venv DIR \
         && DIR/bin/pip install pyarrow==26.0.1 duckdb==2.0.0 polars==2.1.0)"
    );
    py
}

/// The runs of [`tracker`] by start time, written to `runs.parquet` in `dir`.
#[cfg(feature = "parquet")]
fn runs_file(dir: &std::path::Path) -> (Vec<mlops_tracking::Run>, std::path::PathBuf) {
    let t = tracker();
    let mut runs = t.search_runs("exp", "").unwrap();
    runs.sort_by_key(|r| r.info.start_time);
    let path = dir.join("runs.parquet");
    mlops_tracking::arrow::write_runs_parquet(&runs, &path).unwrap();
    (runs, path)
}

/// Polars reads the runs file with the same values and types.
#[cfg(feature = "parquet")]
#[test]
#[ignore = "needs polars"]
fn polars_reads_the_runs_file() {
    let py = python_with("polars");
    let dir = tempfile::tempdir().unwrap();
    let (runs, path) = runs_file(dir.path());
    let script = r#"
import json, math, sys
import polars as pl
df = pl.read_parquet(sys.argv[1]).sort("start_time")
print(json.dumps({
    "version": pl.__version__,
    "types": {n: str(t) for n, t in df.schema.items()},
    "run_id": df["run_id"].to_list(),
    "status": df["status"].to_list(),
    "start_ms": df["start_time"].cast(pl.Int64).to_list(),
    "end_null": df["end_time"].is_null().to_list(),
    "loss": df["metrics.loss"].to_list(),
    "acc_nan": [v is not None and math.isnan(v) for v in df["metrics.acc"].to_list()],
    "lr": df["params.lr"].to_list(),
    "team": df["tags.team"].to_list(),
}))
"#;
    let out = std::process::Command::new(&py)
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r.info.run_id.as_str()).collect();
    assert_eq!(got["version"], "2.1.0");
    assert_eq!(got["run_id"], serde_json::json!(ids));
    assert_eq!(got["status"], serde_json::json!(["FINISHED", "RUNNING"]));
    assert_eq!(
        got["types"]["start_time"],
        "Datetime(time_unit='ms', time_zone='UTC')"
    );
    assert_eq!(got["types"]["metrics.loss"], "Float64");
    assert_eq!(got["types"]["params.lr"], "String");
    assert_eq!(got["start_ms"], serde_json::json!([1000, 2000]));
    assert_eq!(got["end_null"], serde_json::json!([false, true]));
    assert_eq!(got["loss"], serde_json::json!([0.25, null]));
    assert_eq!(got["acc_nan"], serde_json::json!([false, true]));
    assert_eq!(got["lr"], serde_json::json!(["0.1", null]));
    assert_eq!(got["team"], serde_json::json!(["ünïcode", null]));
}

/// pyarrow and DuckDB read the runs file with the same values (see [`python_with`]).
#[cfg(feature = "parquet")]
#[test]
#[ignore = "needs pyarrow and duckdb"]
fn pyarrow_and_duckdb_read_the_runs_file() {
    let py = python_with("pyarrow, duckdb");
    let dir = tempfile::tempdir().unwrap();
    let (runs, path) = runs_file(dir.path());
    let script = r#"
import json, math, sys
import pyarrow.parquet as pq, duckdb
t = pq.read_table(sys.argv[1]).sort_by("start_time")
d = duckdb.sql(f"""SELECT run_id, status, epoch_ms(start_time), "metrics.loss", isnan("metrics.acc"),
    "params.lr", "tags.mlflow.runName", "tags.team" FROM '{sys.argv[1]}' ORDER BY start_time""").fetchall()
print(json.dumps({
    "pyarrow": {"types": {f.name: str(f.type) for f in t.schema},
                "run_id": t.column("run_id").to_pylist(),
                "loss": t.column("metrics.loss").to_pylist(),
                "acc_nan": [v is not None and math.isnan(v) for v in t.column("metrics.acc").to_pylist()],
                "team": t.column("tags.team").to_pylist()},
    "duckdb": [list(r) for r in d]}))
"#;
    let out = std::process::Command::new(&py)
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r.info.run_id.as_str()).collect();
    assert_eq!(got["pyarrow"]["run_id"], serde_json::json!(ids));
    assert_eq!(
        got["pyarrow"]["types"]["start_time"],
        "timestamp[ms, tz=UTC]"
    );
    assert_eq!(got["pyarrow"]["loss"], serde_json::json!([0.25, null]));
    assert_eq!(got["pyarrow"]["acc_nan"], serde_json::json!([false, true]));
    assert_eq!(got["pyarrow"]["team"], serde_json::json!(["ünïcode", null]));
    assert_eq!(
        got["duckdb"],
        serde_json::json!([
            [ids[0], "FINISHED", 1000, 0.25, null, "0.1", "a", "ünïcode"],
            [ids[1], "RUNNING", 2000, null, true, null, "b", null]
        ])
    );
}
