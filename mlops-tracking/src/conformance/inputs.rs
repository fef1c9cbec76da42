//! Cases on run inputs: `log_inputs`, reading them back, and `datasets.*` search.

use super::{Capabilities, Subject, exp, is_conflict, is_not_found, new_run, reopen};
use crate::backend::{TrackingBackend, TrackingBackendExt};
use crate::error::TrackingError;
use crate::ids::RunId;
use crate::inputs::{Dataset, DatasetInput, InputContext};
use crate::model::{Run, SearchRuns};

const SHA: &str = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

fn train() -> DatasetInput {
    DatasetInput::new(
        Dataset::new(
            "customers",
            &SHA[..32],
            "dvc",
            format!("dvc://data/customers.csv@{SHA}"),
        )
        .with_schema(r#"{"mlflow_colspec": [{"name": "age", "type": "long"}]}"#)
        .with_profile(r#"{"num_rows": 1000}"#),
        InputContext::Training,
    )
}

fn eval() -> DatasetInput {
    DatasetInput::new(
        Dataset::new("holdout", "e5c49e96", "s3", "s3://bucket/holdout.parquet"),
        InputContext::Evaluation,
    )
}

fn features() -> DatasetInput {
    DatasetInput::new(
        Dataset::new(
            "customer_stats",
            "00000000000000000000000000000003",
            "features",
            "features://customer_stats@v3",
        ),
        InputContext::Training,
    )
}

fn sorted(mut v: Vec<DatasetInput>) -> Vec<DatasetInput> {
    v.sort_by(|a, b| a.dataset.name.cmp(&b.dataset.name));
    v
}

fn inputs_of(b: &dyn TrackingBackend, r: &RunId) -> Vec<DatasetInput> {
    sorted(b.get_run(r).unwrap().inputs)
}

fn names(runs: &[Run]) -> Vec<String> {
    let mut v: Vec<String> = runs.iter().map(|r| r.info.run_name.clone()).collect();
    v.sort();
    v
}

/// Datasets logged as run inputs come back with the run (and after reopen), once per dataset;
/// a dataset logged again with another context, bad input, unknown and deleted runs are
/// refused and store nothing; `datasets.name`, `datasets.digest` and `datasets.context`
/// filters find the runs.
pub fn run_inputs(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "inputs");
    let r1 = new_run(b, &e, "r1");
    let r2 = new_run(b, &e, "r2");
    let r3 = new_run(b, &e, "r3");
    assert!(b.get_run(&r1).unwrap().inputs.is_empty());

    b.log_inputs(&r1, &[train(), eval()]).unwrap();
    // Idempotent: the same inputs again (alone or with a new one) add only what is new.
    b.log_inputs(&r1, &[train()]).unwrap();
    b.log_inputs(&r1, &[eval(), features(), features()])
        .unwrap();
    let want = sorted(vec![train(), eval(), features()]);
    assert_eq!(inputs_of(b, &r1), want);
    assert_eq!(inputs_of(&*reopen(subject), &r1), want);
    b.log_inputs(&r2, &[eval()]).unwrap();
    b.log_inputs(&r1, &[]).unwrap();

    // Another context for a dataset the run holds: a conflict, nothing stored.
    let mut other = train();
    other.context = InputContext::Evaluation;
    let err = b.log_inputs(&r1, &[other]).unwrap_err();
    assert!(is_conflict(&err), "{err}");
    let err = b
        .log_inputs(
            &r3,
            &[features(), {
                let mut f = features();
                f.context = InputContext::Validation;
                f
            }],
        )
        .unwrap_err();
    assert!(is_conflict(&err), "{err}");
    assert!(b.get_run(&r3).unwrap().inputs.is_empty());

    // Bad input names the field and stores nothing (not even the good inputs of the call).
    let bad = |f: &dyn Fn(&mut DatasetInput), field: &str| {
        let mut i = features();
        i.dataset.name = "bad".into();
        f(&mut i);
        let err = b.log_inputs(&r3, &[eval(), i]).unwrap_err();
        assert!(
            matches!(&err, TrackingError::InvalidArgument { what, .. } if *what == field),
            "{field}: {err}"
        );
        assert!(b.get_run(&r3).unwrap().inputs.is_empty(), "{field}");
    };
    bad(&|i| i.dataset.digest = "XYZ".into(), "dataset digest");
    bad(
        &|i| i.dataset.digest = "0123456789abcdef0123456789abcdef0123456789".into(),
        "dataset digest",
    );
    bad(
        &|i| i.context = InputContext::Other("train".into()),
        "input context",
    );
    bad(&|i| i.dataset.source = "not a uri".into(), "dataset source");
    bad(
        &|i| {
            i.dataset.source_type = "dvc".into();
            i.dataset.source = format!("dvc://data/x.csv@{SHA}");
        },
        "dataset digest",
    );
    bad(&|i| i.dataset.profile = Some("{".into()), "dataset profile");

    let err = b.log_inputs(&RunId::new(), &[eval()]).unwrap_err();
    assert!(is_not_found(&err), "{err}");
    b.delete_run(&r3).unwrap();
    let err = b.log_inputs(&r3, &[eval()]).unwrap_err();
    assert!(is_conflict(&err), "{err}");
    b.restore_run(&r3).unwrap();
    assert!(b.get_run(&r3).unwrap().inputs.is_empty());

    // Search: a clause holds when any input satisfies it; a run without inputs matches none.
    let find = |filter: &str| {
        names(
            &b.search_all_runs(&SearchRuns::new([e.clone()]).filter(filter))
                .unwrap_or_else(|err| panic!("{filter}: {err}")),
        )
    };
    let cases: &[(&str, &[&str])] = &[
        ("datasets.name = 'customers'", &["r1"]),
        ("datasets.name = 'holdout'", &["r1", "r2"]),
        ("datasets.name != 'holdout'", &["r1"]),
        ("datasets.name LIKE 'cust%'", &["r1"]),
        ("datasets.name ILIKE 'HOLD%'", &["r1", "r2"]),
        ("datasets.name IN ('holdout', 'nope')", &["r1", "r2"]),
        ("datasets.name NOT IN ('holdout')", &["r1"]),
        ("dataset.digest = 'e5c49e96'", &["r1", "r2"]),
        (&*format!("datasets.digest = '{}'", &SHA[..32]), &["r1"]),
        ("datasets.context = 'training'", &["r1"]),
        (
            "datasets.context = 'evaluation' AND run_name = 'r2'",
            &["r2"],
        ),
        ("datasets.context != 'evaluation'", &["r1"]),
        ("datasets.name = 'unknown'", &[]),
    ];
    for (filter, want) in cases {
        assert_eq!(find(filter), *want, "{filter}");
    }
    for bad in [
        "datasets.source = 'x'",
        "datasets.Name = 'x'",
        "datasets.name IS NULL",
        "datasets.name > 'a'",
    ] {
        let err = b
            .search_runs(&SearchRuns::new([e.clone()]).filter(bad))
            .unwrap_err();
        assert!(
            matches!(
                err,
                TrackingError::InvalidFilter { .. } | TrackingError::InvalidArgument { .. }
            ),
            "{bad}: {err}"
        );
    }
}
