//! The offline-store trait: every ingested row, append-only, for training sets and
//! materialization.

use std::fmt::Debug;
use std::ops::ControlFlow;
use std::sync::Arc;

use crate::error::Result;
use crate::group::{FeatureGroup, FeatureRow};
use crate::model::{Timestamp, Value};
use crate::pit::PitRequest;

/// Which rows a scan visits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanOptions {
    /// Only rows whose event time is at or after this.
    pub start: Option<Timestamp>,
    /// Only rows whose event time is before this.
    pub end: Option<Timestamp>,
}

impl ScanOptions {
    /// Rows with `start <= event_ts < end`.
    #[must_use]
    pub fn window(start: Option<Timestamp>, end: Option<Timestamp>) -> Self {
        Self { start, end }
    }

    /// Whether an event time falls in the window.
    #[must_use]
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t < e)
    }
}

/// The visitor of a scan: return [`ControlFlow::Break`] to stop early.
pub type Visit<'a> = dyn FnMut(&FeatureRow) -> ControlFlow<()> + 'a;

/// An offline store: the append-only history of every group's rows.
///
/// Rows are stored as given (already validated against the group by
/// [`crate::FeatureStore::ingest`]) and scanned in arrival order, which the point-in-time join
/// uses to break ties. A scan of a group never written visits nothing.
pub trait OfflineStore: Send + Sync + Debug + 'static {
    /// Append a batch of rows of one group, all or nothing.
    ///
    /// # Errors
    /// [`crate::FeatureError::InvalidArgument`] for a bad group name; I/O errors (nothing of the
    /// batch is then visible, now or after a reopen).
    fn append(&self, group: &str, rows: &[FeatureRow]) -> Result<()>;

    /// Visit the rows of a group in arrival order, filtered by `options`. The visitor must not
    /// call back into the store.
    ///
    /// # Errors
    /// [`crate::FeatureError::Corrupt`] for a damaged file; I/O errors.
    fn scan(&self, group: &str, options: &ScanOptions, visit: &mut Visit<'_>) -> Result<()>;

    /// The groups with stored rows.
    ///
    /// # Errors
    /// I/O errors.
    fn groups(&self) -> Result<Vec<String>>;

    /// Tell the store a group's definition (called by [`crate::FeatureStore`] when a group is
    /// applied or the store opens), so that a columnar backend can name and type its columns.
    /// The default does nothing.
    ///
    /// # Errors
    /// Backend errors.
    fn register_group(&self, group: &FeatureGroup) -> Result<()> {
        let _ = group;
        Ok(())
    }

    /// A point-in-time join done by the backend itself (for example one that skips row groups
    /// by their statistics), writing `request.features` into `columns` (pre-filled with nulls)
    /// with the semantics of [`crate::FeatureStore::get_historical_features`]. `None` (the
    /// default) lets the caller run the generic join over [`OfflineStore::scan`].
    fn point_in_time_join(
        &self,
        request: &PitRequest<'_>,
        columns: &mut [Vec<Value>],
    ) -> Option<Result<()>> {
        let _ = (request, columns);
        None
    }
}

const _: fn(&dyn OfflineStore) = |_| {};

macro_rules! forward_offline {
    ($($ptr:ident),*) => {$(
        impl<T: OfflineStore + ?Sized> OfflineStore for $ptr<T> {
            fn append(&self, group: &str, rows: &[FeatureRow]) -> Result<()> {
                (**self).append(group, rows)
            }
            fn scan(&self, group: &str, options: &ScanOptions, visit: &mut Visit<'_>) -> Result<()> {
                (**self).scan(group, options, visit)
            }
            fn groups(&self) -> Result<Vec<String>> {
                (**self).groups()
            }
            fn register_group(&self, group: &FeatureGroup) -> Result<()> {
                (**self).register_group(group)
            }
            fn point_in_time_join(
                &self,
                request: &PitRequest<'_>,
                columns: &mut [Vec<Value>],
            ) -> Option<Result<()>> {
                (**self).point_in_time_join(request, columns)
            }
        }
    )*};
}
forward_offline!(Arc, Box);

/// Conveniences over any [`OfflineStore`].
pub trait OfflineStoreExt: OfflineStore {
    /// Collect the rows of a scan.
    ///
    /// # Errors
    /// As [`OfflineStore::scan`].
    fn rows(&self, group: &str, options: &ScanOptions) -> Result<Vec<FeatureRow>> {
        let mut out = Vec::new();
        self.scan(group, options, &mut |r| {
            out.push(r.clone());
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }
}

impl<T: OfflineStore + ?Sized> OfflineStoreExt for T {}
