//! Model registry demo: the "模型注册与版本管理" scenario on a file registry.
//!
//! A text classifier gets three versions; v1 is archived, v2 goes to Production, v3 to Staging
//! and then to Production, which archives v2 automatically. The comparison table and the
//! current Production version follow. Then the same release flow with aliases: `champion`
//! moves only through a promotion gate, which refuses a version whose accuracy regressed and
//! says why.
//!
//! Usage: `cargo run --release -p mlops-examples --bin registry_demo -- [--data DIR]`
//! (default `./mlops-data`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use mlops_registry::{
    Alias, Change, Direction, FileRegistry, Gate, ModelVersionNumber, NewModel, NewVersion,
    RegistryError, RegistryStore, RegistryStoreExt, Search, Stage,
};

const MODEL: &str = "text_classifier";

fn check(ok: bool, what: &str) -> Result<(), Box<dyn std::error::Error>> {
    if ok {
        Ok(())
    } else {
        Err(format!("unexpected outcome: {what}").into())
    }
}

fn transition(
    reg: &dyn RegistryStore,
    version: u64,
    stage: Stage,
) -> Result<(), Box<dyn std::error::Error>> {
    let v = ModelVersionNumber::new(version)?;
    let before = reg.get_model_version(MODEL, v)?.stage;
    // Archive the current holders when promoting into an active stage, as the seed does.
    let archive = matches!(stage, Stage::Production | Stage::Staging);
    let others: Vec<u64> = reg
        .search_model_versions(&Search::filter(&format!(
            "name = '{MODEL}' AND current_stage = '{stage}'"
        ))?)?
        .items
        .iter()
        .map(|x| x.version.get())
        .filter(|n| *n != version && archive)
        .collect();
    reg.transition_stage(
        MODEL,
        v,
        stage,
        archive,
        &Change::by("release-bot").comment("demo"),
    )?;
    for n in others {
        println!("  [archive] v{n} archived from {stage}");
    }
    println!("[stage] {MODEL} v{version}: {before} -> {stage}");
    Ok(())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let data = mlops_examples::data_dir_arg("registry_demo")?;
    let dir = data.join("registry_demo");
    // Start from scratch so every run prints the same story.
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let reg = FileRegistry::open(&dir)?;
    println!("registry in {}", dir.display());

    reg.create_registered_model(
        &NewModel::new(MODEL)
            .description("text classifier: news topics")
            .tag("team", "nlp")
            .tag("framework", "pytorch"),
    )?;
    println!("[register] model '{MODEL}'");

    let runs = [
        ("abc123def456", 0.85, 0.83, 45.0, "baseline BERT"),
        (
            "xyz789ghi012",
            0.91,
            0.89,
            42.0,
            "data augmentation + LR schedule",
        ),
        ("mno345pqr678", 0.93, 0.92, 38.0, "knowledge distillation"),
    ];
    for (i, (run, acc, f1, latency, desc)) in runs.iter().enumerate() {
        let v = reg.create_model_version(
            &NewVersion::new(MODEL, format!("models/v{}/model.pth", i + 1))
                .run_id(*run)
                .description(*desc)
                .metric("accuracy", *acc)
                .metric("f1", *f1)
                .metric("latency_ms", *latency),
        )?;
        println!(
            "[version] '{MODEL}' v{} created (run {}): {:?}",
            v.version, run, v.metrics
        );
    }

    transition(&reg, 1, Stage::Archived)?;
    transition(&reg, 2, Stage::Production)?;
    transition(&reg, 3, Stage::Staging)?;
    println!("\n--- promote v3 to Production (v2 is archived automatically) ---");
    transition(&reg, 3, Stage::Production)?;

    println!("\nregistered models:");
    for m in reg.search_registered_models(&Search::all())?.items {
        println!(
            "  {} - {} ({} versions)",
            m.name, m.description, m.latest_version
        );
        for v in reg.versions(&m.name)? {
            let metrics: Vec<String> = v
                .metrics
                .iter()
                .map(|(k, x)| format!("{k}={x:.4}"))
                .collect();
            let run = v.run_id.as_deref().unwrap_or("-");
            println!(
                "    v{} [{}] run={} | {}",
                v.version,
                v.stage,
                &run[..run.len().min(8)],
                metrics.join(", ")
            );
        }
    }

    let table = reg.compare_versions(MODEL)?;
    println!("\n{table}");
    check(
        table.best("accuracy") == [ModelVersionNumber::new(3)?],
        "v3 has the best accuracy",
    )?;

    let prod = reg.resolve_uri(&format!("models:/{MODEL}/Production"))?;
    println!("current Production version: v{}", prod.version);
    println!("  source:  {}", prod.source);
    println!("  metrics: {:?}", prod.metrics);
    check(prod.version.get() == 3, "v3 serves Production")?;
    let stages: Vec<Stage> = reg.versions(MODEL)?.iter().map(|v| v.stage).collect();
    check(
        stages == [Stage::Archived, Stage::Archived, Stage::Production],
        "v1 and v2 archived, v3 in Production",
    )?;

    // ---- the modern path: aliases guarded by a promotion gate
    println!("\n--- aliases with a promotion gate ---");
    let gate = Gate::new()
        .min_metric("accuracy", 0.90)
        .max_metric("latency_ms", 50.0)
        .no_regression("accuracy", Direction::Maximize)
        .require_approval("approved_by");
    let champion: Alias = "champion".parse()?;
    let challenger: Alias = "challenger".parse()?;
    let v3 = ModelVersionNumber::new(3)?;
    reg.set_version_tag(MODEL, v3, "approved_by", "lead-ana")?;
    reg.set_alias(
        MODEL,
        &champion,
        v3,
        &Change::by("release-bot")
            .comment("first champion")
            .gated(&gate),
    )?;
    println!("[alias] @champion -> v3 (gate passed)");

    let v4 = reg
        .create_model_version(
            &NewVersion::new(MODEL, "models/v4/model.pth")
                .run_id("qrs901tuv234")
                .description("smaller vocabulary")
                .metric("accuracy", 0.905)
                .metric("f1", 0.90)
                .metric("latency_ms", 31.0),
        )?
        .version;
    reg.set_alias(MODEL, &challenger, v4, &Change::by("release-bot"))?;
    println!("[version] v{v4} created (accuracy 0.905), @challenger -> v{v4}");

    match reg.set_alias(
        MODEL,
        &champion,
        v4,
        &Change::by("release-bot")
            .comment("promote challenger")
            .gated(&gate),
    ) {
        Err(RegistryError::PromotionDenied { reasons, .. }) => {
            println!("[gate] promotion of v{v4} to @champion denied:");
            for r in &reasons {
                println!("  - {r}");
            }
            check(
                reasons.len() == 2,
                "denied for the regression and the missing approval",
            )?;
        }
        Ok(()) => return Err("the gate let a regressed version through".into()),
        Err(e) => return Err(e.into()),
    }
    let served = reg.resolve_uri(&format!("models:/{MODEL}@champion"))?;
    println!(
        "models:/{MODEL}@champion still serves v{} ({})",
        served.version, served.source
    );
    check(served.version == v3, "champion unchanged after the denial")?;

    println!("\n{}", reg.compare_versions(MODEL)?);

    println!("audit history of {MODEL}:");
    for r in reg.audit_history(MODEL)? {
        let comment = if r.comment.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.comment)
        };
        let actor = if r.actor.is_empty() {
            String::new()
        } else {
            format!(" by {}", r.actor)
        };
        println!("  {}{actor}{comment}", r.change);
    }

    println!("\nresolving URIs:");
    for uri in [
        format!("models:/{MODEL}/2"),
        format!("models:/{MODEL}@champion"),
        format!("models:/{MODEL}@challenger"),
        format!("models:/{MODEL}/Production"),
        format!("models:/{MODEL}/latest"),
    ] {
        let v = reg.resolve_uri(&uri)?;
        println!("  {uri:<40} -> v{} {}", v.version, v.source);
    }
    match reg.resolve_uri(&format!("models:/{MODEL}/Prod")) {
        Err(e) => println!("  models:/{MODEL}/Prod -> error: {e}"),
        Ok(v) => return Err(format!("a malformed URI resolved to v{}", v.version).into()),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registry_demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}
