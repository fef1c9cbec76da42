//! The ready-made ML CI pipeline.

use super::{EventFilter, Job, Step, Workflow};

impl Workflow {
    /// The ML CI pipeline: code quality, then unit tests and data validation in parallel, a quick
    /// training run, and on `main` full training, model evaluation and a canary deployment.
    #[must_use]
    pub fn ml_ci_pipeline() -> Self {
        let setup = |job: Job| {
            job.step(Step::uses("actions/checkout@v4"))
                .step(
                    Step::uses("actions/setup-python@v5")
                        .named("Set up Python")
                        .with("python-version", "${{ env.PYTHON_VERSION }}"),
                )
                .step(Step::run(
                    "Install dependencies",
                    "pip install -r requirements.txt",
                ))
        };
        Self::new("ML CI Pipeline")
            .on_push(
                EventFilter::branches(["main", "develop"]).paths([
                    "src/**",
                    "models/**",
                    "tests/**",
                    "data/schemas/**",
                ]),
            )
            .on_pull_request(EventFilter::branches(["main"]))
            .env("PYTHON_VERSION", "3.10")
            .env("MLFLOW_TRACKING_URI", "${{ secrets.MLFLOW_TRACKING_URI }}")
            .job(
                setup(Job::new("code-quality"))
                    .step(Step::run(
                        "Lint with ruff",
                        "ruff check src/ --output-format=github",
                    ))
                    .step(Step::run(
                        "Type check with mypy",
                        "mypy src/ --ignore-missing-imports",
                    )),
            )
            .job(
                setup(Job::new("unit-tests").needs(["code-quality"]))
                    .step(Step::run(
                        "Run unit tests",
                        "pytest tests/unit/ -v --cov=src --cov-report=xml",
                    ))
                    .step(Step::uses("codecov/codecov-action@v3").named("Upload coverage")),
            )
            .job(
                setup(Job::new("data-validation").needs(["code-quality"]))
                    .step(Step::run(
                        "Validate data schema",
                        "python scripts/validate_data.py",
                    ))
                    .step(Step::run(
                        "Check data distribution",
                        "python scripts/check_distribution.py",
                    )),
            )
            .job(
                setup(Job::new("quick-train").needs(["unit-tests", "data-validation"]))
                    .step(Step::run(
                        "Quick training test (small data)",
                        "python src/train.py \\\n  --data-sample 0.01 \\\n  --epochs 2 \\\n  --quick-test\n",
                    ))
                    .step(Step::run(
                        "Model smoke test",
                        "python tests/smoke/test_model_inference.py",
                    )),
            )
            .job(
                setup(
                    Job::new("full-training")
                        .needs(["quick-train"])
                        .when("github.ref == 'refs/heads/main'")
                        .runs_on(["self-hosted", "gpu"])
                        .timeout_minutes(360),
                )
                .step(Step::run(
                    "Full model training",
                    "python src/train.py --config configs/production.yaml",
                )),
            )
            .job(
                setup(Job::new("model-evaluation").needs(["full-training"]))
                    .step(Step::run(
                        "Evaluate against the baseline",
                        "python scripts/evaluate.py --baseline models/baseline.json --junit reports/junit.xml",
                    )),
            )
            .job(
                Job::new("deploy-canary")
                    .needs(["model-evaluation"])
                    .when("github.ref == 'refs/heads/main'")
                    .step(Step::uses("actions/checkout@v4"))
                    .step(Step::run(
                        "Canary deployment (5%)",
                        "python scripts/canary_deploy.py --image ml-model:${{ github.sha }} --percentage 5",
                    )),
            )
    }
}
