//! The lineage the main job records: the dataset and feature group a training run reads are
//! logged as its inputs (`mlflow.log_input`'s model), and each run is tagged with the pipeline
//! run that made it and the code version. The `lineage` example reads the chain back.

use mlops_dvc::{DatasetUri, Digest, RelPath};
use mlops_features::{FeatureGroup, FeatureGroupUri};
use mlops_pipeline::StepError;
use mlops_tracking::inputs::DVC_DIGEST_LEN;
use mlops_tracking::{inputs::Dataset, inputs::DatasetInput, inputs::InputContext};
use serde_json::json;

use super::data::VersionInfo;

/// The run tag naming the pipeline run that created a tracking run (and a model version).
pub const TAG_PIPELINE_RUN: &str = "mlops.pipeline.run_id";
/// The run tag holding the version of the code that trained (the examples crate's version).
pub const TAG_CODE_VERSION: &str = "mlops.code.version";
/// The source type of a dataset versioned with `mlops-dvc`.
pub const SOURCE_DVC: &str = "dvc";
/// The source type of a feature group of `mlops-features`.
pub const SOURCE_FEATURES: &str = "features";

/// The columns of the customer table, as an MLflow column-spec schema.
fn customers_schema() -> String {
    let cols = [
        ("customer_id", "long"),
        ("event_ms", "long"),
        ("tenure_months", "long"),
        ("monthly_spend", "double"),
        ("support_tickets", "long"),
        ("contract", "string"),
        ("payment_method", "string"),
        ("churned", "long"),
    ];
    let spec: Vec<_> = cols
        .iter()
        .map(|(name, ty)| json!({ "name": name, "type": ty }))
        .collect();
    json!({ "mlflow_colspec": spec }).to_string()
}

/// A dataset version of the data repository as a run input: `dvc://<path>@<sha256>`, the digest
/// being the first [`DVC_DIGEST_LEN`] hex digits of the sha256 (MLflow's digest column is 36
/// characters wide; the URI keeps the full digest).
pub(crate) fn dataset_input(
    v: &VersionInfo,
    context: InputContext,
) -> Result<DatasetInput, StepError> {
    let digest: Digest = v.digest.parse()?;
    let uri = DatasetUri::new(RelPath::from_bytes(v.dataset.as_bytes())?, digest);
    let hex = digest.to_hex();
    Ok(DatasetInput::new(
        Dataset::new(
            &v.dataset,
            &hex[..DVC_DIGEST_LEN],
            SOURCE_DVC,
            uri.to_string(),
        )
        .with_schema(customers_schema())
        .with_profile(
            json!({ "num_rows": v.rows, "bytes": v.bytes, "version": v.version }).to_string(),
        ),
        context,
    ))
}

/// A feature group at its version as a run input: `features://<group>@v<n>`, the digest being
/// the sha256 of the group's definition (so an unchanged definition has an unchanged digest).
pub(crate) fn group_input(g: &FeatureGroup) -> Result<DatasetInput, StepError> {
    let definition = serde_json::to_vec(g)?;
    let hex = Digest::of_bytes(&definition).to_hex();
    let uri = FeatureGroupUri::new(&g.name, g.version)?;
    let features: Vec<_> = g
        .features
        .iter()
        .map(|f| json!({ "name": f.name, "type": format!("{:?}", f.dtype) }))
        .collect();
    Ok(DatasetInput::new(
        Dataset::new(
            &g.name,
            &hex[..DVC_DIGEST_LEN],
            SOURCE_FEATURES,
            uri.to_string(),
        )
        .with_schema(json!({ "features": features }).to_string())
        .with_profile(json!({ "definition_sha256": hex, "version": g.version }).to_string()),
        InputContext::Training,
    ))
}

/// The git commit of the working tree the examples were built from, when `git` can tell.
pub(crate) fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let commit = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && commit.len() == 40).then_some(commit)
}

/// A fresh pipeline run id: 32 random hex digits (one per workflow run).
pub(crate) fn new_pipeline_run_id() -> String {
    mlops_tracking::RunId::new().to_string()
}
