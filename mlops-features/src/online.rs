//! The online-store trait: the latest value of every feature per entity, read in the request
//! path.

use std::fmt::Debug;
use std::sync::Arc;

use serde::Serialize;

use crate::error::Result;
use crate::group::{FeatureGroup, FeatureRow};
use crate::model::{EntityKey, Timestamp, Value};

/// The status of one value returned by an online read (Feast's `FieldStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureStatus {
    /// The value is present and within the TTL.
    Present,
    /// The entity has no row in the group.
    #[default]
    NotFound,
    /// The entity's latest row holds null for this feature.
    Null,
    /// The entity's latest row is older than the group's TTL at the time of the read; the
    /// value is not returned.
    OutsideMaxAge,
}

impl FeatureStatus {
    /// The status as Feast's `FieldStatus` spells it in lower case (`present`, `not_found`,
    /// `null`, `outside_max_age`), the same as its serde form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Present => "present",
            Self::NotFound => "not_found",
            Self::Null => "null",
            Self::OutsideMaxAge => "outside_max_age",
        }
    }
}

impl std::fmt::Display for FeatureStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value returned by an online read, with its status and event time.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct FeatureValue {
    /// The value; [`Value::Null`] unless the status is [`FeatureStatus::Present`].
    pub value: Value,
    /// Whether and why a value is (not) there.
    pub status: FeatureStatus,
    /// The event time of the row the value comes from (`None` when not found).
    pub event_ts: Option<Timestamp>,
}

/// What to read: some features of one group for a batch of entities, and where to put them.
///
/// The result for entity `i` and feature `j` goes to `out[i * stride + offset + j]`, so several
/// groups can fill one row-major response side by side.
#[derive(Debug, Clone, Copy)]
pub struct ReadRequest<'a> {
    /// The group.
    pub group: &'a str,
    /// The entities, in output order (duplicates allowed).
    pub keys: &'a [EntityKey],
    /// Indexes of the requested features in the group's feature list.
    pub features: &'a [usize],
    /// The time TTLs are checked against.
    pub now: Timestamp,
    /// Output slots per entity.
    pub stride: usize,
    /// First output slot of this group within an entity's slots.
    pub offset: usize,
}

impl<'a> ReadRequest<'a> {
    /// A request whose output is `keys.len() * features.len()` slots, row-major.
    #[must_use]
    pub fn new(
        group: &'a str,
        keys: &'a [EntityKey],
        features: &'a [usize],
        now: Timestamp,
    ) -> Self {
        Self {
            group,
            keys,
            features,
            now,
            stride: features.len(),
            offset: 0,
        }
    }

    /// The smallest output slice length this request needs.
    #[must_use]
    pub fn out_len(&self) -> usize {
        if self.keys.is_empty() {
            0
        } else {
            (self.keys.len() - 1) * self.stride + self.offset + self.features.len()
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WriteStats {
    /// Rows that became the entity's latest row.
    pub written: usize,
    /// Rows ignored because the stored row is newer (event time, then created time).
    pub stale: usize,
    /// Rows ignored because they were already past the group's TTL at the write's `now`
    /// (see [`OnlineStore::write_batch_at`]); they are not stored and not counted as written.
    pub expired: usize,
}

/// An online store: per (group, entity) the newest row, read by key in microseconds.
///
/// Semantics every backend keeps (the [`conformance`](crate::conformance) suite checks them):
/// - a row replaces the stored one only if its `(event_ts, created_ts)` is not older; equal
///   versions go to the later arrival, including within one batch;
/// - a batch is validated against the group before anything is written, and is rejected whole;
/// - a read reports [`FeatureStatus::OutsideMaxAge`] (and no value, with the row's event time)
///   when `now - event_ts` exceeds the group's TTL (`None`: never); [`OnlineStore::evict_expired`]
///   (or a backend's physical expiry) frees such rows' values but never changes that answer:
///   the entity's version is kept as a tombstone, so an evicted row still reads
///   `OutsideMaxAge`, and a late older row cannot take its place;
/// - a row already past its TTL at the write's `now` is not stored and is counted in
///   [`WriteStats::expired`];
/// - a read with an entity key of the wrong type for the group is
///   [`crate::FeatureError::KeyTypeMismatch`], never `NotFound`.
///
/// The trait is object-safe and synchronous, so a network backend (Redis) implements it with
/// pipelined batch commands.
pub trait OnlineStore: Send + Sync + Debug + 'static {
    /// Register a group or evolve its schema (see [`FeatureGroup::check_evolution`]).
    ///
    /// # Errors
    /// [`crate::FeatureError::Conflict`] for a refused schema change; I/O errors.
    fn apply_group(&self, group: &FeatureGroup) -> Result<()>;

    /// Upsert a batch of rows of one group at time `now`, newest version wins. Rows already past
    /// the group's TTL at `now` are skipped and counted in [`WriteStats::expired`].
    ///
    /// # Errors
    /// [`crate::FeatureError::NotFound`] for an unknown group,
    /// [`crate::FeatureError::InvalidRow`] for a bad row (nothing written); I/O errors.
    fn write_batch_at(
        &self,
        group: &str,
        rows: &[FeatureRow],
        now: Timestamp,
    ) -> Result<WriteStats>;

    /// Upsert a batch without a write time: no row counts as expired when written (reads
    /// still apply the TTL). [`crate::FeatureStore`] writes with its clock's time instead.
    ///
    /// # Errors
    /// As [`OnlineStore::write_batch_at`].
    fn write_batch(&self, group: &str, rows: &[FeatureRow]) -> Result<WriteStats> {
        self.write_batch_at(group, rows, Timestamp::MIN)
    }

    /// Read features of many entities into `out` (see [`ReadRequest`]).
    ///
    /// # Errors
    /// [`crate::FeatureError::NotFound`] for an unknown group or feature index,
    /// [`crate::FeatureError::InvalidArgument`] when `out` is too short.
    fn read(&self, request: &ReadRequest<'_>, out: &mut [FeatureValue]) -> Result<()>;

    /// Remove every row older than its group's TTL at `now`; returns how many were removed.
    ///
    /// # Errors
    /// I/O errors of a durable backend.
    fn evict_expired(&self, now: Timestamp) -> Result<usize>;

    /// Number of entities whose row is stored for a group (evicted rows are not counted).
    ///
    /// # Errors
    /// [`crate::FeatureError::NotFound`] for an unknown group.
    fn entity_count(&self, group: &str) -> Result<usize>;

    /// The registered groups.
    ///
    /// # Errors
    /// I/O errors of a remote backend.
    fn groups(&self) -> Result<Vec<FeatureGroup>>;
}

const _: fn(&dyn OnlineStore) = |_| {};

macro_rules! forward_online {
    ($($ptr:ident),*) => {$(
        impl<T: OnlineStore + ?Sized> OnlineStore for $ptr<T> {
            fn apply_group(&self, group: &FeatureGroup) -> Result<()> {
                (**self).apply_group(group)
            }
            fn write_batch_at(
                &self,
                group: &str,
                rows: &[FeatureRow],
                now: Timestamp,
            ) -> Result<WriteStats> {
                (**self).write_batch_at(group, rows, now)
            }
            fn write_batch(&self, group: &str, rows: &[FeatureRow]) -> Result<WriteStats> {
                (**self).write_batch(group, rows)
            }
            fn read(&self, request: &ReadRequest<'_>, out: &mut [FeatureValue]) -> Result<()> {
                (**self).read(request, out)
            }
            fn evict_expired(&self, now: Timestamp) -> Result<usize> {
                (**self).evict_expired(now)
            }
            fn entity_count(&self, group: &str) -> Result<usize> {
                (**self).entity_count(group)
            }
            fn groups(&self) -> Result<Vec<FeatureGroup>> {
                (**self).groups()
            }
        }
    )*};
}
forward_online!(Arc, Box);

#[cfg(test)]
mod status_tests {
    use super::FeatureStatus;

    #[test]
    fn display_matches_serde() {
        for s in [
            FeatureStatus::Present,
            FeatureStatus::NotFound,
            FeatureStatus::Null,
            FeatureStatus::OutsideMaxAge,
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{s}\""));
        }
    }
}
