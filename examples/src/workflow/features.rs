//! Step 3: features with event times in the feature store, the training set by a point-in-time
//! join at the label times, and the leak check.

use std::time::Duration;

use mlops_features::{
    EntityFrame, FeatureGroup, FeatureRef, FeatureRow, FeatureService, HistoricalOptions, KeyType,
    TrainingFrame, Value, ValueType,
};
use mlops_pipeline::{StepCtx, StepError};
use serde::{Deserialize, Serialize};

use super::data::{DataOut, ValidationOut, customers, read_version};
use super::{CUTOFF_MS, DAY_MS, Env, HOUR_MS, LABEL_DELAY_MS, date, ts};
use crate::churn::Customer;

/// The feature group.
pub(crate) const GROUP: &str = "customer_profile";
/// The feature service the model reads online.
pub(crate) const SERVICE: &str = "churn_model";
/// How long a customer's profile stays valid.
pub(crate) const TTL_DAYS: u64 = 30;
/// The customer whose extra rows show that nothing leaks.
pub(crate) const LEAK_ENTITY: i64 = 42;
/// The group's features, in row order.
pub(crate) const FEATURES: [&str; 5] = [
    "tenure_months",
    "monthly_spend",
    "support_tickets",
    "contract",
    "payment_method",
];

/// The training, validation and held-out test sets (split by label time: oldest 70 % for
/// training, the next 10 % for choosing a configuration, the newest 20 % held out).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TrainingSet {
    pub(crate) train: Vec<Customer>,
    pub(crate) valid: Vec<Customer>,
    pub(crate) test: Vec<Customer>,
    pub(crate) dropped: usize,
    pub(crate) dataset: String,
    /// What a training run on this set logs as its inputs: the data version and the feature
    /// group (see [`super::inputs`]).
    pub(crate) inputs: Vec<mlops_tracking::inputs::DatasetInput>,
}

fn group() -> Result<FeatureGroup, StepError> {
    Ok(FeatureGroup::builder(GROUP)
        .entity("customer_id", KeyType::Int64)
        .feature("tenure_months", ValueType::Int64)
        .feature("monthly_spend", ValueType::Float64)
        .feature("support_tickets", ValueType::Int64)
        .feature("contract", ValueType::String)
        .feature("payment_method", ValueType::String)
        .ttl(Duration::from_secs(TTL_DAYS * 24 * 3600))
        .description("customer profile snapshots from the CRM export")
        .build()?)
}

fn row(c: &Customer) -> FeatureRow {
    FeatureRow::new(
        c.customer_id,
        ts(c.event_ms),
        vec![
            Value::Int64(c.tenure_months),
            Value::Float64(c.monthly_spend),
            Value::Int64(c.support_tickets),
            Value::from(c.contract.as_str()),
            Value::from(c.payment_method.as_str()),
        ],
    )
    .created(ts(c.event_ms))
}

pub(crate) fn refs() -> Vec<String> {
    FEATURES.iter().map(|f| format!("{GROUP}:{f}")).collect()
}

/// A customer from one row of feature values (`None` when a value is missing), with a label.
pub(crate) fn customer_from(
    id: i64,
    event_ms: i64,
    values: &[&Value],
    churned: bool,
) -> Option<Customer> {
    Some(Customer {
        customer_id: id,
        event_ms,
        tenure_months: values[0].as_i64()?,
        monthly_spend: values[1].as_f64()?,
        support_tickets: values[2].as_i64()?,
        contract: values[3].as_str()?.to_owned(),
        payment_method: values[4].as_str()?.to_owned(),
        churned,
    })
}

fn tickets_at(frame: &TrainingFrame, row: usize) -> Option<i64> {
    frame
        .value(row, &format!("{GROUP}:support_tickets"))
        .and_then(Value::as_i64)
}

/// Step 3.
pub(crate) fn features_step(env: &Env, ctx: &StepCtx<'_>) -> Result<TrainingSet, StepError> {
    let say = |t: String| env.console.say("features", t);
    let data: &DataOut = ctx.input("data")?;
    let _validated: &ValidationOut = ctx.input("validate")?;
    let labelled = customers(&read_version(env, &data.v2)?)?;
    let incoming = customers(&read_version(env, &data.incoming)?)?;
    let store = &env.features;
    let g = store.apply_group(group()?)?;
    let features: Vec<FeatureRef> = g.refs();
    store.apply_service(FeatureService::new(SERVICE, features)?)?;
    let rows: Vec<FeatureRow> = labelled.iter().chain(&incoming).map(row).collect();
    let ingested = store.ingest(GROUP, &rows)?;
    say(format!(
        "feature group {GROUP} v{} (TTL {TTL_DAYS} days): {} rows ingested with their event times ({} online)",
        g.version, ingested.rows, ingested.online.written
    ));

    // Two extra rows for one customer: one observed after the label time, and one observed
    // before it but delivered only after the training cutoff (a late-arriving row).
    let c = labelled
        .iter()
        .find(|c| c.customer_id == LEAK_ENTITY)
        .ok_or_else(|| StepError::msg("leak-check customer missing"))?;
    let label_ms = c.event_ms + LABEL_DELAY_MS;
    let mut future = row(c);
    future.event_ts = ts(label_ms + 2 * HOUR_MS);
    future.created_ts = Some(ts(label_ms + 2 * HOUR_MS));
    future.values[2] = Value::Int64(c.support_tickets + 4);
    let mut late = row(c);
    late.event_ts = ts(label_ms - HOUR_MS);
    late.created_ts = Some(ts(CUTOFF_MS + 2 * DAY_MS));
    late.values[2] = Value::Int64(c.support_tickets + 7);
    store.ingest(GROUP, &[future, late])?;

    // The training set: one entity row per labelled customer at its label time, features as
    // known at that time, built as of the cutoff.
    let frame: EntityFrame = labelled
        .iter()
        .map(|c| (c.customer_id, ts(c.event_ms + LABEL_DELAY_MS)))
        .collect();
    let training =
        store.get_historical_features(&frame, &refs(), &HistoricalOptions::as_of(ts(CUTOFF_MS)))?;
    let i = labelled
        .iter()
        .position(|x| x.customer_id == LEAK_ENTITY)
        .ok_or_else(|| StepError::msg("leak-check customer missing"))?;
    let joined = tickets_at(&training, i);
    // The same join without the cutoff: the late row would have leaked in.
    let one: EntityFrame = [(LEAK_ENTITY, ts(label_ms))].into_iter().collect();
    let without_cutoff =
        store.get_historical_features(&one, &refs(), &HistoricalOptions::default())?;
    let leaked = tickets_at(&without_cutoff, 0);
    say(format!(
        "leak check, customer {LEAK_ENTITY} labelled at {}:\n  \
         row observed {} (after the label time), support_tickets={}: not used\n  \
         row observed {} but delivered {} (after the cutoff {}), support_tickets={}: not used\n  \
         training set has support_tickets={} (the value known at the label time; without the cutoff the join would give {})",
        date(label_ms),
        date(label_ms + 2 * HOUR_MS),
        c.support_tickets + 4,
        date(label_ms - HOUR_MS),
        date(CUTOFF_MS + 2 * DAY_MS),
        date(CUTOFF_MS),
        c.support_tickets + 7,
        joined.map_or_else(|| "null".to_owned(), |v| v.to_string()),
        leaked.map_or_else(|| "null".to_owned(), |v| v.to_string()),
    ));
    if joined != Some(c.support_tickets) {
        return Err(StepError::msg(format!(
            "feature leak: customer {LEAK_ENTITY} has support_tickets={joined:?} in the training set, {} was known at its label time",
            c.support_tickets
        )));
    }

    let mut set = Vec::with_capacity(labelled.len());
    let mut dropped = 0;
    for (i, c) in labelled.iter().enumerate() {
        let values: Vec<&Value> = training.columns.iter().map(|col| &col.values[i]).collect();
        match customer_from(c.customer_id, c.event_ms, &values, c.churned) {
            Some(x) => set.push(x),
            None => dropped += 1,
        }
    }
    let n = set.len();
    let test = set.split_off(n * 8 / 10);
    let valid = set.split_off(n * 7 / 10);
    say(format!(
        "training set by point-in-time join at the label times (as of {}): {} rows x {} features, {} dropped for missing values; split by time: {} train, {} validation, {} held-out test",
        date(CUTOFF_MS),
        training.len(),
        FEATURES.len(),
        dropped,
        set.len(),
        valid.len(),
        test.len()
    ));
    Ok(TrainingSet {
        train: set,
        valid,
        test,
        dropped,
        dataset: format!("{}@v{}", data.v2.dataset, data.v2.version),
        inputs: vec![
            super::inputs::dataset_input(&data.v2, mlops_tracking::inputs::InputContext::Training)?,
            super::inputs::group_input(&g)?,
        ],
    })
}
