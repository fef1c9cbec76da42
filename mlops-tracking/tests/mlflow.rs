//! The MLflow backend against a real `mlflow server` (started once for this test binary): the
//! full conformance suite, MLflow's own Python client reading back what this crate wrote, and
//! the server going away and coming back in the middle of a run.
//!
//! Each conformance case gets a namespace of its own on the shared server (experiment names
//! prefixed, listings filtered to the prefix), which is what a fresh store per case is for the
//! embedded backends; the assertions themselves run unchanged, adapted only where
//! [`Capabilities::MLFLOW`] says MLflow differs.
//!
//! Every test that needs the server is `#[ignore = "needs mlflow"]`: run them with
//! `MLOPS_MLFLOW=/path/to/mlflow cargo test -p mlops-tracking --all-features --test mlflow --
//! --include-ignored`. Run without a server, they fail with a message saying what to install.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc, clippy::print_stderr)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mlops_mlflow::test_server as mlflow_server;
use mlops_tracking::conformance::{Capabilities, Subject};
use mlops_tracking::{
    Batch, Clock, CreateRun, Experiment, ExperimentId, ManualClock, Metric, MlflowConfig,
    MlflowTrackingBackend, Page, Run, RunId, RunInfo, RunStatus, SearchRuns, Tracker,
    TrackingBackend, TrackingBackendExt, TrackingError, inputs::Dataset, inputs::DatasetInput,
    inputs::InputContext, model::ArtifactInfo, model::HistoryRequest, model::UpdateRun,
    model::ViewType,
};

fn backend(uri: &str) -> MlflowTrackingBackend {
    MlflowTrackingBackend::new(
        MlflowConfig::new(uri)
            .unwrap()
            .with_timeout(Duration::from_secs(60)),
    )
}

/// One conformance case's view of the shared server: its experiments are those whose name
/// starts with `prefix` (shown without it), plus the server's `Default`.
#[derive(Debug, Clone)]
struct Namespaced {
    inner: Arc<MlflowTrackingBackend>,
    prefix: String,
}

impl Namespaced {
    fn new(uri: &str, case: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        Self {
            inner: Arc::new(backend(uri)),
            prefix: format!("{case}-{}-", N.fetch_add(1, Ordering::Relaxed)),
        }
    }

    fn outer(&self, mut e: Experiment) -> Experiment {
        if let Some(rest) = e.name.strip_prefix(&self.prefix) {
            e.name = rest.to_owned();
        }
        e
    }

    fn inner_name(&self, name: &str) -> String {
        if name == "Default" || name.is_empty() {
            name.to_owned()
        } else {
            format!("{}{name}", self.prefix)
        }
    }

    fn mine(&self, e: &Experiment) -> bool {
        e.name == "Default" || e.name.starts_with(&self.prefix)
    }
}

impl TrackingBackend for Namespaced {
    fn create_experiment(
        &self,
        name: &str,
        tags: &[(String, String)],
    ) -> mlops_tracking::Result<Experiment> {
        match self.inner.create_experiment(&self.inner_name(name), tags) {
            Ok(e) => Ok(self.outer(e)),
            Err(TrackingError::AlreadyExists { kind, .. }) => Err(TrackingError::AlreadyExists {
                kind,
                id: name.to_owned(),
            }),
            Err(e) => Err(e),
        }
    }
    fn get_experiment(&self, id: &ExperimentId) -> mlops_tracking::Result<Experiment> {
        self.inner.get_experiment(id).map(|e| self.outer(e))
    }
    fn get_experiment_by_name(&self, name: &str) -> mlops_tracking::Result<Option<Experiment>> {
        Ok(self
            .inner
            .get_experiment_by_name(&self.inner_name(name))?
            .map(|e| self.outer(e)))
    }
    fn list_experiments(&self, view: ViewType) -> mlops_tracking::Result<Vec<Experiment>> {
        Ok(self
            .inner
            .list_experiments(view)?
            .into_iter()
            .filter(|e| self.mine(e))
            .map(|e| self.outer(e))
            .collect())
    }
    fn delete_experiment(&self, id: &ExperimentId) -> mlops_tracking::Result<()> {
        self.inner.delete_experiment(id)
    }
    fn restore_experiment(&self, id: &ExperimentId) -> mlops_tracking::Result<()> {
        self.inner.restore_experiment(id)
    }
    fn create_run(
        &self,
        experiment_id: &ExperimentId,
        opts: &CreateRun,
    ) -> mlops_tracking::Result<Run> {
        self.inner.create_run(experiment_id, opts)
    }
    fn update_run(&self, run_id: &RunId, update: &UpdateRun) -> mlops_tracking::Result<RunInfo> {
        self.inner.update_run(run_id, update)
    }
    fn get_run(&self, run_id: &RunId) -> mlops_tracking::Result<Run> {
        self.inner.get_run(run_id)
    }
    fn delete_run(&self, run_id: &RunId) -> mlops_tracking::Result<()> {
        self.inner.delete_run(run_id)
    }
    fn restore_run(&self, run_id: &RunId) -> mlops_tracking::Result<()> {
        self.inner.restore_run(run_id)
    }
    fn search_runs(&self, req: &SearchRuns) -> mlops_tracking::Result<Page<Run>> {
        if req.experiment_ids.is_empty() {
            // "Every experiment" is every experiment of this namespace.
            let mut scoped = req.clone();
            scoped.experiment_ids = self
                .list_experiments(ViewType::All)?
                .into_iter()
                .map(|e| e.experiment_id)
                .collect();
            return self.inner.search_runs(&scoped);
        }
        self.inner.search_runs(req)
    }
    fn log_batch(&self, run_id: &RunId, batch: &Batch) -> mlops_tracking::Result<()> {
        self.inner.log_batch(run_id, batch)
    }
    fn log_inputs(&self, run_id: &RunId, inputs: &[DatasetInput]) -> mlops_tracking::Result<()> {
        self.inner.log_inputs(run_id, inputs)
    }
    fn get_metric_history(
        &self,
        run_id: &RunId,
        key: &str,
        req: &HistoryRequest,
    ) -> mlops_tracking::Result<Page<Metric>> {
        self.inner.get_metric_history(run_id, key, req)
    }
    fn log_artifact(
        &self,
        run_id: &RunId,
        path: &str,
        data: &mut dyn Read,
    ) -> mlops_tracking::Result<ArtifactInfo> {
        self.inner.log_artifact(run_id, path, data)
    }
    fn list_artifacts(
        &self,
        run_id: &RunId,
        prefix: Option<&str>,
    ) -> mlops_tracking::Result<Vec<ArtifactInfo>> {
        self.inner.list_artifacts(run_id, prefix)
    }
    fn open_artifact(
        &self,
        run_id: &RunId,
        path: &str,
    ) -> mlops_tracking::Result<Box<dyn Read + Send>> {
        self.inner.open_artifact(run_id, path)
    }
}

mlops_tracking::conformance_tests!(
    #[ignore = "needs mlflow"]
    caps = Capabilities::MLFLOW;
    || {
        static N: AtomicUsize = AtomicUsize::new(0);
        let server = mlflow_server::server();
        let ns = Namespaced::new(&server.uri, &format!("case{}", N.fetch_add(1, Ordering::Relaxed)));
        let again = ns.clone();
        Subject::<dyn TrackingBackend>::new(Box::new(ns)).with_reopen(move || Box::new(again.clone()))
    }
);

/// Run inputs logged here read back through MLflow's Python client as MLflow's own: the
/// dataset's fields, the source as a `{"uri": ...}` JSON that `mlflow.data` understands, the
/// context as the `mlflow.data.context` input tag; and Python-logged inputs read back here.
#[test]
#[ignore = "needs mlflow"]
fn mlflow_python_client_reads_run_inputs() {
    let server = mlflow_server::server();
    let b = backend(&server.uri);
    let e = b.create_experiment("run-inputs-interop", &[]).unwrap();
    let r = b
        .create_run(&e.experiment_id, &CreateRun::new().run_name("with-inputs"))
        .unwrap()
        .info
        .run_id;
    let sha = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
    let input = DatasetInput::new(
        Dataset::new(
            "customers",
            &sha[..32],
            "dvc",
            format!("dvc://data/customers.csv@{sha}"),
        )
        .with_profile(r#"{"num_rows": 10}"#),
        InputContext::Training,
    );
    b.log_inputs(&r, std::slice::from_ref(&input)).unwrap();
    let python = std::path::Path::new(&mlflow_server::mlflow_command()).with_file_name("python");
    let script = r#"
import json, sys
import mlflow
from mlflow.tracking import MlflowClient
from mlflow.data.dataset_source_registry import get_dataset_source_from_json
uri, run_id = sys.argv[1], sys.argv[2]
c = MlflowClient(tracking_uri=uri)
i = c.get_run(run_id).inputs.dataset_inputs[0]
d = i.dataset
out = {"name": d.name, "digest": d.digest, "source_type": d.source_type,
       "uri": json.loads(d.source)["uri"], "profile": d.profile,
       "tags": {t.key: t.value for t in i.tags}}
# A dataset logged by Python, read back by the Rust backend.
mlflow.set_tracking_uri(uri)
ds = mlflow.data.from_numpy(__import__("numpy").arange(4), source="s3://bucket/x.npy", name="py")
c.log_inputs(run_id, [mlflow.entities.DatasetInput(ds._to_mlflow_entity(),
    [mlflow.entities.InputTag("mlflow.data.context", "evaluation")])])
print(json.dumps(out))
"#;
    let out = std::process::Command::new(&python)
        .envs(mlflow_server::NO_TELEMETRY.iter().copied())
        .arg("-c")
        .arg(script)
        .arg(&server.uri)
        .arg(r.as_str())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "customers");
    assert_eq!(v["digest"], &sha[..32]);
    assert_eq!(v["source_type"], "dvc");
    assert_eq!(v["uri"], format!("dvc://data/customers.csv@{sha}"));
    assert_eq!(v["profile"], r#"{"num_rows": 10}"#);
    assert_eq!(v["tags"]["mlflow.data.context"], "training");
    let back = b.get_run(&r).unwrap().inputs;
    assert_eq!(back.len(), 2, "{back:?}");
    let py = back.iter().find(|i| i.dataset.name == "py").unwrap();
    assert_eq!(py.context, InputContext::Evaluation);
    assert_eq!(py.dataset.source, "s3://bucket/x.npy");
    assert!(back.contains(&input));
}

/// A large batch is split to MLflow's limits and arrives whole and in order.
#[test]
#[ignore = "needs mlflow"]
fn large_batches_are_split_in_order() {
    let server = mlflow_server::server();
    let b = backend(&server.uri);
    let e = b.create_experiment("split-batches", &[]).unwrap();
    let r = b
        .create_run(&e.experiment_id, &CreateRun::new().run_name("big"))
        .unwrap()
        .info
        .run_id;
    // 1,000 metrics + 100 params of 6,000 characters + 100 tags of 8,000: 1,200 entities and
    // about 1.5 MB, over both of MLflow's limits.
    let batch = Batch {
        metrics: (0..1000)
            .map(|i| {
                Metric::new(
                    "loss",
                    1.0 / f64::from(i + 1),
                    1_000 + i64::from(i),
                    i64::from(i),
                )
            })
            .collect(),
        params: (0..100)
            .map(|i| (format!("p{i}"), "v".repeat(6000)))
            .collect(),
        tags: (0..100)
            .map(|i| (format!("t{i}"), "w".repeat(8000)))
            .collect(),
    };
    b.log_batch(&r, &batch).unwrap();
    let run = b.get_run(&r).unwrap();
    assert_eq!(run.data.params.len(), 100);
    assert_eq!(
        run.data.tags.keys().filter(|k| k.starts_with('t')).count(),
        100
    );
    let hist = b.metric_history(&r, "loss").unwrap();
    assert_eq!(hist.len(), 1000);
    for (h, m) in hist.iter().zip(&batch.metrics) {
        assert!(h.same_as(m), "{h:?} != {m:?}");
    }
    // A conflicting param in a split batch stores nothing.
    let mut conflicting = batch.clone();
    conflicting.params[99].1 = "changed".into();
    conflicting.metrics = vec![Metric::new("fresh", 1.0, 1, 1); 1];
    let err = b.log_batch(&r, &conflicting).unwrap_err();
    assert!(matches!(err, TrackingError::Conflict(_)), "{err}");
    assert!(err.to_string().contains("\"p99\""), "{err}");
    assert!(b.metric_history(&r, "fresh").unwrap().is_empty());
}

/// What this crate writes, MLflow's own Python client reads back exactly.
#[test]
#[ignore = "needs mlflow"]
fn mlflow_python_client_reads_what_we_write() {
    let server = mlflow_server::server();
    // A clock that ticks once per reading: every timestamp is known in advance.
    const T0: i64 = 1_750_000_000_000;
    let ticks = ManualClock::ticking(T0, 1);
    let tracker = Tracker::new(backend(&server.uri))
        .with_buffer_capacity(7)
        .with_clock(Arc::new(ticks.clone()));
    let mut run = tracker
        .start_run(
            "interop",
            CreateRun::new().run_name("rust-run").tag("team", "vision"),
        )
        .unwrap();
    run.log_param("learning_rate", 0.001).unwrap();
    run.log_params([("optimizer", "adamw"), ("layers", "12")])
        .unwrap();
    run.set_tag("stage", "pretrain").unwrap();
    let mut expected: std::collections::BTreeMap<&str, Vec<Metric>> = Default::default();
    let mut ts = T0;
    let mut log =
        |run: &mut mlops_tracking::ActiveRun, key: &'static str, value: f64, step: i64| {
            ts += 1;
            run.log_metric(key, value, step).unwrap();
            expected
                .entry(key)
                .or_default()
                .push(Metric::new(key, value, ts, step));
        };
    for step in 0..40i64 {
        #[allow(clippy::cast_precision_loss)]
        let x = step as f64;
        log(&mut run, "loss", 1.0 / (x + 1.0), step);
        log(&mut run, "acc", 0.1 + x / 50.0, step);
    }
    log(&mut run, "odd values", f64::NAN, 40);
    // MLflow's SQL store keeps +infinity as f64::MAX (see Capabilities::MLFLOW).
    log(&mut run, "odd values", f64::INFINITY, 41);
    log(&mut run, "odd values", -1e-300, 42);
    let id = run.run_id();
    run.end(RunStatus::Finished).unwrap();
    let end_time = ticks.now_ms() - 1; // the last reading was the end time

    let python = std::path::Path::new(&mlflow_server::mlflow_command()).with_file_name("python");
    let script = r#"
import json, sys
from mlflow.tracking import MlflowClient
uri, run_id = sys.argv[1], sys.argv[2]
c = MlflowClient(tracking_uri=uri)
r = c.get_run(run_id)
hist = {k: [[m.key, repr(float(m.value)), m.timestamp, m.step] for m in c.get_metric_history(run_id, k)]
        for k in r.data.metrics}
print(json.dumps({
    "params": r.data.params, "tags": r.data.tags,
    "latest": {k: repr(float(v)) for k, v in r.data.metrics.items()},
    "history": hist, "status": r.info.status, "run_name": r.info.run_name,
    "start_time": r.info.start_time, "end_time": r.info.end_time,
}))
"#;
    let out = std::process::Command::new(&python)
        .envs(mlflow_server::NO_TELEMETRY.iter().copied())
        .arg("-c")
        .arg(script)
        .arg(&server.uri)
        .arg(id.as_str())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let float = |s: &serde_json::Value| -> f64 {
        match s.as_str().unwrap() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            x => x.parse().unwrap(),
        }
    };
    let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    let map = |v: &serde_json::Value| -> std::collections::BTreeMap<String, String> {
        serde_json::from_value(v.clone()).unwrap()
    };
    let params = map(&v["params"]);
    let want: std::collections::BTreeMap<String, String> = [
        ("learning_rate", "0.001"),
        ("optimizer", "adamw"),
        ("layers", "12"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(params, want);
    let tags = map(&v["tags"]);
    assert_eq!(tags["team"], "vision");
    assert_eq!(tags["stage"], "pretrain");
    assert_eq!(tags["mlflow.runName"], "rust-run");
    assert_eq!(tags["mlflow.source.type"], "LOCAL");
    assert_eq!(v["status"], "FINISHED");
    assert_eq!(v["run_name"], "rust-run");
    assert_eq!(v["start_time"], T0);
    assert_eq!(v["end_time"], end_time);
    let latest = v["latest"].as_object().unwrap();
    assert_eq!(latest.len(), 3);
    for (key, hist) in &expected {
        let last = hist.iter().max_by(|a, b| a.latest_order(b)).unwrap();
        let stored = if last.value == f64::INFINITY {
            f64::MAX
        } else {
            last.value
        };
        assert!(same(float(&latest[*key]), stored), "latest {key}");
        let theirs = v["history"][*key].as_array().unwrap();
        assert_eq!(theirs.len(), hist.len(), "{key}");
        for (t, m) in theirs.iter().zip(hist) {
            assert_eq!(t[0], *key);
            let stored = if m.value == f64::INFINITY {
                f64::MAX
            } else {
                m.value
            };
            assert!(same(float(&t[1]), stored), "{key}: {t} vs {m:?}");
            assert_eq!(t[2], m.timestamp, "{key}");
            assert_eq!(t[3], m.step, "{key}");
        }
    }
}

/// A TCP forwarder in front of the real server, that can go down and come back on the same
/// port: the client sees the server disappear (connections reset, then refused) and return.
struct Proxy {
    port: u16,
    upstream: String,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let p = Self {
            port,
            upstream: upstream.trim_start_matches("http://").to_owned(),
            up: Arc::new(AtomicBool::new(false)),
            conns: Arc::new(Mutex::new(Vec::new())),
        };
        p.serve(listener);
        p
    }

    fn serve(&self, listener: TcpListener) {
        self.up.store(true, Ordering::SeqCst);
        let (up, conns, upstream) = (
            Arc::clone(&self.up),
            Arc::clone(&self.conns),
            self.upstream.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if !up.load(Ordering::SeqCst) {
                    return; // the listener is dropped: the port refuses connections
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut c = conns.lock().unwrap();
                c.push(client.try_clone().unwrap());
                c.push(server.try_clone().unwrap());
                drop(c);
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
    }

    fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Go down: reset every open connection and stop listening.
    fn stop(&self) {
        self.up.store(false, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wake the accept loop
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        // Wait until the port refuses.
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the proxy did not go down");
    }

    /// Come back on the same port.
    fn restart(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        self.serve(listener);
    }
}

/// The server goes away in the middle of a run and comes back: the flush in between fails with
/// a clear error naming the URL, nothing buffered is lost, and the next flush stores it all.
#[test]
#[ignore = "needs mlflow"]
fn server_down_and_back_mid_run_keeps_buffered_metrics() {
    let server = mlflow_server::server();
    let proxy = Proxy::start(&server.uri);
    let through = MlflowTrackingBackend::new(
        MlflowConfig::new(&proxy.uri())
            .unwrap()
            .with_timeout(Duration::from_secs(30))
            .with_retries(1, Duration::from_millis(10)),
    );
    let tracker = Tracker::new(through);
    let mut run = tracker
        .start_run("restarts", CreateRun::new().run_name("survivor"))
        .unwrap();
    for step in 0..50 {
        run.log_metric("loss", 0.5, step).unwrap();
    }
    run.flush().unwrap();
    for step in 50..80 {
        run.log_metric("loss", 0.25, step).unwrap();
    }
    proxy.stop();
    let err = run.flush().unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            TrackingError::Remote {
                transient: true,
                status: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        msg.contains(&proxy.uri()) && msg.contains("runs/log-batch"),
        "{msg}"
    );
    assert_eq!(run.buffered(), 30, "the failed flush must keep the buffer");
    // More metrics while the server is down: buffered too.
    run.log_metric("loss", 0.125, 80).unwrap();
    assert_eq!(run.buffered(), 31);
    proxy.restart();
    run.flush().unwrap();
    assert_eq!(run.buffered(), 0);
    let id = run.run_id();
    run.end(RunStatus::Finished).unwrap();
    let direct = backend(&server.uri);
    let hist = direct.metric_history(&id, "loss").unwrap();
    let steps: Vec<i64> = hist.iter().map(|m| m.step).collect();
    assert_eq!(steps, (0..81).collect::<Vec<_>>());
    assert_eq!(
        direct.get_run(&id).unwrap().info.status,
        RunStatus::Finished
    );
}

/// A server that is not there: a clear error naming the URL, from every kind of call.
#[test]
fn server_down_is_a_clear_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri = format!("http://127.0.0.1:{port}");
    let b = MlflowTrackingBackend::new(
        MlflowConfig::new(&uri)
            .unwrap()
            .with_retries(1, Duration::from_millis(1)),
    );
    let errs = [
        b.health().unwrap_err(),
        b.get_experiment_by_name("x").unwrap_err(),
        b.log_metric(&RunId::new(), "m", 1.0, 1, 1).unwrap_err(),
        b.create_experiment("x", &[]).unwrap_err(),
    ];
    for err in errs {
        assert!(
            matches!(err, TrackingError::Remote { status: None, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(&uri), "{err}");
    }
}

/// Issue 17 item 20: artifacts with odd names logged by MLflow's Python client open through
/// this backend, and odd names this backend writes are read back by MLflow's client.
#[test]
#[ignore = "needs mlflow"]
fn artifact_names_round_trip_with_mlflows_python_client() {
    let server = mlflow_server::server();
    let names = [
        "a+b=c&d.txt",
        "sp ace.txt",
        "ünï.txt",
        "semi;colon:x.txt",
        "a'b.txt",
        "br[ack]et.txt",
        "..dots.txt",
        "star*.txt",
        "at@.txt",
        "100%.txt",
    ];
    let python = std::path::Path::new(&mlflow_server::mlflow_command()).with_file_name("python");
    let script = r#"
import json, os, sys, tempfile
from mlflow.tracking import MlflowClient
uri, names = sys.argv[1], json.loads(sys.argv[2])
c = MlflowClient(tracking_uri=uri)
exp = c.get_experiment_by_name("odd-artifacts")
eid = exp.experiment_id if exp else c.create_experiment("odd-artifacts")
run_id = c.create_run(eid).info.run_id
d = tempfile.mkdtemp()
for n in names:
    p = os.path.join(d, n)
    with open(p, "w", encoding="utf-8") as f:
        f.write("python wrote " + n)
    c.log_artifact(run_id, p, artifact_path="dir+x")
print(run_id)
"#;
    let run_python = |args: &[&str]| -> String {
        let out = std::process::Command::new(&python)
            .args(args)
            .envs(mlflow_server::NO_TELEMETRY.iter().copied())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        assert!(
            out.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let names_json = serde_json::to_string(&names).unwrap();
    let stdout = run_python(&["-c", script, &server.uri, &names_json]);
    let id: RunId = stdout.trim().parse().unwrap();
    let b = backend(&server.uri);
    let listed: Vec<String> = b
        .list_artifacts(&id, None)
        .unwrap()
        .into_iter()
        .map(|a| a.path)
        .collect();
    let mut want: Vec<String> = names.iter().map(|n| format!("dir+x/{n}")).collect();
    want.sort();
    assert_eq!(listed, want);
    for n in names {
        let path = format!("dir+x/{n}");
        let got = b
            .read_artifact(&id, &path)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(String::from_utf8(got).unwrap(), format!("python wrote {n}"));
    }
    // The other way: names this backend writes, MLflow's client downloads.
    for n in names {
        b.log_artifact(
            &id,
            &format!("ours+x/{n}"),
            &mut format!("rust wrote {n}").as_bytes(),
        )
        .unwrap();
    }
    let read_back = r#"
import json, os, sys, tempfile
from mlflow.tracking import MlflowClient
uri, run_id = sys.argv[1], sys.argv[2]
c = MlflowClient(tracking_uri=uri)
d = c.download_artifacts(run_id, "ours+x", tempfile.mkdtemp())
out = {}
for n in os.listdir(d):
    with open(os.path.join(d, n), encoding="utf-8") as f:
        out[n] = f.read()
print(json.dumps(out))
"#;
    let stdout = run_python(&["-c", read_back, &server.uri, id.as_str()]);
    let theirs: std::collections::BTreeMap<String, String> =
        serde_json::from_str(stdout.trim()).unwrap();
    let expected: std::collections::BTreeMap<String, String> = names
        .iter()
        .map(|n| ((*n).to_owned(), format!("rust wrote {n}")))
        .collect();
    assert_eq!(theirs, expected);
}

/// Resuming a run (MLflow's `start_run(run_id=...)`) on the server: status back to RUNNING,
/// logging continues, the guard ends it.
#[test]
#[ignore = "needs mlflow"]
fn a_run_resumes_on_the_server() {
    let server = mlflow_server::server();
    let tracker = Tracker::new(backend(&server.uri));
    let mut run = tracker
        .start_run("resume", CreateRun::new().run_name("crashed"))
        .unwrap();
    run.log_metric("loss", 0.9, 0).unwrap();
    let id = run.run_id();
    run.end(RunStatus::Failed).unwrap();
    let mut run = tracker.resume_run(&id).unwrap();
    assert_eq!(run.info().status, RunStatus::Running);
    let b = backend(&server.uri);
    assert_eq!(b.get_run(&id).unwrap().info.status, RunStatus::Running);
    run.log_metric("loss", 0.5, 1).unwrap();
    drop(run);
    let got = b.get_run(&id).unwrap();
    assert_eq!(got.info.status, RunStatus::Finished);
    let steps: Vec<i64> = b
        .metric_history(&id, "loss")
        .unwrap()
        .iter()
        .map(|m| m.step)
        .collect();
    assert_eq!(steps, [0, 1]);
}
