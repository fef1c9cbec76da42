//! Steps 6 and 7: registration and gated promotion, then serving with online features.

use mlops_features::{EntityKey, FeatureStatus, Value};
use mlops_pipeline::{StepCtx, StepError};
use mlops_registry::{
    Alias, Change, Direction, Gate, ModelVersion, NewVersion, RegistryError, RegistryStoreExt as _,
    Stage,
};
use serde::{Deserialize, Serialize};

use super::features::{LEAK_ENTITY, SERVICE, customer_from};
use super::training::{
    CHAMPION_URI, EvalOut, MAX_LOG_LOSS, MAX_P95_MS, MIN_AUC, MODEL, ModelMetrics, RunOut,
    TrainOut, load_model,
};
use super::{Env, SERVE_MS, date};
use crate::churn::features;

/// What the registry step did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RegisterOut {
    pub(crate) champion: u64,
    pub(crate) denied: u64,
    pub(crate) denied_reasons: Vec<String>,
}

/// The promotion gate: the evaluation must have passed, the thresholds must hold on the
/// version's metrics snapshot, and nothing may be worse than the incumbent's.
fn gate() -> Gate {
    Gate::new()
        .require_tag_value("evaluation", "passed")
        .min_metric("test_auc", MIN_AUC)
        .max_metric("test_log_loss", MAX_LOG_LOSS)
        .max_metric("latency_p95_ms", MAX_P95_MS)
        .no_regression("test_auc", Direction::Maximize)
        .no_regression_within("test_log_loss", Direction::Minimize, 0.01)
}

/// The version made from `run`, registered now unless it already is (a re-run must not
/// register the same model twice).
fn version_for(
    env: &Env,
    run: &RunOut,
    metrics: &ModelMetrics,
    latency_p95_ms: f64,
    passed: bool,
) -> Result<(ModelVersion, bool), StepError> {
    match env.registry.versions(MODEL) {
        Ok(versions) => {
            if let Some(v) = versions
                .into_iter()
                .find(|v| v.run_id.as_deref() == Some(&run.run_id))
            {
                return Ok((v, false));
            }
        }
        Err(RegistryError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let mut nv = NewVersion::new(MODEL, &run.source)
        .run_id(&run.run_id)
        .digest(run.sha256.parse()?)
        .description(format!("{} trained by the end-to-end workflow", run.name))
        .metric("latency_p95_ms", latency_p95_ms)
        .tag("run_name", &run.name)
        .tag("evaluation", if passed { "passed" } else { "failed" });
    for (k, v) in metrics.map("test_") {
        nv = nv.metric(k, v);
    }
    Ok((env.registry.register_version(&nv)?, true))
}

/// Step 6.
pub(crate) fn register_step(env: &Env, ctx: &StepCtx<'_>) -> Result<RegisterOut, StepError> {
    let say = |t: String| env.console.say("register", t);
    let train: &TrainOut = ctx.input("train")?;
    let eval: &EvalOut = ctx.input("evaluate")?;
    let champion: Alias = "champion".parse()?;
    let gate = gate();
    let best = &train.runs[train.best];
    let (v, new) = version_for(
        env,
        best,
        &eval.candidate,
        eval.latency_p95_ms,
        eval.candidate_passed,
    )?;
    say(format!(
        "best run {} {} as {MODEL} v{} (evaluation {}, test_auc={:.4})",
        best.name,
        if new {
            "registered"
        } else {
            "already registered"
        },
        v.version,
        if eval.candidate_passed {
            "passed"
        } else {
            "failed"
        },
        eval.candidate.auc
    ));
    if v.stage == Stage::Production && v.aliases.contains(&champion) {
        say(format!(
            "{MODEL} v{} already holds Production and @champion: nothing to promote",
            v.version
        ));
    } else {
        if v.stage == Stage::None {
            env.registry.transition_stage(
                MODEL,
                v.version,
                Stage::Staging,
                false,
                &Change::by("end_to_end").comment("candidate under evaluation"),
            )?;
        }
        let comment = format!(
            "evaluation passed: {} checks, regression-free against v{}",
            eval.checks, eval.production_version
        );
        let change = Change::by("end_to_end").comment(&comment).gated(&gate);
        match env
            .registry
            .transition_stage(MODEL, v.version, Stage::Production, true, &change)
            .and_then(|_| env.registry.set_alias(MODEL, &champion, v.version, &change))
        {
            Ok(()) => say(format!(
                "{MODEL} v{} promoted through the gate: Production, alias @champion (earlier Production versions archived)",
                v.version
            )),
            Err(RegistryError::PromotionDenied { reasons, .. }) => {
                return Err(StepError::msg(format!(
                    "the best model v{} was denied promotion: {}",
                    v.version,
                    reasons.join("; ")
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let champion_version = v.version;

    // A worse model (the weakest configuration) must not get through the same gate.
    let worst = &train.runs[train.worst];
    let (w, new) = version_for(
        env,
        worst,
        &eval.worst,
        eval.latency_p95_ms,
        eval.worst_passed,
    )?;
    say(format!(
        "weaker run {} {} as {MODEL} v{} (test_auc={:.4}, test_log_loss={:.4})",
        worst.name,
        if new {
            "registered"
        } else {
            "already registered"
        },
        w.version,
        eval.worst.auc,
        eval.worst.log_loss
    ));
    if w.stage == Stage::None {
        env.registry.transition_stage(
            MODEL,
            w.version,
            Stage::Staging,
            false,
            &Change::by("end_to_end"),
        )?;
    }
    let change = Change::by("end_to_end")
        .comment("promotion attempt of a weaker model")
        .gated(&gate);
    let reasons =
        match env
            .registry
            .transition_stage(MODEL, w.version, Stage::Production, true, &change)
        {
            Err(RegistryError::PromotionDenied { reasons, .. }) => reasons,
            Err(e) => return Err(e.into()),
            Ok(_) => {
                return Err(StepError::msg(format!(
                    "the gate let the weaker model v{} into Production",
                    w.version
                )));
            }
        };
    say(format!(
        "promotion of v{} to Production DENIED by the gate:\n{}",
        w.version,
        reasons
            .iter()
            .map(|r| format!("  - {r}"))
            .collect::<Vec<_>>()
            .join("\n")
    ));
    say(format!("{}", env.registry.compare_versions(MODEL)?));
    Ok(RegisterOut {
        champion: champion_version.get(),
        denied: w.version.get(),
        denied_reasons: reasons,
    })
}

/// One served prediction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Prediction {
    pub(crate) customer_id: i64,
    pub(crate) statuses: String,
    pub(crate) churn_probability: Option<f64>,
}

/// What the serving step did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServeOut {
    pub(crate) model_version: u64,
    pub(crate) predictions: Vec<Prediction>,
}

fn status_name(s: FeatureStatus) -> &'static str {
    match s {
        FeatureStatus::Present => "present",
        FeatureStatus::NotFound => "not_found",
        FeatureStatus::Null => "null",
        FeatureStatus::OutsideMaxAge => "expired",
    }
}

/// Step 7: the champion, by URI; online features for a few customers; predictions.
pub(crate) fn serve_step(env: &Env, ctx: &StepCtx<'_>) -> Result<ServeOut, StepError> {
    // Serving happens a week after training: the demo's one clock moves forward.
    env.clock.advance_to(SERVE_MS);
    let say = |t: String| env.console.say("serve", t);
    let _registered: &RegisterOut = ctx.input("register")?;
    let v = env.registry.resolve_uri(CHAMPION_URI)?;
    let model = load_model(
        env,
        &v.source,
        v.digest.as_ref().map(mlops_registry::Digest::as_str),
    )?;
    say(format!(
        "loaded {CHAMPION_URI} -> v{} ({}), sha256 verified",
        v.version, v.source
    ));
    // Three new customers, the leak-check customer, one last seen 31 days ago (past the
    // 30-day TTL) and one the store has never seen.
    let ids: [i64; 6] = [5001, 5002, 5003, LEAK_ENTITY, 1, 999_999];
    let keys: Vec<EntityKey> = ids.iter().map(|&id| EntityKey::from(id)).collect();
    let response = env.features.get_online_service(SERVICE, &keys)?;
    say(format!(
        "online features at {} (feature service {SERVICE}):\n{}",
        date(SERVE_MS),
        response.table(&keys)
    ));
    let mut predictions = Vec::new();
    for (i, &id) in ids.iter().enumerate() {
        let row = response.row(i);
        let mut statuses: Vec<&str> = row.iter().map(|f| status_name(f.status)).collect();
        statuses.dedup();
        let statuses = statuses.join("/");
        let values: Vec<&Value> = row.iter().map(|f| &f.value).collect();
        let all_present = row.iter().all(|f| f.status == FeatureStatus::Present);
        let customer = if all_present {
            customer_from(id, SERVE_MS, &values, false)
        } else {
            None
        };
        let p = customer.map(|c| model.predict_proba(&features(&c)));
        match p {
            Some(p) => say(format!(
                "customer {id:>6}: features {statuses}, churn probability {p:.3}{}",
                if p >= 0.5 { " -> at risk" } else { "" }
            )),
            None => say(format!(
                "customer {id:>6}: features {statuses}, no prediction (fallback: treat as unknown risk)"
            )),
        }
        predictions.push(Prediction {
            customer_id: id,
            statuses,
            churn_probability: p,
        });
    }
    Ok(ServeOut {
        model_version: v.version.get(),
        predictions,
    })
}
