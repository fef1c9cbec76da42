//! The S3 client: configuration and secrets without a server; everything else against a real
//! moto server (`#[ignore = "needs moto_server"]`, see `mlops_s3::test_server`).
#![allow(clippy::print_stderr)]

use std::io::{self, Read};
use std::time::Duration;

use mlops_s3::test_server::{self, FaultProxy, MotoServer};
use mlops_s3::{S3Client, S3Config, S3Error};

const SECRET: &str = "wJalrXUtnFEMI-very-secret-key";

#[test]
fn config_from_vars_and_url() {
    let vars = |k: &str| {
        match k {
            "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE"),
            "AWS_SECRET_ACCESS_KEY" => Some(SECRET),
            "AWS_DEFAULT_REGION" => Some("eu-west-3"),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:9000"),
            _ => None,
        }
        .map(str::to_owned)
    };
    let c = S3Config::from_vars("b", vars).prefix("/data/v1/");
    assert_eq!(c.url(), "s3://b/data/v1");
    assert_eq!(c.key("ab/cd"), "data/v1/ab/cd");
    assert_eq!(c.endpoint_display(), "http://127.0.0.1:9000");
    // http only when asked: the endpoint above is refused without allow_http.
    let err = S3Client::new_unchecked(c.clone()).unwrap_err();
    assert!(matches!(err, S3Error::Config(_)), "{err}");
    assert!(err.to_string().contains("allow_http"), "{err}");
    assert!(S3Client::new_unchecked(c.allow_http(true)).is_ok());
    assert_eq!(
        mlops_s3::parse_url("s3://bucket/a/b/").unwrap(),
        ("bucket".to_owned(), "a/b".to_owned())
    );
    for bad in ["http://x/y", "s3://", "s3:///x", "s3://b/../x"] {
        assert!(mlops_s3::parse_url(bad).is_err(), "{bad}");
    }
}

#[test]
fn secrets_never_in_debug() {
    let c = S3Config::new("b")
        .credentials("AKIDEXAMPLE", SECRET)
        .session_token("session-token-secret");
    let client = S3Client::new_unchecked(c.clone()).unwrap();
    for text in [format!("{c:?}"), format!("{client:?}"), format!("{c:#?}")] {
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains("session-token-secret"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}

/// A port nothing listens on.
fn dead_endpoint() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

#[tokio::test(flavor = "current_thread")]
async fn usable_and_droppable_inside_a_current_thread_runtime() {
    let client = S3Client::new_unchecked(
        test_server::config_for(&dead_endpoint(), "b").retries(0, Duration::from_secs(1)),
    )
    .unwrap();
    // A request from inside the caller's runtime: an error, not a panic.
    let err = client.head("x").unwrap_err();
    assert!(matches!(err, S3Error::Request { .. }), "{err}");
    assert!(err.to_string().contains("s3://b/x"), "{err}");
    drop(client); // dropping the owned runtime here must not panic either
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usable_inside_a_multi_thread_runtime() {
    let client = S3Client::new_unchecked(
        test_server::config_for(&dead_endpoint(), "b").retries(0, Duration::from_secs(1)),
    )
    .unwrap();
    let err = tokio::task::spawn_blocking({
        let client = client.clone();
        move || client.head("x")
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(err, S3Error::Request { .. }), "{err}");
    assert!(client.get("y").is_err());
}

fn bucket_on(server: &MotoServer, tag: &str) -> S3Client {
    let bucket = test_server::unique_bucket(tag);
    server.create_bucket(&bucket);
    S3Client::connect(server.config(&bucket).prefix("pre/fix")).unwrap()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
#[ignore = "needs moto_server"]
fn put_get_head_list_delete() {
    let client = bucket_on(test_server::shared(), "basic");
    client.put_bytes("a/one", &b"one"[..]).unwrap();
    assert_eq!(client.head("a/one").unwrap().map(|i| i.size), Some(3));
    assert_eq!(client.head("a/two").unwrap(), None);
    let mut s = String::new();
    client.get("a/one").unwrap().read_to_string(&mut s).unwrap();
    assert_eq!(s, "one");
    let err = client.get("a/two").unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("pre/fix/a/two"), "{err}");
    assert_eq!(client.list("").unwrap()[0].rel, "a/one");
    assert!(client.delete("a/one").unwrap());
    assert!(!client.delete("a/one").unwrap());
    assert!(client.list("").unwrap().is_empty());
}

#[test]
#[ignore = "needs moto_server"]
fn put_bytes_if_absent_creates_once_and_keeps_the_first() {
    let client = bucket_on(test_server::shared(), "ifabsent");
    assert!(client.put_bytes_if_absent("k", &b"first"[..]).unwrap());
    assert!(!client.put_bytes_if_absent("k", &b"second!"[..]).unwrap());
    let mut s = String::new();
    client.get("k").unwrap().read_to_string(&mut s).unwrap();
    assert_eq!(s, "first");
    assert_eq!(client.list("").unwrap().len(), 1);
}

#[test]
#[ignore = "needs moto_server"]
fn list_follows_pages() {
    let client = bucket_on(test_server::shared(), "pages");
    let n = 1_005; // more than one page of 1000
    let keys: Vec<String> = (0..n).map(|i| format!("k/{i:05}")).collect();
    std::thread::scope(|s| {
        for chunk in keys.chunks(n / 8 + 1) {
            let client = client.clone();
            s.spawn(move || {
                for k in chunk {
                    client.put_bytes(k, &b"x"[..]).unwrap();
                }
            });
        }
    });
    let mut listed: Vec<String> = client
        .list("k")
        .unwrap()
        .into_iter()
        .map(|i| i.rel)
        .collect();
    listed.sort();
    assert_eq!(listed, keys);
    let answers = client.head_many(&keys[..50], 8).unwrap();
    assert!(answers.iter().all(|a| *a == Some(1)));
}

#[test]
#[ignore = "needs moto_server"]
fn multipart_upload_streams_and_reads_back() {
    let client = bucket_on(test_server::shared(), "multipart");
    let data = pattern(12 * 1024 * 1024 + 123, 5); // three parts of 5 MiB
    let n = client.put_reader("big", &mut &data[..]).unwrap();
    assert_eq!(n, data.len() as u64);
    let mut back = Vec::new();
    client.get("big").unwrap().read_to_end(&mut back).unwrap();
    assert!(back == data, "multipart object differs");
}

#[test]
#[ignore = "needs moto_server"]
fn failed_multipart_upload_leaves_nothing() {
    let client = bucket_on(test_server::shared(), "abort");
    struct FailsLate(usize);
    impl Read for FailsLate {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            let n = self.0.min(buf.len());
            buf[..n].fill(1);
            self.0 -= n;
            Ok(n)
        }
    }
    // Fails after two full parts were sent.
    let err = client
        .put_reader("partial", &mut FailsLate(11 * 1024 * 1024))
        .unwrap_err();
    assert!(matches!(err, S3Error::Read { .. }), "{err}");
    assert!(err.to_string().contains("disk on fire"), "{err}");
    assert_eq!(client.head("partial").unwrap(), None);
    assert!(client.list("").unwrap().is_empty());
}

#[test]
#[ignore = "needs moto_server"]
fn missing_bucket_is_named() {
    let server = test_server::shared();
    let err = S3Client::connect(server.config("no-such-bucket-here")).unwrap_err();
    assert!(matches!(err, S3Error::BucketNotFound { .. }), "{err}");
    assert!(err.to_string().contains("no-such-bucket-here"), "{err}");
    assert!(err.to_string().contains(&server.endpoint), "{err}");
}

#[test]
#[ignore = "needs moto_server"]
fn wrong_credentials_are_an_auth_error_without_the_secret() {
    let server = MotoServer::start(&[]).unwrap_or_else(|e| {
        panic!(
            "this test needs moto_server: {e}; {}",
            test_server::INSTALL_HINT
        )
    });
    server.create_bucket("locked");
    server.require_auth();
    let config = server.config("locked").credentials("AKIDWRONG", SECRET);
    let err = S3Client::connect(config.clone()).unwrap_err();
    assert!(err.is_auth(), "{err}");
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("locked") && text.contains(&server.endpoint),
        "{text}"
    );
    assert!(!text.contains(SECRET), "{text}");
    // Operations report it the same way.
    let client = S3Client::new_unchecked(config).unwrap();
    let err = client.put_bytes("x", &b"x"[..]).unwrap_err();
    assert!(err.is_auth(), "{err}");
    assert!(!format!("{err:?}").contains(SECRET));
}

#[test]
#[ignore = "needs moto_server"]
fn server_gone_mid_upload_leaves_nothing_and_a_retry_completes() {
    let server = test_server::shared();
    let bucket = test_server::unique_bucket("cut");
    server.create_bucket(&bucket);
    let proxy = FaultProxy::start(server.port);
    let client = S3Client::connect(test_server::config_for(&proxy.endpoint, &bucket)).unwrap();
    let data = pattern(16 * 1024 * 1024, 2);
    proxy.cut_after(7 * 1024 * 1024); // during the second part
    let err = client.put_reader("big", &mut &data[..]).unwrap_err();
    assert!(proxy.is_down());
    assert!(matches!(err, S3Error::Request { .. }), "{err}");
    proxy.restore();
    assert_eq!(client.head("big").unwrap(), None, "no partial object");
    client.put_reader("big", &mut &data[..]).unwrap();
    assert_eq!(
        client.head("big").unwrap().map(|i| i.size),
        Some(data.len() as u64)
    );
}

#[test]
fn request_checksums_are_on_by_default_and_follow_the_aws_variable() {
    let on = format!("{:?}", S3Config::new("b"));
    assert!(on.contains("request_checksums: true"), "{on}");
    for (value, expected) in [
        ("when_required", false),
        ("WHEN_REQUIRED", false),
        ("when_supported", true),
    ] {
        let c = S3Config::from_vars("b", |k| {
            (k == "AWS_REQUEST_CHECKSUM_CALCULATION").then(|| value.to_owned())
        });
        let text = format!("{c:?}");
        assert!(
            text.contains(&format!("request_checksums: {expected}")),
            "{value}: {text}"
        );
    }
    let off = format!("{:?}", S3Config::new("b").request_checksums(false));
    assert!(off.contains("request_checksums: false"), "{off}");
}

/// Every upload request carries `x-amz-checksum-sha256` unless turned off, and the server
/// accepts it (it verifies each part against it).
#[test]
#[ignore = "needs moto_server"]
fn uploads_carry_a_sha256_checksum_unless_turned_off() {
    let server = test_server::shared();
    let bucket = test_server::unique_bucket("checksum");
    server.create_bucket(&bucket);
    let proxy = FaultProxy::start(server.port);
    let data = pattern(12 * 1024 * 1024 + 7, 9); // three parts of 5 MiB
    for checksums in [true, false] {
        let config = test_server::config_for(&proxy.endpoint, &bucket).request_checksums(checksums);
        let client = S3Client::connect(config).unwrap();
        proxy.watch(b"x-amz-checksum-sha256:");
        client.put_reader("big", &mut &data[..]).unwrap();
        client.put_bytes("small", &b"small"[..]).unwrap();
        let sent = proxy.watched();
        if checksums {
            assert_eq!(sent, 4, "three parts and one PUT, each with its checksum");
        } else {
            assert_eq!(sent, 0, "no checksum header when turned off");
        }
        let mut back = Vec::new();
        client.get("big").unwrap().read_to_end(&mut back).unwrap();
        assert!(back == data, "object differs (checksums {checksums})");
    }
}
