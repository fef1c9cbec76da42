//! Cases on metrics (latest value, history, special values, paging) and batch validation.

use super::{Capabilities, Subject, exp, new_run, reopen};
use crate::backend::{TrackingBackend, TrackingBackendExt};
use std::ops::ControlFlow;

use crate::error::TrackingError;
use crate::model::{Batch, CreateRun, HistoryRequest, Metric, SearchRuns};

/// The latest value is the greatest `(step, timestamp, value)`; the history keeps every value in
/// logging order.
pub fn metrics_latest_and_history(subject: &Subject<dyn TrackingBackend>, caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = new_run(b, &e, "r");
    let values = [
        Metric::new("loss", 0.9, 100, 0),
        Metric::new("loss", 0.5, 300, 2),
        Metric::new("loss", 0.7, 200, 1),
        Metric::new("loss", 0.4, 250, 2),
        Metric::new("loss", 0.45, 250, 2),
        Metric::new("acc", 0.1, 100, 0),
    ];
    for m in &values {
        b.log_metric(&r, &m.key, m.value, m.timestamp, m.step)
            .unwrap();
    }
    let check = |b: &dyn TrackingBackend| {
        let got = b.get_run(&r).unwrap();
        let loss = got.data.metrics.get("loss").unwrap();
        assert!(loss.same_as(&Metric::new("loss", 0.5, 300, 2)), "{loss:?}");
        assert_eq!(got.metric("acc"), Some(0.1));
        let hist = b.metric_history(&r, "loss").unwrap();
        assert_eq!(hist.len(), 5);
        let mut expected: Vec<&Metric> = values.iter().filter(|m| m.key == "loss").collect();
        if !caps.history_in_logging_order {
            expected.sort_by(|a, b| {
                (a.timestamp, a.step)
                    .cmp(&(b.timestamp, b.step))
                    .then(a.value.total_cmp(&b.value))
            });
        }
        for (h, v) in hist.iter().zip(expected) {
            assert!(h.same_as(v), "{h:?} != {v:?}");
        }
        assert!(b.metric_history(&r, "missing").unwrap().is_empty());
    };
    check(b);
    let b = reopen(subject);
    check(&*b);
}

/// NaN and ±infinity are stored and returned as such.
pub fn special_values_round_trip(subject: &Subject<dyn TrackingBackend>, caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = new_run(b, &e, "r");
    let batch = Batch::new()
        .metric("x", f64::NAN, 1, 0)
        .metric("x", f64::INFINITY, 1, 1)
        .metric("x", f64::NEG_INFINITY, 1, 2)
        .metric("x", -0.0, 1, 3)
        .metric("x", 0.1 + 0.2, 1, 4)
        .metric("y", f64::NAN, 1, 0);
    b.log_batch(&r, &batch).unwrap();
    let check = |b: &dyn TrackingBackend| {
        let hist = b.metric_history(&r, "x").unwrap();
        assert_eq!(hist.len(), 5);
        assert!(hist[0].value.is_nan());
        let (inf, neg_inf) = if caps.infinities_kept {
            (f64::INFINITY, f64::NEG_INFINITY)
        } else {
            (f64::MAX, -f64::MAX)
        };
        assert_eq!(hist[1].value, inf);
        assert_eq!(hist[2].value, neg_inf);
        let zero = if caps.negative_zero_kept {
            -0.0f64
        } else {
            0.0
        };
        assert_eq!(hist[3].value.to_bits(), zero.to_bits());
        assert_eq!(hist[4].value.to_bits(), (0.1f64 + 0.2).to_bits());
        assert!(b.get_run(&r).unwrap().metric("y").unwrap().is_nan());
    };
    check(b);
    let b = reopen(subject);
    check(&*b);
}

/// History pages cover the history exactly once; bad tokens are rejected.
pub fn history_paging(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = new_run(b, &e, "r");
    let mut batch = Batch::new();
    for i in 0..25 {
        batch = batch
            .metric("m", f64::from(i), 10, i64::from(i))
            .metric("other", 0.0, 10, 0);
    }
    b.log_batch(&r, &batch).unwrap();
    let mut req = HistoryRequest::new().max_results(10);
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let page = b.get_metric_history(&r, "m", &req).unwrap();
        pages += 1;
        assert!(page.items.len() <= 10);
        all.extend(page.items);
        match page.next_page_token {
            Some(t) => req = req.page_token(Some(t)),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let steps: Vec<i64> = all.iter().map(|m| m.step).collect();
    assert_eq!(steps, (0..25).collect::<Vec<_>>());
    let err = b
        .get_metric_history(
            &r,
            "m",
            &HistoryRequest::new().page_token(Some("garbage".into())),
        )
        .unwrap_err();
    assert!(
        matches!(err, TrackingError::InvalidArgument { .. }),
        "{err}"
    );
}

/// `visit_metric_history` visits the history of `get_metric_history`, in order, once; stops at
/// the first `Break`; visits nothing for a key never logged; `NotFound` for an unknown run.
pub fn history_visit(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = new_run(b, &e, "r");
    for chunk in 0..6_i64 {
        let mut batch = Batch::new();
        for i in 0..chunk {
            let step = chunk * 10 + i;
            batch = batch
                .metric("m", step as f64, 10, step)
                .metric("other", 0.0, 10, step);
        }
        b.log_batch(&r, &batch.param(format!("p{chunk}"), "x"))
            .unwrap();
    }
    let check = |b: &dyn TrackingBackend| {
        let history = b.metric_history(&r, "m").unwrap();
        assert_eq!(history.len(), 15);
        let mut visited = Vec::new();
        b.visit_metric_history(&r, "m", &mut |m| {
            visited.push(m);
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(visited, history);
        let mut first = Vec::new();
        b.visit_metric_history(&r, "m", &mut |m| {
            first.push(m);
            if first.len() == 7 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        assert_eq!(first, history[..7]);
        let mut none = 0;
        b.visit_metric_history(&r, "never", &mut |_| {
            none += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(none, 0);
        let missing = "0123456789abcdef0123456789abcdef".parse().unwrap();
        let err = b
            .visit_metric_history(&missing, "m", &mut |_| ControlFlow::Continue(()))
            .unwrap_err();
        assert!(matches!(err, TrackingError::NotFound { .. }), "{err}");
    };
    check(b);
    let b = reopen(subject);
    check(&*b);
}

/// Bad keys, over-long values and over-full batches are rejected whole, naming the problem.
pub fn invalid_batches_store_nothing(subject: &Subject<dyn TrackingBackend>, caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = new_run(b, &e, "r");
    let cases: Vec<(Batch, &str)> = vec![
        (
            Batch::new()
                .metric("ok", 1.0, 1, 1)
                .metric("bad*key", 1.0, 1, 1),
            "bad*key",
        ),
        (
            Batch::new()
                .metric("ok", 1.0, 1, 1)
                .metric("../up", 1.0, 1, 1),
            "../up",
        ),
        (
            Batch::new()
                .metric("ok", 1.0, 1, 1)
                .param("p", "x".repeat(6001)),
            "\"p\"",
        ),
        (
            Batch::new()
                .metric("ok", 1.0, 1, 1)
                .tag("t", "x".repeat(8001)),
            "\"t\"",
        ),
        (
            Batch::new()
                .metric("ok", 1.0, 1, 1)
                .param("k".repeat(251), "v"),
            "250",
        ),
        (
            Batch {
                metrics: vec![Metric::new("ok", 1.0, 1, 1); 1001],
                ..Batch::default()
            },
            "1001",
        ),
        (
            Batch {
                params: (0..101)
                    .map(|i| (format!("p{i}"), "v".to_owned()))
                    .collect(),
                ..Batch::default()
            },
            "101",
        ),
        (
            Batch {
                tags: (0..101)
                    .map(|i| (format!("t{i}"), "v".to_owned()))
                    .collect(),
                ..Batch::default()
            },
            "101",
        ),
    ];
    for (batch, needle) in cases {
        let err = b.log_batch(&r, &batch).unwrap_err();
        assert!(
            matches!(err, TrackingError::InvalidArgument { .. }),
            "{err}"
        );
        assert!(err.to_string().contains(needle), "{err} lacks {needle}");
    }
    let exact = Batch {
        metrics: vec![Metric::new("ok", 1.0, 1, 1); 1000],
        params: (0..100)
            .map(|i| (format!("p{i}"), "v".repeat(6000)))
            .collect(),
        tags: (0..100)
            .map(|i| (format!("t{i}"), "v".repeat(8000)))
            .collect(),
    };
    let before = b.get_run(&r).unwrap();
    assert!(before.data.metrics.is_empty() && before.data.params.is_empty());
    b.log_batch(&r, &exact).unwrap();
    let b = reopen(subject);
    let got = b.get_run(&r).unwrap();
    assert_eq!(got.data.params.len(), 100);
    let kept = if caps.duplicate_metrics_kept { 1000 } else { 1 };
    assert_eq!(b.metric_history(&r, "ok").unwrap().len(), kept);
}

/// Keys that are not clean relative paths (MLflow's rule: normalised, the key must stay itself,
/// inside the root and not start with `..`) are `InvalidArgument` naming the key, as metric,
/// param or tag keys, at run creation too; nothing of the batch is stored.
pub fn unclean_keys_are_rejected(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = new_run(b, &e, "r");
    for key in ["..foo", "a/../b", "./a", "a//b", "a/", "..", "/abs"] {
        let batches = [
            Batch::new().metric("ok", 1.0, 1, 0).metric(key, 1.0, 1, 0),
            Batch::new().metric("ok", 1.0, 1, 0).param(key, "v"),
            Batch::new().metric("ok", 1.0, 1, 0).tag(key, "v"),
        ];
        for batch in batches {
            let err = b.log_batch(&r, &batch).unwrap_err();
            assert!(
                matches!(err, TrackingError::InvalidArgument { .. }),
                "{key}: {err}"
            );
            assert!(
                err.to_string().contains(&format!("{key:?}")),
                "{key}: {err}"
            );
        }
        let err = b
            .create_run(&e, &CreateRun::new().tag(key, "v"))
            .unwrap_err();
        assert!(
            matches!(err, TrackingError::InvalidArgument { .. }),
            "{key}: {err}"
        );
    }
    let got = b.get_run(&r).unwrap();
    assert!(
        got.data.metrics.is_empty() && got.data.params.is_empty(),
        "{got:?}"
    );
    assert!(b.metric_history(&r, "ok").unwrap().is_empty());
    let runs = b.search_all_runs(&SearchRuns::new([e.clone()])).unwrap();
    assert_eq!(runs.len(), 1, "no run was created");
    // A key that only looks odd is fine.
    b.log_batch(&r, &Batch::new().metric("a/..b", 1.0, 1, 0))
        .unwrap();
}
