//! # mlops-features
//!
//! (docs to come)

mod clock;
mod codec;
mod error;
mod file;
mod fsutil;
mod group;
mod memory;
mod model;
mod offline;
mod online;
mod pit;
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
pub use crate::store::{
    FeatureStore, FeatureStoreBuilder, IngestReport, MaterializeReport, OnlineQuery,
    OnlineResponse, ResponseTable,
};
