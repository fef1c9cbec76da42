//! [`InMemoryRegistry`]: the whole registry in process memory.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;

use crate::clock::{Clock, system_clock};
use crate::error::{EntityKind, RegistryError, Result};
use crate::model::{
    Alias, AuditRecord, ModelVersion, ModelVersionNumber, RegisteredModel, Stage,
    validate_model_name,
};
use crate::order::{Page, page_models, page_versions};
use crate::rules::{Effects, ModelData};
use crate::store::{Change, NewModel, NewVersion, RegistryStore, Search};
use crate::uri::ModelUri;

#[derive(Debug)]
struct Entry {
    data: ModelData,
    audit: Vec<AuditRecord>,
}

/// A registry held in memory: for tests, notebooks and short-lived jobs.
///
/// A cheap handle: clones share the same registry. Nothing is persisted.
#[derive(Clone)]
pub struct InMemoryRegistry {
    models: Arc<RwLock<BTreeMap<String, Entry>>>,
    clock: Arc<dyn Clock>,
}

impl Default for InMemoryRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for InMemoryRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryRegistry")
            .field("models", &self.models.read().len())
            .finish_non_exhaustive()
    }
}

impl InMemoryRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self {
            models: Arc::default(),
            clock: system_clock(),
        }
    }

    /// Use `clock` for every timestamp (tests pin time with it, e.g. with a
    /// [`ManualClock`](crate::clock::ManualClock)); the default is the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn with_model<T>(&self, name: &str, f: impl FnOnce(&ModelData) -> Result<T>) -> Result<T> {
        let models = self.models.read();
        let e = models
            .get(name)
            .ok_or_else(|| RegistryError::not_found(EntityKind::RegisteredModel, name))?;
        f(&e.data)
    }

    fn mutate<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut ModelData, DateTime<Utc>) -> Result<(T, Effects)>,
    ) -> Result<T> {
        let now = self.clock.now();
        let mut models = self.models.write();
        let e = models
            .get_mut(name)
            .ok_or_else(|| RegistryError::not_found(EntityKind::RegisteredModel, name))?;
        let (out, fx) = f(&mut e.data, now)?;
        e.audit.extend(fx.audit);
        Ok(out)
    }
}

impl RegistryStore for InMemoryRegistry {
    fn create_registered_model(&self, model: &NewModel) -> Result<RegisteredModel> {
        let data = ModelData::new(model, self.clock.now())?;
        let mut models = self.models.write();
        if models.contains_key(&model.name) {
            return Err(RegistryError::already_exists(
                EntityKind::RegisteredModel,
                model.name.clone(),
            ));
        }
        let out = data.model.clone();
        models.insert(
            model.name.clone(),
            Entry {
                data,
                audit: Vec::new(),
            },
        );
        Ok(out)
    }

    fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        self.with_model(name, |d| Ok(d.model.clone()))
    }

    fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
        change: &Change<'_>,
    ) -> Result<RegisteredModel> {
        validate_model_name(new_name)?;
        let now = self.clock.now();
        let mut models = self.models.write();
        if !models.contains_key(name) {
            return Err(RegistryError::not_found(EntityKind::RegisteredModel, name));
        }
        if models.contains_key(new_name) {
            return Err(RegistryError::already_exists(
                EntityKind::RegisteredModel,
                new_name.to_owned(),
            ));
        }
        let mut e = models
            .remove(name)
            .ok_or_else(|| RegistryError::not_found(EntityKind::RegisteredModel, name))?;
        let fx = e.data.rename(new_name, change, now);
        e.audit.extend(fx.audit);
        let out = e.data.model.clone();
        models.insert(new_name.to_owned(), e);
        Ok(out)
    }

    fn update_registered_model(&self, name: &str, description: &str) -> Result<RegisteredModel> {
        self.mutate(name, |d, now| {
            let fx = d.update_model(description, now);
            Ok((d.model.clone(), fx))
        })
    }

    fn delete_registered_model(&self, name: &str) -> Result<()> {
        self.models
            .write()
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| RegistryError::not_found(EntityKind::RegisteredModel, name))
    }

    fn search_registered_models(&self, search: &Search) -> Result<Page<RegisteredModel>> {
        search.filter.check_for_models()?;
        let models = self.models.read();
        page_models(
            models
                .values()
                .map(|e| &e.data.model)
                .filter(|m| search.filter.matches_model(m)),
            search,
        )
    }

    fn create_model_version(&self, version: &NewVersion) -> Result<ModelVersion> {
        self.mutate(&version.name, |d, now| d.create_version(version, now))
    }

    fn get_model_version(&self, name: &str, version: ModelVersionNumber) -> Result<ModelVersion> {
        self.with_model(name, |d| d.view_of(version))
    }

    fn update_model_version(
        &self,
        name: &str,
        version: ModelVersionNumber,
        description: &str,
    ) -> Result<ModelVersion> {
        self.mutate(name, |d, now| d.update_version(version, description, now))
    }

    fn delete_model_version(
        &self,
        name: &str,
        version: ModelVersionNumber,
        change: &Change<'_>,
    ) -> Result<()> {
        self.mutate(name, |d, now| {
            Ok(((), d.delete_version(version, change, now)?))
        })
    }

    fn search_model_versions(&self, search: &Search) -> Result<Page<ModelVersion>> {
        let models = self.models.read();
        let candidates: Box<dyn Iterator<Item = &Entry>> = match search.filter.exact_name() {
            Some(name) => Box::new(models.get(name).into_iter()),
            None => Box::new(models.values()),
        };
        page_versions(
            candidates
                .flat_map(|e| e.data.views_desc())
                .filter(|v| search.filter.matches_version(v)),
            search,
        )
    }

    fn transition_stage(
        &self,
        name: &str,
        version: ModelVersionNumber,
        stage: Stage,
        archive_existing_versions: bool,
        change: &Change<'_>,
    ) -> Result<ModelVersion> {
        self.mutate(name, |d, now| {
            d.transition(version, stage, archive_existing_versions, change, now)
        })
    }

    fn set_alias(
        &self,
        name: &str,
        alias: &Alias,
        version: ModelVersionNumber,
        change: &Change<'_>,
    ) -> Result<()> {
        self.mutate(name, |d, now| {
            Ok(((), d.set_alias(alias, version, change, now)?))
        })
    }

    fn delete_alias(&self, name: &str, alias: &Alias, change: &Change<'_>) -> Result<()> {
        self.mutate(name, |d, now| Ok(((), d.delete_alias(alias, change, now)?)))
    }

    fn set_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()> {
        self.mutate(name, |d, now| Ok(((), d.set_model_tag(key, value, now)?)))
    }

    fn delete_model_tag(&self, name: &str, key: &str) -> Result<()> {
        self.mutate(name, |d, now| Ok(((), d.delete_model_tag(key, now)?)))
    }

    fn set_version_tag(
        &self,
        name: &str,
        version: ModelVersionNumber,
        key: &str,
        value: &str,
    ) -> Result<()> {
        self.mutate(name, |d, now| {
            Ok(((), d.set_version_tag(version, key, value, now)?))
        })
    }

    fn delete_version_tag(&self, name: &str, version: ModelVersionNumber, key: &str) -> Result<()> {
        self.mutate(name, |d, now| {
            Ok(((), d.delete_version_tag(version, key, now)?))
        })
    }

    fn audit_history(&self, name: &str) -> Result<Vec<AuditRecord>> {
        let models = self.models.read();
        models
            .get(name)
            .map(|e| e.audit.clone())
            .ok_or_else(|| RegistryError::not_found(EntityKind::RegisteredModel, name))
    }

    fn resolve(&self, uri: &ModelUri) -> Result<ModelVersionNumber> {
        let models = self.models.read();
        match models.get(uri.name()) {
            Some(e) => e.data.resolve(uri.target()),
            None => Err(RegistryError::not_found(
                EntityKind::RegisteredModel,
                uri.name(),
            )),
        }
    }
}
