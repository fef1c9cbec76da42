//! Secrets never reach the logs: every `tracing` event and span field emitted while a request
//! is rejected for its credentials, while requests are retried and while a failed multipart
//! upload cannot be aborted is captured (a global subscriber: this test binary holds only this
//! test) and searched for the secret. Needs a real moto server.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use mlops_s3::test_server::{self, FaultProxy, MotoServer};
use mlops_s3::{S3Client, S3Error};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const SECRET: &str = "s3cr3t-never-in-logs-0123456789";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut s = String::new();
        attrs.record(&mut Fields(&mut s));
        self.0.lock().unwrap().push(s);
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut s = String::new();
        values.record(&mut Fields(&mut s));
        self.0.lock().unwrap().push(s);
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut s = format!(
            "{} {}: ",
            event.metadata().level(),
            event.metadata().target()
        );
        event.record(&mut Fields(&mut s));
        self.0.lock().unwrap().push(s);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
#[ignore = "needs moto_server"]
fn no_secret_in_any_log_event() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(capture.clone()).unwrap();

    // Rejected credentials.
    let locked = MotoServer::start(&[]).unwrap_or_else(|e| {
        panic!(
            "this test needs moto_server: {e}; {}",
            test_server::INSTALL_HINT
        )
    });
    locked.create_bucket("locked");
    locked.require_auth();
    let err =
        S3Client::connect(locked.config("locked").credentials("AKIDBAD", SECRET)).unwrap_err();
    assert!(err.is_auth(), "{err}");

    // The server gone mid-upload: retries, then an abort that fails and is logged.
    let server = test_server::shared();
    server.create_bucket("logs");
    let proxy = FaultProxy::start(server.port);
    let client = S3Client::connect(
        test_server::config_for(&proxy.endpoint, "logs").credentials("AKIDTEST", SECRET),
    )
    .unwrap();
    proxy.cut_after(7 * 1024 * 1024);
    let data = vec![7u8; 16 * 1024 * 1024];
    let err = client.put_reader("big", &mut &data[..]).unwrap_err();
    assert!(matches!(err, S3Error::Request { .. }), "{err}");

    let events = capture.0.lock().unwrap().clone();
    assert!(
        events.iter().any(|e| e.contains("could not abort")),
        "the failed abort is logged: {events:#?}"
    );
    for e in &events {
        assert!(!e.contains(SECRET), "secret in a log event: {e}");
    }
}
