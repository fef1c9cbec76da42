//! The MLflow REST API's JSON: reading its entities (experiments, runs, metrics) and writing
//! `runs/log-batch` requests split to MLflow's limits.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::error::{Result, TrackingError};
use crate::ids::{ExperimentId, RunId};
use crate::model::{
    Batch, Experiment, LifecycleStage, Metric, Run, RunData, RunInfo, RunStatus, ViewType,
};

use super::{BODY_BUDGET, MAX_BATCH_ENTITIES};

/// An integer that MLflow may send as a JSON number or (int64 in proto JSON) a string.
pub(super) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A float that MLflow sends as a number or as `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub(super) fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

pub(super) fn float_json(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("NaN")
    } else if v > 0.0 {
        json!("Infinity")
    } else {
        json!("-Infinity")
    }
}

pub(super) fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// An answer without a field this backend needs.
pub(super) fn bad_answer(what: &str, v: &Value) -> TrackingError {
    let mut text = v.to_string();
    if text.len() > 200 {
        let mut cut = 200;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    TrackingError::Remote {
        url: String::new(),
        status: None,
        transient: false,
        message: format!("the MLflow server's answer has no valid {what}: {text}"),
    }
}

pub(super) fn key_values(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|kv| {
            (
                str_field(kv, "key").to_owned(),
                str_field(kv, "value").to_owned(),
            )
        })
        .collect()
}

pub(super) fn kv_json(pairs: &[(String, String)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(k, v)| json!({ "key": k, "value": v }))
            .collect(),
    )
}

pub(super) fn stage(v: &Value) -> LifecycleStage {
    if str_field(v, "lifecycle_stage") == "deleted" {
        LifecycleStage::Deleted
    } else {
        LifecycleStage::Active
    }
}

pub(super) fn view_type(v: ViewType) -> &'static str {
    match v {
        ViewType::ActiveOnly => "ACTIVE_ONLY",
        ViewType::DeletedOnly => "DELETED_ONLY",
        ViewType::All => "ALL",
    }
}

pub(super) fn parse_experiment(v: &Value) -> Result<Experiment> {
    let experiment_id: ExperimentId = str_field(v, "experiment_id")
        .parse()
        .map_err(|_| bad_answer("experiment id", v))?;
    Ok(Experiment {
        experiment_id,
        name: str_field(v, "name").to_owned(),
        artifact_location: str_field(v, "artifact_location").to_owned(),
        lifecycle_stage: stage(v),
        tags: key_values(v.get("tags")),
        creation_time: v.get("creation_time").and_then(int).unwrap_or(0),
        last_update_time: v.get("last_update_time").and_then(int).unwrap_or(0),
    })
}

pub(super) fn parse_metric(v: &Value) -> Result<Metric> {
    Ok(Metric {
        key: str_field(v, "key").to_owned(),
        value: v
            .get("value")
            .and_then(float)
            .ok_or_else(|| bad_answer("metric value", v))?,
        timestamp: v.get("timestamp").and_then(int).unwrap_or(0),
        step: v.get("step").and_then(int).unwrap_or(0),
    })
}

pub(super) fn parse_info(v: &Value) -> Result<RunInfo> {
    let id = match str_field(v, "run_id") {
        "" => str_field(v, "run_uuid"),
        id => id,
    };
    Ok(RunInfo {
        run_id: id.parse().map_err(|_| bad_answer("run id", v))?,
        experiment_id: str_field(v, "experiment_id")
            .parse()
            .map_err(|_| bad_answer("experiment id", v))?,
        run_name: str_field(v, "run_name").to_owned(),
        user_id: str_field(v, "user_id").to_owned(),
        status: str_field(v, "status")
            .parse::<RunStatus>()
            .map_err(|_| bad_answer("run status", v))?,
        start_time: v.get("start_time").and_then(int).unwrap_or(0),
        end_time: v.get("end_time").and_then(int),
        artifact_uri: str_field(v, "artifact_uri").to_owned(),
        lifecycle_stage: stage(v),
    })
}

pub(super) fn parse_run(v: &Value) -> Result<Run> {
    let info = parse_info(v.get("info").ok_or_else(|| bad_answer("run info", v))?)?;
    let data = v.get("data").cloned().unwrap_or(Value::Null);
    let mut metrics = BTreeMap::new();
    for m in data
        .get("metrics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let m = parse_metric(m)?;
        metrics.insert(m.key.clone(), m);
    }
    Ok(Run {
        info,
        data: RunData {
            metrics,
            params: key_values(data.get("params")),
            tags: key_values(data.get("tags")),
        },
    })
}

pub(super) fn next_token(v: &Value) -> Option<String> {
    v.get("next_page_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Split a validated batch into `log-batch` bodies within MLflow's limits, in order: params,
/// metrics, tags. Returns each body with the params it carries.
pub(super) fn split_batch(run_id: &RunId, batch: &Batch) -> Vec<(Value, Vec<(String, String)>)> {
    struct Req {
        params: Vec<Value>,
        metrics: Vec<Value>,
        tags: Vec<Value>,
        param_pairs: Vec<(String, String)>,
        bytes: usize,
    }
    impl Req {
        fn new() -> Self {
            Self {
                params: Vec::new(),
                metrics: Vec::new(),
                tags: Vec::new(),
                param_pairs: Vec::new(),
                bytes: 0,
            }
        }
        fn len(&self) -> usize {
            self.params.len() + self.metrics.len() + self.tags.len()
        }
    }
    let mut out = Vec::new();
    let mut cur = Req::new();
    let finish = |cur: Req, out: &mut Vec<(Value, Vec<(String, String)>)>| {
        if cur.len() > 0 {
            let mut body = Map::new();
            body.insert("run_id".into(), json!(run_id.as_str()));
            body.insert("metrics".into(), Value::Array(cur.metrics));
            body.insert("params".into(), Value::Array(cur.params));
            body.insert("tags".into(), Value::Array(cur.tags));
            out.push((Value::Object(body), cur.param_pairs));
        }
    };
    // Each entity: its JSON, its size (plus a comma), and which list it goes in.
    let mut push = |cur: &mut Req, item: Value, list: u8, pair: Option<&(String, String)>| {
        let size = item.to_string().len() + 1;
        if cur.len() + 1 > MAX_BATCH_ENTITIES || cur.bytes + size > BODY_BUDGET {
            let full = std::mem::replace(cur, Req::new());
            finish(full, &mut out);
        }
        cur.bytes += size;
        match list {
            0 => {
                cur.params.push(item);
                if let Some(p) = pair {
                    cur.param_pairs.push(p.clone());
                }
            }
            1 => cur.metrics.push(item),
            _ => cur.tags.push(item),
        }
    };
    // MLflow refuses a key twice in one request; validation has made repeats identical, so
    // each key is sent once.
    let mut sent = std::collections::HashSet::new();
    for p in batch.params.iter().filter(|p| sent.insert(p.0.as_str())) {
        push(&mut cur, json!({ "key": p.0, "value": p.1 }), 0, Some(p));
    }
    for m in &batch.metrics {
        let item = json!({
            "key": m.key,
            "value": float_json(m.value),
            "timestamp": m.timestamp,
            "step": m.step,
        });
        push(&mut cur, item, 1, None);
    }
    for t in &batch.tags {
        push(&mut cur, json!({ "key": t.0, "value": t.1 }), 2, None);
    }
    finish(cur, &mut out);
    out
}
