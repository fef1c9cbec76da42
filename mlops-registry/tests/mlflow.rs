//! The MLflow backend against a real `mlflow server` (started once for this test binary): the
//! shared conformance suite, MLflow-specific behaviour, and interop with MLflow's own Python
//! client. Every test that needs the server is `#[ignore = "needs mlflow"]`: run them with
//! `MLOPS_MLFLOW=/path/to/mlflow cargo test -p mlops-registry --all-features --test mlflow --
//! --include-ignored`; without MLflow they fail, saying what to install.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use mlops_mlflow::test_server::MlflowServer;
use mlops_registry::conformance::{Capabilities, Subject};
use mlops_registry::{
    Change, Digest, MlflowConfig, MlflowRegistry, NewModel, NewVersion, RegistryError,
    RegistryStore, RegistryStoreExt, Stage,
};
use serde_json::Value;

/// What MLflow does differently (see `MlflowRegistry`'s docs).
const MLFLOW_CAPS: Capabilities = Capabilities::ALL.latest_version_counts_deleted(false);

/// The server shared by this test binary; a test that needs it fails when MLflow is missing.
fn server() -> &'static MlflowServer {
    mlops_mlflow::test_server::server()
}

/// A handle on the shared server scoped to a fresh name prefix, so that tests running at once
/// never see each other's models.
fn registry(tag: &str) -> MlflowRegistry {
    static N: AtomicU32 = AtomicU32::new(0);
    let prefix = format!("{tag}-{}-", N.fetch_add(1, Ordering::Relaxed));
    MlflowRegistry::new(MlflowConfig::new(&server().uri).unwrap())
        .with_name_prefix(prefix)
        .unwrap()
}

/// The conformance subject: a fresh prefix per test; a reopen is a new handle on it.
fn subject() -> Subject<dyn RegistryStore> {
    let store = registry("conformance");
    let again = store.clone();
    Subject::new(Box::new(store) as Box<dyn RegistryStore>)
        .with_reopen(move || Box::new(again.clone()))
}

mod suite {
    mlops_registry::conformance_tests!(
        ignore = "needs mlflow";
        caps = super::MLFLOW_CAPS;
        super::subject
    );
}

#[test]
#[ignore = "needs mlflow"]
fn metrics_digest_and_reserved_tags() {
    let r = registry("meta");
    let digest = Digest::of_bytes(b"model bytes");
    let v = r
        .register_version(
            &NewVersion::new("m", "s3://b/m/1")
                .metric("accuracy", 0.1 + 0.2)
                .metric("tiny", 1e-300)
                .tag("team", "nlp")
                .digest(digest.clone()),
        )
        .unwrap();
    let got = r.get_model_version("m", v.version).unwrap();
    assert_eq!(got.metrics["accuracy"], 0.1 + 0.2, "exact round trip");
    assert_eq!(got.metrics["tiny"], 1e-300);
    assert_eq!(got.digest, Some(digest));
    assert_eq!(got.tags.len(), 1, "{:?}", got.tags);
    assert_eq!(got, v);
    let err = r
        .set_version_tag("m", v.version, "mlops.digest", "x")
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::InvalidArgument { .. }),
        "{err}"
    );
    let err = r.set_model_tag("m", "mlops.audit.1", "x").unwrap_err();
    assert!(err.to_string().contains("reserved"), "{err}");
}

#[test]
#[ignore = "needs mlflow"]
fn local_source_is_refused_with_the_servers_reason() {
    let r = registry("local");
    r.create_registered_model(&NewModel::new("m")).unwrap();
    let err = r
        .create_model_version(&NewVersion::new("m", "/tmp/model"))
        .unwrap_err();
    let RegistryError::InvalidArgument { detail, .. } = &err else {
        panic!("expected invalid argument, got {err}");
    };
    assert!(detail.contains("model-versions/create"), "{detail}");
    assert!(detail.contains("Invalid model version source"), "{detail}");
}

#[test]
#[ignore = "needs mlflow"]
fn paged_search_and_prefix_isolation() {
    let r = registry("paged");
    for i in 0..3 {
        r.create_registered_model(&NewModel::new(format!("m{i}")))
            .unwrap();
    }
    for _ in 0..12 {
        r.create_model_version(&NewVersion::new("m1", "s3://b/x"))
            .unwrap();
    }
    let all = r
        .search_model_versions(&mlops_registry::Search::filter("name = 'm1'").unwrap())
        .unwrap();
    let numbers: Vec<u64> = all.items.iter().map(|v| v.version.get()).collect();
    assert_eq!(numbers, (1..=12).rev().collect::<Vec<_>>());
    let limited = r
        .search_model_versions(
            &mlops_registry::Search::filter("name = 'm1'")
                .unwrap()
                .max_results(5),
        )
        .unwrap();
    assert_eq!(limited.items.len(), 5);
    assert_eq!(limited.items[0].version.get(), 12);
    assert!(limited.next_page_token.is_some());
    // Another prefix sees none of these models.
    let other = registry("paged");
    assert!(
        other
            .search_registered_models(&mlops_registry::Search::all())
            .unwrap()
            .items
            .is_empty()
    );
    r.set_alias(
        "m1",
        &"champion".parse().unwrap(),
        "12".parse().unwrap(),
        &Change::default(),
    )
    .unwrap();
    let found = r
        .search_registered_models(&mlops_registry::Search::filter("name = 'm1'").unwrap())
        .unwrap()
        .items;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].latest_version, 12);
    assert_eq!(found[0].aliases.len(), 1);
    assert_eq!(found, [r.get_registered_model("m1").unwrap()]);
    let champion = r
        .search_model_versions(&mlops_registry::Search::filter("alias = 'champion'").unwrap())
        .unwrap()
        .items;
    assert_eq!(champion.len(), 1);
    assert_eq!(champion[0].version.get(), 12);
    assert_eq!(
        r.search_registered_models(&mlops_registry::Search::all().max_results(2))
            .unwrap()
            .items
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>(),
        ["m0", "m1"]
    );
}

/// The python of the venv MLflow runs from.
fn python() -> Option<PathBuf> {
    let mlflow = PathBuf::from(mlops_mlflow::test_server::mlflow_command());
    let py = mlflow.parent()?.join("python");
    py.exists().then_some(py)
}

#[test]
#[ignore = "needs mlflow"]
fn mlflow_python_client_reads_what_we_wrote() {
    let r = registry("interop");
    let py = python().unwrap_or_else(|| {
        panic!(
            "this test needs MLflow's Python beside {}: point MLOPS_MLFLOW at the `mlflow` of \
             a virtualenv (its `python` runs MLflow's client)",
            mlops_mlflow::test_server::mlflow_command()
        )
    });
    let c = Change::by("ci");
    for (run, acc) in [("run-a", 0.8), ("run-b", 0.9)] {
        r.register_version(
            &NewVersion::new("clf", format!("s3://models/{run}"))
                .run_id(run)
                .metric("accuracy", acc)
                .tag("trained_on", "2026-11"),
        )
        .unwrap();
    }
    let v2 = "2".parse().unwrap();
    let v1 = "1".parse().unwrap();
    r.transition_stage("clf", v1, Stage::Production, false, &c)
        .unwrap();
    r.transition_stage("clf", v2, Stage::Production, true, &c)
        .unwrap();
    r.set_alias("clf", &"champion".parse().unwrap(), v2, &c)
        .unwrap();
    r.set_alias("clf", &"previous".parse().unwrap(), v1, &c)
        .unwrap();
    r.set_version_tag("clf", v2, "validated", "yes").unwrap();
    r.set_model_tag("clf", "owner", "ana").unwrap();
    r.update_model_version("clf", v2, "the champion").unwrap();

    let full_name = format!("{}clf", r.name_prefix());
    let script = r#"
import json, sys
from mlflow import MlflowClient
c = MlflowClient(sys.argv[1])
name = sys.argv[2]
def mv(v):
    return {"name": v.name, "version": int(v.version), "source": v.source, "run_id": v.run_id,
            "stage": v.current_stage, "aliases": sorted(v.aliases), "tags": v.tags,
            "description": v.description or "", "status": v.status,
            "created": v.creation_timestamp}
m = c.get_registered_model(name)
print(json.dumps({
    "by_alias": mv(c.get_model_version_by_alias(name, "champion")),
    "v1": mv(c.get_model_version(name, "1")),
    "model": {"name": m.name, "tags": m.tags, "aliases": m.aliases,
              "created": m.creation_timestamp},
}))
"#;
    let out = Command::new(py)
        .args(["-c", script, &server().uri, &full_name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json_line = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap();
    let got: Value = serde_json::from_str(json_line).unwrap();

    for (key, n) in [("by_alias", v2), ("v1", v1)] {
        let ours = r.get_model_version("clf", n).unwrap();
        let theirs = &got[key];
        assert_eq!(theirs["name"], full_name.as_str());
        assert_eq!(theirs["version"], ours.version.get());
        assert_eq!(theirs["source"], ours.source.as_str());
        assert_eq!(theirs["run_id"], ours.run_id.as_deref().unwrap());
        assert_eq!(theirs["stage"], ours.stage.as_str());
        assert_eq!(theirs["status"], ours.status.as_str());
        assert_eq!(theirs["description"], ours.description.as_str());
        assert_eq!(theirs["created"], ours.created_at.timestamp_millis());
        let aliases: Vec<&str> = ours
            .aliases
            .iter()
            .map(mlops_registry::Alias::as_str)
            .collect();
        assert_eq!(theirs["aliases"], serde_json::json!(aliases));
        // Python sees our tags plus the metrics snapshot under the reserved prefix.
        let mut tags = serde_json::Map::new();
        for (k, v) in &ours.tags {
            tags.insert(k.clone(), Value::from(v.as_str()));
        }
        for (k, v) in &ours.metrics {
            tags.insert(format!("mlops.metric.{k}"), Value::from(format!("{v:?}")));
        }
        assert_eq!(theirs["tags"], Value::Object(tags), "{key}");
    }
    assert_eq!(got["by_alias"]["version"], 2);
    assert_eq!(got["by_alias"]["stage"], "Production");
    assert_eq!(got["v1"]["stage"], "Archived");
    assert_eq!(got["by_alias"]["description"], "the champion");

    let ours = r.get_registered_model("clf").unwrap();
    let model = &got["model"];
    assert_eq!(model["name"], full_name.as_str());
    assert_eq!(model["created"], ours.created_at.timestamp_millis());
    assert_eq!(
        model["aliases"],
        serde_json::json!({"champion": "2", "previous": "1"})
    );
    let tags = model["tags"].as_object().unwrap();
    assert_eq!(tags["owner"], "ana");
    // The rest are the audit trail, one record per change, readable as JSON by anyone.
    let audit: Vec<(&String, &Value)> = tags
        .iter()
        .filter(|(k, _)| k.starts_with("mlops.audit."))
        .collect();
    assert_eq!(audit.len() + 1, tags.len(), "{tags:?}");
    assert_eq!(audit.len(), r.audit_history("clf").unwrap().len());
    assert_eq!(
        audit.len(),
        7,
        "two creations, two transitions, one archive, two aliases: {audit:?}"
    );
    let mut created = 0;
    for (_, v) in audit {
        let rec: Value = serde_json::from_str(v.as_str().unwrap()).unwrap();
        if rec["change"]["kind"] == "version_created" {
            created += 1;
        } else {
            assert_eq!(rec["actor"], "ci");
        }
    }
    assert_eq!(created, 2);
}

/// Another MLflow client writes tags in our `mlops.` namespace that we cannot read (a metric
/// that is not a number, a digest that is not one, an audit record that is not JSON): reads of
/// the version, of the model and every search keep working; the unreadable tags show as plain
/// tags (the audit record is skipped), with a warning.
#[test]
#[ignore = "needs mlflow"]
fn foreign_or_malformed_tags_never_break_a_read() {
    let r = registry("foreign");
    let digest = Digest::of_bytes(b"model bytes");
    let v = r
        .register_version(
            &NewVersion::new("m", "s3://b/m/1")
                .metric("accuracy", 0.9)
                .metric("loss", 0.1)
                .tag("team", "nlp")
                .digest(digest),
        )
        .unwrap();
    r.set_alias(
        "m",
        &"champion".parse().unwrap(),
        v.version,
        &Change::by("ci"),
    )
    .unwrap();
    let audit_before = r.audit_history("m").unwrap();
    // A foreign client (MLflow's REST API, as any MLflow client) writes into our namespace.
    let http = mlops_mlflow::http::MlflowHttp::new(r.config().clone());
    let full = format!("{}m", r.name_prefix());
    let set = |endpoint: &str, body: Value| {
        http.send(
            mlops_mlflow::http::Method::Post,
            endpoint,
            &body,
            mlops_mlflow::http::Retry::Idempotent,
        )
        .unwrap();
    };
    for (key, value) in [
        ("mlops.metric.accuracy", "high"),
        ("mlops.metric.f1", "NaN"),
        ("mlops.digest", "not-a-digest"),
    ] {
        set(
            "model-versions/set-tag",
            serde_json::json!({"name": full, "version": "1", "key": key, "value": value}),
        );
    }
    set(
        "registered-models/set-tag",
        serde_json::json!({"name": full, "key": "mlops.audit.99999999.00000000", "value": "{not json"}),
    );

    let got = r.get_model_version("m", v.version).unwrap();
    assert_eq!(got.metrics.len(), 1, "{:?}", got.metrics);
    assert_eq!(got.metrics["loss"], 0.1);
    assert_eq!(got.digest, None);
    assert_eq!(got.tags["team"], "nlp");
    assert_eq!(got.tags["mlops.metric.accuracy"], "high");
    assert_eq!(got.tags["mlops.metric.f1"], "NaN");
    assert_eq!(got.tags["mlops.digest"], "not-a-digest");
    assert_eq!(got.tags.len(), 4, "{:?}", got.tags);
    assert_eq!(r.resolve_uri("models:/m@champion").unwrap(), got);
    let found = r
        .search_model_versions(&mlops_registry::Search::filter("name = 'm'").unwrap())
        .unwrap()
        .items;
    assert_eq!(found, std::slice::from_ref(&got));
    let found = r
        .search_model_versions(&mlops_registry::Search::filter("tags.team = 'nlp'").unwrap())
        .unwrap()
        .items;
    assert_eq!(found, std::slice::from_ref(&got));
    assert_eq!(r.versions("m").unwrap(), std::slice::from_ref(&got));
    let models = r
        .search_registered_models(&Default::default())
        .unwrap()
        .items;
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].name, "m");
    assert!(r.get_registered_model("m").unwrap().tags.is_empty());
    assert_eq!(
        r.latest_versions("m", &[]).unwrap(),
        std::slice::from_ref(&got)
    );
    assert_eq!(r.compare_versions("m").unwrap().rows.len(), 1);
    // The unreadable audit record is skipped; ours are all there.
    assert_eq!(r.audit_history("m").unwrap(), audit_before);
    // Our own writes go on, and the history keeps its order after the foreign key.
    r.set_alias(
        "m",
        &"previous".parse().unwrap(),
        v.version,
        &Change::by("ci"),
    )
    .unwrap();
    assert_eq!(r.audit_history("m").unwrap().len(), audit_before.len() + 1);
}
