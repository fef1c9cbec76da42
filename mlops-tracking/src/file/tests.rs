//! Tests of the file backend's internals (history tokens, artifact URIs, framing).

use super::*;

/// Pages resume where the last one stopped (a record's byte offset and how many of its
/// points to skip), across records holding several points of the key and of other keys;
/// the old offset tokens still work; a forged token is an invalid argument.
#[test]
fn history_pages_resume_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let backend = FileTrackingBackend::open(dir.path())
        .unwrap()
        .with_fsync(false);
    let exp = backend.create_experiment("e", &[]).unwrap();
    let run = backend
        .create_run(&exp.experiment_id, &CreateRun::default())
        .unwrap();
    let id = run.info.run_id;
    for batch in 0..40_i64 {
        let mut b = Batch::default();
        for j in 0..(batch % 4) {
            let step = batch * 10 + j;
            b.metrics.push(Metric::new("loss", step as f64, 0, step));
            b.metrics.push(Metric::new("other", 0.0, 0, step));
        }
        backend.log_batch(&id, &b).unwrap();
    }
    let all = backend
        .get_metric_history(&id, "loss", &HistoryRequest::new().max_results(10_000))
        .unwrap();
    assert_eq!(all.items.len(), 60);
    assert!(all.next_page_token.is_none());
    for size in [1, 2, 3, 7] {
        let mut req = HistoryRequest::new().max_results(size);
        let mut got = Vec::new();
        loop {
            let page = backend.get_metric_history(&id, "loss", &req).unwrap();
            assert!(page.items.len() <= size);
            got.extend(page.items);
            match page.next_page_token {
                Some(t) => {
                    assert!(t.starts_with(HISTORY_TOKEN_PREFIX), "{t}");
                    req = req.page_token(Some(t));
                }
                None => break,
            }
        }
        assert_eq!(got, all.items, "page size {size}");
    }
    // An offset token, as the other backends make, still pages from there.
    let old = backend
        .get_metric_history(
            &id,
            "loss",
            &HistoryRequest::new()
                .max_results(5)
                .page_token(Some(crate::model::encode_page_token(50))),
        )
        .unwrap();
    assert_eq!(old.items, all.items[50..55]);
    // A token that does not point at a record is refused, not reported as corruption.
    for bad in ["h3.0", "hzz.0", "h1", "h100000000.0"] {
        let err = backend
            .get_metric_history(
                &id,
                "loss",
                &HistoryRequest::new().page_token(Some(bad.to_owned())),
            )
            .unwrap_err();
        assert!(
            matches!(err, TrackingError::InvalidArgument { .. }),
            "{bad}: {err}"
        );
    }
}

#[test]
fn artifact_uris_are_absolute_file_uris() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("my store");
    let backend = FileTrackingBackend::open(&root).unwrap().with_fsync(false);
    let exp = backend.create_experiment("e", &[]).unwrap();
    let run = backend
        .create_run(&exp.experiment_id, &CreateRun::default())
        .unwrap();
    let uri = &run.info.artifact_uri;
    let expected_prefix = file_uri(&root.join(RUNS));
    assert!(uri.starts_with("file:///"), "{uri}");
    assert!(uri.contains("/my%20store/"), "{uri}");
    assert!(uri.starts_with(&expected_prefix), "{uri}");
    assert!(
        uri.ends_with(&format!("/{}/artifacts", run.info.run_id)),
        "{uri}"
    );
}

#[test]
fn in_place_framing_matches_the_shared_frame() {
    let metrics = [
        MetricOut("loss", f64::NAN, 1, 2),
        MetricOut("acc", 0.5, 3, 4),
    ];
    let tags = [("k".to_owned(), "v \"quoted\"\n".to_owned())];
    let rec = RecordOut {
        m: metrics.into_iter().collect(),
        p: &[],
        t: &tags,
        a: None,
        i: &[],
    };
    let mut ours = b"prefix".to_vec();
    encode(&rec, &mut ours, Path::new("x")).unwrap();
    let mut shared = b"prefix".to_vec();
    fsutil::encode_record(&serde_json::to_vec(&rec).unwrap(), &mut shared).unwrap();
    assert_eq!(ours, shared);
    let scan = fsutil::scan_records(&ours[6..]).unwrap();
    assert_eq!(scan.records.len(), 1);
    assert!(scan.torn_at.is_none());
}
