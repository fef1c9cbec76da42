//! Steps 1, 2 and the drift half of 5: versioned data, validation, drift.

use std::io::Read as _;

use mlops_dvc::Digest;
use mlops_pipeline::{StepCtx, StepError};
use mlops_testing::html::DriftProfile;
use mlops_testing::{
    Column, Dataset, DriftOptions, DriftReport, Expectation, Suite, Validator, drift_report,
    validate::ValueType,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Env, MINUTE_MS, T0_MS};
use crate::churn::{self, CONTRACTS, Customer, PAYMENT_METHODS, Population, SplitMix64};

/// Customers in the first batch (version 1).
pub(crate) const BATCH1: usize = 4000;
/// Customers added by the second batch (version 2).
pub(crate) const BATCH2: usize = 1000;
/// Customers in the new batch of production traffic (the drift reference's counterpart).
pub(crate) const INCOMING: usize = 1000;
/// One customer snapshot every five minutes.
pub(crate) const SNAPSHOT_STEP_MS: i64 = 5 * MINUTE_MS;
/// The versioned training table.
pub(crate) const CUSTOMERS: &str = "customers.csv";
/// The new batch of production traffic.
pub(crate) const INCOMING_CSV: &str = "incoming.csv";
/// The first id of the incoming batch.
pub(crate) const INCOMING_FIRST_ID: i64 = 5001;
/// When the incoming batch starts (2026-01-26).
pub(crate) const INCOMING_START_MS: i64 = T0_MS + 25 * super::DAY_MS;

/// One dataset version, as the data step reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct VersionInfo {
    pub(crate) dataset: String,
    pub(crate) version: u64,
    pub(crate) digest: String,
    pub(crate) bytes: u64,
    pub(crate) rows: usize,
    pub(crate) created: bool,
}

/// The data step's output: which versions hold the data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DataOut {
    pub(crate) v1: VersionInfo,
    pub(crate) v2: VersionInfo,
    pub(crate) incoming: VersionInfo,
}

/// Track `content` as the next version of `name`, unless a version with this content exists
/// already (a re-run after the step cache was cleared must not add duplicate versions).
fn version_of(
    env: &Env,
    name: &str,
    content: &str,
    message: &str,
) -> Result<VersionInfo, StepError> {
    let digest = Digest::of_bytes(content.as_bytes());
    let rows = content.lines().count().saturating_sub(1);
    let known = env
        .repo
        .log(name)
        .ok()
        .and_then(|log| log.0.into_iter().find(|v| v.digest == digest));
    std::fs::create_dir_all(env.repo.root())?;
    std::fs::write(env.repo.root().join(name), content)?;
    let (v, created) = match known {
        Some(v) => (v, false),
        None => {
            let t = env.repo.track(name, message)?;
            let created = t.is_new();
            (t.version().clone(), created)
        }
    };
    Ok(VersionInfo {
        dataset: name.to_owned(),
        version: v.version,
        digest: v.digest.to_hex(),
        bytes: v.size,
        rows,
        created,
    })
}

/// Read a version's bytes back from the content store (verified against its digest).
pub(crate) fn read_version(env: &Env, v: &VersionInfo) -> Result<String, StepError> {
    let digest: Digest = v.digest.parse()?;
    let mut text = String::new();
    env.repo.store().open(&digest)?.read_to_string(&mut text)?;
    Ok(text)
}

/// Parse a CSV written by [`churn::to_csv`] into typed customers.
pub(crate) fn customers(text: &str) -> Result<Vec<Customer>, StepError> {
    churn::parse_csv_rows(text)
        .map_err(StepError::msg)?
        .into_iter()
        .map(|row| serde_json::from_value::<CsvCustomer>(row).map(Customer::from))
        .collect::<Result<_, _>>()
        .map_err(|e| StepError::msg(format!("unreadable customer row: {e}")))
}

/// A row as parsed from the CSV (`churned` is 0 or 1 there).
#[derive(Deserialize)]
struct CsvCustomer {
    customer_id: i64,
    event_ms: i64,
    tenure_months: i64,
    monthly_spend: f64,
    support_tickets: i64,
    contract: String,
    payment_method: String,
    churned: u8,
}

impl From<CsvCustomer> for Customer {
    fn from(c: CsvCustomer) -> Self {
        Self {
            customer_id: c.customer_id,
            event_ms: c.event_ms,
            tenure_months: c.tenure_months,
            monthly_spend: c.monthly_spend,
            support_tickets: c.support_tickets,
            contract: c.contract,
            payment_method: c.payment_method,
            churned: c.churned == 1,
        }
    }
}

/// Step 1: generate the data and version it.
pub(crate) fn data_step(env: &Env, ctx: &StepCtx<'_>) -> Result<DataOut, StepError> {
    let say = |t: String| env.console.say("data", t);
    let bad_data: bool = ctx.param("bad_data")?;
    let mut rng = SplitMix64::new(20_260_101);
    let batch1 = churn::generate(
        &mut rng,
        1,
        BATCH1,
        T0_MS,
        SNAPSHOT_STEP_MS,
        Population::default(),
    );
    #[allow(clippy::cast_possible_wrap)]
    let batch2 = churn::generate(
        &mut rng,
        1 + BATCH1 as i64,
        BATCH2,
        T0_MS + SNAPSHOT_STEP_MS * BATCH1 as i64,
        SNAPSHOT_STEP_MS,
        Population::default(),
    );
    // Production traffic a week later: customers spend more and call support more often.
    let incoming = churn::generate(
        &mut rng,
        INCOMING_FIRST_ID,
        INCOMING,
        INCOMING_START_MS,
        4 * MINUTE_MS,
        Population {
            spend_mean: 80.0,
            tickets_mean: 2.0,
        },
    );
    let v1_text = churn::to_csv(&batch1);
    let mut all = batch1;
    all.extend(batch2);
    let mut v2_text = churn::to_csv(&all);
    if bad_data {
        // An export bug: a negative tenure, a missing spend and an unknown contract type.
        let t = T0_MS + 3 * super::DAY_MS;
        v2_text.push_str(&format!("90001,{t},-3,55.00,1,month-to-month,card,0\n"));
        v2_text.push_str(&format!("90002,{t},12,,0,two-year,card,0\n"));
        v2_text.push_str(&format!("90003,{t},30,70.00,2,weekly,card,1\n"));
        say("--bad-data: 3 broken rows injected into the second batch".to_owned());
    }
    let v1 = version_of(
        env,
        CUSTOMERS,
        &v1_text,
        "first batch: 4000 customers, January 1-14",
    )?;
    let v2 = version_of(
        env,
        CUSTOMERS,
        &v2_text,
        "second batch: 1000 more customers, January 14-18",
    )?;
    let incoming = version_of(
        env,
        INCOMING_CSV,
        &churn::to_csv(&incoming),
        "production traffic, January 26-28",
    )?;
    for v in [&v1, &v2, &incoming] {
        say(format!(
            "{} v{} {} ({} rows, {} bytes, sha256 {}...)",
            v.dataset,
            v.version,
            if v.created {
                "saved"
            } else {
                "already versioned"
            },
            v.rows,
            v.bytes,
            &v.digest[..12]
        ));
    }
    say(format!(
        "version log of {CUSTOMERS}:\n{}",
        env.repo.log(CUSTOMERS)?
    ));
    let diff = env.repo.diff(CUSTOMERS, v1.version, v2.version)?;
    // The diff's samples are whole CSV lines; show the counts and the first added line.
    let text = diff
        .text
        .as_ref()
        .ok_or_else(|| StepError::msg("a text diff was expected"))?;
    say(format!(
        "diff v{} -> v{}: {} lines added, {} removed, {} unchanged; first added: {}",
        v1.version,
        v2.version,
        text.added,
        text.removed,
        text.unchanged,
        text.added_samples.first().map_or("-", String::as_str)
    ));
    Ok(DataOut { v1, v2, incoming })
}

/// Summary of a validation (the full report is in the JSON file).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ValidationOut {
    pub(crate) rows: usize,
    pub(crate) checks: usize,
    pub(crate) report: String,
}

fn expectations() -> Vec<Expectation> {
    let mut e = Vec::new();
    for c in churn::CSV_HEADER.split(',') {
        e.push(Expectation::column_to_exist(c));
        e.push(Expectation::not_null(c));
    }
    e.extend([
        Expectation::of_type("customer_id", ValueType::Integer),
        Expectation::unique("customer_id"),
        Expectation::between("tenure_months", Some(0.0), Some(72.0)),
        Expectation::between("monthly_spend", Some(20.0), Some(120.0)),
        Expectation::between("support_tickets", Some(0.0), Some(10.0)),
        Expectation::in_set("contract", CONTRACTS.map(|c| json!(c))),
        Expectation::in_set("payment_method", PAYMENT_METHODS.map(|c| json!(c))),
        Expectation::in_set("churned", [json!(0), json!(1)]),
        Expectation::row_count_between(Some(100), None),
    ]);
    e
}

/// Step 2: validate every raw row of both files; any failure stops the workflow.
pub(crate) fn validate_step(env: &Env, ctx: &StepCtx<'_>) -> Result<ValidationOut, StepError> {
    let data: &DataOut = ctx.input("data")?;
    let validator = Validator::new(expectations())?;
    let mut suite = Suite::new("churn-data-validation");
    let mut rows = 0;
    for v in [&data.v2, &data.incoming] {
        let parsed = churn::parse_csv_rows(&read_version(env, v)?).map_err(StepError::msg)?;
        rows += parsed.len();
        let report = validator.validate(&parsed)?;
        suite.extend(report.to_checks().into_iter().map(|mut c| {
            c.name = format!("{}: {}", v.dataset, c.name);
            c
        }));
    }
    let report = suite.report();
    let path = env.layout.reports.join("data_validation.json");
    report.write_json(&path)?;
    if !report.all_passed() {
        let mut failed = String::new();
        for r in report.not_passed() {
            failed.push_str(&format!("  [{}] {}: {}\n", r.status, r.name, r.message));
        }
        env.console.say(
            "validate",
            format!(
                "DATA VALIDATION FAILED: {} of {} checks did not pass\n{failed}full report: {}",
                report.failed + report.errors,
                report.total,
                path.display()
            ),
        );
        return Err(StepError::msg(format!(
            "data validation failed: {} of {} checks did not pass (report: {})",
            report.failed + report.errors,
            report.total,
            path.display()
        )));
    }
    env.console.say(
        "validate",
        format!(
            "{} rows of {} and {}: all {} checks passed (schema, nulls, ranges, allowed values, unique ids); report {}",
            rows,
            data.v2.dataset,
            data.incoming.dataset,
            report.total,
            path.display()
        ),
    );
    Ok(ValidationOut {
        rows,
        checks: report.total,
        report: path.display().to_string(),
    })
}

fn drift_dataset(rows: &[Customer]) -> Result<Dataset, StepError> {
    #[allow(clippy::cast_precision_loss)]
    let num = |f: fn(&Customer) -> f64| Column::Numeric(rows.iter().map(f).collect());
    let cat = |f: fn(&Customer) -> &str| {
        Column::Categorical(rows.iter().map(|c| Some(f(c).to_owned())).collect())
    };
    #[allow(clippy::cast_precision_loss)]
    Ok(Dataset::new()
        .with_column("tenure_months", num(|c| c.tenure_months as f64))?
        .with_column("monthly_spend", num(|c| c.monthly_spend))?
        .with_column("support_tickets", num(|c| c.support_tickets as f64))?
        .with_column("contract", cat(|c| c.contract.as_str()))?
        .with_column("payment_method", cat(|c| c.payment_method.as_str()))?)
}

/// The drift step's output: the report and the binned distributions its HTML page charts (a
/// few kilobytes, whatever the row count, so the cached output stays small).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DriftOut {
    pub(crate) report: DriftReport,
    pub(crate) profile: DriftProfile,
    /// The page title: which data was compared with which.
    pub(crate) title: String,
}

/// Drift between the training data (v2) and the new batch of production traffic.
pub(crate) fn drift_step(env: &Env, ctx: &StepCtx<'_>) -> Result<DriftOut, StepError> {
    let data: &DataOut = ctx.input("data")?;
    let _validated: &ValidationOut = ctx.input("validate")?;
    let reference = customers(&read_version(env, &data.v2)?)?;
    let current = customers(&read_version(env, &data.incoming)?)?;
    let (reference_set, current_set) = (drift_dataset(&reference)?, drift_dataset(&current)?);
    let report = drift_report(&reference_set, &current_set, &DriftOptions::default())?;
    let profile = DriftProfile::new(&reference_set, &current_set);
    env.console.say(
        "drift",
        format!(
            "{} v{} ({} rows) vs {} ({} rows):\n{report}",
            data.v2.dataset,
            data.v2.version,
            reference.len(),
            data.incoming.dataset,
            current.len()
        ),
    );
    let title = format!(
        "Data drift: {} v{} vs {}",
        data.v2.dataset, data.v2.version, data.incoming.dataset
    );
    Ok(DriftOut {
        report,
        profile,
        title,
    })
}
