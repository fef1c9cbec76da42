//! Cases on `search_runs`: filters, order, paging.

use std::collections::BTreeSet;

use super::{Capabilities, Subject, exp, reopen};
use crate::backend::{TrackingBackend, TrackingBackendExt};
use crate::error::TrackingError;
use crate::ids::{ExperimentId, RunId};
use crate::model::{Batch, CreateRun, RunStatus, SearchRuns, UpdateRun};

fn seed_search(b: &dyn TrackingBackend) -> (ExperimentId, Vec<RunId>) {
    let e = exp(b, "search");
    let mut ids = Vec::new();
    let specs = [
        ("a", "Adam", 0.95, "dev", RunStatus::Finished),
        ("b", "SGD", 0.80, "prod", RunStatus::Finished),
        ("c", "Adam", 0.91, "prod", RunStatus::Failed),
        ("d", "adamw", 0.99, "dev", RunStatus::Running),
    ];
    for (i, (name, opt, acc, env, status)) in specs.into_iter().enumerate() {
        let r = b
            .create_run(
                &e,
                &CreateRun::new()
                    .run_name(name)
                    .start_time(1_000 + i64::try_from(i).unwrap())
                    .tag("env", env),
            )
            .unwrap()
            .info
            .run_id;
        b.log_batch(
            &r,
            &Batch::new()
                .param("optimizer", opt)
                .metric("acc", acc, 5, 1)
                .metric("acc", 0.1, 4, 0),
        )
        .unwrap();
        b.update_run(&r, &UpdateRun::new().status(status)).unwrap();
        ids.push(r);
    }
    // A run without metrics or params.
    let bare = b
        .create_run(&e, &CreateRun::new().run_name("e").start_time(2_000))
        .unwrap()
        .info
        .run_id;
    ids.push(bare);
    (e, ids)
}

fn names(runs: &[crate::model::Run]) -> Vec<String> {
    runs.iter().map(|r| r.info.run_name.clone()).collect()
}

/// MLflow's filter syntax over metrics, params, tags and attributes.
pub fn search_filters(subject: &Subject<dyn TrackingBackend>, caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let (e, _) = seed_search(b);
    let s = |filter: &str| -> BTreeSet<String> {
        let req = SearchRuns::new([e.clone()]).filter(filter);
        names(&b.search_all_runs(&req).unwrap())
            .into_iter()
            .collect()
    };
    let set = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
    assert_eq!(s(""), set(&["a", "b", "c", "d", "e"]));
    assert_eq!(s("metrics.acc > 0.9"), set(&["a", "c", "d"]));
    assert_eq!(
        s(
            "metrics.acc > 0.9 and params.optimizer = 'Adam' and tags.env != 'prod' and attributes.status = 'FINISHED'"
        ),
        set(&["a"])
    );
    assert_eq!(s("params.optimizer LIKE 'Adam%'"), set(&["a", "c"]));
    assert_eq!(s("params.optimizer ILIKE 'adam%'"), set(&["a", "c", "d"]));
    let in_on_tags = [
        ("tags.env IN ('prod', 'staging')", set(&["b", "c"])),
        ("tags.mlflow.runName IN ('a', 'e')", set(&["a", "e"])),
    ];
    for (filter, want) in in_on_tags {
        if caps.filter_in_on_params_and_tags {
            assert_eq!(s(filter), want, "{filter}");
        } else {
            // Refused with an error, never answered wrongly.
            let err = b
                .search_runs(&SearchRuns::new([e.clone()]).filter(filter))
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    TrackingError::InvalidArgument { .. } | TrackingError::InvalidFilter { .. }
                ),
                "{filter}: {err}"
            );
        }
    }
    assert_eq!(s("params.optimizer != 'SGD'"), set(&["a", "c", "d"]));
    assert_eq!(s("attributes.run_name = 'e'"), set(&["e"]));
    assert_eq!(s("attributes.start_time >= 1003"), set(&["d", "e"]));
    assert_eq!(s("attributes.status != 'RUNNING'"), set(&["a", "b", "c"]));
    let err = b
        .search_runs(&SearchRuns::new([e.clone()]).filter("metrics.acc >> 1"))
        .unwrap_err();
    assert!(
        matches!(err, TrackingError::InvalidFilter { position: 13, .. }),
        "{err}"
    );
    let b = reopen(subject);
    let req = SearchRuns::new([e.clone()]).filter("metrics.acc < 0.9");
    assert_eq!(names(&b.search_all_runs(&req).unwrap()), ["b"]);
}

/// `order_by` (missing values last), the default order, page tokens and page-size limits.
pub fn search_order_and_paging(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let (e, _) = seed_search(b);
    let ordered = |clauses: &[&str]| {
        let mut req = SearchRuns::new([e.clone()]);
        for c in clauses {
            req = req.order_by(*c);
        }
        names(&b.search_all_runs(&req).unwrap())
    };
    assert_eq!(ordered(&["metrics.acc DESC"]), ["d", "a", "c", "b", "e"]);
    assert_eq!(ordered(&["metrics.acc ASC"]), ["b", "c", "a", "d", "e"]);
    assert_eq!(ordered(&[]), ["e", "d", "c", "b", "a"]);
    assert_eq!(
        ordered(&["params.optimizer", "attributes.start_time DESC"]),
        ["c", "a", "b", "d", "e"]
    );
    assert_eq!(
        ordered(&["tags.env DESC", "metrics.acc"]),
        ["b", "c", "a", "d", "e"]
    );
    let mut req = SearchRuns::new([e.clone()])
        .order_by("metrics.acc DESC")
        .max_results(2);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = b.search_runs(&req).unwrap();
        pages += 1;
        seen.extend(names(&page.items));
        match page.next_page_token {
            Some(t) => req = req.page_token(Some(t)),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["d", "a", "c", "b", "e"]);
    for bad in [
        SearchRuns::new([e.clone()]).max_results(0),
        SearchRuns::new([e.clone()]).max_results(50_001),
        SearchRuns::new([e.clone()]).page_token(Some("bogus".into())),
    ] {
        let err = b.search_runs(&bad).unwrap_err();
        assert!(
            matches!(err, TrackingError::InvalidArgument { .. }),
            "{err}"
        );
    }
    let err = b
        .search_runs(&SearchRuns::new([e.clone()]).order_by("metrics.acc sideways"))
        .unwrap_err();
    assert!(matches!(err, TrackingError::InvalidFilter { .. }), "{err}");
    // All experiments when none is named.
    let everything = b.search_all_runs(&SearchRuns::default()).unwrap();
    assert_eq!(everything.len(), 5);
}
