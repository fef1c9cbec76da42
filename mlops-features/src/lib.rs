//! # mlops-features
//!
//! A feature store whose online lookups cost a hash lookup and a copy and whose training joins
//! never leak: feature groups with an entity key, typed features and a TTL; batch ingestion
//! with whole-batch validation; online reads with a per-value status; point-in-time correct
//! historical retrieval; materialization. [Feast] is the reference for vocabulary and semantics.
//!
//! ```
//! use mlops_features::*;
//! use std::time::Duration;
//!
//! let store = FeatureStore::in_memory();
//! store.apply_group(FeatureGroup::builder("user_features")
//!     .entity("user_id", KeyType::String)
//!     .feature("age", ValueType::Int64)
//!     .feature("avg_order_amount", ValueType::Float64)
//!     .ttl(Duration::from_secs(3600)).build()?)?;
//! let now = store.now();
//! store.ingest_records("user_features", &[
//!     Record::new(now).with("user_id", "u001").with("age", 28).with("avg_order_amount", 120.5),
//! ])?;
//! let keys = [EntityKey::from("u001"), EntityKey::from("u999")];
//! let online = store.get_online_features(&["user_features:age"], &keys)?;
//! assert_eq!(online.row(0)[0].value, Value::Int64(28));
//! assert_eq!(online.row(1)[0].status, FeatureStatus::NotFound);
//! let frame: EntityFrame = [("u001", now)].into_iter().collect();
//! let training = store.get_historical_features(&frame, &["user_features:avg_order_amount"],
//!     &HistoricalOptions::default())?;
//! assert_eq!(training.columns[0].values, [Value::Float64(120.5)]);
//! # Ok::<(), FeatureError>(())
//! ```
//!
//! ## Model
//! - A [`FeatureGroup`] (Feast's feature view) has an entity key of one or more typed columns
//!   ([`EntityKey`], compound keys allowed), typed features ([`ValueType`]: bool, int64,
//!   float64, float32, string, timestamp, bytes, float32 vectors; every value may be null), a
//!   TTL (`None`: never expires, as Feast's zero TTL; a zero duration is refused), a description, tags and an online flag. Schema evolution only
//!   appends features, bumping the version; a type change is refused naming the feature
//!   ([`FeatureGroup::check_evolution`]).
//! - Features are referenced as `group:feature` ([`FeatureRef`]); a [`FeatureService`] names a
//!   list of references.
//! - Rows ([`FeatureRow`], or named [`Record`]s) carry an event time and an optional created
//!   time. Versions of an entity are ordered by event time, then created time (absent: the
//!   event time), then arrival: an older row never replaces a newer one, within a batch too.
//! - Online reads return a [`FeatureValue`] per entity and feature: value, [`FeatureStatus`]
//!   (`Present`, `NotFound`, `Null`, `OutsideMaxAge`) and event time. The TTL is checked against
//!   an injectable [`Clock`] (`Arc<dyn Clock>`); expired rows are never served, and
//!   [`FeatureStore::evict_expired`] frees their values without changing that answer (the
//!   entity's version stays as a tombstone). A row already past its TTL when ingested is not
//!   stored online and is counted in [`WriteStats::expired`].
//! - [`FeatureStore::get_historical_features`] keeps every entity row, in order, duplicates
//!   included, with nulls where no row qualifies; [`HistoricalOptions::as_of`] ignores rows
//!   created later.
//!
//! ## Backends
//! Two object-safe, synchronous traits, composed by the [`FeatureStore`] facade (which owns the
//! registry of groups and services, optionally in a JSON file):
//! - [`OnlineStore`]: [`InMemoryOnlineStore`] (64 lock-sharded open-addressing indexes, one
//!   `u64` per slot, over `u64` rows in chunks of 2 MiB with short keys inline, large shards
//!   on transparent huge pages on Linux: a read is one
//!   hash, one shard read lock, one index cache line, one row and a copy; each reader thread
//!   locks its own slot of the shard lock, so reads on several cores scale) and
//!   [`FileOnlineStore`] (the same in memory, made durable by a write-ahead log and snapshots).
//! - [`OfflineStore`]: [`InMemoryOfflineStore`] and [`FileOfflineStore`] (append-only
//!   segments per group, one framed record per batch, safe for several processes).
//!
//! **Arrow and Parquet** (cargo features `arrow`, `parquet`): ingest Arrow record batches
//! (`arrow` module), the `ParquetOfflineStore` of Parquet files that DuckDB, pyarrow and
//! Polars read as they are, and training sets as record batches or Parquet files (`parquet`
//! module).
//!
//! Both traits have a shared conformance suite (`conformance` module, feature `conformance`,
//! stamped by [`conformance_tests!`]) that every backend runs, Redis included.
//!
//! **Redis** (cargo feature `redis`): `RedisOnlineStore` is an [`OnlineStore`] shared by every
//! replica connected to the same server: one hash per (group, entity) with compact binary
//! values, newest version wins atomically in a Lua script, batch reads and writes pipelined in
//! one round trip, and each row expiring physically at event time + TTL (`PEXPIRE` from the
//! store's clock) besides the TTL check on read. It passes the same conformance suite against
//! a real `redis-server`; errors are `FeatureError::Backend` (unreachable, timed out within the
//! configured timeout, a group lost by a server restarted without persistence, naming the
//! server and how much of a failed batch was applied) and `FeatureError::CorruptEntry`
//! (a key of the wrong type or with garbage bytes, named). The layout is in `docs/formats.md`.
//!
//! ## Errors
//! Every fallible function returns [`Result`], whose error is [`FeatureError`]: `NotFound` for
//! unknown groups, features and services (with an [`EntityKind`]); `KeyTypeMismatch` for an
//! entity key of the wrong type, naming the group, the key column and both types (never
//! reported as "not found"); `InvalidRow` naming the row index and field of the
//! first bad row of a rejected batch (nothing of it is written); `InvalidArgument` for bad
//! names and definitions; `Conflict` for refused schema changes or a store locked by another
//! process; `Corrupt` naming the damaged file; `Io` and `Serde` with the path.
//!
//! ## Crash safety
//! The file stores append framed records (length and CRC-32) and fsync each batch before
//! acknowledging it (`with_fsync(false)` opts out, for tests and benches). A torn last record
//! (a crash mid-append) is detected, dropped and truncated on open or before the next append;
//! damage anywhere else is reported as `Corrupt`, never skipped. Snapshots and the registry are
//! replaced atomically (temp file, fsync, rename, directory fsync); stray temps are removed on
//! open. The on-disk formats are described in `docs/formats.md`.
//!
//! [Feast]: https://docs.feast.dev/

#[cfg(feature = "arrow")]
pub mod arrow;
mod clock;
mod codec;
#[cfg(any(test, doc, feature = "conformance"))]
pub mod conformance;
mod error;
mod file;
mod group;
mod human;
mod key;
mod memory;
mod model;
mod offline;
mod online;
#[cfg(feature = "parquet")]
pub mod parquet;
mod pit;
#[cfg(feature = "redis")]
mod redis;
mod response;
mod store;
mod table;
pub mod uri;

pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use crate::error::{EntityKind, FeatureError, Result};
pub use crate::file::{FileOfflineStore, FileOnlineStore, Recovery};
pub use crate::group::{
    EntityColumn, FeatureDef, FeatureGroup, FeatureGroupBuilder, FeatureRow, FeatureService, Record,
};
pub use crate::human::{HumanDuration, HumanTtl};
pub use crate::memory::{InMemoryOfflineStore, InMemoryOnlineStore};
pub use crate::model::{
    EntityKey, FeatureRef, KeyPart, KeyType, MAX_NAME_LEN, Timestamp, Value, ValueType,
    validate_name,
};
pub use crate::offline::{OfflineStore, OfflineStoreExt, ScanOptions, Visit};
pub use crate::online::{FeatureStatus, FeatureValue, OnlineStore, ReadRequest, WriteStats};
#[cfg(feature = "parquet")]
pub use crate::parquet::ParquetOfflineStore;
pub use crate::pit::{Column, EntityFrame, HistoricalOptions, PitRequest, TrainingFrame};
#[cfg(feature = "redis")]
pub use crate::redis::{RedisOnlineStore, RedisOnlineStoreBuilder};
pub use crate::response::{OnlineQuery, OnlineResponse, ResponseTable};
pub use crate::store::{
    FeatureStore, FeatureStoreBuilder, IngestReport, MaterializeReport, StoreOptions,
};
pub use crate::uri::FeatureGroupUri;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(test)]
mod conformance_tests {
    use crate::conformance::Subject;
    use crate::{
        FileOfflineStore, FileOnlineStore, InMemoryOfflineStore, InMemoryOnlineStore, OfflineStore,
        OnlineStore,
    };

    fn memory_online() -> Subject<dyn OnlineStore> {
        // The in-memory store "reopens" as another handle on the same state.
        let durable = InMemoryOnlineStore::new();
        Subject::<dyn OnlineStore>::new(Box::new(InMemoryOnlineStore::new()))
            .with_reopen(move || Box::new(durable.clone()))
    }

    /// A file store in a temp dir, reopening a second temp dir, with this compaction threshold.
    fn file_online(compact_bytes: u64) -> Subject<dyn OnlineStore> {
        let dir = tempfile::tempdir().unwrap();
        let durable = tempfile::tempdir().unwrap();
        let path = durable.path().to_path_buf();
        let store = FileOnlineStore::open(dir.path())
            .unwrap()
            .with_fsync(false)
            .with_compact_bytes(compact_bytes);
        Subject::<dyn OnlineStore>::new(Box::new(store))
            .with_reopen(move || {
                Box::new(
                    FileOnlineStore::open(&path)
                        .unwrap()
                        .with_fsync(false)
                        .with_compact_bytes(compact_bytes),
                )
            })
            .with_guard((dir, durable))
    }

    fn memory_offline() -> Subject<dyn OfflineStore> {
        let durable = InMemoryOfflineStore::new();
        Subject::<dyn OfflineStore>::new(Box::new(InMemoryOfflineStore::new()))
            .with_reopen(move || Box::new(durable.clone()))
    }

    fn file_offline(segment_bytes: u64) -> Subject<dyn OfflineStore> {
        let dir = tempfile::tempdir().unwrap();
        let durable = tempfile::tempdir().unwrap();
        let path = durable.path().to_path_buf();
        let store = FileOfflineStore::open(dir.path())
            .unwrap()
            .with_fsync(false)
            .with_segment_bytes(segment_bytes);
        Subject::<dyn OfflineStore>::new(Box::new(store))
            .with_reopen(move || {
                Box::new(
                    FileOfflineStore::open(&path)
                        .unwrap()
                        .with_fsync(false)
                        .with_segment_bytes(segment_bytes),
                )
            })
            .with_guard((dir, durable))
    }

    mod memory_online {
        crate::conformance_tests!(online; super::memory_online);
    }

    mod file_online {
        crate::conformance_tests!(online; || super::file_online(64 << 20));
    }

    mod file_online_snapshot_every_write {
        // A tiny compaction threshold: every write also snapshots.
        crate::conformance_tests!(online; || super::file_online(1));
    }

    mod memory_offline {
        crate::conformance_tests!(offline; super::memory_offline);
    }

    mod file_offline {
        crate::conformance_tests!(offline; || super::file_offline(64 << 20));
    }

    mod file_offline_tiny_segments {
        crate::conformance_tests!(offline; || super::file_offline(64));
    }
}
