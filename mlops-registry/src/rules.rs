//! The registry's rules, applied to one model's state; shared by every embedded backend.
//!
//! Each mutating function validates everything first and changes nothing on error, then
//! applies the change and reports what it touched ([`Effects`]) so a file backend knows what to
//! write.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::error::{EntityKind, RegistryError, Result};
use crate::model::{
    Alias, AuditChange, AuditRecord, ModelVersion, ModelVersionNumber, RegisteredModel, Stage,
    VersionStatus, validate_metric, validate_model_name, validate_tag,
};
use crate::policy::{PromotionRequest, PromotionTarget};
use crate::store::{Change, NewModel, NewVersion};
use crate::uri::VersionTarget;

/// What a change touched.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Versions whose record changed (or was created).
    pub written: BTreeSet<ModelVersionNumber>,
    /// Versions deleted.
    pub removed: BTreeSet<ModelVersionNumber>,
    /// Audit records to append.
    pub audit: Vec<AuditRecord>,
}

/// One registered model with its versions.
#[derive(Debug, Clone)]
pub(crate) struct ModelData {
    pub model: RegisteredModel,
    /// Versions, with their `aliases` field kept empty (aliases live in the model).
    pub versions: BTreeMap<ModelVersionNumber, ModelVersion>,
    /// Versions per stage (indexed by `Stage as usize`), for cheap stage resolution.
    by_stage: [BTreeSet<ModelVersionNumber>; 4],
}

fn stage_index(s: Stage) -> usize {
    match s {
        Stage::None => 0,
        Stage::Staging => 1,
        Stage::Production => 2,
        Stage::Archived => 3,
    }
}

pub(crate) fn version_id(name: &str, v: ModelVersionNumber) -> String {
    format!("{name} v{v}")
}

fn validate_new_model(req: &NewModel) -> Result<()> {
    validate_model_name(&req.name)?;
    for (k, v) in &req.tags {
        validate_tag(k, v)?;
    }
    Ok(())
}

impl ModelData {
    pub fn new(req: &NewModel, now: DateTime<Utc>) -> Result<Self> {
        validate_new_model(req)?;
        Ok(Self::from_parts(
            RegisteredModel {
                name: req.name.clone(),
                description: req.description.clone(),
                tags: req.tags.clone(),
                created_at: now,
                updated_at: now,
                latest_version: 0,
                aliases: BTreeMap::new(),
            },
            BTreeMap::new(),
        ))
    }

    /// Assemble loaded parts. Aliases pointing at versions that do not exist (a delete that
    /// crashed between its two steps) are dropped: the version is gone, so are its aliases.
    pub fn from_parts(
        mut model: RegisteredModel,
        mut versions: BTreeMap<ModelVersionNumber, ModelVersion>,
    ) -> Self {
        model.aliases.retain(|_, v| versions.contains_key(v));
        let mut by_stage: [BTreeSet<ModelVersionNumber>; 4] = Default::default();
        for (n, v) in &mut versions {
            v.aliases.clear();
            by_stage[stage_index(v.stage)].insert(*n);
        }
        Self {
            model,
            versions,
            by_stage,
        }
    }

    pub fn name(&self) -> &str {
        &self.model.name
    }

    fn not_found(&self, v: ModelVersionNumber) -> RegistryError {
        RegistryError::not_found(EntityKind::ModelVersion, version_id(self.name(), v))
    }

    pub fn get(&self, v: ModelVersionNumber) -> Result<&ModelVersion> {
        self.versions.get(&v).ok_or_else(|| self.not_found(v))
    }

    /// A version with its aliases filled in.
    pub fn view(&self, v: &ModelVersion) -> ModelVersion {
        let mut out = v.clone();
        out.aliases = self
            .model
            .aliases
            .iter()
            .filter(|(_, n)| **n == v.version)
            .map(|(a, _)| a.clone())
            .collect();
        out
    }

    pub fn view_of(&self, v: ModelVersionNumber) -> Result<ModelVersion> {
        Ok(self.view(self.get(v)?))
    }

    /// The highest version in `stage` other than `except`.
    fn top_of_stage(&self, stage: Stage, except: ModelVersionNumber) -> Option<ModelVersionNumber> {
        self.by_stage[stage_index(stage)]
            .iter()
            .rev()
            .copied()
            .find(|n| *n != except)
    }

    /// The hot path: no allocation unless it fails.
    pub fn resolve(&self, target: &VersionTarget) -> Result<ModelVersionNumber> {
        match target {
            VersionTarget::Version(v) => self.get(*v).map(|_| *v),
            VersionTarget::Alias(a) => self.model.aliases.get(a).copied().ok_or_else(|| {
                RegistryError::not_found(EntityKind::Alias, format!("{}@{a}", self.name()))
            }),
            VersionTarget::Stage(s) => {
                self.by_stage[stage_index(*s)]
                    .last()
                    .copied()
                    .ok_or_else(|| {
                        RegistryError::not_found(
                            EntityKind::ModelVersion,
                            format!("{} in stage {s}", self.name()),
                        )
                    })
            }
            VersionTarget::Latest => self.versions.keys().next_back().copied().ok_or_else(|| {
                RegistryError::not_found(
                    EntityKind::ModelVersion,
                    format!("{} latest", self.name()),
                )
            }),
        }
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.model.updated_at = now;
    }

    pub fn create_version(
        &mut self,
        req: &NewVersion,
        now: DateTime<Utc>,
    ) -> Result<(ModelVersion, Effects)> {
        if req.source.trim().is_empty() {
            return Err(RegistryError::invalid(
                "source",
                format!("the source of a new version of {:?} is empty", self.name()),
            ));
        }
        for (k, v) in &req.tags {
            validate_tag(k, v)?;
        }
        for (k, v) in &req.metrics {
            validate_metric(k, *v)?;
        }
        let number = match self.model.latest_version {
            0 => ModelVersionNumber::FIRST,
            n => ModelVersionNumber::new(n)?.next()?,
        };
        let version = ModelVersion {
            name: self.model.name.clone(),
            version: number,
            source: req.source.clone(),
            run_id: req.run_id.clone(),
            stage: Stage::None,
            aliases: Vec::new(),
            description: req.description.clone(),
            metrics: req.metrics.clone(),
            tags: req.tags.clone(),
            status: VersionStatus::Ready,
            created_at: now,
            updated_at: now,
            digest: req.digest.clone(),
        };
        self.model.latest_version = number.get();
        self.versions.insert(number, version.clone());
        self.by_stage[stage_index(Stage::None)].insert(number);
        self.touch(now);
        let mut fx = Effects::default();
        fx.written.insert(number);
        fx.audit.push(AuditRecord {
            at: now,
            actor: String::new(),
            comment: String::new(),
            change: AuditChange::VersionCreated { version: number },
        });
        Ok((version, fx))
    }

    pub fn update_version(
        &mut self,
        v: ModelVersionNumber,
        description: &str,
        now: DateTime<Utc>,
    ) -> Result<(ModelVersion, Effects)> {
        let id = version_id(self.name(), v);
        let ver = self
            .versions
            .get_mut(&v)
            .ok_or_else(|| RegistryError::not_found(EntityKind::ModelVersion, id))?;
        ver.description = description.to_owned();
        ver.updated_at = now;
        self.touch(now);
        let mut fx = Effects::default();
        fx.written.insert(v);
        Ok((self.view_of(v)?, fx))
    }

    fn record(change: &Change<'_>, now: DateTime<Utc>, what: AuditChange) -> AuditRecord {
        AuditRecord {
            at: now,
            actor: change.actor.to_owned(),
            comment: change.comment.to_owned(),
            change: what,
        }
    }

    pub fn delete_version(
        &mut self,
        v: ModelVersionNumber,
        change: &Change<'_>,
        now: DateTime<Utc>,
    ) -> Result<Effects> {
        let stage = self.get(v)?.stage;
        let mut fx = Effects::default();
        let gone: Vec<Alias> = self
            .model
            .aliases
            .iter()
            .filter(|(_, n)| **n == v)
            .map(|(a, _)| a.clone())
            .collect();
        for alias in gone {
            self.model.aliases.remove(&alias);
            fx.audit.push(Self::record(
                change,
                now,
                AuditChange::AliasDeleted { alias, from: v },
            ));
        }
        fx.audit.push(Self::record(
            change,
            now,
            AuditChange::VersionDeleted { version: v },
        ));
        self.versions.remove(&v);
        self.by_stage[stage_index(stage)].remove(&v);
        self.touch(now);
        fx.removed.insert(v);
        Ok(fx)
    }

    fn check_policy(
        &self,
        candidate: ModelVersionNumber,
        target: PromotionTarget<'_>,
        incumbent: Option<ModelVersionNumber>,
        change: &Change<'_>,
    ) -> Result<()> {
        let Some(policy) = change.policy else {
            return Ok(());
        };
        let cand = self.view_of(candidate)?;
        let inc = match incumbent {
            Some(n) => Some(self.view_of(n)?),
            None => None,
        };
        let reasons = policy.check(&PromotionRequest {
            model: &self.model,
            candidate: &cand,
            target,
            incumbent: inc.as_ref(),
            actor: change.actor,
        });
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(RegistryError::PromotionDenied {
                model: self.model.name.clone(),
                version: candidate.get(),
                target: target.to_string(),
                reasons,
            })
        }
    }

    pub fn transition(
        &mut self,
        v: ModelVersionNumber,
        stage: Stage,
        archive_existing: bool,
        change: &Change<'_>,
        now: DateTime<Utc>,
    ) -> Result<(ModelVersion, Effects)> {
        let from = self.get(v)?.stage;
        if archive_existing && !matches!(stage, Stage::Staging | Stage::Production) {
            return Err(RegistryError::invalid(
                "stage transition",
                format!(
                    "cannot archive existing versions when moving {} to {stage}: only Staging and Production are active stages",
                    version_id(self.name(), v)
                ),
            ));
        }
        self.check_policy(
            v,
            PromotionTarget::Stage(stage),
            self.top_of_stage(stage, v),
            change,
        )?;
        let mut fx = Effects::default();
        if archive_existing {
            let others: Vec<ModelVersionNumber> = self.by_stage[stage_index(stage)]
                .iter()
                .copied()
                .filter(|n| *n != v)
                .collect();
            for n in others {
                self.set_stage(n, Stage::Archived, now);
                fx.written.insert(n);
                let comment = format!("archived: v{v} moved to {stage}");
                let comment = if change.comment.is_empty() {
                    comment
                } else {
                    format!("{comment}; {}", change.comment)
                };
                fx.audit.push(AuditRecord {
                    at: now,
                    actor: change.actor.to_owned(),
                    comment,
                    change: AuditChange::Stage {
                        version: n,
                        from: stage,
                        to: Stage::Archived,
                    },
                });
            }
        }
        self.set_stage(v, stage, now);
        fx.written.insert(v);
        fx.audit.push(Self::record(
            change,
            now,
            AuditChange::Stage {
                version: v,
                from,
                to: stage,
            },
        ));
        self.touch(now);
        Ok((self.view_of(v)?, fx))
    }

    fn set_stage(&mut self, v: ModelVersionNumber, stage: Stage, now: DateTime<Utc>) {
        if let Some(ver) = self.versions.get_mut(&v) {
            self.by_stage[stage_index(ver.stage)].remove(&v);
            ver.stage = stage;
            ver.updated_at = now;
            self.by_stage[stage_index(stage)].insert(v);
        }
    }

    pub fn set_alias(
        &mut self,
        alias: &Alias,
        v: ModelVersionNumber,
        change: &Change<'_>,
        now: DateTime<Utc>,
    ) -> Result<Effects> {
        self.get(v)?;
        let from = self.model.aliases.get(alias).copied();
        self.check_policy(
            v,
            PromotionTarget::Alias(alias),
            from.filter(|f| *f != v),
            change,
        )?;
        self.model.aliases.insert(alias.clone(), v);
        self.touch(now);
        let mut fx = Effects::default();
        fx.audit.push(Self::record(
            change,
            now,
            AuditChange::AliasSet {
                alias: alias.clone(),
                from,
                to: v,
            },
        ));
        Ok(fx)
    }

    pub fn delete_alias(
        &mut self,
        alias: &Alias,
        change: &Change<'_>,
        now: DateTime<Utc>,
    ) -> Result<Effects> {
        let from = self.model.aliases.remove(alias).ok_or_else(|| {
            RegistryError::not_found(EntityKind::Alias, format!("{}@{alias}", self.name()))
        })?;
        self.touch(now);
        let mut fx = Effects::default();
        fx.audit.push(Self::record(
            change,
            now,
            AuditChange::AliasDeleted {
                alias: alias.clone(),
                from,
            },
        ));
        Ok(fx)
    }

    pub fn update_model(&mut self, description: &str, now: DateTime<Utc>) -> Effects {
        self.model.description = description.to_owned();
        self.touch(now);
        Effects::default()
    }

    pub fn set_model_tag(&mut self, key: &str, value: &str, now: DateTime<Utc>) -> Result<Effects> {
        validate_tag(key, value)?;
        self.model.tags.insert(key.to_owned(), value.to_owned());
        self.touch(now);
        Ok(Effects::default())
    }

    pub fn delete_model_tag(&mut self, key: &str, now: DateTime<Utc>) -> Result<Effects> {
        if self.model.tags.remove(key).is_none() {
            return Err(RegistryError::not_found(
                EntityKind::Tag,
                format!("{} tag {key:?}", self.name()),
            ));
        }
        self.touch(now);
        Ok(Effects::default())
    }

    pub fn set_version_tag(
        &mut self,
        v: ModelVersionNumber,
        key: &str,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<Effects> {
        validate_tag(key, value)?;
        let id = version_id(self.name(), v);
        let ver = self
            .versions
            .get_mut(&v)
            .ok_or_else(|| RegistryError::not_found(EntityKind::ModelVersion, id))?;
        ver.tags.insert(key.to_owned(), value.to_owned());
        ver.updated_at = now;
        self.touch(now);
        let mut fx = Effects::default();
        fx.written.insert(v);
        Ok(fx)
    }

    pub fn delete_version_tag(
        &mut self,
        v: ModelVersionNumber,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Effects> {
        let id = version_id(self.name(), v);
        let ver = self
            .versions
            .get_mut(&v)
            .ok_or_else(|| RegistryError::not_found(EntityKind::ModelVersion, id.clone()))?;
        if ver.tags.remove(key).is_none() {
            return Err(RegistryError::not_found(
                EntityKind::Tag,
                format!("{id} tag {key:?}"),
            ));
        }
        ver.updated_at = now;
        self.touch(now);
        let mut fx = Effects::default();
        fx.written.insert(v);
        Ok(fx)
    }

    /// Rename in place (the caller checks the new name is free).
    pub fn rename(&mut self, new_name: &str, change: &Change<'_>, now: DateTime<Utc>) -> Effects {
        let from = std::mem::replace(&mut self.model.name, new_name.to_owned());
        for v in self.versions.values_mut() {
            v.name = new_name.to_owned();
        }
        self.touch(now);
        let mut fx = Effects::default();
        fx.written.extend(self.versions.keys().copied());
        fx.audit.push(Self::record(
            change,
            now,
            AuditChange::Renamed {
                from,
                to: new_name.to_owned(),
            },
        ));
        fx
    }

    /// All versions (aliases filled in), highest first.
    pub fn views_desc(&self) -> impl Iterator<Item = ModelVersion> + '_ {
        self.versions.values().rev().map(|v| self.view(v))
    }
}
