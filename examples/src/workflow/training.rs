//! Steps 4 and 5: training runs in the tracking store, the production model, evaluation.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Read as _;

use mlops_pipeline::{StepCtx, StepError};
use mlops_registry::{Change, NewVersion, RegistryError, RegistryStoreExt as _, Stage};
use mlops_testing::{
    CheckResult, Direction, DriftReport, Suite, Threshold, latency::measure_latency,
    metrics::Average, metrics::accuracy, metrics::log_loss, metrics::precision_recall_f1,
    metrics::roc_auc, regression::MetricSpec, regression::Tolerance,
    regression::compare_to_baseline, stats::QuantileMethod, threshold_check,
};
use mlops_tracking::html::RunComparisonReport;
use mlops_tracking::{
    CreateRun, Direction as TrackingDirection, RunId, RunStatus, TrackingBackendExt as _,
    inputs::DatasetInput, tags::TAG_SOURCE_GIT_COMMIT, tags::TAG_SOURCE_NAME,
};
use serde::{Deserialize, Serialize};

use super::Env;
use super::data::{DataOut, customers, read_version};
use super::features::TrainingSet;
use super::inputs::{TAG_CODE_VERSION, TAG_PIPELINE_RUN};
use crate::churn::{Customer, FEATURE_NAMES, features};
use crate::logreg::{LogisticModel, TrainConfig};

/// The experiment the runs go to.
pub(crate) const EXPERIMENT: &str = "churn-prediction";
/// The registered model.
pub(crate) const MODEL: &str = "churn-classifier";
/// The champion's URI, what serving loads.
pub(crate) const CHAMPION_URI: &str = "models:/churn-classifier@champion";
/// Where a run keeps its model file.
pub(crate) const MODEL_ARTIFACT: &str = "model/model.json";

/// Thresholds of the evaluation (and of the promotion gate).
pub(crate) const MIN_ACCURACY: f64 = 0.70;
pub(crate) const MIN_AUC: f64 = 0.75;
pub(crate) const MAX_LOG_LOSS: f64 = 0.55;
pub(crate) const MAX_P95_MS: f64 = 1.0;

/// One hyper-parameter configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) name: &'static str,
    pub(crate) train: TrainConfig,
}

/// The configurations tried, one tracking run each.
pub(crate) const CONFIGS: [Config; 3] = [
    Config {
        name: "gd-lr0.01-e10",
        train: TrainConfig {
            learning_rate: 0.01,
            epochs: 10,
            l2: 0.0,
        },
    },
    Config {
        name: "gd-lr0.3-e100",
        train: TrainConfig {
            learning_rate: 0.3,
            epochs: 100,
            l2: 0.001,
        },
    },
    Config {
        name: "gd-lr1.0-e300",
        train: TrainConfig {
            learning_rate: 1.0,
            epochs: 300,
            l2: 0.0001,
        },
    },
];

/// The legacy model serving before this workflow's first run.
const LEGACY: TrainConfig = TrainConfig {
    learning_rate: 0.05,
    epochs: 15,
    l2: 0.0,
};

/// Held-out (or validation) metrics of a model.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct ModelMetrics {
    pub(crate) accuracy: f64,
    pub(crate) precision: f64,
    pub(crate) recall: f64,
    pub(crate) f1: f64,
    pub(crate) auc: f64,
    pub(crate) log_loss: f64,
}

impl ModelMetrics {
    fn of(model: &LogisticModel, rows: &[Customer]) -> Result<Self, StepError> {
        let y: Vec<bool> = rows.iter().map(|c| c.churned).collect();
        let p: Vec<f64> = rows
            .iter()
            .map(|c| model.predict_proba(&features(c)))
            .collect();
        let pred: Vec<bool> = p.iter().map(|&x| x >= 0.5).collect();
        let prf = precision_recall_f1(&y, &pred, &Average::Binary(true))?;
        Ok(Self {
            accuracy: accuracy(&y, &pred)?,
            precision: prf.precision,
            recall: prf.recall,
            f1: prf.f1,
            auc: roc_auc(&y, &p)?,
            log_loss: log_loss(&y, &p)?,
        })
    }

    /// As `test_*` metrics for the registry and the regression check.
    pub(crate) fn map(&self, prefix: &str) -> BTreeMap<String, f64> {
        [
            ("accuracy", self.accuracy),
            ("precision", self.precision),
            ("recall", self.recall),
            ("f1", self.f1),
            ("auc", self.auc),
            ("log_loss", self.log_loss),
        ]
        .into_iter()
        .map(|(k, v)| (format!("{prefix}{k}"), v))
        .collect()
    }
}

/// One training run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunOut {
    pub(crate) run_id: String,
    pub(crate) name: String,
    pub(crate) epochs: usize,
    pub(crate) valid: ModelMetrics,
    pub(crate) source: String,
    pub(crate) sha256: String,
}

/// The train step's output: every run and the best and worst by validation AUC.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TrainOut {
    pub(crate) runs: Vec<RunOut>,
    pub(crate) best: usize,
    pub(crate) worst: usize,
}

fn xy(rows: &[Customer]) -> (Vec<Vec<f64>>, Vec<bool>) {
    (
        rows.iter().map(|c| features(c).to_vec()).collect(),
        rows.iter().map(|c| c.churned).collect(),
    )
}

/// Train one configuration as one tracking run: params, per-epoch loss and accuracy,
/// validation metrics, the model file as an artifact.
fn tracked_training(
    env: &Env,
    name: &str,
    cfg: TrainConfig,
    dataset: &str,
    inputs: &[DatasetInput],
    train: &[Customer],
    valid: Option<&[Customer]>,
) -> Result<(RunOut, LogisticModel), StepError> {
    let (x, y) = xy(train);
    let mut create = CreateRun::new()
        .run_name(name)
        .tag("dataset", dataset)
        .tag(TAG_SOURCE_NAME, "end_to_end")
        .tag(TAG_PIPELINE_RUN, &env.pipeline_run)
        .tag(TAG_CODE_VERSION, env!("CARGO_PKG_VERSION"));
    if let Some(commit) = &env.git_commit {
        create = create.tag(TAG_SOURCE_GIT_COMMIT, commit);
    }
    let mut run = env.tracker.start_run(EXPERIMENT, create)?;
    env.tracking().log_inputs(&run.run_id(), inputs)?;
    run.log_params([
        ("learning_rate", cfg.learning_rate.to_string()),
        ("epochs", cfg.epochs.to_string()),
        ("l2", cfg.l2.to_string()),
        ("train_rows", train.len().to_string()),
        ("n_features", FEATURE_NAMES.len().to_string()),
    ])?;
    let mut failed = None;
    let model = LogisticModel::train(&FEATURE_NAMES, &x, &y, cfg, |s| {
        let step = i64::try_from(s.epoch).unwrap_or(i64::MAX);
        let logged = run.log_metrics(
            [
                ("train_loss", s.train_loss),
                ("train_accuracy", s.train_accuracy),
            ],
            step,
        );
        if let Err(e) = logged {
            failed.get_or_insert(e);
        }
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    let valid_metrics = match valid {
        Some(rows) => {
            let m = ModelMetrics::of(&model, rows)?;
            let step = i64::try_from(cfg.epochs).unwrap_or(i64::MAX);
            run.log_metrics(
                [
                    ("val_accuracy", m.accuracy),
                    ("val_auc", m.auc),
                    ("val_f1", m.f1),
                    ("val_loss", m.log_loss),
                ],
                step,
            )?;
            m
        }
        None => ModelMetrics::of(&model, train)?,
    };
    let bytes = serde_json::to_vec_pretty(&model)?;
    let artifact = run.log_artifact_bytes(MODEL_ARTIFACT, &bytes)?;
    let id = run.run_id();
    run.end(RunStatus::Finished)?;
    // What the store holds, not what was sent: one train_loss value per epoch.
    let logged = env.tracking().metric_history(&id, "train_loss")?.len();
    if logged != cfg.epochs {
        return Err(StepError::msg(format!(
            "run {id}: {logged} train_loss values stored for {} epochs",
            cfg.epochs
        )));
    }
    let run_id = id.to_string();
    Ok((
        RunOut {
            source: format!("runs:/{run_id}/{MODEL_ARTIFACT}"),
            run_id,
            name: name.to_owned(),
            epochs: cfg.epochs,
            valid: valid_metrics,
            sha256: artifact.sha256,
        },
        model,
    ))
}

/// Step 4: the configurations as separate runs; the comparison table and the best run.
pub(crate) fn train_step(env: &Env, ctx: &StepCtx<'_>) -> Result<TrainOut, StepError> {
    let say = |t: String| env.console.say("train", t);
    let set: &TrainingSet = ctx.input("features")?;
    let mut runs = Vec::new();
    for c in CONFIGS {
        let (r, _) = tracked_training(
            env,
            c.name,
            c.train,
            &set.dataset,
            &set.inputs,
            &set.train,
            Some(&set.valid),
        )?;
        say(format!(
            "run {} ({}) logged: 5 params, train_loss/train_accuracy for each of {} epochs (read back from the store), val_auc={:.4}, artifact {} (sha256 {}...)",
            r.name,
            r.run_id,
            r.epochs,
            r.valid.auc,
            MODEL_ARTIFACT,
            &r.sha256[..12]
        ));
        runs.push(r);
    }
    let ids: Vec<RunId> = runs
        .iter()
        .map(|r| r.run_id.parse())
        .collect::<Result<_, _>>()?;
    let comparison = env.tracker.compare_runs(&ids)?;
    say(format!("experiment {EXPERIMENT}:\n{comparison}"));
    // Best: highest validation AUC, then lowest validation loss.
    let rank = |r: &RunOut| (r.valid.auc, -r.valid.log_loss);
    let order = |a: &&RunOut, b: &&RunOut| {
        rank(a)
            .partial_cmp(&rank(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    let best_run = runs
        .iter()
        .max_by(order)
        .ok_or_else(|| StepError::msg("no runs"))?;
    let worst_run = runs
        .iter()
        .min_by(order)
        .ok_or_else(|| StepError::msg("no runs"))?;
    let best = runs
        .iter()
        .position(|r| r.run_id == best_run.run_id)
        .unwrap_or(0);
    let worst = runs
        .iter()
        .position(|r| r.run_id == worst_run.run_id)
        .unwrap_or(0);
    say(format!(
        "best run: {} ({}) val_auc={:.4} val_loss={:.4}",
        runs[best].name, runs[best].run_id, runs[best].valid.auc, runs[best].valid.log_loss
    ));
    Ok(TrainOut { runs, best, worst })
}

/// The training runs side by side as an HTML page: loss and accuracy over the epochs, the
/// validation metrics, the params that differ, and the best run by validation AUC (the train
/// step's choice).
pub(crate) fn write_comparison_html(
    env: &Env,
    train: &TrainOut,
    path: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let ids: Vec<RunId> = train
        .runs
        .iter()
        .map(|r| r.run_id.parse())
        .collect::<Result<_, _>>()?;
    let report = RunComparisonReport::build(
        env.tracking().as_ref(),
        &ids,
        Some(("val_auc", TrackingDirection::Maximize)),
    )?;
    report.write_html(path, &format!("Training runs: experiment {EXPERIMENT}"))?;
    Ok(())
}

/// Load a model file from the tracking store by its `runs:/<run id>/<path>` source, checking
/// its SHA-256 when one is given.
pub(crate) fn load_model(
    env: &Env,
    source: &str,
    sha256: Option<&str>,
) -> Result<LogisticModel, StepError> {
    let rest = source
        .strip_prefix("runs:/")
        .ok_or_else(|| StepError::msg(format!("unsupported model source {source}")))?;
    let (run, path) = rest
        .split_once('/')
        .ok_or_else(|| StepError::msg(format!("model source {source} has no path")))?;
    let run_id: RunId = run.parse()?;
    let mut bytes = Vec::new();
    env.tracking()
        .open_artifact(&run_id, path)?
        .read_to_end(&mut bytes)?;
    let actual = mlops_registry::Digest::of_bytes(&bytes);
    if let Some(expected) = sha256
        && actual.as_str() != expected
    {
        return Err(StepError::msg(format!(
            "{source}: sha256 {actual} differs from the registered {expected}"
        )));
    }
    Ok(serde_json::from_slice(&bytes)?)
}

/// The model serving now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ProductionOut {
    pub(crate) version: u64,
    pub(crate) source: String,
    pub(crate) sha256: Option<String>,
}

/// The current production model (`@champion`); on an empty registry, the legacy model (trained
/// on v1 of the data) is registered and promoted first, as the model that was serving before.
pub(crate) fn production_step(env: &Env, ctx: &StepCtx<'_>) -> Result<ProductionOut, StepError> {
    let say = |t: String| env.console.say("production", t);
    match env.registry.resolve_uri(CHAMPION_URI) {
        Ok(v) => {
            say(format!(
                "{CHAMPION_URI} is v{} (stage {}, run {})",
                v.version,
                v.stage,
                v.run_id.as_deref().unwrap_or("-")
            ));
            return Ok(ProductionOut {
                version: v.version.get(),
                source: v.source,
                sha256: v.digest.map(|d| d.to_string()),
            });
        }
        Err(RegistryError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let data: &DataOut = ctx.input("data")?;
    let rows = customers(&read_version(env, &data.v1)?)?;
    let dataset = format!("{}@v{}", data.v1.dataset, data.v1.version);
    let inputs = [super::inputs::dataset_input(
        &data.v1,
        mlops_tracking::inputs::InputContext::Training,
    )?];
    let (run, _) = tracked_training(
        env,
        "legacy-baseline",
        LEGACY,
        &dataset,
        &inputs,
        &rows,
        None,
    )?;
    let digest: mlops_registry::Digest = run.sha256.parse()?;
    let v = env.registry.register_version(
        &NewVersion::new(MODEL, &run.source)
            .run_id(&run.run_id)
            .digest(digest.clone())
            .description(format!("legacy model trained on {dataset}"))
            .tag("origin", "legacy")
            .tag(TAG_PIPELINE_RUN, &env.pipeline_run),
    )?;
    let change =
        Change::by("end_to_end").comment("bootstrap: the model serving before this workflow");
    env.registry
        .transition_stage(MODEL, v.version, Stage::Production, true, &change)?;
    env.registry
        .set_alias(MODEL, &"champion".parse()?, v.version, &change)?;
    say(format!(
        "registry had no production model: legacy model (run {}, trained on {dataset}) registered as {MODEL} v{} -> Production, @champion",
        run.run_id, v.version
    ));
    Ok(ProductionOut {
        version: v.version.get(),
        source: run.source,
        sha256: Some(digest.to_string()),
    })
}

/// The evaluation's results, which feed the promotion gate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EvalOut {
    pub(crate) candidate: ModelMetrics,
    pub(crate) candidate_passed: bool,
    pub(crate) worst: ModelMetrics,
    pub(crate) worst_passed: bool,
    pub(crate) production_version: u64,
    pub(crate) latency_p95_ms: f64,
    pub(crate) checks: usize,
    pub(crate) failed: usize,
}

fn threshold_checks(prefix: &str, m: &ModelMetrics) -> Vec<CheckResult> {
    vec![
        threshold_check(
            format!("{prefix}accuracy"),
            "model",
            "accuracy",
            m.accuracy,
            Threshold::at_least(MIN_ACCURACY),
        ),
        threshold_check(
            format!("{prefix}roc_auc"),
            "model",
            "roc_auc",
            m.auc,
            Threshold::at_least(MIN_AUC),
        ),
        threshold_check(
            format!("{prefix}log_loss"),
            "model",
            "log_loss",
            m.log_loss,
            Threshold::at_most(MAX_LOG_LOSS),
        ),
    ]
}

/// Step 5: held-out metrics and thresholds, regression against production, latency, drift.
pub(crate) fn evaluate_step(env: &Env, ctx: &StepCtx<'_>) -> Result<EvalOut, StepError> {
    let say = |t: String| env.console.say("evaluate", t);
    let set: &TrainingSet = ctx.input("features")?;
    let train: &TrainOut = ctx.input("train")?;
    let drift: &DriftReport = &ctx.input::<super::data::DriftOut>("drift")?.report;
    let production: &ProductionOut = ctx.input("production")?;
    let best = &train.runs[train.best];
    let worst = &train.runs[train.worst];
    let model = load_model(env, &best.source, Some(&best.sha256))?;
    let candidate = ModelMetrics::of(&model, &set.test)?;
    let worst_metrics = ModelMetrics::of(
        &load_model(env, &worst.source, Some(&worst.sha256))?,
        &set.test,
    )?;
    let prod_model = load_model(env, &production.source, production.sha256.as_deref())?;
    let prod_metrics = ModelMetrics::of(&prod_model, &set.test)?;

    let mut suite = Suite::new("churn-model-evaluation");
    suite.extend(threshold_checks("held-out ", &candidate));
    let regression = compare_to_baseline(
        &prod_metrics.map("test_"),
        &candidate.map("test_"),
        &[
            MetricSpec::maximize("test_auc", Tolerance::Absolute(0.005)),
            MetricSpec::maximize("test_accuracy", Tolerance::Absolute(0.01)),
            MetricSpec::maximize("test_f1", Tolerance::Absolute(0.02)),
            MetricSpec::minimize("test_log_loss", Tolerance::Relative(0.02)),
        ],
    )?;
    suite.push(regression.to_check(format!(
        "no regression vs production v{}",
        production.version
    )));
    let x = features(&set.test[0]);
    let mut measured = None;
    suite.run("predict latency p95", "latency", || {
        let stats = measure_latency(1_000, 20_000, QuantileMethod::Linear, || {
            black_box(model.predict_proba(black_box(&x)));
        })?;
        let check = stats.check("predict latency p95", "p95", MAX_P95_MS);
        measured = Some(stats);
        Ok(check)
    });
    let latency = measured.ok_or_else(|| StepError::msg("latency was not measured"))?;
    let drifted: Vec<&str> = drift
        .columns
        .iter()
        .filter(|c| c.drift_detected)
        .map(|c| c.column.as_str())
        .collect();
    suite.push(
        CheckResult::verdict(
            "no dataset drift in the new batch",
            "drift",
            !drift.dataset_drift,
            format!(
                "{} of {} columns drifted ({}), share {:.2}, dataset drift at {}",
                drift.drifted_columns,
                drift.columns.len(),
                if drifted.is_empty() {
                    "none".to_owned()
                } else {
                    drifted.join(", ")
                },
                drift.share_drifted,
                drift.drift_share
            ),
        )
        .with_metric(
            "share_drifted",
            drift.share_drifted,
            Some(drift.drift_share),
            Some(Direction::Minimize),
        )
        .with_details(serde_json::to_value(drift)?),
    );
    let report = suite.report();
    let json = env.layout.reports.join("evaluation.json");
    let junit = env.layout.reports.join("evaluation.junit.xml");
    report.write_json(&json)?;
    report.write_junit(&junit)?;
    let html = env.layout.reports.join("evaluation.html");
    report.write_html(&html)?;
    let worst_passed = threshold_checks("", &worst_metrics)
        .iter()
        .all(CheckResult::is_passed);
    say(format!(
        "candidate {} on the held-out set ({} rows): accuracy={:.4} precision={:.4} recall={:.4} f1={:.4} auc={:.4} log_loss={:.4}\n\
         production v{} on the same rows: accuracy={:.4} auc={:.4} log_loss={:.4}\n\
         regression check against production v{}:\n{regression}\n\
         predict latency: {latency}\n\
         {report}\n\
         reports: {}, {} and {}",
        best.name,
        set.test.len(),
        candidate.accuracy,
        candidate.precision,
        candidate.recall,
        candidate.f1,
        candidate.auc,
        candidate.log_loss,
        production.version,
        prod_metrics.accuracy,
        prod_metrics.auc,
        prod_metrics.log_loss,
        production.version,
        json.display(),
        junit.display(),
        html.display()
    ));
    Ok(EvalOut {
        candidate,
        candidate_passed: report.all_passed(),
        worst: worst_metrics,
        worst_passed,
        production_version: production.version,
        latency_p95_ms: latency.p95_ms,
        checks: report.total,
        failed: report.failed + report.errors,
    })
}
