//! Experiment tracking demo: three hyper-parameter configurations of an image classifier, a
//! simulated training curve logged per epoch through `mlops-tracking`'s active-run guard on the
//! file backend, the comparison table, a filtered search, and the best run by validation
//! accuracy.
//!
//! Usage: `cargo run --release -p mlops-examples --bin tracking_demo -- [--data DIR]`
//! (default `./mlops-data`; the store goes to `DIR/tracking`). Like MLflow, each run of the demo
//! appends three runs to the experiment; delete `DIR/tracking` to start over.
//!
//! With `MLFLOW_TRACKING_URI` set (say `http://127.0.0.1:5000`, after
//! `mlflow server --backend-store-uri sqlite:///mlflow.db --port 5000`), the same code logs to
//! that MLflow server instead, through `MlflowTrackingBackend`, and the runs show in its UI.
//! That path needs the examples' `mlflow` feature (`--features mlflow`), which compiles the HTTP
//! client and its TLS stack; the default build has neither.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::sync::Arc;

#[cfg(feature = "mlflow")]
use mlops_tracking::MlflowTrackingBackend;
use mlops_tracking::{
    CreateRun, Direction, FileTrackingBackend, RunStatus, SearchRuns, Tracker, TrackingBackend,
};

struct Config {
    run_name: &'static str,
    learning_rate: f64,
    batch_size: u32,
    epochs: u32,
    optimizer: &'static str,
    model_type: &'static str,
}

const CONFIGS: [Config; 3] = [
    Config {
        run_name: "baseline",
        learning_rate: 0.01,
        batch_size: 32,
        epochs: 5,
        optimizer: "SGD",
        model_type: "ResNet18",
    },
    Config {
        run_name: "lr_tuned",
        learning_rate: 0.001,
        batch_size: 32,
        epochs: 5,
        optimizer: "Adam",
        model_type: "ResNet18",
    },
    Config {
        run_name: "large_batch",
        learning_rate: 0.001,
        batch_size: 64,
        epochs: 5,
        optimizer: "Adam",
        model_type: "ResNet50",
    },
];

/// A small deterministic generator (no dependency, same numbers on every machine).
struct Rng(u64);

impl Rng {
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let unit = (self.0 >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * unit
    }
}

/// One epoch's metrics of the simulated training.
struct Epoch {
    train_loss: f64,
    train_accuracy: f64,
    val_loss: f64,
    val_accuracy: f64,
}

/// The seed's simulation: accuracy grows with progress, better with lr near 0.001 and bigger
/// batches; loss falls; validation trails training.
fn simulate(c: &Config, seed: u64) -> Vec<Epoch> {
    let mut rng = Rng(seed);
    let mut base_acc = 0.7 + 0.1 * (1.0 - (c.learning_rate - 0.001).abs() / 0.01);
    base_acc += 0.05 * f64::from(c.batch_size) / 64.0;
    let base_acc = base_acc.min(0.98);
    (0..c.epochs)
        .map(|epoch| {
            let progress = f64::from(epoch + 1) / f64::from(c.epochs);
            let noise = rng.uniform(-0.02, 0.02);
            let train_loss = 2.0 * (1.0 - progress) + 0.1 + noise;
            let train_acc = base_acc * progress + noise;
            let val_loss = train_loss + rng.uniform(0.0, 0.3);
            let val_acc = train_acc - rng.uniform(0.0, 0.05);
            Epoch {
                train_loss: train_loss.max(0.01),
                train_accuracy: train_acc.clamp(0.0, 0.99),
                val_loss: val_loss.max(0.01),
                val_accuracy: val_acc.clamp(0.0, 0.99),
            }
        })
        .collect()
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let data = mlops_examples::data_dir_arg("tracking_demo")?;
    // The one line that changes between a local store and a shared MLflow server.
    let backend: Arc<dyn TrackingBackend> = match std::env::var("MLFLOW_TRACKING_URI") {
        #[cfg(feature = "mlflow")]
        Ok(uri) if !uri.is_empty() => {
            let mlflow = MlflowTrackingBackend::from_env()?;
            mlflow.health()?;
            println!("tracking server: {uri} (open it in a browser for the MLflow UI)");
            Arc::new(mlflow)
        }
        #[cfg(not(feature = "mlflow"))]
        Ok(uri) if !uri.is_empty() => {
            return Err(format!(
                "MLFLOW_TRACKING_URI is set ({uri}) but this build has no MLflow client: \
                 run with `--features mlflow`, or unset MLFLOW_TRACKING_URI for the file store"
            )
            .into());
        }
        _ => {
            let store = data.join("tracking");
            println!("tracking store: {}", store.display());
            Arc::new(FileTrackingBackend::open(&store)?)
        }
    };
    let tracker = Tracker::from_arc(Arc::clone(&backend));
    let experiment = "image_classification_v1";

    let mut run_ids = Vec::new();
    for (i, c) in CONFIGS.iter().enumerate() {
        let mut run = tracker.start_run(
            experiment,
            CreateRun::new()
                .run_name(c.run_name)
                .tag("model_type", c.model_type)
                .tag("env", "dev")
                .tag(mlops_tracking::tags::TAG_SOURCE_NAME, "tracking_demo"),
        )?;
        run.log_params([
            ("learning_rate", c.learning_rate.to_string()),
            ("batch_size", c.batch_size.to_string()),
            ("epochs", c.epochs.to_string()),
            ("optimizer", c.optimizer.to_owned()),
            ("model_type", c.model_type.to_owned()),
        ])?;
        let history = simulate(c, 42 + i as u64);
        for (step, e) in history.iter().enumerate() {
            run.log_metrics(
                [
                    ("train_loss", e.train_loss),
                    ("train_accuracy", e.train_accuracy),
                    ("val_loss", e.val_loss),
                    ("val_accuracy", e.val_accuracy),
                ],
                i64::try_from(step)?,
            )?;
        }
        let last = history.last().ok_or("no epochs")?;
        run.log_metric("accuracy", last.val_accuracy, i64::from(c.epochs))?;
        // Stand-ins for the model file and the learning-curve plot.
        let model = format!("{} weights after {} epochs\n", c.model_type, c.epochs);
        run.log_artifact_bytes(
            &format!("models/{}_model.bin", c.run_name),
            model.as_bytes(),
        )?;
        let curve: String = history
            .iter()
            .enumerate()
            .map(|(s, e)| format!("{s},{:.4},{:.4}\n", e.train_loss, e.val_loss))
            .collect();
        let info = run.log_artifact_bytes(
            &format!("plots/{}_learning_curve.csv", c.run_name),
            curve.as_bytes(),
        )?;
        println!(
            "run {} ({}): {} epochs logged, artifact {} sha256 {}…",
            c.run_name,
            run.run_id(),
            c.epochs,
            info.path,
            &info.sha256[..12]
        );
        run_ids.push(run.run_id());
        run.end(RunStatus::Finished)?;
    }

    let comparison = tracker.compare_runs(&run_ids)?;
    println!();
    print!("{comparison}");

    let exp = backend
        .get_experiment_by_name(experiment)?
        .ok_or("experiment missing")?;
    let adam = backend.search_runs(
        &SearchRuns::new([exp.experiment_id.clone()])
            .filter("params.optimizer = 'Adam' and metrics.val_accuracy > 0.5")
            .order_by("metrics.val_accuracy DESC"),
    )?;
    println!();
    println!("runs with params.optimizer = 'Adam' and metrics.val_accuracy > 0.5:");
    for r in &adam.items {
        println!(
            "  {:<12} val_accuracy {:.4}",
            r.info.run_name,
            r.metric("val_accuracy").unwrap_or(f64::NAN)
        );
    }

    let best = tracker
        .best_run(&exp.experiment_id, "val_accuracy", Direction::Maximize)?
        .ok_or("no run logged val_accuracy")?;
    let lowest_loss = tracker
        .best_run(&exp.experiment_id, "val_loss", Direction::Minimize)?
        .ok_or("no run logged val_loss")?;
    println!();
    println!(
        "best run by val_accuracy: {} (val_accuracy={:.4})",
        best.info.run_name,
        best.metric("val_accuracy").unwrap_or(f64::NAN)
    );
    println!(
        "lowest val_loss: {} (val_loss={:.4})",
        lowest_loss.info.run_name,
        lowest_loss.metric("val_loss").unwrap_or(f64::NAN)
    );
    // Like MLflow, every run of the demo appends three new runs to the experiment.
    let mut total = 0;
    let mut page = SearchRuns::new([exp.experiment_id.clone()]).max_results(1000);
    loop {
        let found = backend.search_runs(&page)?;
        total += found.items.len();
        match found.next_page_token {
            Some(token) => page = page.page_token(Some(token)),
            None => break,
        }
    }
    println!();
    println!(
        "experiment {experiment} now holds {total} runs: each run of this demo appends three, as \
         MLflow does (delete {} to start over)",
        data.join("tracking").display()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
