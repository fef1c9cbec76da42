//! The MLflow backend against a scripted fake server: request shapes, batch splitting, error
//! mapping, and faults during a buffered flush.

use std::time::Duration;

use serde_json::Value;

use super::json::*;
use super::*;
use crate::{Tracker, TrackingBackendExt};
use mlops_mlflow::fake::{Canned, FakeServer};

const RUN_ID: &str = "0123456789abcdef0123456789abcdef";

fn experiment_answer() -> Canned {
    Canned::json(
        200,
        r#"{"experiment":{"experiment_id":"7","name":"exp","artifact_location":"mlflow-artifacts:/7","lifecycle_stage":"active","creation_time":"5","last_update_time":6,"tags":[{"key":"team","value":"cv"}]}}"#,
    )
}

fn run_answer() -> Canned {
    Canned::json(
        200,
        &format!(
            r#"{{"run":{{"info":{{"run_id":"{RUN_ID}","run_uuid":"{RUN_ID}","experiment_id":"7","run_name":"r","user_id":"u","status":"RUNNING","start_time":"1000","artifact_uri":"mlflow-artifacts:/7/{RUN_ID}/artifacts","lifecycle_stage":"active"}},"data":{{"tags":[{{"key":"mlflow.runName","value":"r"}}],"metrics":[{{"key":"m","value":"NaN","timestamp":3,"step":"4"}}]}}}}}}"#
        ),
    )
}

fn backend(server: &FakeServer, retries: u32) -> MlflowTrackingBackend {
    MlflowTrackingBackend::new(
        MlflowConfig::new(&server.uri)
            .unwrap()
            .with_timeout(Duration::from_millis(400))
            .with_retries(retries, Duration::from_millis(1)),
    )
}

fn run_id() -> RunId {
    RUN_ID.parse().unwrap()
}

fn bodies(server: &FakeServer, path: &str) -> Vec<Value> {
    server
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, p, _)| p.starts_with(path))
        .map(|(_, _, b)| serde_json::from_str(b).unwrap())
        .collect()
}

#[test]
fn answers_parse_with_int64_strings_and_special_floats() {
    let server = FakeServer::start(vec![experiment_answer(), run_answer()]);
    let b = backend(&server, 0);
    let e = b.get_experiment(&"7".parse().unwrap()).unwrap();
    assert_eq!(e.creation_time, 5);
    assert_eq!(e.tags["team"], "cv");
    let r = b.get_run(&run_id()).unwrap();
    assert_eq!(r.info.start_time, 1000);
    assert_eq!(r.info.end_time, None);
    let m = &r.data.metrics["m"];
    assert!(m.value.is_nan() && m.step == 4 && m.timestamp == 3);
    let seen = server.seen.lock().unwrap();
    assert!(
        seen[1].1.starts_with("/api/2.0/mlflow/runs/get?run_id="),
        "{seen:?}"
    );
}

#[test]
fn a_small_batch_is_one_request_in_mlflow_json() {
    let server = FakeServer::start(vec![Canned::json(200, "{}")]);
    let b = backend(&server, 0);
    let batch = Batch::new()
        .metric("loss", f64::NAN, 10, 1)
        .metric("loss", f64::NEG_INFINITY, 11, 2)
        .metric("loss", 0.5, 12, 3)
        .param("lr", "0.1")
        .tag("env", "dev");
    b.log_batch(&run_id(), &batch).unwrap();
    let sent = bodies(&server, "/api/2.0/mlflow/runs/log-batch");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["run_id"], RUN_ID);
    assert_eq!(sent[0]["metrics"][0]["value"], "NaN");
    assert_eq!(sent[0]["metrics"][1]["value"], "-Infinity");
    assert_eq!(sent[0]["metrics"][2]["value"], 0.5);
    assert_eq!(sent[0]["metrics"][2]["step"], 3);
    assert_eq!(sent[0]["params"][0]["key"], "lr");
    assert_eq!(sent[0]["tags"][0]["value"], "dev");
    // An invalid batch sends nothing.
    let err = b
        .log_batch(&run_id(), &Batch::new().metric("bad*key", 1.0, 1, 1))
        .unwrap_err();
    assert!(
        matches!(err, TrackingError::InvalidArgument { .. }),
        "{err}"
    );
    assert_eq!(server.requests(), 1);
}

#[test]
fn large_batches_split_within_limits_and_in_order() {
    let batch = Batch {
        metrics: (0..1000)
            .map(|i| Metric::new("m", f64::from(i), 1, i64::from(i)))
            .collect(),
        params: (0..100)
            .map(|i| (format!("p{i}"), "v".repeat(6000)))
            .collect(),
        tags: (0..100)
            .map(|i| (format!("t{i}"), "w".repeat(8000)))
            .collect(),
    };
    let split = split_batch(&run_id(), &batch);
    assert_eq!(split.len(), 2, "1.46 MB in two requests");
    let (mut metrics, mut params, mut tags) = (Vec::new(), Vec::new(), Vec::new());
    for (body, pairs) in &split {
        assert!(body.to_string().len() <= MAX_BATCH_BODY_BYTES);
        let n = |k: &str| body[k].as_array().unwrap().len();
        assert!(n("metrics") + n("params") + n("tags") <= MAX_BATCH_ENTITIES);
        assert_eq!(pairs.len(), n("params"));
        metrics.extend(
            body["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["step"].as_i64().unwrap()),
        );
        params.extend(
            body["params"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["key"].as_str().unwrap().to_owned()),
        );
        tags.extend(
            body["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["key"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(metrics, (0..1000).collect::<Vec<i64>>());
    assert_eq!(
        params,
        (0..100).map(|i| format!("p{i}")).collect::<Vec<_>>()
    );
    assert_eq!(tags, (0..100).map(|i| format!("t{i}")).collect::<Vec<_>>());
    // 1,000 small metrics and a param: two requests (1,001 entities).
    let mut b2 = Batch {
        metrics: batch.metrics.clone(),
        ..Batch::default()
    };
    assert_eq!(split_batch(&run_id(), &b2).len(), 1);
    b2.params.push(("lr".into(), "0.1".into()));
    assert_eq!(split_batch(&run_id(), &b2).len(), 2);
}

#[test]
fn mlflow_error_codes_map_to_the_crate_errors() {
    let server = FakeServer::start(vec![
        Canned::json(
            404,
            r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Run 'x' not found"}"#,
        ),
        Canned::json(
            400,
            r#"{"error_code":"RESOURCE_ALREADY_EXISTS","message":"Experiment 'exp' already exists."}"#,
        ),
        Canned::json(
            400,
            r#"{"error_code":"INVALID_PARAMETER_VALUE","message":"The run 0123 must be in the 'active' state. Current state is deleted."}"#,
        ),
        Canned::json(
            400,
            r#"{"error_code":"INVALID_PARAMETER_VALUE","message":"Changing param values is not allowed. Param with key='lr' was already logged with value='0.01'"}"#,
        ),
        // The param conflict reads the run back to name both values.
        Canned::json(
            200,
            &format!(
                r#"{{"run":{{"info":{{"run_id":"{RUN_ID}","experiment_id":"7","status":"RUNNING","lifecycle_stage":"active"}},"data":{{"params":[{{"key":"lr","value":"0.01"}}]}}}}}}"#
            ),
        ),
        Canned::json(
            400,
            r#"{"error_code":"INVALID_PARAMETER_VALUE","message":"Invalid value"}"#,
        ),
    ]);
    let b = backend(&server, 0);
    let err = b.get_run(&run_id()).unwrap_err();
    assert!(
        matches!(
            err,
            TrackingError::NotFound {
                kind: EntityKind::Run,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(RUN_ID), "{err}");
    let err = b.create_experiment("exp", &[]).unwrap_err();
    assert!(
        matches!(
            err,
            TrackingError::AlreadyExists {
                kind: EntityKind::Experiment,
                ..
            }
        ),
        "{err}"
    );
    let err = b.log_metric(&run_id(), "m", 1.0, 1, 1).unwrap_err();
    assert!(matches!(err, TrackingError::Conflict(_)), "{err}");
    assert!(err.to_string().contains("deleted"), "{err}");
    let err = b.log_param(&run_id(), "lr", "0.1").unwrap_err();
    assert!(matches!(err, TrackingError::Conflict(_)), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("\"lr\"") && msg.contains("0.01") && msg.contains("0.1"),
        "{msg}"
    );
    let err = b.set_tag(&run_id(), "t", "v").unwrap_err();
    assert!(
        matches!(err, TrackingError::InvalidArgument { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("runs/log-batch") && err.to_string().contains("400"),
        "{err}"
    );
}

/// Each fault, during the flush of an active run's buffer: a clear error with the URL (and the
/// status when the server answered), no panic, the buffer kept, and the next flush stores it.
#[test]
fn faults_during_a_flush_keep_the_buffer() {
    let faults: Vec<(&str, Canned, Option<u16>)> = vec![
        (
            "500",
            Canned::json(
                500,
                r#"{"error_code":"INTERNAL_ERROR","message":"database is locked"}"#,
            ),
            Some(500),
        ),
        (
            "html",
            Canned::html(502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
            Some(502),
        ),
        (
            "html-200",
            Canned::html(200, "<html><body>Sign in</body></html>"),
            Some(200),
        ),
        (
            "unknown code",
            Canned::json(
                503,
                r#"{"error_code":"SOMETHING_NEW","message":"try later"}"#,
            ),
            Some(503),
        ),
        (
            "slow",
            Canned::json(200, "{}").delayed(Duration::from_millis(1000)),
            None,
        ),
    ];
    for (name, fault, status) in faults {
        let server = FakeServer::start(vec![
            experiment_answer(),
            run_answer(),
            fault,
            Canned::json(200, "{}"),
        ]);
        let tracker = Tracker::new(backend(&server, 0));
        let mut run = tracker.start_run("exp", CreateRun::new()).unwrap();
        for step in 0..25 {
            run.log_metric("loss", 0.5, step).unwrap();
        }
        let err = run.flush().unwrap_err();
        let msg = err.to_string();
        let url = format!("{}/api/2.0/mlflow/runs/log-batch", server.uri);
        assert!(msg.contains(&url), "{name}: {msg}");
        match &err {
            TrackingError::Remote {
                url: u, status: s, ..
            } => {
                assert_eq!(u, &url, "{name}");
                assert_eq!(*s, status, "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
        if let Some(s) = status {
            assert!(msg.contains(&format!("HTTP {s}")), "{name}: {msg}");
        }
        assert_eq!(run.buffered(), 25, "{name}: the buffer must be kept");
        if status.is_none() {
            // The fake answers one request at a time: let it finish the slow one.
            std::thread::sleep(Duration::from_millis(1000));
        }
        run.flush().unwrap();
        assert_eq!(run.buffered(), 0);
        let sent = bodies(&server, "/api/2.0/mlflow/runs/log-batch");
        let last = sent.last().unwrap();
        assert_eq!(last["metrics"].as_array().unwrap().len(), 25, "{name}");
        drop(run); // ends the run; the fake's answer to that is not checked
    }
}

#[test]
fn transient_failures_of_log_batch_are_retried_creates_are_not() {
    let server = FakeServer::start(vec![
        Canned::json(
            503,
            r#"{"error_code":"TEMPORARILY_UNAVAILABLE","message":"busy"}"#,
        ),
        Canned::json(200, "{}"),
    ]);
    let b = backend(&server, 2);
    b.log_metric(&run_id(), "m", 1.0, 1, 1).unwrap();
    assert_eq!(server.requests(), 2);

    let server = FakeServer::start(vec![Canned::json(503, r#"{"message":"busy"}"#)]);
    let b = backend(&server, 2);
    let err = b.create_experiment("x", &[]).unwrap_err();
    assert!(
        matches!(
            err,
            TrackingError::Remote {
                status: Some(503),
                transient: true,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(server.requests(), 1, "a create is sent once");
}

#[test]
fn artifact_uris_map_to_the_proxy() {
    assert_eq!(
        proxied_root("mlflow-artifacts:/7/abc/artifacts").unwrap(),
        "7/abc/artifacts"
    );
    assert_eq!(
        proxied_root("mlflow-artifacts://host:5000/7/abc/artifacts").unwrap(),
        "7/abc/artifacts"
    );
    let err = proxied_root("s3://bucket/7/abc/artifacts").unwrap_err();
    assert!(err.to_string().contains("s3://bucket"), "{err}");
    assert_eq!(encode_path("a b/c%d.txt"), "a%20b/c%25d.txt");
}

#[test]
fn a_param_repeated_with_its_value_is_sent_once() {
    let batch = Batch {
        params: vec![
            ("lr".into(), "0.1".into()),
            ("depth".into(), "3".into()),
            ("lr".into(), "0.1".into()),
        ],
        ..Batch::default()
    };
    batch.validate().unwrap();
    let split = split_batch(&run_id(), &batch);
    assert_eq!(split.len(), 1);
    let keys: Vec<&str> = split[0].0["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["lr", "depth"]);
}

#[test]
fn a_negative_metric_timestamp_is_refused_before_anything_is_sent() {
    let batch = Batch {
        metrics: vec![
            Metric::new("loss", 0.5, 10, 0),
            Metric::new("loss", 0.4, -1, 1),
        ],
        ..Batch::default()
    };
    let err = batch.validate().unwrap_err();
    assert!(err.to_string().contains("negative"), "{err}");
}
