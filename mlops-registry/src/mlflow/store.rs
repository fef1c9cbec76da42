//! [`RegistryStore`] for [`MlflowRegistry`]: one or a few REST calls per operation.

use std::collections::BTreeMap;

use chrono::Utc;
use serde_json::json;

use super::audit::record;
use super::search::{Target, pushdown};
use super::wire::{
    self, DIGEST_TAG, METRIC_PREFIX, ModelJson, VersionJson, check_not_reserved, field,
    metric_value, tags_json,
};
use super::{
    MODEL_PAGE, MlflowRegistry, PageQuery, VERSION_PAGE, alias_map, fill_aliases, is_not_found,
    model_err, plain,
};
use crate::error::{EntityKind, RegistryError, Result};
use crate::model::{
    Alias, AuditChange, AuditRecord, ModelVersion, ModelVersionNumber, RegisteredModel, Stage,
    validate_metric, validate_model_name, validate_tag,
};
use crate::order::{Page, check_model_search, check_version_search, page_models, page_versions};
use crate::policy::PromotionTarget;
use crate::rules::version_id;
use crate::store::{Change, NewModel, NewVersion, RegistryStore, Search};
use crate::uri::{ModelUri, VersionTarget};
use mlops_mlflow::http::{HttpErrorKind, Method, Retry};

impl RegistryStore for MlflowRegistry {
    fn create_registered_model(&self, model: &NewModel) -> Result<RegisteredModel> {
        validate_model_name(&model.name)?;
        for (k, v) in &model.tags {
            validate_tag(k, v)?;
            check_not_reserved(k)?;
        }
        let endpoint = "registered-models/create";
        let body = json!({
            "name": self.full(&model.name),
            "description": model.description,
            "tags": tags_json(model.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        });
        let answer = self
            .send(Method::Post, endpoint, &body, Retry::Once)
            .map_err(|e| model_err(&model.name, e))?;
        self.model_from(
            endpoint,
            field(&self.http.url(endpoint), answer, "registered_model")?,
        )
    }

    fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let m = self.model_json(name)?;
        self.model_from("registered-models/get", m)
    }

    fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
        change: &Change<'_>,
    ) -> Result<RegisteredModel> {
        validate_model_name(new_name)?;
        let endpoint = "registered-models/rename";
        self.send(
            Method::Post,
            endpoint,
            &json!({"name": self.full(name), "new_name": self.full(new_name)}),
            Retry::Once,
        )
        .map_err(|e| match e.kind {
            HttpErrorKind::AlreadyExists => {
                RegistryError::already_exists(EntityKind::RegisteredModel, new_name.to_owned())
            }
            _ => model_err(name, e),
        })?;
        let model = self.model_json(new_name)?;
        self.append_audit(
            new_name,
            &model,
            vec![record(
                change,
                AuditChange::Renamed {
                    from: name.to_owned(),
                    to: new_name.to_owned(),
                },
            )],
        )?;
        self.get_registered_model(new_name)
    }

    fn update_registered_model(&self, name: &str, description: &str) -> Result<RegisteredModel> {
        self.send(
            Method::Patch,
            "registered-models/update",
            &json!({"name": self.full(name), "description": description}),
            Retry::Idempotent,
        )
        .map_err(|e| model_err(name, e))?;
        self.get_registered_model(name)
    }

    fn delete_registered_model(&self, name: &str) -> Result<()> {
        self.send(
            Method::Delete,
            "registered-models/delete",
            &json!({"name": self.full(name)}),
            Retry::Once,
        )
        .map_err(|e| model_err(name, e))?;
        Ok(())
    }

    fn search_registered_models(&self, search: &Search) -> Result<Page<RegisteredModel>> {
        search.filter.check_for_models()?;
        check_model_search(search)?;
        let endpoint = "registered-models/search";
        let url = self.http.url(endpoint);
        let push = pushdown(&search.filter, Target::Models, &self.prefix);
        let mut query = PageQuery {
            filter: push.filter,
            max_results: Some(MODEL_PAGE),
            order_by: vec!["name ASC".to_owned()],
            page_token: None,
        };
        let mut out = Vec::new();
        loop {
            let (page, next): (Vec<ModelJson>, _) = self.search_page(
                "registered-models/search",
                "registered_models",
                &query,
                &url,
            )?;
            for m in page {
                if !m.name.starts_with(self.prefix.as_str()) {
                    continue;
                }
                let m = self.model_from(endpoint, m)?;
                if search.filter.matches_model(&m) {
                    out.push(m);
                }
            }
            match next {
                Some(t) => query.page_token = Some(t),
                None => break,
            }
        }
        // Every match is fetched (the server's pages are followed), then ordered and paged
        // exactly as the embedded backends do, so tokens and orders agree across backends.
        out.sort_by(|a, b| a.name.cmp(&b.name));
        page_models(out.iter(), search)
    }

    fn create_model_version(&self, version: &NewVersion) -> Result<ModelVersion> {
        validate_model_name(&version.name)?;
        if version.source.trim().is_empty() {
            return Err(RegistryError::invalid(
                "source",
                format!("the source of a new version of {:?} is empty", version.name),
            ));
        }
        let mut tags: Vec<(String, String)> = Vec::new();
        for (k, v) in &version.tags {
            validate_tag(k, v)?;
            check_not_reserved(k)?;
            tags.push((k.clone(), v.clone()));
        }
        for (k, v) in &version.metrics {
            validate_metric(k, *v)?;
            let key = format!("{METRIC_PREFIX}{k}");
            let value = metric_value(*v);
            validate_tag(&key, &value)?;
            tags.push((key, value));
        }
        if let Some(d) = &version.digest {
            tags.push((DIGEST_TAG.to_owned(), d.to_string()));
        }
        let endpoint = "model-versions/create";
        let mut body = json!({
            "name": self.full(&version.name),
            "source": version.source,
            "description": version.description,
            "tags": tags_json(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        });
        if let Some(run) = &version.run_id {
            body["run_id"] = json!(run);
        }
        let answer = self
            .send(Method::Post, endpoint, &body, Retry::Once)
            .map_err(|e| model_err(&version.name, e))?;
        let created = self.version_from(
            endpoint,
            field(&self.http.url(endpoint), answer, "model_version")?,
        )?;
        let model = self.model_json(&version.name)?;
        self.append_audit(
            &version.name,
            &model,
            vec![record(
                &Change::default(),
                AuditChange::VersionCreated {
                    version: created.version,
                },
            )],
        )?;
        Ok(created)
    }

    fn get_model_version(&self, name: &str, version: ModelVersionNumber) -> Result<ModelVersion> {
        let v = self.version_json(name, version)?;
        self.version_from("model-versions/get", v)
    }

    fn update_model_version(
        &self,
        name: &str,
        version: ModelVersionNumber,
        description: &str,
    ) -> Result<ModelVersion> {
        self.send(
            Method::Patch,
            "model-versions/update",
            &json!({"name": self.full(name), "version": version.to_string(), "description": description}),
            Retry::Idempotent,
        )
        .map_err(|e| self.version_err(name, version, e))?;
        self.get_model_version(name, version)
    }

    fn delete_model_version(
        &self,
        name: &str,
        version: ModelVersionNumber,
        change: &Change<'_>,
    ) -> Result<()> {
        let model = self.model_json(name)?;
        self.send(
            Method::Delete,
            "model-versions/delete",
            &json!({"name": self.full(name), "version": version.to_string()}),
            Retry::Once,
        )
        .map_err(|e| self.version_err(name, version, e))?;
        let url = self.http.url("registered-models/get");
        let mut records = Vec::new();
        if let Some(aliases) = alias_map(&url, &model)?.remove(&version) {
            for alias in aliases {
                records.push(record(
                    change,
                    AuditChange::AliasDeleted {
                        alias,
                        from: version,
                    },
                ));
            }
        }
        records.push(record(change, AuditChange::VersionDeleted { version }));
        self.append_audit(name, &model, records)
    }

    fn search_model_versions(&self, search: &Search) -> Result<Page<ModelVersion>> {
        check_version_search(search)?;
        let endpoint = "model-versions/search";
        let url = self.http.url(endpoint);
        let push = pushdown(&search.filter, Target::Versions, &self.prefix);
        // Every match is fetched (the server's pages are followed), then ordered and paged
        // exactly as the embedded backends do, so tokens and orders agree across backends.
        let raw = self.versions_json(
            PageQuery {
                filter: push.filter,
                max_results: Some(VERSION_PAGE),
                order_by: vec!["name ASC".to_owned(), "version_number DESC".to_owned()],
                page_token: None,
            },
            usize::MAX,
        )?;
        // Aliases: MLflow's search answers omit them; one `registered-models/get` per model.
        // `None`: the model was deleted since the search, and its versions with it.
        type Aliases = Option<BTreeMap<ModelVersionNumber, Vec<Alias>>>;
        let mut aliases: BTreeMap<String, Aliases> = BTreeMap::new();
        let mut out = Vec::new();
        for v in raw {
            if !v.name.starts_with(self.prefix.as_str()) {
                continue;
            }
            let mut v = self.version_from(endpoint, v)?;
            if !aliases.contains_key(&v.name) {
                let map = match self.model_json(&v.name) {
                    Ok(m) => Some(alias_map(&url, &m)?),
                    Err(RegistryError::NotFound { .. }) => None,
                    Err(e) => return Err(e),
                };
                aliases.insert(v.name.clone(), map);
            }
            let Some(Some(map)) = aliases.get(&v.name) else {
                continue;
            };
            fill_aliases(&mut v, map);
            if search.filter.matches_version(&v) {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then(b.version.cmp(&a.version)));
        page_versions(out.into_iter(), search)
    }

    fn transition_stage(
        &self,
        name: &str,
        version: ModelVersionNumber,
        stage: Stage,
        archive_existing_versions: bool,
        change: &Change<'_>,
    ) -> Result<ModelVersion> {
        if archive_existing_versions && !matches!(stage, Stage::Staging | Stage::Production) {
            return Err(RegistryError::invalid(
                "stage transition",
                format!(
                    "cannot archive existing versions when moving {} to {stage}: only Staging and Production are active stages",
                    version_id(name, version)
                ),
            ));
        }
        let model = self.model_json(name)?;
        let versions = self.all_versions(name, &model)?;
        let candidate = versions
            .iter()
            .find(|v| v.version == version)
            .ok_or_else(|| {
                RegistryError::not_found(EntityKind::ModelVersion, version_id(name, version))
            })?;
        let others: Vec<&ModelVersion> = versions
            .iter()
            .filter(|v| v.stage == stage && v.version != version)
            .collect();
        // The highest other version in the stage (versions are highest first).
        self.check_policy(
            change,
            &model,
            candidate,
            PromotionTarget::Stage(stage),
            others.first().copied(),
        )?;
        let endpoint = "model-versions/transition-stage";
        let answer = self
            .send(
                Method::Post,
                endpoint,
                &json!({
                    "name": self.full(name),
                    "version": version.to_string(),
                    "stage": stage.as_str(),
                    "archive_existing_versions": archive_existing_versions,
                }),
                Retry::Idempotent,
            )
            .map_err(|e| self.version_err(name, version, e))?;
        let mut out = self.version_from(
            endpoint,
            field(&self.http.url(endpoint), answer, "model_version")?,
        )?;
        out.aliases.clone_from(&candidate.aliases);
        let mut records = Vec::new();
        if archive_existing_versions {
            for n in &others {
                let note = format!("archived: v{version} moved to {stage}");
                let comment = if change.comment.is_empty() {
                    note
                } else {
                    format!("{note}; {}", change.comment)
                };
                records.push(AuditRecord {
                    at: Utc::now(),
                    actor: change.actor.to_owned(),
                    comment,
                    change: AuditChange::Stage {
                        version: n.version,
                        from: stage,
                        to: Stage::Archived,
                    },
                });
            }
        }
        records.push(record(
            change,
            AuditChange::Stage {
                version,
                from: candidate.stage,
                to: stage,
            },
        ));
        self.append_audit(name, &model, records)?;
        Ok(out)
    }

    fn set_alias(
        &self,
        name: &str,
        alias: &Alias,
        version: ModelVersionNumber,
        change: &Change<'_>,
    ) -> Result<()> {
        let model = self.model_json(name)?;
        let url = self.http.url("registered-models/get");
        let from = model
            .aliases
            .iter()
            .find(|a| a.alias == alias.as_str())
            .map(|a| wire::version_number(&url, &a.version))
            .transpose()?;
        if change.policy.is_some() {
            let candidate = self.get_model_version(name, version)?;
            let incumbent = match from.filter(|f| *f != version) {
                Some(f) => Some(self.get_model_version(name, f)?),
                None => None,
            };
            self.check_policy(
                change,
                &model,
                &candidate,
                PromotionTarget::Alias(alias),
                incumbent.as_ref(),
            )?;
        }
        self.send(
            Method::Post,
            "registered-models/alias",
            &json!({"name": self.full(name), "alias": alias.as_str(), "version": version.to_string()}),
            Retry::Idempotent,
        )
        .map_err(|e| self.version_err(name, version, e))?;
        self.append_audit(
            name,
            &model,
            vec![record(
                change,
                AuditChange::AliasSet {
                    alias: alias.clone(),
                    from,
                    to: version,
                },
            )],
        )
    }

    fn delete_alias(&self, name: &str, alias: &Alias, change: &Change<'_>) -> Result<()> {
        let model = self.model_json(name)?;
        let url = self.http.url("registered-models/get");
        let from = model
            .aliases
            .iter()
            .find(|a| a.alias == alias.as_str())
            .map(|a| wire::version_number(&url, &a.version))
            .transpose()?
            .ok_or_else(|| {
                RegistryError::not_found(EntityKind::Alias, format!("{name}@{alias}"))
            })?;
        self.send(
            Method::Delete,
            "registered-models/alias",
            &json!({"name": self.full(name), "alias": alias.as_str()}),
            Retry::Idempotent,
        )
        .map_err(|e| model_err(name, e))?;
        self.append_audit(
            name,
            &model,
            vec![record(
                change,
                AuditChange::AliasDeleted {
                    alias: alias.clone(),
                    from,
                },
            )],
        )
    }

    fn set_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()> {
        validate_tag(key, value)?;
        check_not_reserved(key)?;
        self.send(
            Method::Post,
            "registered-models/set-tag",
            &json!({"name": self.full(name), "key": key, "value": value}),
            Retry::Idempotent,
        )
        .map_err(|e| model_err(name, e))?;
        Ok(())
    }

    fn delete_model_tag(&self, name: &str, key: &str) -> Result<()> {
        check_not_reserved(key)?;
        // MLflow deletes a missing tag silently; the trait says not found.
        let model = self.model_json(name)?;
        if !model.tags.iter().any(|t| t.key == key) {
            return Err(RegistryError::not_found(
                EntityKind::Tag,
                format!("{name} tag {key:?}"),
            ));
        }
        self.send(
            Method::Delete,
            "registered-models/delete-tag",
            &json!({"name": self.full(name), "key": key}),
            Retry::Idempotent,
        )
        .map_err(|e| model_err(name, e))?;
        Ok(())
    }

    fn set_version_tag(
        &self,
        name: &str,
        version: ModelVersionNumber,
        key: &str,
        value: &str,
    ) -> Result<()> {
        validate_tag(key, value)?;
        check_not_reserved(key)?;
        self.send(
            Method::Post,
            "model-versions/set-tag",
            &json!({"name": self.full(name), "version": version.to_string(), "key": key, "value": value}),
            Retry::Idempotent,
        )
        .map_err(|e| self.version_err(name, version, e))?;
        Ok(())
    }

    fn delete_version_tag(&self, name: &str, version: ModelVersionNumber, key: &str) -> Result<()> {
        check_not_reserved(key)?;
        let v = self.version_json(name, version)?;
        if !v.tags.iter().any(|t| t.key == key) {
            return Err(RegistryError::not_found(
                EntityKind::Tag,
                format!("{} tag {key:?}", version_id(name, version)),
            ));
        }
        self.send(
            Method::Delete,
            "model-versions/delete-tag",
            &json!({"name": self.full(name), "version": version.to_string(), "key": key}),
            Retry::Idempotent,
        )
        .map_err(|e| self.version_err(name, version, e))?;
        Ok(())
    }

    fn audit_history(&self, name: &str) -> Result<Vec<AuditRecord>> {
        self.read_audit(name)
    }

    fn resolve(&self, uri: &ModelUri) -> Result<ModelVersionNumber> {
        let name = uri.name();
        match uri.target() {
            VersionTarget::Version(v) => self.version_json(name, *v).map(|_| *v),
            VersionTarget::Alias(a) => {
                let endpoint = "registered-models/alias";
                match self.get(
                    endpoint,
                    &[("name", self.full(name)), ("alias", a.to_string())],
                ) {
                    Ok(answer) => {
                        let url = self.http.url(endpoint);
                        let v: VersionJson = field(&url, answer, "model_version")?;
                        wire::version_number(&url, &v.version)
                    }
                    // MLflow answers a missing alias with INVALID_PARAMETER_VALUE: find out
                    // which is missing (error path only).
                    Err(e) if is_not_found(&e) || e.kind == HttpErrorKind::InvalidArgument => {
                        let model = self.model_json(name)?;
                        if model.aliases.iter().any(|x| x.alias == a.as_str()) {
                            Err(plain(e))
                        } else {
                            Err(RegistryError::not_found(
                                EntityKind::Alias,
                                format!("{name}@{a}"),
                            ))
                        }
                    }
                    Err(e) => Err(plain(e)),
                }
            }
            VersionTarget::Stage(stage) => {
                let model = self.model_json(name)?;
                let url = self.http.url("registered-models/get");
                let mut best = None;
                for v in &model.latest_versions {
                    if v.current_stage
                        .as_deref()
                        .unwrap_or("None")
                        .eq_ignore_ascii_case(stage.as_str())
                    {
                        best = best.max(Some(wire::version_number(&url, &v.version)?));
                    }
                }
                best.ok_or_else(|| {
                    RegistryError::not_found(
                        EntityKind::ModelVersion,
                        format!("{name} in stage {stage}"),
                    )
                })
            }
            VersionTarget::Latest => {
                let model = self.model_json(name)?;
                let url = self.http.url("registered-models/get");
                let mut best = None;
                for v in &model.latest_versions {
                    best = best.max(Some(wire::version_number(&url, &v.version)?));
                }
                best.ok_or_else(|| {
                    RegistryError::not_found(EntityKind::ModelVersion, format!("{name} latest"))
                })
            }
        }
    }
}
