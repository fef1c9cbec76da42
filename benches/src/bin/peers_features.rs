//! Our side of the `features` peer suite (`benches/peers/features/`): the feature-store workload
//! on `mlops-features`' [`FeatureStore`] facade, on its file backends (`FeatureStore::open`:
//! file online and offline stores, fsync on) and on the in-memory ones, printed as one JSON line
//! per case on stdout (the protocol of `benches/peers/`).
//!
//! The workload, the same numbers as the Feast side: an offline store of 100,000 entities x 10
//! hourly versions = 1M rows of 8 `f64` features, the newest one hour old, TTL 2 hours (loaded
//! untimed, as the user's parquet is on the Feast side); materialize the newest version into the
//! online store; online reads of 1 and of 100 entities x 8 features (1,000 calls each after 20
//! warm-up calls; p50 and p99); the point-in-time join of 100,000 entity rows against the 1M
//! feature rows, with a row-count check and every value checked against the truth.
//!
//! `PEERS_QUICK=1` shrinks the numbers; `PEERS_WORK` is the scratch folder.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_possible_truncation
)]

use mlops_benches::fmt::thousands;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mlops_features::{
    EntityFrame, EntityKey, FeatureGroup, FeatureRow, FeatureStatus, FeatureStore,
    HistoricalOptions, KeyType, Timestamp, Value, ValueType,
};

const VERSIONS: usize = 10;
const FEATURES: usize = 8;
const TTL_S: i64 = 2 * 3600;
const HOUR: i64 = 3600;
const WARMUP: usize = 20;

type Error = Box<dyn std::error::Error>;

/// Workload sizes.
struct Sizes {
    entities: usize,
    frame: usize,
    calls: usize,
}

impl Sizes {
    fn from_env() -> Self {
        if std::env::var("PEERS_QUICK").is_ok_and(|v| !v.is_empty() && v != "0") {
            Self {
                entities: 1_000,
                frame: 1_000,
                calls: 50,
            }
        } else {
            Self {
                entities: 100_000,
                frame: 100_000,
                calls: 1_000,
            }
        }
    }
}

fn key(i: usize) -> EntityKey {
    EntityKey::from(format!("user_{i:07}"))
}

/// Feature `j` of entity `i` at version `v` (exact in `f64`).
fn value(i: usize, j: usize, v: usize) -> f64 {
    (i * FEATURES + j) as f64 + v as f64 * 0.25
}

/// Entity row `i` of the point-in-time frame: (entity index, timestamp in seconds).
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

fn pick(n: usize, s: usize, entities: usize) -> Vec<EntityKey> {
    (0..n)
        .map(|i| key((s * 7919 + i * 104_729) % entities))
        .collect()
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let k = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted[k.min(sorted.len() - 1)]
}

fn group() -> Result<FeatureGroup, Error> {
    let mut b = FeatureGroup::builder("user_features").entity("user_id", KeyType::String);
    for j in 0..FEATURES {
        b = b.feature(&format!("f{j}"), ValueType::Float64);
    }
    Ok(b.ttl(Duration::from_secs(TTL_S as u64)).build()?)
}

fn emit(
    case: &str,
    variant: &str,
    value: f64,
    unit: &str,
    count: usize,
    note: Option<String>,
    check: Option<(usize, usize)>,
) {
    let mut line = serde_json::json!({
        "suite": "features",
        "case": case,
        "variant": variant,
        "side": "mlops",
        "value": value,
        "unit": unit,
        "count": count,
    });
    if let Some((rows, expected)) = check {
        line["check"] = serde_json::json!({"rows": rows, "expected": expected});
    }
    if let Some(note) = note {
        line["note"] = note.into();
    }
    println!("{line}");
}

fn run(store: &FeatureStore, variant: &str, sizes: &Sizes) -> Result<(), Error> {
    let n = sizes.entities;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    // Versions at base + v hours; the newest is one hour old.
    let base = now - VERSIONS as i64 * HOUR;
    store.apply_group(group()?)?;

    // The offline data, untimed (the Feast side's parquet file).
    let t = Instant::now();
    for v in 0..VERSIONS {
        for start in (0..n).step_by(10_000) {
            let rows: Vec<FeatureRow> = (start..(start + 10_000).min(n))
                .map(|i| {
                    FeatureRow::new(
                        key(i),
                        Timestamp::from_secs(base + v as i64 * HOUR),
                        (0..FEATURES)
                            .map(|j| Value::Float64(value(i, j, v)))
                            .collect(),
                    )
                })
                .collect();
            store.offline_store().append("user_features", &rows)?;
        }
    }
    eprintln!(
        "[peers_features] {variant}: {} offline rows loaded in {:.1} s",
        n * VERSIONS,
        t.elapsed().as_secs_f64()
    );

    // Materialize the newest version.
    let t = Instant::now();
    let report = store.materialize(
        Some(Timestamp::from_secs(base + (VERSIONS as i64 - 1) * HOUR)),
        Some(Timestamp::from_secs(now + 1)),
    )?;
    let el = t.elapsed();
    let (_, read, stats) = &report.groups[0];
    if *read != n || stats.written != n {
        return Err(format!(
            "materialize read {read} rows and wrote {}, expected {n}",
            stats.written
        )
        .into());
    }
    emit(
        &format!("materialize {} entities x 8 features", thousands(n)),
        variant,
        el.as_secs_f64(),
        "s",
        1,
        Some("newest of 10 versions in the offline store, into the online store".into()),
        None,
    );

    // Online reads.
    let refs: Vec<String> = (0..FEATURES)
        .map(|j| format!("user_features:f{j}"))
        .collect();
    for n_keys in [1usize, 100] {
        let sets: Vec<Vec<EntityKey>> = (0..64).map(|s| pick(n_keys, s, n)).collect();
        let mut times = Vec::with_capacity(sizes.calls);
        let mut last = None;
        for c in 0..WARMUP + sizes.calls {
            let keys = &sets[c % 64];
            let t = Instant::now();
            let out = store.get_online_features(&refs, keys)?;
            let el = t.elapsed();
            if c >= WARMUP {
                times.push(el);
            }
            last = Some((out, keys));
        }
        // The last response holds the newest version of each entity.
        let (out, keys) = last.expect("at least one call");
        for (e, k) in keys.iter().enumerate() {
            let cell = &out.row(e)[7];
            let i: usize = k.to_string().trim_start_matches("user_").parse()?;
            if cell.status != FeatureStatus::Present
                || cell.value != Value::Float64(value(i, 7, VERSIONS - 1))
            {
                return Err(format!("online read of {k}: {cell:?}").into());
            }
        }
        times.sort();
        let what = if n_keys == 1 { "entity" } else { "entities" };
        for p in [50, 99] {
            emit(
                &format!("online read {n_keys} {what} x 8 features, p{p}"),
                variant,
                percentile(&times, p).as_secs_f64() * 1e6,
                "us",
                1,
                Some(format!(
                    "one call's latency, p{p} of {} calls; get_online_features(&refs, &keys)",
                    sizes.calls
                )),
                None,
            );
        }
    }

    // Point-in-time join.
    let rows: Vec<(usize, i64)> = (0..sizes.frame).map(|i| frame_row(i, base, n)).collect();
    let frame: EntityFrame = rows
        .iter()
        .map(|&(e, ts)| (key(e), Timestamp::from_secs(ts)))
        .collect();
    let t = Instant::now();
    let tf = store.get_historical_features(&frame, &refs, &HistoricalOptions::default())?;
    let el = t.elapsed();
    let col = tf.column("user_features:f3").ok_or("no column f3")?;
    let (mut present, mut wrong, mut correct_present) = (0, 0, 0);
    for (r, &(e, ts)) in rows.iter().enumerate() {
        let want = expected_version(ts, base).map(|v| Value::Float64(value(e, 3, v)));
        correct_present += usize::from(want.is_some());
        let got = col.get(r).cloned().unwrap_or(Value::Null);
        present += usize::from(got != Value::Null);
        if got != want.unwrap_or(Value::Null) {
            wrong += 1;
        }
    }
    emit(
        &format!(
            "point-in-time join {} entity rows x {} feature rows",
            thousands(sizes.frame),
            thousands(n * VERSIONS)
        ),
        variant,
        el.as_secs_f64(),
        "s",
        1,
        Some(format!(
            "{present} rows with features (a correct join: {correct_present}); {wrong} rows \
             with a wrong value; get_historical_features"
        )),
        Some((tf.len(), sizes.frame)),
    );
    if wrong > 0 || tf.len() != sizes.frame {
        return Err(format!("the join returned {} rows, {wrong} wrong", tf.len()).into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let sizes = Sizes::from_env();
    let work: PathBuf = std::env::var_os("PEERS_WORK")
        .map_or_else(std::env::temp_dir, PathBuf::from)
        .join(format!("mlops-features-{}", std::process::id()));
    let version = env!("CARGO_PKG_VERSION");
    let result = (|| -> Result<(), Error> {
        let store = FeatureStore::open(work.join("store"))?;
        run(
            &store,
            &format!("mlops-features {version}, file stores (fsync)"),
            &sizes,
        )?;
        drop(store);
        run(
            &FeatureStore::in_memory(),
            &format!("mlops-features {version}, in-memory stores"),
            &sizes,
        )
    })();
    let _ = std::fs::remove_dir_all(&work);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peers_features: {e}");
            ExitCode::FAILURE
        }
    }
}
