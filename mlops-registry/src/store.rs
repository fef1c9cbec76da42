//! The [`RegistryStore`] trait, its request types and the [`RegistryStoreExt`] conveniences.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::compare::Comparison;
use crate::error::{EntityKind, RegistryError, Result};
use crate::model::{
    Alias, AuditRecord, Digest, ModelVersion, ModelVersionNumber, RegisteredModel, Stage,
};
use crate::order::Page;
use crate::policy::PromotionPolicy;
use crate::search::Filter;
use crate::uri::{ModelUri, VersionTarget};

/// A request to register a model.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct NewModel {
    /// The unique name.
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

impl NewModel {
    /// A model named `name`.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Set the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Add a tag.
    #[must_use]
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

/// A request to create a model version.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct NewVersion {
    /// The registered model (must exist; see [`RegistryStoreExt::register_version`]).
    pub name: String,
    /// Where the artifact lives.
    pub source: String,
    /// The run that produced it.
    pub run_id: Option<String>,
    /// Free-text description.
    pub description: String,
    /// The metrics snapshot.
    pub metrics: BTreeMap<String, f64>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// The artifact's digest.
    pub digest: Option<Digest>,
}

impl NewVersion {
    /// A version of model `name` whose artifact is at `source`.
    #[must_use]
    pub fn new(name: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            source: source.into(),
            ..Self::default()
        }
    }

    /// Set the run id.
    #[must_use]
    pub fn run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = Some(run_id.into());
        self
    }

    /// Set the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Add a metric to the snapshot.
    #[must_use]
    pub fn metric(mut self, name: impl Into<String>, value: f64) -> Self {
        self.metrics.insert(name.into(), value);
        self
    }

    /// Add a tag.
    #[must_use]
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Set the artifact digest.
    #[must_use]
    pub fn digest(mut self, digest: Digest) -> Self {
        self.digest = Some(digest);
        self
    }
}

/// Who makes a change, why, and the policy guarding it: passed to every method that changes a
/// stage or an alias, recorded in the audit history.
#[derive(Clone, Copy, Default)]
#[non_exhaustive]
pub struct Change<'a> {
    /// Who makes the change (recorded as is).
    pub actor: &'a str,
    /// Why (recorded as is).
    pub comment: &'a str,
    /// A promotion gate, checked for stage transitions and alias moves (not for deletions).
    ///
    /// The embedded backends check it against the state they are about to change while holding
    /// their write lock, so the verdict and the change are atomic. A remote backend can only
    /// check it just before its request; it says so in its documentation.
    pub policy: Option<&'a dyn PromotionPolicy>,
}

impl<'a> Change<'a> {
    /// A change by `actor`.
    #[must_use]
    pub fn by(actor: &'a str) -> Self {
        Self {
            actor,
            ..Self::default()
        }
    }

    /// Set the comment.
    #[must_use]
    pub fn comment(mut self, comment: &'a str) -> Self {
        self.comment = comment;
        self
    }

    /// Guard the change with `policy`.
    #[must_use]
    pub fn gated(mut self, policy: &'a dyn PromotionPolicy) -> Self {
        self.policy = Some(policy);
        self
    }
}

impl fmt::Debug for Change<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Change")
            .field("actor", &self.actor)
            .field("comment", &self.comment)
            .field("policy", &self.policy.map(|_| "<policy>"))
            .finish()
    }
}

/// A search: a [`Filter`], an order, a page size and a page token, as MLflow's
/// `search_registered_models` and `search_model_versions`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Search {
    /// Clauses every result matches.
    pub filter: Filter,
    /// At most this many results per page (all when `None`).
    pub max_results: Option<usize>,
    /// MLflow-style order clauses, `<column> [ASC|DESC]` (ascending by default), most
    /// significant first, each column once. Models sort by `name` and `last_updated_timestamp`
    /// (alias `timestamp`); versions by `name`, `version_number`, `creation_timestamp` and
    /// `last_updated_timestamp`. Ties are broken by name, then (versions) version number
    /// descending; without clauses versions come most recently updated first, as in MLflow.
    /// A bad clause is [`RegistryError::InvalidArgument`] when the search runs.
    pub order_by: Vec<String>,
    /// The [`Page::next_page_token`] of the previous page (the first page when `None`). Tokens
    /// are opaque; pass the same filter and order with them.
    pub page_token: Option<String>,
}

impl Search {
    /// Everything.
    #[must_use]
    pub fn all() -> Self {
        Self::default()
    }

    /// Parse an MLflow-like filter string (see [`Filter`]).
    ///
    /// # Errors
    /// [`RegistryError::InvalidArgument`] with the column and the problem.
    pub fn filter(filter: &str) -> Result<Self> {
        Ok(Self {
            filter: filter.parse()?,
            ..Self::default()
        })
    }

    /// Limit the number of results per page.
    #[must_use]
    pub fn max_results(mut self, n: usize) -> Self {
        self.max_results = Some(n);
        self
    }

    /// Add an order clause (see [`Search::order_by`](Search#structfield.order_by)), e.g.
    /// `"version_number DESC"` or `"last_updated_timestamp"`.
    #[must_use]
    pub fn order_by(mut self, clause: impl Into<String>) -> Self {
        self.order_by.push(clause.into());
        self
    }

    /// Ask for the page after the one that returned `token`.
    #[must_use]
    pub fn page_token(mut self, token: impl Into<String>) -> Self {
        self.page_token = Some(token.into());
        self
    }
}

/// A model registry backend: MLflow's Model Registry operations, one method each.
///
/// Object-safe and synchronous: `Arc<dyn RegistryStore>` works. Registered models are listed
/// in name order; versions, without an `order_by`, most recently updated first (then name,
/// then version descending), as MLflow's stores list them.
pub trait RegistryStore: Send + Sync + fmt::Debug + 'static {
    /// Register a model.
    ///
    /// # Errors
    /// [`RegistryError::AlreadyExists`]; [`RegistryError::InvalidArgument`] for a bad name or tag.
    fn create_registered_model(&self, model: &NewModel) -> Result<RegisteredModel>;

    /// A registered model.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`].
    fn get_registered_model(&self, name: &str) -> Result<RegisteredModel>;

    /// Rename a model; its versions, aliases and history follow it.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`], [`RegistryError::AlreadyExists`] for a taken new name,
    /// [`RegistryError::InvalidArgument`] for an invalid one.
    fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
        change: &Change<'_>,
    ) -> Result<RegisteredModel>;

    /// Replace a model's description.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`].
    fn update_registered_model(&self, name: &str, description: &str) -> Result<RegisteredModel>;

    /// Delete a model with all its versions, aliases and history.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`].
    fn delete_registered_model(&self, name: &str) -> Result<()>;

    /// One page of the models matching `search` (keys `name`, `description`, `tags.<key>`),
    /// by name unless `search.order_by` says otherwise.
    ///
    /// # Errors
    /// [`RegistryError::InvalidArgument`] for a key models do not have, a bad `order_by`
    /// clause or a bad page token.
    fn search_registered_models(&self, search: &Search) -> Result<Page<RegisteredModel>>;

    /// Create the next version of a registered model.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] for an unknown model; [`RegistryError::InvalidArgument`] for
    /// a bad tag, a non-finite metric or an empty source.
    fn create_model_version(&self, version: &NewVersion) -> Result<ModelVersion>;

    /// A model version.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] for an unknown model or version.
    fn get_model_version(&self, name: &str, version: ModelVersionNumber) -> Result<ModelVersion>;

    /// Replace a version's description.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`].
    fn update_model_version(
        &self,
        name: &str,
        version: ModelVersionNumber,
        description: &str,
    ) -> Result<ModelVersion>;

    /// Delete a version and the aliases pointing at it. Its number is never reused.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`].
    fn delete_model_version(
        &self,
        name: &str,
        version: ModelVersionNumber,
        change: &Change<'_>,
    ) -> Result<()>;

    /// One page of the versions matching `search`, by (name, version descending) unless
    /// `search.order_by` says otherwise.
    ///
    /// # Errors
    /// [`RegistryError::InvalidArgument`] for a bad `order_by` clause or page token.
    fn search_model_versions(&self, search: &Search) -> Result<Page<ModelVersion>>;

    /// Move a version to `stage`. With `archive_existing_versions` (only allowed for Staging
    /// and Production, as in MLflow), the other versions in that stage move to Archived in the
    /// same atomic change. The change's policy, if any, is checked first.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`], [`RegistryError::InvalidArgument`] for archiving with
    /// another stage, [`RegistryError::PromotionDenied`].
    fn transition_stage(
        &self,
        name: &str,
        version: ModelVersionNumber,
        stage: Stage,
        archive_existing_versions: bool,
        change: &Change<'_>,
    ) -> Result<ModelVersion>;

    /// Point `alias` at `version` (moving it if it pointed elsewhere). The change's policy, if
    /// any, is checked first.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] for an unknown or deleted version,
    /// [`RegistryError::PromotionDenied`].
    fn set_alias(
        &self,
        name: &str,
        alias: &Alias,
        version: ModelVersionNumber,
        change: &Change<'_>,
    ) -> Result<()>;

    /// Remove an alias.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] for an unknown model or alias.
    fn delete_alias(&self, name: &str, alias: &Alias, change: &Change<'_>) -> Result<()>;

    /// Set a tag on a model.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`], [`RegistryError::InvalidArgument`] for a bad key or value.
    fn set_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()>;

    /// Remove a tag from a model.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] for an unknown model or tag.
    fn delete_model_tag(&self, name: &str, key: &str) -> Result<()>;

    /// Set a tag on a version.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`], [`RegistryError::InvalidArgument`] for a bad key or value.
    fn set_version_tag(
        &self,
        name: &str,
        version: ModelVersionNumber,
        key: &str,
        value: &str,
    ) -> Result<()>;

    /// Remove a tag from a version.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] for an unknown model, version or tag.
    fn delete_version_tag(&self, name: &str, version: ModelVersionNumber, key: &str) -> Result<()>;

    /// The audit history of a model, oldest first: version creations and deletions, stage and
    /// alias changes, renames.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`].
    fn audit_history(&self, name: &str) -> Result<Vec<AuditRecord>>;

    /// The version a URI points at: the serving hot path, kept cheap by every backend (parse
    /// the [`ModelUri`] once, resolve it on every request; the embedded backends do not
    /// allocate on success). A stage resolves to the highest version in it, `latest` to the
    /// highest version.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] for an unknown model, version or alias, or an empty stage.
    fn resolve(&self, uri: &ModelUri) -> Result<ModelVersionNumber>;
}

const _: fn(&dyn RegistryStore) = |_| {};

macro_rules! forward {
    ($($ty:ty),*) => {$(
        impl<T: RegistryStore + ?Sized> RegistryStore for $ty {
            fn create_registered_model(&self, model: &NewModel) -> Result<RegisteredModel> {
                (**self).create_registered_model(model)
            }
            fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
                (**self).get_registered_model(name)
            }
            fn rename_registered_model(&self, name: &str, new_name: &str, change: &Change<'_>) -> Result<RegisteredModel> {
                (**self).rename_registered_model(name, new_name, change)
            }
            fn update_registered_model(&self, name: &str, description: &str) -> Result<RegisteredModel> {
                (**self).update_registered_model(name, description)
            }
            fn delete_registered_model(&self, name: &str) -> Result<()> {
                (**self).delete_registered_model(name)
            }
            fn search_registered_models(&self, search: &Search) -> Result<Page<RegisteredModel>> {
                (**self).search_registered_models(search)
            }
            fn create_model_version(&self, version: &NewVersion) -> Result<ModelVersion> {
                (**self).create_model_version(version)
            }
            fn get_model_version(&self, name: &str, version: ModelVersionNumber) -> Result<ModelVersion> {
                (**self).get_model_version(name, version)
            }
            fn update_model_version(&self, name: &str, version: ModelVersionNumber, description: &str) -> Result<ModelVersion> {
                (**self).update_model_version(name, version, description)
            }
            fn delete_model_version(&self, name: &str, version: ModelVersionNumber, change: &Change<'_>) -> Result<()> {
                (**self).delete_model_version(name, version, change)
            }
            fn search_model_versions(&self, search: &Search) -> Result<Page<ModelVersion>> {
                (**self).search_model_versions(search)
            }
            fn transition_stage(&self, name: &str, version: ModelVersionNumber, stage: Stage, archive_existing_versions: bool, change: &Change<'_>) -> Result<ModelVersion> {
                (**self).transition_stage(name, version, stage, archive_existing_versions, change)
            }
            fn set_alias(&self, name: &str, alias: &Alias, version: ModelVersionNumber, change: &Change<'_>) -> Result<()> {
                (**self).set_alias(name, alias, version, change)
            }
            fn delete_alias(&self, name: &str, alias: &Alias, change: &Change<'_>) -> Result<()> {
                (**self).delete_alias(name, alias, change)
            }
            fn set_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()> {
                (**self).set_model_tag(name, key, value)
            }
            fn delete_model_tag(&self, name: &str, key: &str) -> Result<()> {
                (**self).delete_model_tag(name, key)
            }
            fn set_version_tag(&self, name: &str, version: ModelVersionNumber, key: &str, value: &str) -> Result<()> {
                (**self).set_version_tag(name, version, key, value)
            }
            fn delete_version_tag(&self, name: &str, version: ModelVersionNumber, key: &str) -> Result<()> {
                (**self).delete_version_tag(name, version, key)
            }
            fn audit_history(&self, name: &str) -> Result<Vec<AuditRecord>> {
                (**self).audit_history(name)
            }
            fn resolve(&self, uri: &ModelUri) -> Result<ModelVersionNumber> {
                (**self).resolve(uri)
            }
        }
    )*};
}

forward!(Arc<T>, Box<T>);

/// Conveniences over any [`RegistryStore`] (blanket-implemented).
pub trait RegistryStoreExt: RegistryStore {
    /// Create a version, registering the model first if it does not exist (MLflow's
    /// `mlflow.register_model`).
    ///
    /// # Errors
    /// As [`RegistryStore::create_model_version`].
    fn register_version(&self, version: &NewVersion) -> Result<ModelVersion> {
        match self.create_registered_model(&NewModel::new(version.name.clone())) {
            Ok(_) | Err(RegistryError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
        self.create_model_version(version)
    }

    /// Parse and resolve a `models:/` URI to its full version.
    ///
    /// # Errors
    /// The URI's parse error; as [`RegistryStore::resolve`] and
    /// [`RegistryStore::get_model_version`].
    fn resolve_uri(&self, uri: &str) -> Result<ModelVersion> {
        let uri: ModelUri = uri.parse()?;
        let v = self.resolve(&uri)?;
        self.get_model_version(uri.name(), v)
    }

    /// The version an alias points at (MLflow's `get_model_version_by_alias`).
    ///
    /// # Errors
    /// [`RegistryError::NotFound`].
    fn get_version_by_alias(&self, name: &str, alias: &Alias) -> Result<ModelVersion> {
        let v = self.resolve(&ModelUri::new(name, VersionTarget::Alias(alias.clone()))?)?;
        self.get_model_version(name, v)
    }

    /// The highest version in each of `stages` (every stage when empty), as MLflow's
    /// `get_latest_versions`.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] for an unknown model.
    fn latest_versions(&self, name: &str, stages: &[Stage]) -> Result<Vec<ModelVersion>> {
        let stages = if stages.is_empty() {
            &Stage::ALL[..]
        } else {
            stages
        };
        let mut out = Vec::new();
        for &stage in stages {
            match self.resolve(&ModelUri::new(name, VersionTarget::Stage(stage))?) {
                Ok(v) => out.push(self.get_model_version(name, v)?),
                Err(RegistryError::NotFound {
                    kind: EntityKind::ModelVersion,
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Every version of a model, oldest first.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] for an unknown model.
    fn versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        self.get_registered_model(name)?;
        let mut filter = Filter::all();
        filter.push_name_eq(name);
        Ok(self
            .search_model_versions(&Search {
                filter,
                order_by: vec!["version_number ASC".to_owned()],
                ..Search::default()
            })?
            .items)
    }

    /// The comparison table of a model's versions (see [`Comparison`]).
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] for an unknown model.
    fn compare_versions(&self, name: &str) -> Result<Comparison> {
        Ok(Comparison::new(name, &self.versions(name)?))
    }
}

impl<T: RegistryStore + ?Sized> RegistryStoreExt for T {}
