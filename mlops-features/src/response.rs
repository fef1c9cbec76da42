//! Online-read results: resolved queries, responses and their printable table.

use std::fmt;
use std::sync::Arc;

use crate::model::{EntityKey, FeatureRef};
use crate::online::{FeatureStatus, FeatureValue};

/// A resolved list of feature references for repeated online reads (see
/// [`FeatureStore::online_query`](crate::FeatureStore::online_query)).
#[derive(Debug, Clone)]
pub struct OnlineQuery {
    pub(crate) refs: Arc<[FeatureRef]>,
    pub(crate) runs: Vec<(String, Vec<usize>, usize)>,
}

impl OnlineQuery {
    /// The features, in output order.
    #[must_use]
    pub fn features(&self) -> &[FeatureRef] {
        &self.refs
    }
}

/// The result of an online read: per entity (in request order) and feature (in query order),
/// a [`FeatureValue`]. Reuse one with [`FeatureStore::read_online`](crate::FeatureStore::read_online) to read without allocating.
#[derive(Debug, Clone, Default)]
pub struct OnlineResponse {
    pub(crate) refs: Option<Arc<[FeatureRef]>>,
    pub(crate) entities: usize,
    pub(crate) cells: Vec<FeatureValue>,
}

impl OnlineResponse {
    /// An empty response to read into.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entities.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entities
    }

    /// Whether there are no entities.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entities == 0
    }

    /// The features, in column order.
    #[must_use]
    pub fn features(&self) -> &[FeatureRef] {
        self.refs.as_deref().unwrap_or(&[])
    }

    /// The values of one entity, in column order.
    ///
    /// # Panics
    /// If `entity >= self.len()`.
    #[must_use]
    pub fn row(&self, entity: usize) -> &[FeatureValue] {
        let w = self.features().len();
        &self.cells[entity * w..(entity + 1) * w]
    }

    /// The value of one entity's feature, by reference string (`"group:feature"`).
    #[must_use]
    pub fn get(&self, entity: usize, feature: &str) -> Option<&FeatureValue> {
        if entity >= self.entities {
            return None;
        }
        let (g, f) = feature.split_once(':')?;
        let j = self
            .features()
            .iter()
            .position(|r| r.group() == g && r.feature() == f)?;
        self.row(entity).get(j)
    }

    /// A table of the response with the entity keys in the first column.
    #[must_use]
    pub fn table<'a>(&'a self, keys: &'a [EntityKey]) -> ResponseTable<'a> {
        ResponseTable {
            response: self,
            keys,
        }
    }
}

/// A printable view of an [`OnlineResponse`] (see [`OnlineResponse::table`]).
#[derive(Debug)]
pub struct ResponseTable<'a> {
    response: &'a OnlineResponse,
    keys: &'a [EntityKey],
}

impl fmt::Display for ResponseTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.response;
        let mut header = vec!["entity".to_owned()];
        header.extend(r.features().iter().map(ToString::to_string));
        let mut rows = vec![header];
        for i in 0..r.len() {
            let mut row = vec![
                self.keys
                    .get(i)
                    .map_or_else(String::new, ToString::to_string),
            ];
            row.extend(r.row(i).iter().map(|v| match v.status {
                FeatureStatus::Present => v.value.to_string(),
                FeatureStatus::Null => "null".to_owned(),
                FeatureStatus::NotFound => "(not found)".to_owned(),
                FeatureStatus::OutsideMaxAge => "(expired)".to_owned(),
            }));
            rows.push(row);
        }
        crate::table::draw(f, &rows)
    }
}
