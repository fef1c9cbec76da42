//! Arrow in, Parquet out: a feature group ingested from an Arrow record batch into the Parquet
//! offline store, a point-in-time training set, written to Parquet for DuckDB, pyarrow or Polars.
//!
//! Usage: `cargo run -p mlops-examples --features parquet --bin features_parquet -- [--data DIR]`
//! (default `./mlops-data`; files go under `DIR/features_parquet`, recreated on every run).
//! Then, for example: `duckdb -c "SELECT * FROM 'DIR/features_parquet/training.parquet'"`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mlops_features::arrow::arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampSecondArray,
};
use mlops_features::parquet::read_parquet;
use mlops_features::{
    EntityFrame, FeatureGroup, FeatureStore, HistoricalOptions, KeyType, ParquetOfflineStore,
    Timestamp, ValueType,
};

const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn run(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let store = FeatureStore::builder()
        .offline(ParquetOfflineStore::open(dir.join("offline"))?)
        .build()?;
    store.apply_group(
        FeatureGroup::builder("user_features")
            .entity("user_id", KeyType::String)
            .feature("age", ValueType::Int64)
            .feature("avg_order_amount", ValueType::Float64)
            .ttl(Duration::from_secs(24 * 3600))
            .build()?,
    )?;
    // The team's table, as an Arrow record batch (from Polars, DataFusion, a Parquet file...).
    let batch = RecordBatch::try_from_iter([
        (
            "user_id",
            Arc::new(StringArray::from(vec!["u001", "u002", "u001"])) as ArrayRef,
        ),
        (
            "event_timestamp",
            Arc::new(TimestampSecondArray::from(vec![T0, T0, T0 + 7200]).with_timezone("UTC")),
        ),
        (
            "age",
            Arc::new(Int64Array::from(vec![Some(28), None, Some(29)])),
        ),
        (
            "avg_order_amount",
            Arc::new(Float64Array::from(vec![120.5, 80.0, 130.25])),
        ),
    ])?;
    let report = store.ingest_arrow("user_features", &batch)?;
    println!("ingested {} rows from a record batch", report.rows);

    let frame: EntityFrame = [
        ("u001", Timestamp::from_secs(T0 + 3600)),
        ("u001", Timestamp::from_secs(T0 + 3 * 3600)),
        ("u002", Timestamp::from_secs(T0 + 3600)),
        ("u003", Timestamp::from_secs(T0 + 3600)),
    ]
    .into_iter()
    .collect();
    let training = store.get_historical_features(
        &frame,
        &["user_features:age", "user_features:avg_order_amount"],
        &HistoricalOptions::default(),
    )?;
    println!("{training}");
    let path = dir.join("training.parquet");
    store.write_training_parquet(&training, &path)?;
    let back = read_parquet(&path)?;
    let rows: usize = back.iter().map(RecordBatch::num_rows).sum();
    if rows != frame.len() {
        return Err(format!(
            "{} holds {rows} rows, expected {}",
            path.display(),
            frame.len()
        )
        .into());
    }
    println!("wrote {} ({rows} rows)", path.display());
    println!(
        "read it with DuckDB: duckdb -c \"SELECT * FROM '{}'\"",
        path.display()
    );
    println!(
        "the offline store itself: duckdb -c \"SELECT * FROM '{}/offline/user_features/*.parquet'\"",
        dir.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data = match args.as_slice() {
        [] => PathBuf::from("mlops-data"),
        [flag, dir] if flag == "--data" => PathBuf::from(dir),
        _ => {
            eprintln!("usage: features_parquet [--data DIR]");
            return ExitCode::FAILURE;
        }
    };
    let dir = data.join("features_parquet");
    let _ = std::fs::remove_dir_all(&dir);
    match std::fs::create_dir_all(&dir)
        .map_err(Into::into)
        .and_then(|()| run(&dir))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("features_parquet: {e}");
            ExitCode::FAILURE
        }
    }
}
