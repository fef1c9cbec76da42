//! What the `lineage` example answers: which data, features, code and run made a model version
//! (model version → run → datasets → feature groups), whether the workspace still holds that
//! data, whether every input can still be fetched by digest, and the reverse question: which
//! model versions were trained on a dataset digest.
//!
//! The links are ids and URIs, composed here (the crates never import each other): a registry
//! version names its run (`run_id`); the run's inputs name their data as `dvc://<path>@<sha256>`
//! and `features://<group>@v<n>`, each URI parsed by the crate that owns it. Whatever cannot be
//! found (a deleted run, a garbage-collected object, a store that does not exist) is reported
//! by name in [`Lineage::missing`], never skipped.

pub mod html;

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use mlops_dvc::{DatasetUri, Digest, Repository};
use mlops_features::{FeatureGroupUri, FeatureStore};
use mlops_registry::{FileRegistry, ModelVersion, RegistryStore, RegistryStoreExt as _, Search};
use mlops_tracking::inputs::DVC_DIGEST_LEN;
use mlops_tracking::{
    FileTrackingBackend, Run, RunId, SearchRuns, TrackingBackend, TrackingBackendExt as _,
    inputs::DatasetInput, model::LifecycleStage, model::ViewType, tags::TAG_SOURCE_GIT_COMMIT,
};
use serde::Serialize;

use crate::workflow::inputs::{SOURCE_DVC, SOURCE_FEATURES, TAG_CODE_VERSION, TAG_PIPELINE_RUN};

/// The stores of a main-job output folder (`--data DIR`), each present or not.
pub struct Stores {
    root: PathBuf,
    registry: Option<FileRegistry>,
    tracking: Option<FileTrackingBackend>,
    repo: Option<Repository>,
    features: Option<FeatureStore>,
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

type BoxError = Box<dyn std::error::Error>;

impl Stores {
    /// Open what exists under `root` (nothing is created: a missing store stays `None`).
    ///
    /// # Errors
    /// A store that exists but cannot be opened (damaged, locked).
    pub fn open(root: &Path) -> Result<Self, BoxError> {
        let dir = |name: &str| Some(root.join(name)).filter(|p| p.is_dir());
        let registry = dir("registry").map(FileRegistry::open).transpose()?;
        let tracking = dir("tracking").map(FileTrackingBackend::open).transpose()?;
        let repo = root
            .join("data")
            .join(mlops_dvc::META_DIR)
            .is_dir()
            .then(|| Repository::open(root.join("data")))
            .transpose()?;
        let features = Some(root.join("features/registry.json"))
            .filter(|p| p.is_file())
            .map(|p| {
                FeatureStore::builder()
                    .registry_file(p)
                    .evict_interval(None)
                    .build()
            })
            .transpose()?;
        Ok(Self {
            root: root.to_owned(),
            registry,
            tracking,
            repo,
            features,
        })
    }

    /// Whether any model version is registered.
    ///
    /// # Errors
    /// The registry's errors.
    pub fn has_models(&self) -> Result<bool, BoxError> {
        Ok(match &self.registry {
            None => false,
            Some(r) => !r
                .search_registered_models(&Search::all().max_results(1))?
                .items
                .is_empty(),
        })
    }

    /// The tracking store, for tests that change it (delete a run).
    #[must_use]
    pub fn tracking(&self) -> Option<&FileTrackingBackend> {
        self.tracking.as_ref()
    }
}

/// The chain behind one model version.
#[derive(Debug, Clone, Serialize)]
pub struct Lineage {
    /// The URI asked about.
    pub uri: String,
    /// The model version it resolves to.
    pub version: VersionNode,
    /// The run that made it (`None` when it cannot be read: see `missing`).
    pub run: Option<RunNode>,
    /// The run's input datasets versioned with `mlops-dvc`.
    pub datasets: Vec<DatasetNode>,
    /// The run's input feature groups.
    pub features: Vec<FeatureNode>,
    /// Other inputs (another source type), as logged.
    pub other_inputs: Vec<DatasetInput>,
    /// Everything that could not be found or checked, by name.
    pub missing: Vec<String>,
    /// The reproducibility check, when asked for (`--verify`).
    pub verify: Option<Verify>,
}

/// A registered model version.
#[derive(Debug, Clone, Serialize)]
pub struct VersionNode {
    /// `models:/<name>/<version>`.
    pub uri: String,
    /// Its stage.
    pub stage: String,
    /// Its aliases.
    pub aliases: Vec<String>,
    /// Its model source (`runs:/<run>/<path>`).
    pub source: String,
    /// The run it names, if any.
    pub run_id: Option<String>,
    /// The pipeline run that registered it, if tagged.
    pub pipeline_run: Option<String>,
}

/// A tracking run.
#[derive(Debug, Clone, Serialize)]
pub struct RunNode {
    /// The run id.
    pub run_id: String,
    /// Its name.
    pub name: String,
    /// `FINISHED`, ...
    pub status: String,
    /// `active` or `deleted`.
    pub lifecycle: String,
    /// Its params.
    pub params: BTreeMap<String, String>,
    /// The latest value of each metric.
    pub metrics: BTreeMap<String, f64>,
    /// The code version tag, if any.
    pub code_version: Option<String>,
    /// The git commit tag, if any.
    pub git_commit: Option<String>,
    /// The pipeline run that created it, if tagged.
    pub pipeline_run: Option<String>,
}

/// A dataset input versioned with `mlops-dvc`.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetNode {
    /// The input's name.
    pub name: String,
    /// Its context (`training`, ...).
    pub context: String,
    /// `dvc://<path>@<sha256>`.
    pub source: String,
    /// The full sha256.
    pub sha256: String,
    /// The repository version holding this digest, if the log has one.
    pub version: Option<u64>,
    /// Whether the working copy holds exactly this data (`None`: could not tell, see
    /// `missing`).
    pub workspace_matches: Option<bool>,
    /// What the working copy holds, in words.
    pub workspace: String,
}

/// A feature-group input.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureNode {
    /// `features://<group>@v<n>`.
    pub source: String,
    /// The definition digest logged.
    pub digest: String,
    /// The group's version in the feature store now, if it exists.
    pub current_version: Option<u32>,
    /// Whether the store's definition is the one logged.
    pub definition_matches: Option<bool>,
}

/// The result of `--verify`.
#[derive(Debug, Clone, Serialize)]
pub struct Verify {
    /// Inputs fetched by digest and found intact.
    pub ok: Vec<String>,
    /// Inputs missing or changed, each with the reason.
    pub problems: Vec<String>,
}

impl Verify {
    /// Whether every input checked out.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

fn tag(run: &Run, key: &str) -> Option<String> {
    run.data.tags.get(key).cloned()
}

fn run_node(run: &Run) -> RunNode {
    RunNode {
        run_id: run.info.run_id.to_string(),
        name: run.info.run_name.clone(),
        status: run.info.status.to_string(),
        lifecycle: run.info.lifecycle_stage.to_string(),
        params: run.data.params.clone(),
        metrics: run
            .data
            .metrics
            .iter()
            .map(|(k, m)| (k.clone(), m.value))
            .collect(),
        code_version: tag(run, TAG_CODE_VERSION),
        git_commit: tag(run, TAG_SOURCE_GIT_COMMIT),
        pipeline_run: tag(run, TAG_PIPELINE_RUN),
    }
}

fn version_node(v: &ModelVersion) -> VersionNode {
    VersionNode {
        uri: format!("models:/{}/{}", v.name, v.version),
        stage: v.stage.to_string(),
        aliases: v.aliases.iter().map(ToString::to_string).collect(),
        source: v.source.clone(),
        run_id: v.run_id.clone(),
        pipeline_run: v.tags.get(TAG_PIPELINE_RUN).cloned(),
    }
}

/// Answer "what made this model version?".
///
/// # Errors
/// No registry, or a URI that does not parse or resolve (the registry's message).
pub fn lineage(stores: &Stores, uri: &str, verify: bool) -> Result<Lineage, BoxError> {
    let registry = stores
        .registry
        .as_ref()
        .ok_or_else(|| format!("no model registry under {}", stores.root.display()))?;
    let v = registry.resolve_uri(uri)?;
    let mut out = Lineage {
        uri: uri.to_owned(),
        version: version_node(&v),
        run: None,
        datasets: Vec::new(),
        features: Vec::new(),
        other_inputs: Vec::new(),
        missing: Vec::new(),
        verify: verify.then(|| Verify {
            ok: Vec::new(),
            problems: Vec::new(),
        }),
    };
    let Some(run_id) = v.run_id.as_deref() else {
        out.missing
            .push(format!("{}: the version names no run", out.version.uri));
        return Ok(out);
    };
    let Some(tracking) = &stores.tracking else {
        out.missing.push(format!(
            "run {run_id}: no tracking store under {}",
            stores.root.display()
        ));
        return Ok(out);
    };
    let run = match run_id
        .parse::<RunId>()
        .map_err(BoxError::from)
        .and_then(|id| tracking.get_run(&id).map_err(BoxError::from))
    {
        Ok(run) => run,
        Err(e) => {
            out.missing.push(format!(
                "run {run_id}: {e} (its params, metrics and inputs are unknown)"
            ));
            return Ok(out);
        }
    };
    if run.info.lifecycle_stage == LifecycleStage::Deleted {
        out.missing.push(format!(
            "run {run_id} is deleted (still restorable: shown from the trash)"
        ));
    }
    if run.inputs.is_empty() {
        out.missing.push(format!(
            "run {run_id} logged no inputs: its data is unknown"
        ));
    }
    out.run = Some(run_node(&run));
    for input in &run.inputs {
        match input.dataset.source_type.as_str() {
            SOURCE_DVC => out.datasets.push(dataset_node(
                stores,
                input,
                &mut out.missing,
                out.verify.as_mut(),
            )),
            SOURCE_FEATURES => out.features.push(feature_node(
                stores,
                input,
                &mut out.missing,
                out.verify.as_mut(),
            )),
            _ => out.other_inputs.push(input.clone()),
        }
    }
    Ok(out)
}

fn dataset_node(
    stores: &Stores,
    input: &DatasetInput,
    missing: &mut Vec<String>,
    verify: Option<&mut Verify>,
) -> DatasetNode {
    let d = &input.dataset;
    let mut node = DatasetNode {
        name: d.name.clone(),
        context: input.context.to_string(),
        source: d.source.clone(),
        sha256: String::new(),
        version: None,
        workspace_matches: None,
        workspace: "unknown".to_owned(),
    };
    let uri: DatasetUri = match d.source.parse() {
        Ok(u) => u,
        Err(e) => {
            missing.push(format!("dataset {}: {e}", d.name));
            if let Some(v) = verify {
                v.problems.push(format!("dataset {}: {e}", d.name));
            }
            return node;
        }
    };
    let digest = uri.digest();
    node.sha256 = digest.to_hex();
    if !node.sha256.starts_with(&d.digest) || d.digest.len() != DVC_DIGEST_LEN {
        missing.push(format!(
            "dataset {}: logged digest {} is not the start of its source's sha256",
            d.name, d.digest
        ));
    }
    let Some(repo) = &stores.repo else {
        missing.push(format!(
            "dataset {}: no data repository under {}",
            d.name,
            stores.root.display()
        ));
        if let Some(v) = verify {
            v.problems
                .push(format!("dataset {} ({}): no data repository", d.name, uri));
        }
        return node;
    };
    let path = PathBuf::from(uri.path().to_string());
    match repo.log(&path) {
        Ok(log) => node.version = log.0.iter().find(|v| v.digest == digest).map(|v| v.version),
        Err(e) => missing.push(format!("dataset {}: {e}", d.name)),
    }
    match repo.status(&path) {
        Ok(status) => {
            let at = repo
                .log(&path)
                .ok()
                .and_then(|l| l.0.into_iter().find(|v| v.version == status.version));
            let same = at.as_ref().is_some_and(|v| v.digest == digest) && status.is_clean();
            node.workspace_matches = Some(same);
            node.workspace = if same {
                format!("matches (working copy is v{}, unchanged)", status.version)
            } else if status.is_clean() {
                format!(
                    "differs: the working copy is v{} ({}), not this digest",
                    status.version,
                    at.map_or_else(|| "?".to_owned(), |v| v.digest.to_hex()[..12].to_owned())
                )
            } else {
                format!(
                    "differs: the working copy has uncommitted changes against v{} ({} modified, {} added, {} deleted)",
                    status.version,
                    status.modified.len(),
                    status.added.len(),
                    status.deleted.len()
                )
            };
        }
        Err(e) => {
            missing.push(format!("dataset {}: workspace status: {e}", d.name));
        }
    }
    if let Some(v) = verify {
        match fetch(repo, &digest) {
            Ok(()) => v.ok.push(format!(
                "dataset {} ({uri}): fetched from the cache, digest matches",
                d.name
            )),
            Err(why) => v
                .problems
                .push(format!("dataset {} ({uri}): {why}", d.name)),
        }
    }
    node
}

/// Read an object back by digest (the store checks the content against it).
fn fetch(repo: &Repository, digest: &Digest) -> Result<(), String> {
    match repo.store().contains(digest) {
        Ok(true) => {}
        Ok(false) => {
            return Err(format!(
                "missing: object {digest} is not in the cache (garbage-collected?) and no remote \
                 is configured"
            ));
        }
        Err(e) => return Err(format!("cannot look up object {digest}: {e}")),
    }
    let mut sink = Vec::new();
    repo.store()
        .open(digest)
        .map_err(|e| format!("cannot open object {digest}: {e}"))?
        .read_to_end(&mut sink)
        .map_err(|e| format!("changed: object {digest} fails its digest check: {e}"))?;
    Ok(())
}

fn feature_node(
    stores: &Stores,
    input: &DatasetInput,
    missing: &mut Vec<String>,
    verify: Option<&mut Verify>,
) -> FeatureNode {
    let d = &input.dataset;
    let mut node = FeatureNode {
        source: d.source.clone(),
        digest: d.digest.clone(),
        current_version: None,
        definition_matches: None,
    };
    let problem = match d.source.parse::<FeatureGroupUri>() {
        Err(e) => Some(e.to_string()),
        Ok(uri) => match &stores.features {
            None => Some(format!("no feature store under {}", stores.root.display())),
            Some(store) => match store.group(uri.group()) {
                Err(e) => Some(e.to_string()),
                Ok(g) => {
                    node.current_version = Some(g.version);
                    let now = crate::workflow::inputs::group_input(&g)
                        .map(|i| i.dataset.digest)
                        .unwrap_or_default();
                    let same = g.version == uri.version() && now == d.digest;
                    node.definition_matches = Some(same);
                    (!same).then(|| {
                        format!(
                            "changed: the store holds v{} with definition digest {now}",
                            g.version
                        )
                    })
                }
            },
        },
    };
    match (problem, verify) {
        (Some(p), Some(v)) => {
            missing.push(format!("feature group {}: {p}", d.source));
            v.problems.push(format!("feature group {}: {p}", d.source));
        }
        (Some(p), None) => missing.push(format!("feature group {}: {p}", d.source)),
        (None, Some(v)) => v.ok.push(format!(
            "feature group {}: definition digest matches",
            d.source
        )),
        (None, None) => {}
    }
    node
}

/// Which runs and model versions used one dataset digest.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// The digest asked about (full sha256 or a prefix of at least 8 hex digits).
    pub digest: String,
    /// Each run that logged it as an input, with the versions registered from the run.
    pub runs: Vec<UsageRun>,
    /// What could not be searched.
    pub missing: Vec<String>,
}

/// One run that read a dataset.
#[derive(Debug, Clone, Serialize)]
pub struct UsageRun {
    /// The run id.
    pub run_id: String,
    /// Its name.
    pub name: String,
    /// `active` or `deleted`.
    pub lifecycle: String,
    /// The input as logged (name, context, source).
    pub input: String,
    /// `models:/<name>/<version>` of each version registered from the run, with aliases.
    pub versions: Vec<String>,
}

/// Answer "which model versions were trained on this dataset?".
///
/// # Errors
/// A digest that is not 8 to 64 lower-case hex digits; store errors.
pub fn usage(stores: &Stores, digest: &str) -> Result<Usage, BoxError> {
    if !(8..=64).contains(&digest.len())
        || !digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(format!(
            "--dataset {digest:?}: expected a sha256 or a prefix of it (8 to 64 lower-case hex digits)"
        )
        .into());
    }
    let mut out = Usage {
        digest: digest.to_owned(),
        runs: Vec::new(),
        missing: Vec::new(),
    };
    let Some(tracking) = &stores.tracking else {
        out.missing
            .push(format!("no tracking store under {}", stores.root.display()));
        return Ok(out);
    };
    let filter = if digest.len() >= DVC_DIGEST_LEN {
        format!("datasets.digest = '{}'", &digest[..DVC_DIGEST_LEN])
    } else {
        format!("datasets.digest LIKE '{digest}%'")
    };
    let experiments: Vec<_> = tracking
        .list_experiments(ViewType::All)?
        .into_iter()
        .map(|e| e.experiment_id)
        .collect();
    let runs = tracking.search_all_runs(
        &SearchRuns::new(experiments)
            .filter(filter)
            .order_by("attributes.start_time ASC")
            .view(ViewType::All),
    )?;
    for run in runs {
        let Some(input) = run.inputs.iter().find(|i| {
            i.dataset
                .digest
                .starts_with(&digest[..digest.len().min(DVC_DIGEST_LEN)])
                // Past the logged digest's length, check the source's full sha256.
                && (digest.len() <= DVC_DIGEST_LEN
                    || i.dataset
                        .source
                        .rsplit_once('@')
                        .is_some_and(|(_, sha)| sha.starts_with(digest)))
        }) else {
            continue;
        };
        let mut versions = Vec::new();
        match &stores.registry {
            None => out.missing.push("no model registry".to_owned()),
            Some(r) => {
                let search = Search::filter(&format!("run_id = '{}'", run.info.run_id))?;
                for v in r.search_model_versions(&search)?.items {
                    let aliases: Vec<String> = v.aliases.iter().map(|a| format!(" @{a}")).collect();
                    versions.push(format!(
                        "models:/{}/{}{}",
                        v.name,
                        v.version,
                        aliases.concat()
                    ));
                }
            }
        }
        out.runs.push(UsageRun {
            run_id: run.info.run_id.to_string(),
            name: run.info.run_name.clone(),
            lifecycle: run.info.lifecycle_stage.to_string(),
            input: format!(
                "{} ({}, {})",
                input.dataset.name, input.context, input.dataset.source
            ),
            versions,
        });
    }
    Ok(out)
}

impl fmt::Display for Lineage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.version;
        let aliases: String = v.aliases.iter().map(|a| format!(" @{a}")).collect();
        writeln!(f, "{} -> {}{aliases} (stage {})", self.uri, v.uri, v.stage)?;
        writeln!(f, "  model source: {}", v.source)?;
        if let Some(p) = &v.pipeline_run {
            writeln!(f, "  registered by pipeline run {p}")?;
        }
        match &self.run {
            None => writeln!(
                f,
                "  run: {} (not readable, see below)",
                v.run_id.as_deref().unwrap_or("none")
            )?,
            Some(r) => {
                writeln!(
                    f,
                    "  run {} ({}, {}, {})",
                    r.run_id, r.name, r.status, r.lifecycle
                )?;
                let or = |o: &Option<String>| o.clone().unwrap_or_else(|| "not recorded".into());
                writeln!(
                    f,
                    "    code version {}, git commit {}, pipeline run {}",
                    or(&r.code_version),
                    or(&r.git_commit),
                    or(&r.pipeline_run)
                )?;
                let params: Vec<String> =
                    r.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                writeln!(f, "    params: {}", params.join(", "))?;
                let metrics: Vec<String> = r
                    .metrics
                    .iter()
                    .map(|(k, v)| format!("{k}={v:.4}"))
                    .collect();
                writeln!(f, "    metrics: {}", metrics.join(", "))?;
            }
        }
        for d in &self.datasets {
            writeln!(f, "    dataset {} ({}): {}", d.name, d.context, d.source)?;
            let version = d
                .version
                .map_or_else(|| "no version in the log".to_owned(), |n| format!("v{n}"));
            writeln!(f, "      {version}; workspace {}", d.workspace)?;
        }
        for g in &self.features {
            let now = match (g.current_version, g.definition_matches) {
                (Some(n), Some(true)) => format!("store holds v{n}, same definition"),
                (Some(n), _) => format!("store holds v{n}, definition changed"),
                _ => "not in the feature store".to_owned(),
            };
            writeln!(
                f,
                "    feature group {} (definition {}): {now}",
                g.source, g.digest
            )?;
        }
        for i in &self.other_inputs {
            writeln!(
                f,
                "    input {} ({}): {}",
                i.dataset.name, i.context, i.dataset.source
            )?;
        }
        if let Some(v) = &self.verify {
            writeln!(
                f,
                "  verify: {}",
                if v.passed() {
                    "every input fetched by digest and intact"
                } else {
                    "FAILED"
                }
            )?;
            for ok in &v.ok {
                writeln!(f, "    ok      {ok}")?;
            }
            for p in &v.problems {
                writeln!(f, "    PROBLEM {p}")?;
            }
        }
        if !self.missing.is_empty() {
            writeln!(f, "  missing or unknown:")?;
            for m in &self.missing {
                writeln!(f, "    - {m}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.runs.is_empty() {
            writeln!(f, "no run logged a dataset with digest {}", self.digest)?;
        }
        for r in &self.runs {
            let mut line = String::new();
            let _ = write!(
                line,
                "run {} ({}, {}) read {}",
                r.run_id, r.name, r.lifecycle, r.input
            );
            writeln!(f, "{line}")?;
            if r.versions.is_empty() {
                writeln!(f, "  -> no model version registered from it")?;
            }
            for v in &r.versions {
                writeln!(f, "  -> {v}")?;
            }
        }
        for m in &self.missing {
            writeln!(f, "missing: {m}")?;
        }
        Ok(())
    }
}
