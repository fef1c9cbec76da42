//! The MLflow backend against a scripted fake server: faults give clear errors naming the URL
//! and status, error codes map to the crate's variants, and requests have the documented shape
//! and cost.

use std::time::Duration;

use super::MlflowRegistry;
use crate::error::RegistryError;
use crate::model::Stage;
use crate::store::{Change, NewModel, NewVersion, RegistryStore, Search};
use mlops_mlflow::fake::{Canned, FakeServer};
use mlops_mlflow::http::MlflowConfig;

fn registry(uri: &str) -> MlflowRegistry {
    MlflowRegistry::new(
        MlflowConfig::new(uri)
            .unwrap()
            .with_timeout(Duration::from_millis(300))
            .with_retries(2, Duration::from_millis(1)),
    )
}

const MODEL: &str = r#"{"registered_model":{"name":"m","creation_timestamp":1700000000000,
  "last_updated_timestamp":1700000001000,"description":"d",
  "tags":[{"key":"team","value":"nlp"},{"key":"mlops.audit.00000001.0a0b0c0d","value":"{}"}],
  "latest_versions":[{"name":"m","version":"3","current_stage":"Production","creation_timestamp":1},
                     {"name":"m","version":"4","current_stage":"None","creation_timestamp":1}],
  "aliases":[{"alias":"champion","version":"3"}]}}"#;

const VERSION: &str = r#"{"model_version":{"name":"m","version":"3","creation_timestamp":1700000000000,
  "current_stage":"Production","source":"s3://b/m","run_id":"r1","status":"READY",
  "tags":[{"key":"k","value":"v"},{"key":"mlops.metric.accuracy","value":"0.30000000000000004"},
          {"key":"mlops.digest","value":"0000000000000000000000000000000000000000000000000000000000000000"}],
  "aliases":["champion"]}}"#;

/// Assert a remote error that names `endpoint` and `status`.
fn assert_remote(err: &RegistryError, endpoint: &str, status: Option<u16>) {
    let RegistryError::Remote {
        url,
        status: got,
        detail,
        ..
    } = err
    else {
        panic!("expected a remote error, got {err:?}");
    };
    assert!(url.ends_with(endpoint), "{url}");
    assert_eq!(*got, status, "{err}");
    let text = err.to_string();
    assert!(text.contains(url.as_str()), "{text}");
    assert!(detail.contains(url.as_str()), "{detail}");
    if let Some(s) = status {
        assert!(text.contains(&format!("HTTP {s}")), "{text}");
    }
}

#[test]
fn server_down_is_a_remote_error_with_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = registry(&format!("http://127.0.0.1:{port}"));
    let err = r.get_registered_model("m").unwrap_err();
    assert_remote(&err, "registered-models/get", None);
    assert!(
        matches!(
            err,
            RegistryError::Remote {
                transient: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
    let err = r.create_registered_model(&NewModel::new("m")).unwrap_err();
    assert_remote(&err, "registered-models/create", None);
    assert!(r.health().is_err());
}

#[test]
fn a_500_is_retried_for_reads_and_sent_once_for_creates() {
    let boom = Canned::json(500, r#"{"error_code":"INTERNAL_ERROR","message":"boom"}"#);
    let server = FakeServer::start(vec![boom.clone()]);
    let r = registry(&server.uri);
    let err = r.get_registered_model("m").unwrap_err();
    assert_remote(&err, "registered-models/get", Some(500));
    assert!(err.to_string().contains("INTERNAL_ERROR: boom"), "{err}");
    assert_eq!(server.requests(), 3);

    let server = FakeServer::start(vec![boom]);
    let r = registry(&server.uri);
    let err = r
        .create_model_version(&NewVersion::new("m", "s3://b/m"))
        .unwrap_err();
    assert_remote(&err, "model-versions/create", Some(500));
    assert_eq!(server.requests(), 1, "a create is never sent twice");

    // A retry that succeeds is invisible to the caller.
    let server = FakeServer::start(vec![Canned::json(503, "{}"), Canned::json(200, MODEL)]);
    let m = registry(&server.uri).get_registered_model("m").unwrap();
    assert_eq!(m.name, "m");
    assert_eq!(server.requests(), 2);
}

#[test]
fn a_slow_answer_times_out() {
    let server = FakeServer::start(vec![
        Canned::json(200, MODEL).delayed(Duration::from_secs(2)),
    ]);
    let r = MlflowRegistry::new(
        MlflowConfig::new(&server.uri)
            .unwrap()
            .with_timeout(Duration::from_millis(100))
            .with_retries(0, Duration::ZERO),
    );
    let started = std::time::Instant::now();
    let err = r.get_registered_model("m").unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_remote(&err, "registered-models/get", None);
    assert!(
        matches!(
            err,
            RegistryError::Remote {
                transient: true,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_html_page_is_a_clear_error() {
    let page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    let server = FakeServer::start(vec![Canned::html(502, page)]);
    let err = registry(&server.uri)
        .resolve(&"models:/m@champion".parse().unwrap())
        .unwrap_err();
    assert_remote(&err, "registered-models/alias", Some(502));
    assert!(err.to_string().contains("502 Bad Gateway"), "{err}");

    // A login page answered with 200 instead of JSON.
    let server = FakeServer::start(vec![Canned::html(200, "<html>sign in</html>")]);
    let err = registry(&server.uri).get_registered_model("m").unwrap_err();
    assert_remote(&err, "registered-models/get", Some(200));
    assert!(err.to_string().contains("not JSON"), "{err}");

    // A bare 404 from a proxy is not "no such model".
    let server = FakeServer::start(vec![Canned::html(404, "<html>Not Found</html>")]);
    let err = registry(&server.uri).get_registered_model("m").unwrap_err();
    assert_remote(&err, "registered-models/get", Some(404));

    // JSON, but not the shape MLflow documents.
    let server = FakeServer::start(vec![Canned::json(200, r#"{"something":"else"}"#)]);
    let err = registry(&server.uri).get_registered_model("m").unwrap_err();
    assert_remote(&err, "registered-models/get", Some(200));
    assert!(err.to_string().contains("registered_model"), "{err}");
}

#[test]
fn unknown_error_codes_and_mlflow_codes_map() {
    let server = FakeServer::start(vec![Canned::json(
        409,
        r#"{"error_code":"SOMETHING_NEW","message":"new failure"}"#,
    )]);
    let err = registry(&server.uri).get_registered_model("m").unwrap_err();
    assert_remote(&err, "registered-models/get", Some(409));
    let RegistryError::Remote { error_code, .. } = &err else {
        unreachable!()
    };
    assert_eq!(error_code.as_deref(), Some("SOMETHING_NEW"));
    assert!(err.to_string().contains("new failure"), "{err}");

    let server = FakeServer::start(vec![Canned::json(
        401,
        r#"{"error_code":"UNAUTHENTICATED","message":"bad token"}"#,
    )]);
    let err = registry(&server.uri).get_registered_model("m").unwrap_err();
    assert_remote(&err, "registered-models/get", Some(401));
    assert_eq!(server.requests(), 1, "a refused credential is not retried");

    let server = FakeServer::start(vec![Canned::json(
        404,
        r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Registered Model with name=m not found"}"#,
    )]);
    let err = registry(&server.uri).get_registered_model("m").unwrap_err();
    assert!(
        matches!(&err, RegistryError::NotFound { kind: crate::EntityKind::RegisteredModel, id } if id == "m"),
        "{err}"
    );

    let server = FakeServer::start(vec![Canned::json(
        400,
        r#"{"error_code":"RESOURCE_ALREADY_EXISTS","message":"exists"}"#,
    )]);
    let err = registry(&server.uri)
        .create_registered_model(&NewModel::new("m"))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            RegistryError::AlreadyExists {
                kind: crate::EntityKind::RegisteredModel,
                ..
            }
        ),
        "{err}"
    );

    let server = FakeServer::start(vec![Canned::json(
        400,
        r#"{"error_code":"INVALID_PARAMETER_VALUE","message":"bad source"}"#,
    )]);
    let err = registry(&server.uri)
        .create_model_version(&NewVersion::new("m", "s3://x"))
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::InvalidArgument { detail, .. } if detail.contains("bad source")),
        "{err}"
    );

    // A missing version of an existing model: one more request tells which is missing.
    let server = FakeServer::start(vec![
        Canned::json(
            404,
            r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Model Version (name=m, version=9) not found"}"#,
        ),
        Canned::json(200, MODEL),
    ]);
    let err = registry(&server.uri)
        .get_model_version("m", "9".parse().unwrap())
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::NotFound { kind: crate::EntityKind::ModelVersion, id } if id == "m v9"),
        "{err}"
    );
}

#[test]
fn answers_convert_and_reserved_tags_are_hidden() {
    let server = FakeServer::start(vec![Canned::json(200, MODEL), Canned::json(200, VERSION)]);
    let r = registry(&server.uri);
    let m = r.get_registered_model("m").unwrap();
    assert_eq!(m.tags.len(), 1);
    assert_eq!(m.tags["team"], "nlp");
    assert_eq!(m.latest_version, 4);
    assert_eq!(m.aliases[&"champion".parse().unwrap()].get(), 3);
    assert_eq!(m.created_at.timestamp_millis(), 1_700_000_000_000);
    let v = r.get_model_version("m", "3".parse().unwrap()).unwrap();
    assert_eq!(v.stage, Stage::Production);
    assert_eq!(v.run_id.as_deref(), Some("r1"));
    assert_eq!(v.metrics["accuracy"], 0.1 + 0.2);
    assert_eq!(v.tags.len(), 1);
    assert!(v.digest.is_some());
    assert_eq!(v.aliases, ["champion".parse().unwrap()]);
}

#[test]
fn resolve_costs_one_request() {
    for (uri, answer, expect) in [
        ("models:/m/3", VERSION, 3),
        (
            "models:/m@champion",
            r#"{"model_version":{"name":"m","version":"3"}}"#,
            3,
        ),
        ("models:/m/Production", MODEL, 3),
        ("models:/m/latest", MODEL, 4),
    ] {
        let server = FakeServer::start(vec![Canned::json(200, answer)]);
        let r = registry(&server.uri);
        assert_eq!(
            r.resolve(&uri.parse().unwrap()).unwrap().get(),
            expect,
            "{uri}"
        );
        assert_eq!(server.requests(), 1, "{uri}");
    }
    let server = FakeServer::start(vec![Canned::json(200, MODEL)]);
    let err = registry(&server.uri)
        .resolve(&"models:/m/Staging".parse().unwrap())
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::NotFound {
                kind: crate::EntityKind::ModelVersion,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn requests_have_mlflows_shape() {
    let server = FakeServer::start(vec![Canned::json(
        200,
        r#"{"model_versions":[],"next_page_token":""}"#,
    )]);
    let r = registry(&server.uri).with_name_prefix("team-").unwrap();
    let found = r
        .search_model_versions(
            &Search::filter("name = 'm' AND metrics.accuracy > 0.5")
                .unwrap()
                .max_results(3),
        )
        .unwrap();
    assert!(found.items.is_empty());
    let seen = server.seen.lock().unwrap().clone();
    let (method, path, _) = &seen[0];
    assert_eq!(method, "GET");
    assert!(
        path.starts_with("/api/2.0/mlflow/model-versions/search?"),
        "{path}"
    );
    // The name gets the prefix; the metric clause is evaluated here, so the page is full-size.
    assert!(
        path.contains("filter=name+%3D+%27team-m%27")
            || path.contains("filter=name%20%3D%20%27team-m%27"),
        "{path}"
    );
    assert!(path.contains("max_results=10000"), "{path}");
    assert!(path.contains("order_by=name"), "{path}");

    // Archiving with an inactive stage is refused before any request (MLflow would answer
    // it with an internal error).
    let server = FakeServer::start(vec![Canned::json(200, VERSION)]);
    let err = registry(&server.uri)
        .transition_stage(
            "m",
            "3".parse().unwrap(),
            Stage::None,
            true,
            &Change::default(),
        )
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::InvalidArgument { .. }),
        "{err}"
    );
    assert_eq!(server.requests(), 0);
}

#[test]
fn reserved_and_invalid_input_never_reach_the_server() {
    let server = FakeServer::start(vec![Canned::json(500, "{}")]);
    let r = registry(&server.uri);
    for err in [
        r.set_model_tag("m", "mlops.audit.1", "x").unwrap_err(),
        r.create_registered_model(&NewModel::new("m").tag("mlops.x", "y"))
            .unwrap_err(),
        r.create_model_version(&NewVersion::new("m", "s3://b").tag("mlops.digest", "y"))
            .unwrap_err(),
        r.create_model_version(&NewVersion::new("m", "s3://b").metric("a", f64::INFINITY))
            .unwrap_err(),
        r.create_registered_model(&NewModel::new("a/b"))
            .unwrap_err(),
        MlflowRegistry::new(MlflowConfig::new(&server.uri).unwrap())
            .with_name_prefix("a:b")
            .unwrap_err(),
    ] {
        assert!(
            matches!(err, RegistryError::InvalidArgument { .. }),
            "{err}"
        );
    }
    assert_eq!(server.requests(), 0);
}

#[test]
fn audit_values_fit_mlflows_tag_limit() {
    let mut record = crate::model::AuditRecord {
        at: chrono::Utc::now(),
        actor: "ci".into(),
        comment: "x".repeat(20_000),
        change: crate::model::AuditChange::VersionDeleted {
            version: "1".parse().unwrap(),
        },
    };
    let value = super::audit::audit_value(&mut record);
    assert!(value.chars().count() <= crate::model::MAX_TAG_VALUE_LEN);
    assert!(record.comment.ends_with("..."));
    let back: crate::model::AuditRecord = serde_json::from_str(&value).unwrap();
    assert_eq!(back, record);
}

#[test]
fn audit_sequence_follows_the_highest_key() {
    let url = "http://x/api/2.0/mlflow/registered-models/get";
    let mut answer: serde_json::Value = serde_json::from_str(MODEL).unwrap();
    let m: super::ModelJson = super::field(url, answer.take(), "registered_model").unwrap();
    assert_eq!(super::audit::next_audit_seq(&m), 2);
    assert_ne!(super::audit::random_u32(), super::audit::random_u32());
}

#[test]
fn unreadable_tags_in_our_namespace_are_kept_as_plain_tags() {
    let foreign = VERSION
        .replace("0.30000000000000004", "high")
        .replace(&"0".repeat(64), "not-a-digest");
    let server = FakeServer::start(vec![Canned::json(200, &foreign)]);
    let r = registry(&server.uri);
    let v = r.get_model_version("m", "3".parse().unwrap()).unwrap();
    assert!(v.metrics.is_empty(), "{:?}", v.metrics);
    assert_eq!(v.digest, None);
    assert_eq!(v.tags["mlops.metric.accuracy"], "high");
    assert_eq!(v.tags["mlops.digest"], "not-a-digest");
    assert_eq!(v.tags["k"], "v");
}
