//! The ML CI demo with `mlops-testing`: generates the GitHub Actions workflow, runs a suite of
//! checks (schema with a missing label, accuracy threshold, latency P95 of a measured closure,
//! regression against a baseline in which a latency metric regresses, drift between a reference
//! and a shifted dataset), prints the text report, writes the JSON and JUnit reports, and prints
//! the production-readiness checklist.
//!
//! The suite is expected to fail exactly where the scenario plants problems (the missing label,
//! the latency regression, the drifted column); the demo exits 0 when those and only those checks
//! fail, and non-zero otherwise.
//!
//! Usage: `cargo run --release -p mlops-examples --bin testing_demo -- [--data DIR]`
//! (default `./mlops-data`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::process::ExitCode;

use mlops_testing::ci_workflow::Workflow;
use mlops_testing::{
    CheckStatus, Column, Dataset, DriftOptions, Expectation, ModelMetric, Suite, Threshold,
    Validator, drift_report, latency::measure_latency, metric_check, metrics::Average,
    metrics::accuracy, metrics::precision_recall_f1, readiness::Checklist, regression::MetricSpec,
    regression::Tolerance, regression::compare_to_baseline, stats::QuantileMethod,
    validate::ValueType,
};
use serde_json::json;

/// Deterministic uniform values in [0, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn dataset(
    rng: &mut Lcg,
    n: usize,
    income_shift: f64,
) -> Result<Dataset, mlops_testing::TestingError> {
    let mut age = Vec::with_capacity(n);
    let mut income = Vec::with_capacity(n);
    let mut plan = Vec::with_capacity(n);
    for _ in 0..n {
        age.push((18.0 + 50.0 * (rng.next() + rng.next()) / 2.0).floor());
        income.push(
            30_000.0 + 40_000.0 * (rng.next() + rng.next() + rng.next()) / 3.0 + income_shift,
        );
        let u = rng.next();
        plan.push(Some(
            if u < 0.5 {
                "basic"
            } else if u < 0.8 {
                "plus"
            } else {
                "pro"
            }
            .to_owned(),
        ));
    }
    Dataset::new()
        .with_column("age", Column::Numeric(age))?
        .with_column("income", Column::Numeric(income))?
        .with_column("plan", Column::Categorical(plan))
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let data = mlops_examples::data_dir_arg("testing_demo")?;
    let dir = data.join("testing");
    std::fs::create_dir_all(&dir)?;

    // 1. The CI workflow, validated and rendered.
    let workflow = Workflow::ml_ci_pipeline();
    let yaml = workflow.to_yaml()?;
    std::fs::write(dir.join("ml-ci.yml"), &yaml)?;
    println!(
        "{}\nGitHub Actions workflow ({} jobs), first lines:\n{}",
        "=".repeat(60),
        workflow.jobs.len(),
        "=".repeat(60)
    );
    for line in yaml.lines().take(14) {
        println!("{line}");
    }
    println!("... written to {}\n", dir.join("ml-ci.yml").display());

    let mut suite = Suite::new("ml-ci");

    // 2. Data schema over all rows: the third row has no label.
    let rows = vec![
        json!({"text": "sample 1", "label": 1, "id": 1}),
        json!({"text": "sample 2", "label": 0, "id": 2}),
        json!({"text": "sample 3", "id": 3}),
    ];
    let validator = Validator::new(vec![
        Expectation::not_null("text"),
        Expectation::not_null("label"),
        Expectation::not_null("id"),
        Expectation::of_type("id", ValueType::Integer),
        Expectation::unique("id"),
        Expectation::in_set("label", [json!(0), json!(1)]),
    ])?;
    suite.extend(validator.validate(&rows)?.to_checks());

    // 3. Model quality with explicit directions.
    let y_true = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1];
    let y_pred = [1, 0, 1, 0, 0, 1, 0, 1, 1, 1];
    suite.push(metric_check(
        "accuracy >= 0.75",
        "model",
        "accuracy",
        accuracy(&y_true, &y_pred),
        Threshold::at_least(0.75),
    ));
    let f1 = precision_recall_f1(&y_true, &y_pred, &Average::Binary(1)).map(|p| p.f1);
    suite.push(ModelMetric::F1.check("f1 >= 0.75", f1, 0.75));

    // 4. Latency of a "model" closure, measured after warm-up (numpy's linear percentiles).
    let weights: Vec<f64> = (0..4096).map(|i| f64::from(i).sin()).collect();
    let mut sink = 0.0;
    let latency = measure_latency(20, 200, QuantileMethod::Linear, || {
        sink += weights.iter().map(|w| w * 0.5).sum::<f64>();
    })?;
    std::hint::black_box(sink);
    suite.push(latency.check("latency p95 <= 100 ms", "p95", 100.0));

    // 5. Regression against the baseline: accuracy up, f1 within tolerance, latency up 37.5%.
    let baseline: BTreeMap<String, f64> =
        [("accuracy", 0.88), ("f1", 0.86), ("latency_p95_ms", 40.0)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
    let current: BTreeMap<String, f64> =
        [("accuracy", 0.91), ("f1", 0.85), ("latency_p95_ms", 55.0)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
    let regression = compare_to_baseline(
        &baseline,
        &current,
        &[
            MetricSpec::maximize("accuracy", Tolerance::Absolute(0.02)),
            MetricSpec::maximize("f1", Tolerance::Absolute(0.02)),
            MetricSpec::minimize("latency_p95_ms", Tolerance::Relative(0.10)),
        ],
    )?;
    println!("Regression against the baseline:\n{regression}\n");
    suite.push(regression.to_check("no regression against baseline"));

    // 6. Drift: reference vs a current dataset whose income is shifted.
    let mut rng = Lcg(7);
    let reference = dataset(&mut rng, 5_000, 0.0)?;
    let shifted = dataset(&mut rng, 5_000, 4_000.0)?;
    let drift = drift_report(&reference, &shifted, &DriftOptions::default())?;
    println!("Drift (Evidently defaults):\n{drift}\n");
    for c in &drift.columns {
        suite.push(
            mlops_testing::CheckResult::verdict(
                format!("no drift in {}", c.column),
                "drift",
                !c.drift_detected,
                format!(
                    "{} score {:.4} (threshold {})",
                    c.method, c.score, c.threshold
                ),
            )
            .with_details(serde_json::to_value(c)?),
        );
    }

    // 7. Reports.
    let report = suite.report();
    println!("{report}\n");
    let json_path = dir.join("report.json");
    let junit_path = dir.join("junit.xml");
    report.write_json(&json_path)?;
    report.write_junit(&junit_path)?;
    println!("wrote {} and {}", json_path.display(), junit_path.display());
    println!(
        "a CI step running this suite would exit with code {}\n",
        report.exit_code()
    );

    // 8. The production-readiness checklist.
    let mut checklist = Checklist::production("text classification service", "2024-01-15");
    for (category, results) in [
        ("Code and version control", [true, true, true, true]),
        ("Data management", [true, true, false, true]),
        ("Experiment tracking", [true, true, true, true]),
        ("Model management", [true, true, false, true]),
        ("CI/CD", [true, true, true, false]),
        ("Monitoring and alerting", [true, false, true, true]),
    ] {
        checklist.set_category(category, &results)?;
    }
    let readiness = checklist.evaluate()?;
    println!("{readiness}");
    std::fs::write(
        dir.join("readiness.json"),
        serde_json::to_string_pretty(&readiness)?,
    )?;

    // The planted problems, and only those, must be caught.
    let failed: Vec<&str> = report
        .results
        .iter()
        .filter(|r| r.status != CheckStatus::Passed)
        .map(|r| r.name.as_str())
        .collect();
    let expected = [
        "expect_column_values_to_not_be_null(label)",
        "no regression against baseline",
        "no drift in income",
    ];
    let as_expected = failed == expected;
    if !as_expected {
        eprintln!("unexpected outcome: failed checks {failed:?}, expected {expected:?}");
    }
    Ok(as_expected)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => {
            println!(
                "\ndemo outcome as expected: the missing label, the latency regression and the income drift were caught"
            );
            ExitCode::SUCCESS
        }
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("testing_demo: {e}");
            ExitCode::FAILURE
        }
    }
}
