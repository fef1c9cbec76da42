//! The main job's quality gate, on the file backends in a temp folder: what a failed gate leaves.

use mlops_examples::workflow::{self, Options};
use mlops_pipeline::StepStatus;
use mlops_registry::{FileRegistry, RegistryStore, Search};

/// `--bad-data`: validation fails, and nothing downstream of it runs: no model is registered,
/// not even the legacy model the `production` step bootstraps on a fresh registry.
#[test]
fn failed_quality_gate_stops_registration() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        data: dir.path().to_path_buf(),
        memory: false,
        reset: false,
        bad_data: true,
    };
    let outcome = workflow::run(&opts).unwrap();
    assert!(!outcome.is_success());
    let report = &outcome.report;
    assert_eq!(report.step("validate").unwrap().status, StepStatus::Failed);
    for step in ["production", "evaluate", "register", "serve"] {
        assert_eq!(
            report.step(step).unwrap().status,
            StepStatus::Skipped,
            "{step} must not run after a failed quality gate"
        );
    }
    let registry = FileRegistry::open(dir.path().join("registry")).unwrap();
    let models = registry
        .search_registered_models(&Search::default())
        .unwrap();
    assert!(
        models.items.is_empty(),
        "no model may be registered: {:?}",
        models.items.iter().map(|m| &m.name).collect::<Vec<_>>()
    );
}
