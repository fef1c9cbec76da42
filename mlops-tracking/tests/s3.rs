//! Run artifacts in S3 (feature `s3`) against a real S3 server (moto's `moto_server`, started by
//! the tests; `#[ignore = "needs moto_server"]`, see `mlops_s3::test_server`).

use std::io::Read;

use mlops_s3::S3Client;
use mlops_s3::test_server;
use mlops_tracking::{CreateRun, FileTrackingBackend, TrackingBackend, TrackingBackendExt};

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
#[ignore = "needs moto_server"]
fn artifacts_of_an_s3_experiment_live_in_the_bucket() {
    let server = test_server::shared();
    let bucket = test_server::unique_bucket("artifacts");
    server.create_bucket(&bucket);
    let config = server.config(&bucket).prefix("mlruns");
    let dir = tempfile::tempdir().unwrap();
    let backend = FileTrackingBackend::open(dir.path())
        .unwrap()
        .with_fsync(false);
    // An experiment created before the setting keeps its local location.
    let local = backend.create_experiment("local", &[]).unwrap();
    assert!(!local.artifact_location.starts_with("s3://"));
    let backend = backend.with_s3_artifacts(config.clone());
    let exp = backend.create_experiment("vision", &[]).unwrap();
    assert_eq!(
        exp.artifact_location,
        format!("s3://{bucket}/mlruns/{}", exp.experiment_id)
    );
    let run = backend
        .create_run(&exp.experiment_id, &CreateRun::new())
        .unwrap();
    let run_id = run.info.run_id;
    assert!(run.info.artifact_uri.starts_with("s3://"));

    let big = pattern(6 * 1024 * 1024 + 5, 3); // multipart
    let small = backend
        .log_artifact(&run_id, "metrics/summary.json", &mut &b"{\"auc\":0.9}"[..])
        .unwrap();
    let model = backend
        .log_artifact(&run_id, "model/model.bin", &mut &big[..])
        .unwrap();
    assert_eq!(small.size, 11);
    assert_eq!(model.size, big.len() as u64);
    let listed: Vec<String> = backend
        .list_artifacts(&run_id, None)
        .unwrap()
        .into_iter()
        .map(|a| a.path)
        .collect();
    assert_eq!(listed, ["metrics/summary.json", "model/model.bin"]);
    assert_eq!(
        backend.read_artifact(&run_id, "model/model.bin").unwrap(),
        big
    );

    // The bytes are in the bucket, at MLflow's layout; the store keeps only metadata.
    let raw = S3Client::connect(server.config(&bucket)).unwrap();
    let key = format!(
        "mlruns/{}/{run_id}/artifacts/model/model.bin",
        exp.experiment_id
    );
    assert_eq!(
        raw.head(&key).unwrap().map(|i| i.size),
        Some(big.len() as u64)
    );
    let local_files: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("model.bin") || p.ends_with("artifacts"))
        .collect();
    assert!(local_files.is_empty(), "{local_files:?}");

    // Reopened: still readable.
    drop(backend);
    let reopened = FileTrackingBackend::open(dir.path())
        .unwrap()
        .with_s3_artifacts(config);
    assert_eq!(
        reopened
            .read_artifact(&run_id, "metrics/summary.json")
            .unwrap(),
        b"{\"auc\":0.9}"
    );

    // Damaged on the server: reading fails instead of returning wrong bytes.
    raw.put_bytes(&key, pattern(big.len(), 4)).unwrap();
    let mut out = Vec::new();
    let err = reopened
        .open_artifact(&run_id, "model/model.bin")
        .unwrap()
        .read_to_end(&mut out)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    // Missing on the server: NotFound naming the key.
    raw.delete(&key).unwrap();
    let err = reopened
        .open_artifact(&run_id, "model/model.bin")
        .err()
        .unwrap();
    assert!(err.to_string().contains("model/model.bin"), "{err}");
}

#[test]
fn an_s3_location_is_refused_cleanly_when_the_bucket_is_unreachable() {
    // No server needed: a closed port. The error names the remote, never panics.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = test_server::config_for(&format!("http://127.0.0.1:{port}"), "nobucket")
        .retries(0, std::time::Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    let backend = FileTrackingBackend::open(dir.path())
        .unwrap()
        .with_fsync(false)
        .with_s3_artifacts(config);
    let exp = backend.create_experiment("e", &[]).unwrap();
    let run = backend
        .create_run(&exp.experiment_id, &CreateRun::new())
        .unwrap();
    let err = backend
        .log_artifact(&run.info.run_id, "a.txt", &mut &b"x"[..])
        .unwrap_err();
    assert!(err.to_string().contains("nobucket"), "{err}");
    assert!(
        backend
            .list_artifacts(&run.info.run_id, None)
            .unwrap()
            .is_empty()
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}
