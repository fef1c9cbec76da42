//! The text-classification pipeline: ingestion, validation, feature engineering, training,
//! evaluation with an accuracy threshold, deployment, run with `mlops-pipeline` and a file
//! step cache.
//!
//! 1. First run: every step runs (events are printed as they happen).
//! 2. Second run, unchanged: the five cached steps are restored from the cache; deployment (a
//!    side effect, deliberately not cached) runs again.
//! 3. Third run with a threshold the model cannot meet: evaluation fails (not retried: the
//!    retry predicate skips threshold errors), deployment is skipped, and the summary table and
//!    a JSON report show why.
//! 4. Fourth run with a reachable threshold: resume, only evaluation and deployment run.
//!
//! Usage: `cargo run --release -p mlops-examples --bin pipeline_demo -- [--data DIR]`
//! (default `./mlops-data`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mlops_pipeline::{
    Event, FileCache, Observer, Pipeline, RetryPolicy, RunOptions, RunReport, StepError, StepStatus,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Row {
    id: u32,
    text: String,
    label: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Features {
    id: u32,
    text_length: usize,
    has_positive_word: bool,
    has_negative_word: bool,
    label: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Model {
    model_type: String,
    train_accuracy: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Evaluation {
    accuracy: f64,
    threshold: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Deployment {
    target: String,
    accuracy: f64,
    path: String,
}

/// The evaluation's typed error, so that the retry predicate can recognise it.
#[derive(Debug, thiserror::Error)]
#[error("model accuracy {accuracy:.2} is below the threshold {threshold:.2}")]
struct BelowThreshold {
    accuracy: f64,
    threshold: f64,
}

fn predict(f: &Features) -> u8 {
    let score = i32::from(f.has_positive_word) - i32::from(f.has_negative_word);
    u8::from(score >= 0)
}

fn build(threshold: f64, deploy_dir: &Path) -> Result<Pipeline, mlops_pipeline::PipelineError> {
    let mut b = Pipeline::builder("text_classification_pipeline");
    b.step("data_ingestion", |ctx| {
        let source: String = ctx.param("source")?;
        let rows = [
            (1, "这个产品很好", 1),
            (2, "质量太差了", 0),
            (3, "还可以吧", 1),
            (4, "非常满意", 1),
            (5, "不推荐购买", 0),
        ];
        println!("  [data_ingestion] read {} rows from {source}", rows.len());
        Ok(rows
            .into_iter()
            .map(|(id, text, label)| Row {
                id,
                text: text.to_owned(),
                label,
            })
            .collect::<Vec<_>>())
    })
    .param("source", "database")
    .cache("v1");

    b.step("data_validation", |ctx| {
        let rows: &Vec<Row> = ctx.input("data_ingestion")?;
        let min_samples: usize = ctx.param("min_samples")?;
        if rows.len() < min_samples {
            return Err(StepError::msg(format!(
                "{} rows, fewer than {min_samples}",
                rows.len()
            )));
        }
        let positive = rows.iter().filter(|r| r.label == 1).count() as f64 / rows.len() as f64;
        if !(0.1..=0.9).contains(&positive) {
            return Err(StepError::msg(format!(
                "labels are unbalanced: {:.0}% positive",
                positive * 100.0
            )));
        }
        println!(
            "  [data_validation] {} rows, {:.0}% positive, {:.0}% negative",
            rows.len(),
            positive * 100.0,
            (1.0 - positive) * 100.0
        );
        Ok(rows.clone())
    })
    .after(["data_ingestion"])
    .param("min_samples", 3)
    .cache("v1");

    b.step("feature_engineering", |ctx| {
        let rows: &Vec<Row> = ctx.input("data_validation")?;
        let features: Vec<Features> = rows
            .iter()
            .map(|r| Features {
                id: r.id,
                text_length: r.text.chars().count(),
                has_positive_word: ["好", "满意", "推荐"].iter().any(|w| r.text.contains(w)),
                has_negative_word: ["差", "不"].iter().any(|w| r.text.contains(w)),
                label: r.label,
            })
            .collect();
        println!(
            "  [feature_engineering] {} rows, 3 features",
            features.len()
        );
        Ok(features)
    })
    .after(["data_validation"])
    .cache("v1");

    b.step("model_training", |ctx| {
        let features: &Vec<Features> = ctx.input("feature_engineering")?;
        let model_type: String = ctx.param("model_type")?;
        let correct = features.iter().filter(|f| predict(f) == f.label).count();
        let train_accuracy = correct as f64 / features.len().max(1) as f64;
        println!("  [model_training] {model_type}: training accuracy {train_accuracy:.2}");
        Ok(Model {
            model_type,
            train_accuracy,
        })
    })
    .after(["feature_engineering"])
    .param("model_type", "rule_based")
    .cache("v1");

    b.step("model_evaluation", |ctx| {
        let model: &Model = ctx.input("model_training")?;
        let threshold: f64 = ctx.param("accuracy_threshold")?;
        println!(
            "  [model_evaluation] accuracy {:.2}, threshold {threshold:.2}",
            model.train_accuracy
        );
        if model.train_accuracy < threshold {
            return Err(BelowThreshold {
                accuracy: model.train_accuracy,
                threshold,
            }
            .into());
        }
        Ok(Evaluation {
            accuracy: model.train_accuracy,
            threshold,
        })
    })
    .after(["model_training"])
    .param("accuracy_threshold", threshold)
    .retry(
        RetryPolicy::fixed(2, Duration::from_millis(20))
            .retry_if(|e| e.downcast_ref::<BelowThreshold>().is_none()),
    )
    .cache("v1");

    let deploy_dir = deploy_dir.to_path_buf();
    b.step("model_deployment", move |ctx| {
        let eval: &Evaluation = ctx.input("model_evaluation")?;
        let target: String = ctx.param("target")?;
        fs::create_dir_all(&deploy_dir)?;
        let path = deploy_dir.join(format!("{target}.json"));
        let info = Deployment {
            target,
            accuracy: eval.accuracy,
            path: path.display().to_string(),
        };
        fs::write(&path, serde_json::to_vec_pretty(&info)?)?;
        println!("  [model_deployment] wrote {}", path.display());
        Ok(info)
    })
    .after(["model_evaluation"])
    .param("target", "staging");

    b.build()
}

/// Prints the run's events as they happen.
#[derive(Debug)]
struct Printer;

impl Observer for Printer {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::StepStarted { step, attempt } => println!("> {step} (attempt {attempt})"),
            Event::StepFinished {
                step,
                status,
                duration,
                ..
            } => println!(
                "< {step}: {status} in {:.3} ms",
                duration.as_secs_f64() * 1e3
            ),
            Event::StepCached { step, .. } => println!("= {step}: restored from the cache"),
            Event::StepSkipped { step, reason } => println!("- {step}: skipped ({reason})"),
            Event::AttemptFailed {
                step,
                error,
                retry_in,
                ..
            } => println!("! {step}: {error}; retrying in {retry_in:?}"),
            Event::CacheProblem { step, detail } => println!("? {step}: {detail}"),
            _ => {}
        }
    }
}

fn expect(report: &RunReport, step: &str, want: StepStatus) -> Result<(), String> {
    let got = report.step(step).map(|s| s.status);
    if got == Some(want) {
        Ok(())
    } else {
        Err(format!("{step}: expected {want}, got {got:?}"))
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let data = mlops_examples::data_dir_arg("pipeline_demo")?.join("pipeline");
    // Start from an empty cache so that every run of the demo shows the same thing.
    if data.exists() {
        fs::remove_dir_all(&data)?;
    }
    let cache = Arc::new(FileCache::open(data.join("cache"))?);
    let deploy_dir = data.join("deployments");
    let opts = RunOptions::new().threads(2).cache(cache.clone());
    let cached_steps = [
        "data_ingestion",
        "data_validation",
        "feature_engineering",
        "model_training",
        "model_evaluation",
    ];

    println!("=== run 1: empty cache at {}", data.join("cache").display());
    let first = build(0.6, &deploy_dir)?.run(&opts.clone().observer(Arc::new(Printer)));
    println!("\n{first}\n");
    if !first.is_success() {
        return Err("run 1 should pass".into());
    }

    println!("=== run 2: unchanged, served from the cache");
    let second = build(0.6, &deploy_dir)?.run(&opts);
    println!("\n{second}\n");
    for s in cached_steps {
        expect(&second, s, StepStatus::Cached)?;
    }
    expect(&second, "model_deployment", StepStatus::Completed)?;
    println!(
        "run 2 took {:.3} ms against {:.3} ms for run 1",
        second.duration.as_secs_f64() * 1e3,
        first.duration.as_secs_f64() * 1e3
    );

    println!("\n=== run 3: accuracy threshold 0.90, which the model does not reach");
    let third = build(0.9, &deploy_dir)?.run(&opts.clone().observer(Arc::new(Printer)));
    println!("\n{third}\n");
    expect(&third, "model_evaluation", StepStatus::Failed)?;
    expect(&third, "model_deployment", StepStatus::Skipped)?;
    let json_path = data.join("report-run3.json");
    fs::write(&json_path, third.to_json()?)?;
    println!("JSON report written to {}", json_path.display());

    println!("\n=== run 4: threshold 0.70, resuming: only evaluation and deployment run");
    let fourth = build(0.7, &deploy_dir)?.run(&opts);
    println!("\n{fourth}\n");
    for s in &cached_steps[..4] {
        expect(&fourth, s, StepStatus::Cached)?;
    }
    expect(&fourth, "model_evaluation", StepStatus::Completed)?;
    expect(&fourth, "model_deployment", StepStatus::Completed)?;
    let deployed: &Deployment = fourth.output("model_deployment")?;
    println!(
        "deployed to {} with accuracy {:.2} ({})",
        deployed.target, deployed.accuracy, deployed.path
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pipeline_demo: {e}");
            ExitCode::FAILURE
        }
    }
}
