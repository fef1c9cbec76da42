//! The client against a scripted fake server: configuration, retries, timeouts, errors.

use super::*;
use crate::fake::{Canned, FakeServer};
use serde_json::json;

fn client(uri: &str) -> MlflowHttp {
    MlflowHttp::new(
        MlflowConfig::new(uri)
            .unwrap()
            .with_timeout(Duration::from_millis(500))
            .with_retries(2, Duration::from_millis(1)),
    )
}

#[test]
fn config_from_env_reads_mlflow_variables() {
    let env = |k: &str| match k {
        "MLFLOW_TRACKING_URI" => Some("http://h:5000/".to_owned()),
        "MLFLOW_TRACKING_USERNAME" => Some("u".to_owned()),
        "MLFLOW_TRACKING_PASSWORD" => Some("p".to_owned()),
        "MLFLOW_HTTP_REQUEST_TIMEOUT" => Some("7".to_owned()),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES" => Some("3".to_owned()),
        _ => None,
    };
    let cfg = MlflowConfig::from_lookup(env).unwrap();
    assert_eq!(cfg.tracking_uri, "http://h:5000");
    assert_eq!(
        cfg.auth,
        MlflowAuth::Basic {
            username: "u".into(),
            password: "p".into()
        }
    );
    assert_eq!(cfg.timeout, Duration::from_secs(7));
    assert_eq!(cfg.max_retries, 3);
    assert!(!format!("{:?}", cfg.auth).contains(":p"));

    let token = |k: &str| match k {
        "MLFLOW_TRACKING_URI" => Some("https://x".to_owned()),
        "MLFLOW_TRACKING_TOKEN" => Some("secret".to_owned()),
        "MLFLOW_TRACKING_USERNAME" => Some("u".to_owned()),
        _ => None,
    };
    let cfg = MlflowConfig::from_lookup(token).unwrap();
    assert_eq!(cfg.auth, MlflowAuth::Bearer("secret".into()));
    assert!(!format!("{cfg:?}").contains("secret"));

    let e = MlflowConfig::from_lookup(|_| None).unwrap_err();
    assert_eq!(e.kind, HttpErrorKind::Config);
    assert!(e.to_string().contains("MLFLOW_TRACKING_URI"), "{e}");
    let e = MlflowConfig::new("file:///tmp/mlruns").unwrap_err();
    assert!(e.to_string().contains("file:///tmp/mlruns"), "{e}");
    let bad = |k: &str| match k {
        "MLFLOW_TRACKING_URI" => Some("http://h".to_owned()),
        "MLFLOW_HTTP_REQUEST_TIMEOUT" => Some("soon".to_owned()),
        _ => None,
    };
    let e = MlflowConfig::from_lookup(bad).unwrap_err();
    assert!(e.to_string().contains("MLFLOW_HTTP_REQUEST_TIMEOUT"), "{e}");
}

#[test]
fn success_parses_json_and_sends_auth_and_body() {
    let server = FakeServer::start(vec![Canned::json(200, r#"{"run":{"x":1}}"#)]);
    let c = MlflowHttp::new(
        MlflowConfig::new(&server.uri)
            .unwrap()
            .with_auth(MlflowAuth::Bearer("t".into())),
    );
    let v = c
        .send(Method::Post, "runs/create", &json!({"a": 1}), Retry::Once)
        .unwrap();
    assert_eq!(v["run"]["x"], 1);
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen[0].0, "POST");
    assert_eq!(seen[0].1, "/api/2.0/mlflow/runs/create");
    assert_eq!(seen[0].2, r#"{"a":1}"#);
}

#[test]
fn mlflow_error_codes_map_to_kinds() {
    for (code, status, kind) in [
        ("RESOURCE_DOES_NOT_EXIST", 404, HttpErrorKind::NotFound),
        ("ENDPOINT_NOT_FOUND", 404, HttpErrorKind::Server),
        ("RESOURCE_ALREADY_EXISTS", 400, HttpErrorKind::AlreadyExists),
        (
            "INVALID_PARAMETER_VALUE",
            400,
            HttpErrorKind::InvalidArgument,
        ),
        ("SOMETHING_NEW", 400, HttpErrorKind::InvalidArgument),
        ("SOMETHING_NEW", 409, HttpErrorKind::Server),
    ] {
        let body = format!(r#"{{"error_code":"{code}","message":"msg {code}"}}"#);
        let server = FakeServer::start(vec![Canned::json(status, &body)]);
        let e = client(&server.uri)
            .get("runs/get", &[("run_id", "abc".into())])
            .unwrap_err();
        assert_eq!(e.kind, kind, "{code} {status}");
        assert_eq!(e.status, Some(status));
        assert_eq!(e.error_code.as_deref(), Some(code));
        let text = e.to_string();
        assert!(text.contains("/api/2.0/mlflow/runs/get"), "{text}");
        assert!(text.contains(&format!("msg {code}")), "{text}");
        assert_eq!(server.requests(), 1, "4xx answers are not retried");
    }
}

#[test]
fn server_errors_are_retried_only_when_idempotent() {
    let answers = vec![
        Canned::json(500, r#"{"error_code":"INTERNAL_ERROR","message":"boom"}"#),
        Canned::json(503, "{}"),
        Canned::json(200, r#"{"ok":true}"#),
    ];
    let server = FakeServer::start(answers.clone());
    let v = client(&server.uri).get("x", &[]).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(server.requests(), 3);

    let server = FakeServer::start(answers);
    let e = client(&server.uri)
        .send(Method::Post, "runs/create", &json!({}), Retry::Once)
        .unwrap_err();
    assert_eq!(e.kind, HttpErrorKind::Server);
    assert_eq!(e.status, Some(500));
    assert!(
        e.to_string().contains("HTTP 500 INTERNAL_ERROR: boom"),
        "{e}"
    );
    assert_eq!(server.requests(), 1);

    let server = FakeServer::start(vec![Canned::json(500, "{}")]);
    let e = client(&server.uri).get("x", &[]).unwrap_err();
    assert_eq!(e.attempts, 3, "{e}");
    assert_eq!(server.requests(), 3);
}

#[test]
fn html_page_timeout_and_refused_are_clear_errors() {
    let server = FakeServer::start(vec![Canned::html(
        502,
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
    )]);
    let e = client(&server.uri)
        .send(Method::Post, "runs/create", &json!({}), Retry::Once)
        .unwrap_err();
    assert_eq!(e.kind, HttpErrorKind::BadResponse);
    assert!(e.to_string().contains("502 Bad Gateway"), "{e}");

    let server = FakeServer::start(vec![Canned::html(200, "<html>login</html>")]);
    let e = client(&server.uri).get("x", &[]).unwrap_err();
    assert_eq!(e.kind, HttpErrorKind::BadResponse);
    assert!(e.to_string().contains("not JSON"), "{e}");

    let server = FakeServer::start(vec![
        Canned::json(200, "{}").delayed(Duration::from_secs(2)),
    ]);
    let c = MlflowHttp::new(
        MlflowConfig::new(&server.uri)
            .unwrap()
            .with_timeout(Duration::from_millis(100))
            .with_retries(0, Duration::ZERO),
    );
    let e = c.get("x", &[]).unwrap_err();
    assert_eq!(e.kind, HttpErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains(&server.uri), "{e}");

    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = client(&format!("http://127.0.0.1:{port}"))
        .get("x", &[])
        .unwrap_err();
    assert_eq!(e.kind, HttpErrorKind::Connection, "{e}");
    assert_eq!(e.attempts, 3);
}
