//! Interop with the real tools: pyarrow, DuckDB and Polars read every Parquet file we write and
//! see the same values; files written by pyarrow and DuckDB ingest correctly.
//!
//! Needs a Python with `pyarrow`, `duckdb` and `polars` (`$MLOPS_PYTHON`, default the venv
//! `.ci/run` installs, `/root/.cache/mlops/venvs/pydata-pyarrow-26.0.1-duckdb-2.0.0-polars-2.1.0`;
//! install with `python3 -m venv DIR && DIR/bin/pip install pyarrow==26.0.1 duckdb==2.0.0
//! polars==2.1.0`). The tests are ignored by default; run with `-- --include-ignored`, where a
//! missing Python fails.
#![cfg(feature = "parquet")]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mlops_features::{
    EntityFrame, FeatureGroup, FeatureRow, FeatureStore, HistoricalOptions, KeyType,
    OfflineStoreExt, ParquetOfflineStore, ScanOptions, Timestamp, Value, ValueType,
};
use serde_json::{Value as Json, json};

const DEFAULT_PYTHON: &str =
    "/root/.cache/mlops/venvs/pydata-pyarrow-26.0.1-duckdb-2.0.0-polars-2.1.0/bin/python";

/// Reads a Parquet file or a glob of files with Polars: the schema, the rows (timestamps as
/// integer microseconds) and the height.
const POLARS_SCRIPT: &str = r#"
import json, math, sys
import polars as pl

def canon(v):
    if isinstance(v, float):
        return "NaN" if math.isnan(v) else v
    if isinstance(v, (bytes, bytearray)):
        return {"hex": bytes(v).hex()}
    if isinstance(v, list):
        return [canon(x) for x in v]
    return v

df = pl.read_parquet(sys.argv[1])
schema = [[n, str(t)] for n, t in df.schema.items()]
df = df.with_columns([pl.col(n).cast(pl.Int64) for n, t in df.schema.items() if isinstance(t, pl.Datetime)])
rows = sorted(([canon(v) for v in r] for r in df.rows()), key=lambda r: json.dumps(r))
print(json.dumps({"version": pl.__version__, "schema": schema, "rows": rows}))
"#;

/// Reads a Parquet file or directory with pyarrow and with DuckDB, or writes test files.
const SCRIPT: &str = r#"
import json, math, sys
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.dataset as ds, pyarrow.compute as pc
import duckdb

def canon(v):
    if isinstance(v, float):
        return "NaN" if math.isnan(v) else v
    if isinstance(v, (bytes, bytearray)):
        return {"hex": bytes(v).hex()}
    if isinstance(v, list):
        return [canon(x) for x in v]
    return v

def read(path, glob):
    t = ds.dataset(path, format="parquet").to_table()
    schema = [[f.name, str(f.type)] for f in t.schema]
    cols = []
    for f, c in zip(t.schema, t.columns):
        if pa.types.is_timestamp(f.type):
            c = pc.cast(c, pa.int64())
        cols.append(c.to_pylist())
    rows = sorted(([canon(v) for v in r] for r in zip(*cols)), key=lambda r: json.dumps(r))
    con = duckdb.connect()
    con.execute("SET threads = 1")
    desc = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{glob}', union_by_name = true)").fetchall()
    exprs = []
    types = []
    for name, typ, *_ in desc:
        types.append([name, typ])
        if typ.startswith("TIMESTAMP"):
            exprs.append(f'epoch_us("{name}")')
        else:
            exprs.append(f'"{name}"')
    got = con.execute(f"SELECT {', '.join(exprs)} FROM read_parquet('{glob}', union_by_name = true)").fetchall()
    drows = sorted(([canon(v) for v in r] for r in got), key=lambda r: json.dumps(r))
    print(json.dumps({"pyarrow": {"schema": schema, "rows": rows},
                      "duckdb": {"schema": types, "rows": drows}}))

def write_pyarrow(path):
    t = pa.table({
        "user_id": pa.array(["a", "b", "ü"], pa.large_string()),
        "event_timestamp": pa.array([1_700_000_000_000_000, 1_700_000_001_000_000, 1_700_000_002_000_000],
                                    pa.timestamp("us", tz="UTC")),
        "created_timestamp": pa.array([None, 1_700_000_005_000_000_123, None],
                                      pa.timestamp("ns", tz="America/New_York")),
        "city": pa.array(["paris", None, "köln"]).dictionary_encode(),
        "age": pa.array([1, None, 3], pa.int32()),
        "score": pa.array([0.5, float("nan"), None], pa.float64()),
        "name": pa.array(["x", "日本", None], pa.large_string()),
    })
    pq.write_table(t, path)

def write_duckdb(path):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"""COPY (SELECT * FROM (VALUES
        ('a', TIMESTAMPTZ '2023-11-14 22:13:20+00', NULL::TIMESTAMPTZ, 'paris', 1::BIGINT, 0.5::DOUBLE, 'x'),
        ('b', TIMESTAMPTZ '2023-11-14 23:13:21+01', NULL::TIMESTAMPTZ, NULL, NULL, 'nan'::DOUBLE, '日本'),
        ('ü', TIMESTAMPTZ '2023-11-14 22:13:22+00', NULL::TIMESTAMPTZ, 'köln', 3, NULL, NULL))
        t(user_id, event_timestamp, created_timestamp, city, age, score, name)) TO '{path}' (FORMAT parquet)""")

mode = sys.argv[1]
if mode == "read":
    read(sys.argv[2], sys.argv[3])
elif mode == "write_pyarrow":
    write_pyarrow(sys.argv[2])
elif mode == "write_duckdb":
    write_duckdb(sys.argv[2])
"#;

/// The Python with `modules` (e.g. `"pyarrow, duckdb"`); panics with what to install when
/// there is none.
fn python_with(modules: &str) -> String {
    let py = std::env::var("MLOPS_PYTHON").unwrap_or_else(|_| DEFAULT_PYTHON.to_owned());
    let ok = Command::new(&py)
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

/// The Python with pyarrow and duckdb.
fn python() -> String {
    python_with("pyarrow, duckdb")
}

/// What Polars reads from a file or glob.
fn read_polars(path: &str) -> Json {
    let out = Command::new(python_with("polars"))
        .arg("-c")
        .arg(POLARS_SCRIPT)
        .arg(path)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "polars {path} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn run(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(SCRIPT)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What pyarrow and DuckDB read from `path` (a file or a group directory).
fn read_both(path: &Path, glob: &str) -> Json {
    serde_json::from_str(&run(&["read", path.to_str().unwrap(), glob])).unwrap()
}

/// A value as the script canonicalises it.
fn canon(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => json!(b),
        Value::Int64(i) => json!(i),
        Value::Float64(f) if f.is_nan() => json!("NaN"),
        Value::Float64(f) => json!(f),
        Value::Float32(f) if f.is_nan() => json!("NaN"),
        Value::Float32(f) => json!(f64::from(*f)),
        Value::String(s) => json!(s),
        Value::Timestamp(t) => json!(t.as_micros()),
        Value::Bytes(b) => json!({"hex": b.iter().map(|x| format!("{x:02x}")).collect::<String>()}),
        Value::Float32Vector(v) => json!(v.iter().map(|x| f64::from(*x)).collect::<Vec<_>>()),
    }
}

/// Rows read by a tool, in our sort order.
fn resort(rows: &Json) -> Json {
    let mut rows = rows.as_array().expect("rows").clone();
    rows.sort_by_key(|r| serde_json::to_string(r).unwrap());
    json!(rows)
}

fn sorted(mut rows: Vec<Vec<Json>>) -> Json {
    rows.sort_by_key(|r| serde_json::to_string(r).unwrap());
    json!(rows)
}

fn all_types_group() -> FeatureGroup {
    FeatureGroup::builder("every")
        .entity("user_id", KeyType::String)
        .feature("b", ValueType::Bool)
        .feature("i", ValueType::Int64)
        .feature("f", ValueType::Float64)
        .feature("f32", ValueType::Float32)
        .feature("s", ValueType::String)
        .feature("ts", ValueType::Timestamp)
        .feature("by", ValueType::Bytes)
        .feature("v", ValueType::Float32Vector)
        .ttl(Duration::from_secs(3600))
        .build()
        .unwrap()
}

fn tricky_rows() -> Vec<FeatureRow> {
    let base = 1_700_000_000_000_000;
    (0..6)
        .map(|n: i64| {
            let mut values = vec![
                Value::Bool(n % 2 == 0),
                Value::Int64(n * 1_000_000_007 - 3),
                Value::Float64(match n {
                    1 => f64::NAN,
                    2 => -0.0,
                    3 => 1e308,
                    _ => n as f64 / 3.0,
                }),
                Value::Float32(n as f32 * 0.1),
                Value::String(
                    ["plain", "ünïcödé", "日本語", "emoji 🦀", "", "a\"b'c"][n as usize].into(),
                ),
                Value::Timestamp(Timestamp::from_micros(-86_400_000_000 + n)),
                Value::Bytes(vec![0, 255, n as u8]),
                Value::Float32Vector(vec![n as f32, -1.5]),
            ];
            // Nulls in every column somewhere.
            values[(n as usize + 1) % 8] = Value::Null;
            let mut r = FeatureRow::new(
                format!("ключ{n}").as_str(),
                Timestamp::from_micros(base + n),
                values,
            );
            if n % 2 == 1 {
                r.created_ts = Some(Timestamp::from_micros(base + 100 + n));
            }
            r
        })
        .collect()
}

#[test]
#[ignore = "needs pyarrow and duckdb"]
fn pyarrow_and_duckdb_read_the_offline_store_and_training_sets() {
    python();
    let dir = tempfile::tempdir().unwrap();
    let store = FeatureStore::builder()
        .offline(
            ParquetOfflineStore::open(dir.path())
                .unwrap()
                .with_fsync(false),
        )
        .build()
        .unwrap();
    store.apply_group(all_types_group()).unwrap();
    let rows = tricky_rows();
    store.offline_store().append("every", &rows[..3]).unwrap();
    store.offline_store().append("every", &rows[3..]).unwrap();
    let gdir = dir.path().join("every");
    let got = read_both(&gdir, &format!("{}/*.parquet", gdir.display()));
    let want = offline_rows(&rows);
    assert_eq!(resort(&got["pyarrow"]["rows"]), want, "pyarrow");
    assert_eq!(resort(&got["duckdb"]["rows"]), want, "duckdb");
    let schema = &got["pyarrow"]["schema"];
    assert_eq!(
        schema,
        &json!([
            ["user_id", "string"],
            ["event_timestamp", "timestamp[us, tz=UTC]"],
            ["created_timestamp", "timestamp[us, tz=UTC]"],
            ["b", "bool"],
            ["i", "int64"],
            ["f", "double"],
            ["f32", "float"],
            ["s", "string"],
            ["ts", "timestamp[us, tz=UTC]"],
            ["by", "binary"],
            ["v", "list<item: float>"]
        ])
    );
    assert_eq!(
        got["duckdb"]["schema"][1],
        json!(["event_timestamp", "TIMESTAMP WITH TIME ZONE"])
    );

    // After compaction, the same rows.
    let store2 = ParquetOfflineStore::open(dir.path())
        .unwrap()
        .with_fsync(false);
    assert_eq!(store2.compact("every").unwrap().files_merged, 2);
    let got = read_both(&gdir, &format!("{}/*.parquet", gdir.display()));
    assert_eq!(
        resort(&got["pyarrow"]["rows"]),
        want,
        "pyarrow after compaction"
    );
    assert_eq!(
        resort(&got["duckdb"]["rows"]),
        want,
        "duckdb after compaction"
    );

    // A training set written as Parquet.
    let frame: EntityFrame = rows
        .iter()
        .map(|r| {
            (
                r.key.clone(),
                Timestamp::from_micros(r.event_ts.as_micros() + 1),
            )
        })
        .chain([("nobody".into(), Timestamp::from_micros(0))])
        .collect();
    let feats = [
        "every:b",
        "every:i",
        "every:f",
        "every:f32",
        "every:s",
        "every:ts",
        "every:by",
        "every:v",
    ];
    let t = store
        .get_historical_features(&frame, &feats, &HistoricalOptions::default())
        .unwrap();
    let path = dir.path().join("training.parquet");
    store.write_training_parquet(&t, &path).unwrap();
    let got = read_both(&path, path.to_str().unwrap());
    let want = sorted(
        (0..t.len())
            .map(|i| {
                let mut v = vec![
                    json!(t.keys[i].as_str().unwrap()),
                    json!(t.timestamps[i].as_micros()),
                ];
                v.extend(t.columns.iter().map(|c| canon(&c.values[i])));
                v
            })
            .collect(),
    );
    assert_eq!(
        resort(&got["pyarrow"]["rows"]),
        want,
        "pyarrow training set"
    );
    assert_eq!(resort(&got["duckdb"]["rows"]), want, "duckdb training set");
    assert_eq!(got["pyarrow"]["rows"].as_array().unwrap().len(), 7);
}

/// The offline store's rows as the tools see them (key, event and created time, values).
fn offline_rows(rows: &[FeatureRow]) -> Json {
    sorted(
        rows.iter()
            .map(|r| {
                let mut v = vec![
                    json!(r.key.as_str().unwrap()),
                    json!(r.event_ts.as_micros()),
                    r.created_ts.map_or(Json::Null, |t| json!(t.as_micros())),
                ];
                v.extend(r.values.iter().map(canon));
                v
            })
            .collect(),
    )
}

#[test]
#[ignore = "needs polars"]
fn polars_reads_the_offline_store_and_training_sets() {
    python_with("polars");
    let dir = tempfile::tempdir().unwrap();
    let store = FeatureStore::builder()
        .offline(
            ParquetOfflineStore::open(dir.path())
                .unwrap()
                .with_fsync(false),
        )
        .build()
        .unwrap();
    store.apply_group(all_types_group()).unwrap();
    let rows = tricky_rows();
    store.offline_store().append("every", &rows[..2]).unwrap();
    store.offline_store().append("every", &rows[2..]).unwrap();
    let glob = format!("{}/*.parquet", dir.path().join("every").display());
    let got = read_polars(&glob);
    assert_eq!(got["version"], "2.1.0");
    let want = offline_rows(&rows);
    assert_eq!(resort(&got["rows"]), want, "polars, two files");
    assert_eq!(
        got["schema"],
        json!([
            ["user_id", "String"],
            [
                "event_timestamp",
                "Datetime(time_unit='us', time_zone='UTC')"
            ],
            [
                "created_timestamp",
                "Datetime(time_unit='us', time_zone='UTC')"
            ],
            ["b", "Boolean"],
            ["i", "Int64"],
            ["f", "Float64"],
            ["f32", "Float32"],
            ["s", "String"],
            ["ts", "Datetime(time_unit='us', time_zone='UTC')"],
            ["by", "Binary"],
            ["v", "List(Float32)"]
        ])
    );
    let compacted = ParquetOfflineStore::open(dir.path())
        .unwrap()
        .with_fsync(false);
    assert_eq!(compacted.compact("every").unwrap().files_merged, 2);
    assert_eq!(
        resort(&read_polars(&glob)["rows"]),
        want,
        "polars after compaction"
    );

    // A training set written as Parquet, with a row no feature row matches (all nulls).
    let frame: EntityFrame = rows
        .iter()
        .map(|r| {
            (
                r.key.clone(),
                Timestamp::from_micros(r.event_ts.as_micros() + 1),
            )
        })
        .chain([("nobody".into(), Timestamp::from_micros(0))])
        .collect();
    let feats = [
        "every:b",
        "every:i",
        "every:f",
        "every:f32",
        "every:s",
        "every:ts",
        "every:by",
        "every:v",
    ];
    let t = store
        .get_historical_features(&frame, &feats, &HistoricalOptions::default())
        .unwrap();
    let path = dir.path().join("training.parquet");
    store.write_training_parquet(&t, &path).unwrap();
    let got = read_polars(path.to_str().unwrap());
    let want = sorted(
        (0..t.len())
            .map(|i| {
                let mut v = vec![
                    json!(t.keys[i].as_str().unwrap()),
                    json!(t.timestamps[i].as_micros()),
                ];
                v.extend(t.columns.iter().map(|c| canon(&c.values[i])));
                v
            })
            .collect(),
    );
    assert_eq!(resort(&got["rows"]), want, "polars training set");
    assert_eq!(got["rows"].as_array().unwrap().len(), 7);
    let nobody: Vec<&Json> = got["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r[0] == "nobody")
        .collect();
    assert_eq!(nobody.len(), 1);
    assert!(nobody[0].as_array().unwrap()[2..].iter().all(Json::is_null));
}

fn ingest_group() -> FeatureGroup {
    FeatureGroup::builder("people")
        .entity("user_id", KeyType::String)
        .feature("city", ValueType::String)
        .feature("age", ValueType::Int64)
        .feature("score", ValueType::Float64)
        .feature("name", ValueType::String)
        .build()
        .unwrap()
}

fn check_ingested(store: &FeatureStore, created_b: Option<i64>) {
    let rows = store
        .offline_store()
        .rows("people", &ScanOptions::default())
        .unwrap();
    assert_eq!(rows.len(), 3);
    let s = |x: &str| Value::String(x.into());
    assert_eq!(rows[0].key.as_str(), Some("a"));
    assert_eq!(
        rows[0].event_ts,
        Timestamp::from_micros(1_700_000_000_000_000)
    );
    assert_eq!(rows[0].created_ts, None);
    assert_eq!(
        rows[0].values,
        [s("paris"), Value::Int64(1), Value::Float64(0.5), s("x")]
    );
    assert_eq!(
        rows[1].event_ts,
        Timestamp::from_micros(1_700_000_001_000_000)
    );
    assert_eq!(rows[1].created_ts, created_b.map(Timestamp::from_micros));
    assert_eq!(rows[1].values[0], Value::Null);
    assert_eq!(rows[1].values[1], Value::Null);
    assert!(matches!(rows[1].values[2], Value::Float64(x) if x.is_nan()));
    assert_eq!(rows[1].values[3], s("日本"));
    assert_eq!(rows[2].key.as_str(), Some("ü"));
    assert_eq!(
        rows[2].values,
        [s("köln"), Value::Int64(3), Value::Null, Value::Null]
    );
}

#[test]
#[ignore = "needs pyarrow and duckdb"]
fn files_written_by_pyarrow_and_duckdb_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pyarrow.parquet");
    run(&["write_pyarrow", path.to_str().unwrap()]);
    let store = FeatureStore::in_memory();
    store.apply_group(ingest_group()).unwrap();
    store.ingest_parquet("people", &path).unwrap();
    // 1_700_000_005_000_000_123 ns floors to ..._000 us.
    check_ingested(&store, Some(1_700_000_005_000_000));

    let path = dir.path().join("duckdb.parquet");
    run(&["write_duckdb", path.to_str().unwrap()]);
    let store = FeatureStore::in_memory();
    store.apply_group(ingest_group()).unwrap();
    store.ingest_parquet("people", &path).unwrap();
    check_ingested(&store, None);
}
