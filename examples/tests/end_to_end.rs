//! Runs the `end_to_end` binary and checks the key facts of its output: data versions created,
//! validation, the leak check, runs logged, the evaluation reports, the promotion and the denial,
//! predictions with feature statuses; then a second run served from the step cache, a run on the
//! in-memory backends, and a run whose data fails validation.

use std::path::Path;
use std::process::{Command, Output};

fn run(data: &Path, extra: &[&str]) -> (bool, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_end_to_end"))
        .arg("--data")
        .arg(data)
        .args(extra)
        .output()
        .expect("the end_to_end binary runs");
    let out = String::from_utf8(stdout).expect("utf-8 output");
    let err = String::from_utf8_lossy(&stderr);
    (status.success(), format!("{out}{err}"))
}

#[track_caller]
fn has(out: &str, needle: &str) {
    assert!(
        out.contains(needle),
        "expected {needle:?} in the output:\n{out}"
    );
}

/// The lines of one step.
fn lines<'a>(out: &'a str, step: &str) -> Vec<&'a str> {
    let prefix = format!("[{step}] ");
    out.lines().filter(|l| l.starts_with(&prefix)).collect()
}

#[test]
fn full_run_then_cached_run() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run(dir.path(), &[]);
    assert!(ok, "first run failed:\n{out}");

    // 1. Data versions.
    has(&out, "[data] customers.csv v1 saved (4000 rows");
    has(&out, "[data] customers.csv v2 saved (5000 rows");
    has(&out, "diff v1 -> v2: 1000 lines added, 0 removed");
    assert!(dir.path().join("data/customers.csv.dvc.json").is_file());
    // 2. Validation.
    has(&out, "checks passed");
    assert!(dir.path().join("reports/data_validation.json").is_file());
    // 3. Point-in-time join: neither the late row nor the future row leaked.
    has(&out, "(after the label time), support_tickets=");
    has(&out, "(after the cutoff 2026-01-26 00:00)");
    let leak = lines(&out, "features")
        .into_iter()
        .find(|l| l.contains("training set has support_tickets="))
        .expect("leak-check line");
    assert!(
        leak.contains("without the cutoff the join would give"),
        "{leak}"
    );
    // 4. Three runs logged, each with its epochs and artifact; a best run.
    let runs: Vec<&str> = lines(&out, "train")
        .into_iter()
        .filter(|l| l.contains(" logged: "))
        .collect();
    assert_eq!(runs.len(), 3, "{out}");
    assert!(runs.iter().all(|l| l.contains("artifact model/model.json")));
    has(&out, "run comparison (3 runs)");
    has(&out, "[train] best run: gd-");
    // 5. Evaluation with thresholds, regression, latency and drift; both reports written.
    has(&out, "[evaluate] Result: ALL PASSED");
    has(&out, "no regression vs production v1");
    has(&out, "predict latency: n=20000 p50=");
    has(&out, "[drift] dataset drift: no (2 of 5 columns");
    let json = std::fs::read_to_string(dir.path().join("reports/evaluation.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["failed"], 0, "{json}");
    assert_eq!(report["total"], 6, "{json}");
    let junit = std::fs::read_to_string(dir.path().join("reports/evaluation.junit.xml")).unwrap();
    assert!(
        junit.contains("<testsuite") && junit.contains("failures=\"0\""),
        "{junit}"
    );
    // 6. Registry: legacy bootstrap, the best model promoted, the weaker one denied.
    has(
        &out,
        "registered as churn-classifier v1 -> Production, @champion",
    );
    has(
        &out,
        "[register] churn-classifier v2 promoted through the gate: Production, alias @champion",
    );
    has(
        &out,
        "[register] promotion of v3 to Production DENIED by the gate:",
    );
    has(&out, "test_auc regressed:");
    // 7. Serving by alias, with statuses.
    has(
        &out,
        "[serve] loaded models:/churn-classifier@champion -> v2",
    );
    let predictions: Vec<&str> = lines(&out, "serve")
        .into_iter()
        .filter(|l| l.contains("churn probability"))
        .collect();
    assert_eq!(predictions.len(), 4, "{out}");
    has(&out, "customer      1: features expired, no prediction");
    has(&out, "customer 999999: features not_found, no prediction");
    // 8. The pipeline ran every step the first time.
    has(&out, "steps restored from the cache: none");
    assert!(dir.path().join("reports/pipeline_run.json").is_file());

    // Second run: the five pure steps come from the cache; nothing is registered twice.
    let (ok, out) = run(dir.path(), &[]);
    assert!(ok, "second run failed:\n{out}");
    has(
        &out,
        "steps restored from the cache: data, validate, features, drift, train",
    );
    has(&out, "steps run: production, evaluate, register, serve");
    for step in ["data", "validate", "features", "drift", "train"] {
        has(
            &out,
            &format!("[{step}] cached: output restored, step not run"),
        );
    }
    has(
        &out,
        "already holds Production and @champion: nothing to promote",
    );
    has(&out, "[register] promotion of v3 to Production DENIED");
    has(
        &out,
        "[serve] loaded models:/churn-classifier@champion -> v2",
    );

    // --reset starts clean: nothing cached.
    let (ok, out) = run(dir.path(), &["--reset"]);
    assert!(ok, "reset run failed:\n{out}");
    has(&out, "steps restored from the cache: none");
    has(&out, "[data] customers.csv v1 saved");
}

#[test]
fn memory_backends() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run(dir.path(), &["--memory"]);
    assert!(ok, "memory run failed:\n{out}");
    has(&out, "in-memory backends");
    has(&out, "[data] customers.csv v2 saved (5000 rows");
    has(
        &out,
        "[register] churn-classifier v2 promoted through the gate",
    );
    has(&out, "[register] promotion of v3 to Production DENIED");
    has(
        &out,
        "[serve] customer   5001: features present, churn probability",
    );
    // Nothing but the working copy and the reports touched the disk.
    assert!(!dir.path().join("tracking").exists());
    assert!(!dir.path().join("registry").exists());
    assert!(!dir.path().join("memory/data/.mlops-dvc/cache").exists());
    assert!(dir.path().join("memory/reports/evaluation.json").is_file());
}

#[test]
fn invalid_data_stops_the_workflow_with_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run(dir.path(), &["--bad-data", "--memory"]);
    assert!(!ok, "a run with invalid data must fail:\n{out}");
    has(&out, "DATA VALIDATION FAILED");
    has(&out, "tenure_months");
    has(&out, "contract");
    has(&out, "WORKFLOW STOPPED: validate");
    for step in [
        "features",
        "drift",
        "train",
        "production",
        "evaluate",
        "register",
        "serve",
    ] {
        has(&out, &format!("[{step}] skipped"));
    }
    assert!(
        dir.path()
            .join("memory/reports/data_validation.json")
            .is_file()
    );
}
