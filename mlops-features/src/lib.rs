//! # mlops-features
//!
//! (docs to come)

mod clock;
mod codec;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod error;
mod file;
mod fsutil;
mod group;
mod memory;
mod model;
mod offline;
mod online;
mod pit;
#[cfg(feature = "redis")]
mod redis;
mod store;
mod table;

pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use crate::error::{FeatureError, Result};
pub use crate::file::{FileOfflineStore, FileOnlineStore, Recovery};
pub use crate::group::{
    EntityColumn, FeatureDef, FeatureGroup, FeatureGroupBuilder, FeatureRow, FeatureService, Record,
};
pub use crate::memory::{InMemoryOfflineStore, InMemoryOnlineStore};
pub use crate::model::{
    EntityKey, FeatureRef, KeyPart, KeyType, MAX_NAME_LEN, Timestamp, Value, ValueType,
    validate_name,
};
pub use crate::offline::{OfflineStore, OfflineStoreExt, ScanOptions, Visit};
pub use crate::online::{FeatureStatus, FeatureValue, OnlineStore, ReadRequest, WriteStats};
pub use crate::pit::{Column, EntityFrame, HistoricalOptions, TrainingFrame};
#[cfg(feature = "redis")]
pub use crate::redis::{RedisOnlineStore, RedisOnlineStoreBuilder};
pub use crate::store::{
    FeatureStore, FeatureStoreBuilder, IngestReport, MaterializeReport, OnlineQuery,
    OnlineResponse, ResponseTable,
};

#[cfg(test)]
mod conformance_tests {
    mod memory_online {
        crate::online_store_conformance!(((), crate::InMemoryOnlineStore::new()));

        #[test]
        fn online_survives_reopen_shared_handle() {
            // The in-memory store "reopens" as another handle on the same state.
            let store = crate::InMemoryOnlineStore::new();
            crate::conformance::online_survives_reopen(&mut || Box::new(store.clone()));
        }
    }

    mod file_online {
        use crate::FileOnlineStore;

        fn make() -> (tempfile::TempDir, FileOnlineStore) {
            let dir = tempfile::tempdir().unwrap();
            let store = FileOnlineStore::open(dir.path()).unwrap().with_fsync(false);
            (dir, store)
        }

        crate::online_store_conformance!(make());

        #[test]
        fn online_survives_reopen() {
            let dir = tempfile::tempdir().unwrap();
            crate::conformance::online_survives_reopen(&mut || {
                Box::new(FileOnlineStore::open(dir.path()).unwrap().with_fsync(false))
            });
        }

        #[test]
        fn online_survives_reopen_through_snapshots() {
            // A tiny compaction threshold: every write also snapshots.
            let dir = tempfile::tempdir().unwrap();
            crate::conformance::online_survives_reopen(&mut || {
                Box::new(
                    FileOnlineStore::open(dir.path())
                        .unwrap()
                        .with_fsync(false)
                        .with_compact_bytes(1),
                )
            });
        }
    }

    mod memory_offline {
        crate::offline_store_conformance!(((), crate::InMemoryOfflineStore::new()));

        #[test]
        fn offline_survives_reopen_shared_handle() {
            let store = crate::InMemoryOfflineStore::new();
            crate::conformance::offline_survives_reopen(&mut || Box::new(store.clone()));
        }
    }

    mod file_offline {
        use crate::FileOfflineStore;

        fn make() -> (tempfile::TempDir, FileOfflineStore) {
            let dir = tempfile::tempdir().unwrap();
            let store = FileOfflineStore::open(dir.path())
                .unwrap()
                .with_fsync(false);
            (dir, store)
        }

        crate::offline_store_conformance!(make());

        #[test]
        fn offline_survives_reopen() {
            let dir = tempfile::tempdir().unwrap();
            crate::conformance::offline_survives_reopen(&mut || {
                Box::new(
                    FileOfflineStore::open(dir.path())
                        .unwrap()
                        .with_fsync(false),
                )
            });
        }

        #[test]
        fn offline_survives_reopen_with_tiny_segments() {
            let dir = tempfile::tempdir().unwrap();
            crate::conformance::offline_survives_reopen(&mut || {
                Box::new(
                    FileOfflineStore::open(dir.path())
                        .unwrap()
                        .with_fsync(false)
                        .with_segment_bytes(64),
                )
            });
        }
    }
}
