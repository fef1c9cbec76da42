//! The feature-store demo: the user-features scenario of Feast-style stores, on the file
//! backends.
//!
//! 1. Register the `user_features` group (age, total orders, average order amount, days since
//!    last login; one-hour TTL) and ingest three users.
//! 2. Online lookups for `u001`, `u002` and an unknown `u999`.
//! 3. Offline reads (every row, and one user's rows), and the group listing.
//! 4. A training set built with a point-in-time join, then a late-arriving row: the online
//!    store keeps the newest value, the join picks the late row up for the times it covers, and
//!    an "as of" join rebuilds the earlier training set exactly.
//! 5. TTL: an hour later the online values are reported expired, not served.
//!
//! Usage: `cargo run --release -p mlops-examples --bin features_demo -- [--data DIR]`
//! (default `./mlops-data`; files go under `DIR/features_demo`, recreated on every run).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mlops_features::{
    EntityFrame, EntityKey, FeatureDef, FeatureGroup, FeatureStatus, FeatureStore,
    HistoricalOptions, KeyType, ManualClock, Record, ScanOptions, StoreOptions, Timestamp, Value,
    ValueType,
};

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("check failed: {what}"))
    }
}

fn user(ts: Timestamp, id: &str, age: i64, orders: i64, avg: f64, login: i64) -> Record {
    Record::new(ts)
        .with("user_id", id)
        .with("age", age)
        .with("total_orders", orders)
        .with("avg_order_amount", avg)
        .with("last_login_days", login)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = mlops_examples::data_dir_arg("features_demo")?.join("features_demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    // A fixed clock keeps the run deterministic: 2024-06-01 12:00 UTC.
    let t0: Timestamp = "2024-06-01T12:00:00Z".parse()?;
    let clock = ManualClock::new(t0);
    let store =
        FeatureStore::open_with(&dir, StoreOptions::default().clock(Arc::new(clock.clone())))?;

    println!("== register the feature group");
    let group = FeatureGroup::builder("user_features")
        .entity("user_id", KeyType::String)
        .description("user profile features")
        .feature_def(FeatureDef::new("age", ValueType::Int64).description("user age"))
        .feature_def(
            FeatureDef::new("total_orders", ValueType::Int64).description("orders to date"),
        )
        .feature_def(
            FeatureDef::new("avg_order_amount", ValueType::Float64)
                .description("average order amount"),
        )
        .feature_def(
            FeatureDef::new("last_login_days", ValueType::Int64)
                .description("days since the last login"),
        )
        .ttl(Duration::from_secs(3600))
        .build()?;
    let group = store.apply_group(group)?;
    for f in &group.features {
        println!("  - {} ({}): {}", f.name, f.dtype, f.description);
    }

    println!("\n== ingest a batch");
    let minute = Duration::from_secs(60);
    let ts = t0.saturating_sub(minute);
    let report = store.ingest_records(
        "user_features",
        &[
            user(ts, "u001", 28, 15, 120.5, 1),
            user(ts, "u002", 35, 42, 230.0, 0),
            user(ts, "u003", 22, 3, 55.0, 7),
        ],
    )?;
    println!(
        "  wrote {} rows to user_features ({} online)",
        report.rows, report.online.written
    );

    println!("\n== online lookups (inference)");
    let keys = [
        EntityKey::from("u001"),
        EntityKey::from("u002"),
        EntityKey::from("u999"),
    ];
    let refs: Vec<String> = group.refs().iter().map(ToString::to_string).collect();
    let online = store.get_online_features(&refs, &keys)?;
    print!("{}", online.table(&keys));
    check(
        online.get(0, "user_features:age").map(|v| &v.value) == Some(&Value::Int64(28)),
        "u001's age is served",
    )?;
    check(
        online
            .row(2)
            .iter()
            .all(|v| v.status == FeatureStatus::NotFound),
        "u999 is reported not found",
    )?;

    println!("\n== offline reads (training)");
    let all = store.offline_rows("user_features", None, &ScanOptions::default())?;
    for r in &all {
        let vals: Vec<String> = r.values.iter().map(ToString::to_string).collect();
        println!("  {} @ {}: {}", r.key, r.event_ts, vals.join(", "));
    }
    let one = store.offline_rows(
        "user_features",
        Some(&[EntityKey::from("u002")]),
        &ScanOptions::default(),
    )?;
    println!("  rows of u002 only: {}", one.len());
    check(all.len() == 3 && one.len() == 1, "offline rows")?;

    println!("\n== feature groups");
    for g in store.groups() {
        let n = store
            .offline_rows(&g.name, None, &ScanOptions::default())?
            .len();
        println!(
            "  {} v{} ({n} records), entity key: {}, ttl: {}",
            g.name,
            g.version,
            g.entity[0].name,
            g.ttl_display()
        );
    }

    println!("\n== training set by point-in-time join");
    // More history: u001's order count over the morning (event time, known right away).
    let hour = Duration::from_secs(3600);
    let (t9, t10, t11) = (
        t0.saturating_sub(hour * 3),
        t0.saturating_sub(hour * 2),
        t0.saturating_sub(hour),
    );
    store.ingest_records(
        "user_features",
        &[
            user(t9, "u001", 28, 10, 100.0, 2),
            user(t11, "u001", 28, 13, 110.0, 1),
        ],
    )?;
    let frame: EntityFrame = [
        ("u001", t9.saturating_add(minute)),
        ("u001", t10.saturating_add(minute)),
        ("u001", t11.saturating_add(minute)),
        ("u003", t10),
    ]
    .into_iter()
    .collect();
    let features = [
        "user_features:total_orders",
        "user_features:avg_order_amount",
    ];
    let before = store.get_historical_features(&frame, &features, &HistoricalOptions::default())?;
    print!("{before}");
    println!("  (10:01 is null: the 09:00 row is 61 minutes old there, outside the 1 h TTL)");
    check(
        before.column(features[0])
            == Some(&[Value::Int64(10), Value::Null, Value::Int64(13), Value::Null][..]),
        "point-in-time values before the late row",
    )?;

    println!("\n== a late-arriving row: event 10:00, known only now");
    let late = user(t10, "u001", 28, 12, 108.0, 1).created(t0);
    let report = store.ingest_records("user_features", &[late])?;
    println!(
        "  online: {} written, {} older than the stored row (kept out)",
        report.online.written, report.online.stale
    );
    let now_online = store.get_online_features(&features, &keys[..1])?;
    check(
        now_online.row(0)[0].value == Value::Int64(15),
        "the online store still serves the newest row",
    )?;
    let after = store.get_historical_features(&frame, &features, &HistoricalOptions::default())?;
    print!("{after}");
    check(
        after.value(1, features[0]) == Some(&Value::Int64(12)),
        "the join uses the late row for 10:01",
    )?;
    let as_before = store.get_historical_features(
        &frame,
        &features,
        &HistoricalOptions::as_of(t0.saturating_sub(minute)),
    )?;
    println!("  as known before the late row arrived:");
    print!("{as_before}");
    check(
        as_before == before,
        "the as-of join reproduces the earlier set",
    )?;

    println!("\n== an hour later: TTL");
    clock.advance(hour);
    let expired = store.get_online_features(&features, &keys[..2])?;
    print!("{}", expired.table(&keys[..2]));
    check(
        expired.row(1)[0].status == FeatureStatus::OutsideMaxAge,
        "u002's values are expired, not served",
    )?;
    println!("  evicted {} expired rows", store.evict_expired()?);
    println!("\nfiles under {}", dir.display());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("features_demo: {e}");
            ExitCode::FAILURE
        }
    }
}
