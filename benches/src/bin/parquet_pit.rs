//! Our side of the `parquet` and `arrow` peer suites (`benches/peers/parquet`,
//! `benches/peers/arrow`).
//!
//! `parquet_pit pit` (the default): the point-in-time join from Parquet. The data is the
//! `features` peer workload's: 100,000 entities x 10 hourly versions = 1M rows of 8 `f64`
//! features, the newest one hour old, TTL 2 hours, written untimed into a
//! [`ParquetOfflineStore`] (10 files of 100,000 rows); the entity frame of 100,000 rows is
//! written to `entity_df.parquet`. Timed: opening the store and `get_historical_features` of the
//! 8 features (Parquet read included), every value checked against the truth.
//!
//! `parquet_pit arrow`: ingest 1M rows x 8 features from one record batch (in-memory stores),
//! and validate 1M rows x 10 columns read from a Parquet file (mlops-testing, 10 expectations).
//!
//! `parquet_pit write DIR`: write the same files untimed (`DIR/store/user_features/*.parquet`,
//! `DIR/entity_df.parquet`, `DIR/meta.json`, `DIR/validate.parquet`) for the peer sides, which
//! read them: DuckDB's `ASOF LEFT JOIN` and Feast's file offline store
//! (`benches/peers/parquet/*.py`), Polars (`benches/peers/arrow/polars_validate.py`).
//!
//! The data goes to `$PEERS_WORK` (else a temporary directory), removed afterwards;
//! `--keep DIR` runs `pit` in DIR and keeps the files. `PEERS_QUICK=1` shrinks the numbers. One
//! JSON line per measurement on stdout (the protocol of `benches/peers/`).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_possible_truncation
)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mlops_features::arrow::arrow_array::{
    ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use mlops_features::parquet::write_parquet;
use mlops_features::{
    EntityFrame, FeatureGroup, FeatureRow, FeatureStore, HistoricalOptions, KeyType, OfflineStore,
    ParquetOfflineStore, Timestamp, Value, ValueType,
};

const VERSIONS: usize = 10;
const FEATURES: usize = 8;
const TTL_S: i64 = 2 * 3600;
const HOUR: i64 = 3600;

type Error = Box<dyn std::error::Error>;

fn key(i: usize) -> String {
    format!("user_{i:07}")
}

/// Feature `j` of entity `i` at version `v` (exact in `f64`).
fn value(i: usize, j: usize, v: usize) -> f64 {
    (i * FEATURES + j) as f64 + v as f64 * 0.25
}

/// Entity row `i` of the frame: (entity index, timestamp in seconds).
fn frame_row(i: usize, base: i64, entities: usize) -> (usize, i64) {
    (
        (i * 7919) % entities,
        base - 1800 + ((i * 104_729) % (13 * 3600)) as i64,
    )
}

/// The version a correct point-in-time join picks for an entity row at `ts`, if any.
fn expected_version(ts: i64, base: i64) -> Option<usize> {
    if ts < base {
        return None;
    }
    let v = ((ts - base) / HOUR).min(VERSIONS as i64 - 1);
    (ts - (base + v * HOUR) <= TTL_S).then_some(v as usize)
}

fn group() -> Result<FeatureGroup, Error> {
    let mut b = FeatureGroup::builder("user_features").entity("user_id", KeyType::String);
    for j in 0..FEATURES {
        b = b.feature(&format!("f{j}"), ValueType::Float64);
    }
    Ok(b.ttl(Duration::from_secs(TTL_S as u64)).build()?)
}

fn open(dir: &Path) -> Result<FeatureStore, Error> {
    let store = FeatureStore::builder()
        .offline(ParquetOfflineStore::open(dir.join("store"))?.with_fsync(false))
        .build()?;
    store.apply_group(group()?)?;
    Ok(store)
}

/// The offline store, the entity frame and `meta.json` in `dir` (untimed); the frame's rows and
/// the first version's time.
fn write_pit_data(
    dir: &Path,
    entities: usize,
    frame_rows: usize,
) -> Result<(Vec<(usize, i64)>, i64), Error> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let base = now - VERSIONS as i64 * HOUR;
    {
        let store = open(dir)?;
        let t = Instant::now();
        for v in 0..VERSIONS {
            let rows: Vec<FeatureRow> = (0..entities)
                .map(|i| {
                    FeatureRow::new(
                        key(i).as_str(),
                        Timestamp::from_secs(base + v as i64 * HOUR),
                        (0..FEATURES)
                            .map(|j| Value::Float64(value(i, j, v)))
                            .collect(),
                    )
                })
                .collect();
            store.offline_store().append("user_features", &rows)?;
        }
        eprintln!(
            "[parquet_pit] {} offline rows written in {:.1} s",
            entities * VERSIONS,
            t.elapsed().as_secs_f64()
        );
    }
    let rows: Vec<(usize, i64)> = (0..frame_rows)
        .map(|i| frame_row(i, base, entities))
        .collect();
    let ids: ArrayRef = Arc::new(StringArray::from_iter_values(
        rows.iter().map(|&(e, _)| key(e)),
    ));
    let ts: ArrayRef = Arc::new(
        TimestampMicrosecondArray::from_iter_values(rows.iter().map(|&(_, s)| s * 1_000_000))
            .with_timezone("UTC"),
    );
    let entity_df = RecordBatch::try_from_iter([("user_id", ids), ("event_timestamp", ts)])?;
    write_parquet(dir.join("entity_df.parquet"), &entity_df, false)?;
    let meta = serde_json::json!({
        "base": base, "ttl_s": TTL_S, "hour": HOUR, "versions": VERSIONS,
        "entities": entities, "frame": frame_rows, "features": FEATURES,
    });
    std::fs::write(dir.join("meta.json"), meta.to_string())?;
    Ok((rows, base))
}

fn pit(dir: &Path, entities: usize, frame_rows: usize) -> Result<(), Error> {
    let (rows, base) = write_pit_data(dir, entities, frame_rows)?;
    let frame: EntityFrame = rows
        .iter()
        .map(|&(e, ts)| (key(e), Timestamp::from_secs(ts)))
        .collect();
    let refs: Vec<String> = (0..FEATURES)
        .map(|j| format!("user_features:f{j}"))
        .collect();
    let t = Instant::now();
    let store = open(dir)?;
    let tf = store.get_historical_features(&frame, &refs, &HistoricalOptions::default())?;
    let el = t.elapsed();
    let col = tf.column("user_features:f3").ok_or("no column f3")?;
    let (mut present, mut wrong, mut expected_present) = (0, 0, 0);
    for (r, &(e, ts)) in rows.iter().enumerate() {
        let want = expected_version(ts, base).map(|v| Value::Float64(value(e, 3, v)));
        expected_present += usize::from(want.is_some());
        let got = col.get(r).cloned().unwrap_or(Value::Null);
        present += usize::from(got != Value::Null);
        wrong += usize::from(got != want.unwrap_or(Value::Null));
    }
    let line = serde_json::json!({
        "suite": "parquet",
        "case": format!("point-in-time join {frame_rows} entity rows x {} feature rows from parquet", entities * VERSIONS),
        "variant": format!("mlops-features {}, ParquetOfflineStore", env!("CARGO_PKG_VERSION")),
        "side": "mlops",
        "value": el.as_secs_f64(),
        "unit": "s",
        "count": 1,
        "check": {"rows": tf.len(), "expected": frame_rows},
        "note": format!("{present} rows with features, {} nulls (a correct join: {} nulls); {wrong} wrong values",
            tf.len() - present, frame_rows - expected_present),
    });
    println!("{line}");
    if wrong > 0 || tf.len() != frame_rows {
        return Err(format!("the join returned {} rows, {wrong} wrong", tf.len()).into());
    }
    Ok(())
}

fn emit(case: &str, variant: &str, secs: f64, note: String) {
    let line = serde_json::json!({
        "suite": "arrow", "case": case, "variant": variant, "side": "mlops",
        "value": secs, "unit": "s", "count": 1, "note": note,
    });
    println!("{line}");
}

/// `n` rows: `user_id`, `event_timestamp` and 8 `f64` features.
fn arrow_batch(n: usize) -> Result<RecordBatch, Error> {
    use mlops_features::arrow::arrow_array::Float64Array;
    let ids: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..n).map(|i| key(i % 100_000)),
    ));
    let ts: ArrayRef = Arc::new(
        TimestampMicrosecondArray::from_iter_values((0..n).map(|i| (i as i64) * 1_000))
            .with_timezone("UTC"),
    );
    let mut cols = vec![
        ("user_id".to_owned(), ids),
        ("event_timestamp".to_owned(), ts),
    ];
    for j in 0..FEATURES {
        let a: ArrayRef = Arc::new(Float64Array::from_iter_values(
            (0..n).map(|i| value(i % 100_000, j, i / 100_000)),
        ));
        cols.push((format!("f{j}"), a));
    }
    Ok(RecordBatch::try_from_iter(cols)?)
}

/// Ingest `n` rows x 8 features from one record batch (in-memory stores), and validate
/// `n` rows x 10 columns read from a Parquet file (mlops-testing).
fn ingest_and_validate(dir: &Path, n: usize) -> Result<(), Error> {
    use mlops_testing::{Expectation, Validator};
    let batch = arrow_batch(n)?;
    let store = FeatureStore::in_memory();
    store.apply_group(group()?)?;
    let t = Instant::now();
    let report = store.ingest_arrow("user_features", &batch)?;
    let el = t.elapsed();
    emit(
        &format!("ingest {n} rows x 8 features from a record batch"),
        "mlops-features, in-memory stores",
        el.as_secs_f64(),
        format!(
            "{} rows; {:.0} values/s",
            report.rows,
            (n * FEATURES) as f64 / el.as_secs_f64()
        ),
    );
    let path = dir.join("validate.parquet");
    write_parquet(&path, &batch, false)?;
    let mut exps = vec![
        Expectation::not_null("user_id"),
        Expectation::matches_regex("user_id", "^user_[0-9]{7}$"),
    ];
    for j in 0..FEATURES {
        exps.push(Expectation::between(format!("f{j}"), Some(0.0), Some(1e7)));
    }
    let v = Validator::new(exps)?;
    let t = Instant::now();
    let report = v.validate_parquet(&path)?;
    let el = t.elapsed();
    emit(
        &format!("validate {n} rows x 10 columns read from parquet"),
        "mlops-testing Validator::validate_parquet",
        el.as_secs_f64(),
        format!(
            "10 expectations, {} rows, success {}",
            report.row_count,
            report.success()
        ),
    );
    Ok(())
}

fn main() -> ExitCode {
    let quick = std::env::var("PEERS_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let (entities, frame) = if quick {
        (1_000, 1_000)
    } else {
        (100_000, 100_000)
    };
    let scratch = || {
        std::env::var_os("PEERS_WORK")
            .map_or_else(std::env::temp_dir, PathBuf::from)
            .join(format!("parquet-pit-{}", std::process::id()))
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (what, dir, keep): (&str, PathBuf, bool) = match args.as_slice() {
        [] | ["pit"] => ("pit", scratch(), false),
        ["arrow"] => ("arrow", scratch(), false),
        ["--keep", dir] => ("pit", PathBuf::from(dir), true),
        ["write", dir] => ("write", PathBuf::from(dir), true),
        _ => {
            eprintln!("usage: parquet_pit [pit | arrow | write DIR | --keep DIR]");
            return ExitCode::FAILURE;
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    let result = std::fs::create_dir_all(&dir)
        .map_err(Error::from)
        .and_then(|()| match what {
            "pit" => pit(&dir, entities, frame),
            "arrow" => ingest_and_validate(&dir, entities * VERSIONS),
            _ => write_pit_data(&dir, entities, frame).and_then(|_| {
                write_parquet(
                    dir.join("validate.parquet"),
                    &arrow_batch(entities * VERSIONS)?,
                    false,
                )?;
                Ok(())
            }),
        });
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("parquet_pit: {e}");
            ExitCode::FAILURE
        }
    }
}
