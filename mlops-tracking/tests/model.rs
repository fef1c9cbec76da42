//! Proptest model test: random operation sequences on each backend and on a plain `BTreeMap`
//! model give the same observable state after every step, including after the file backend is
//! closed and reopened; searches (filters, metric orders, views) give the model's runs in the
//! model's order.
#![allow(missing_docs)]

use std::collections::BTreeMap;

use mlops_tracking::{
    Batch, CreateRun, ExperimentId, FileTrackingBackend, InMemoryTrackingBackend, Metric, RunId,
    RunStatus, TrackingBackend, TrackingBackendExt, inputs::Dataset, inputs::DatasetInput,
    inputs::InputContext, model::LifecycleStage, model::UpdateRun, model::ViewType,
};
use proptest::prelude::*;

const KEYS: [&str; 4] = ["loss", "val/acc", "lr 1", "bad*key"];
const VALUES: [&str; 3] = ["a", "b", "c"];
const STATUSES: [RunStatus; 3] = [RunStatus::Running, RunStatus::Finished, RunStatus::Failed];

#[derive(Debug, Clone)]
enum Op {
    CreateExperiment(usize),
    DeleteExperiment(usize),
    RestoreExperiment(usize),
    CreateRun(usize),
    LogBatch {
        run: usize,
        metrics: Vec<(usize, f64, i64, i64)>,
        params: Vec<(usize, usize)>,
        tags: Vec<(usize, usize)>,
    },
    /// Inputs by (dataset, context) index; dataset 3 is invalid (a bad digest).
    LogInputs(usize, Vec<(usize, usize)>),
    SetStatus(usize, usize),
    DeleteRun(usize),
    RestoreRun(usize),
    Reopen,
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -10.0..10.0f64,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(0.5),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..3usize).prop_map(Op::CreateExperiment),
        1 => (0..3usize).prop_map(Op::DeleteExperiment),
        1 => (0..3usize).prop_map(Op::RestoreExperiment),
        3 => (0..3usize).prop_map(Op::CreateRun),
        8 => (
            0..6usize,
            prop::collection::vec((0..4usize, value(), 0..3i64, 0..3i64), 0..5),
            prop::collection::vec((0..4usize, 0..3usize), 0..3),
            prop::collection::vec((0..4usize, 0..3usize), 0..2),
        )
            .prop_map(|(run, metrics, params, tags)| Op::LogBatch { run, metrics, params, tags }),
        2 => (0..6usize, prop::collection::vec((0..4usize, 0..2usize), 0..3))
            .prop_map(|(r, i)| Op::LogInputs(r, i)),
        2 => (0..6usize, 0..3usize).prop_map(|(r, s)| Op::SetStatus(r, s)),
        1 => (0..6usize).prop_map(Op::DeleteRun),
        1 => (0..6usize).prop_map(Op::RestoreRun),
        1 => Just(Op::Reopen),
    ]
}

#[derive(Debug, Default)]
struct ModelRun {
    id: Option<RunId>,
    experiment: usize,
    deleted: bool,
    status: Option<RunStatus>,
    params: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
    history: BTreeMap<String, Vec<Metric>>,
    inputs: Vec<DatasetInput>,
}

fn input(dataset: usize, context: usize) -> DatasetInput {
    let digest = if dataset == 3 {
        "NOT-HEX!".to_owned()
    } else {
        format!("{dataset:0>8}")
    };
    let context = [InputContext::Training, InputContext::Evaluation][context].clone();
    DatasetInput::new(
        Dataset::new(
            format!("d{dataset}"),
            digest,
            "local",
            format!("file:///d{dataset}"),
        ),
        context,
    )
}

#[derive(Debug, Default)]
struct Model {
    /// Experiment slot -> (id, deleted).
    experiments: BTreeMap<usize, (ExperimentId, bool)>,
    runs: Vec<ModelRun>,
}

fn valid_key(k: &str) -> bool {
    k != "bad*key"
}

/// Apply `op` to the backend and the model; the outcome (ok or error) must agree.
fn step(b: &dyn TrackingBackend, m: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    match op {
        Op::CreateExperiment(slot) => {
            let res = b.create_experiment(&format!("exp{slot}"), &[]);
            prop_assert_eq!(res.is_ok(), !m.experiments.contains_key(slot), "{:?}", res);
            if let Ok(e) = res {
                m.experiments.insert(*slot, (e.experiment_id, false));
            }
        }
        Op::DeleteExperiment(slot) | Op::RestoreExperiment(slot) => {
            let Some((id, deleted)) = m.experiments.get_mut(slot) else {
                return Ok(());
            };
            let delete = matches!(op, Op::DeleteExperiment(_));
            let res = if delete {
                b.delete_experiment(id)
            } else {
                b.restore_experiment(id)
            };
            prop_assert_eq!(res.is_ok(), *deleted != delete, "{:?}", res);
            if res.is_ok() {
                *deleted = delete;
            }
        }
        Op::CreateRun(slot) => {
            let Some((slot, (id, deleted))) =
                m.experiments.iter().nth(slot % m.experiments.len().max(1))
            else {
                return Ok(());
            };
            let slot = *slot;
            let res = b.create_run(id, &CreateRun::new().start_time(7));
            prop_assert_eq!(res.is_ok(), !*deleted, "{:?}", res);
            if let Ok(run) = res {
                m.runs.push(ModelRun {
                    id: Some(run.info.run_id),
                    experiment: slot,
                    status: Some(RunStatus::Running),
                    ..ModelRun::default()
                });
            }
        }
        Op::LogBatch {
            run,
            metrics,
            params,
            tags,
        } => {
            let n = m.runs.len().max(1);
            let Some(r) = m.runs.get_mut(*run % n) else {
                return Ok(());
            };
            let mut batch = Batch::new();
            for &(k, v, ts, step) in metrics {
                batch = batch.metric(KEYS[k], v, ts, step);
            }
            for &(k, v) in params {
                batch = batch.param(KEYS[k], VALUES[v]);
            }
            for &(k, v) in tags {
                batch = batch.tag(KEYS[k], VALUES[v]);
            }
            let mut ok = !r.deleted;
            ok &= batch.metrics.iter().all(|x| valid_key(&x.key));
            ok &= batch.params.iter().all(|(k, _)| valid_key(k));
            ok &= batch.tags.iter().all(|(k, _)| valid_key(k));
            let mut seen = r.params.clone();
            for (k, v) in &batch.params {
                if seen.get(k).is_some_and(|old| old != v) {
                    ok = false;
                }
                seen.entry(k.clone()).or_insert_with(|| v.clone());
            }
            let res = b.log_batch(&r.id.unwrap(), &batch);
            prop_assert_eq!(res.is_ok(), ok, "{:?}", res);
            if ok {
                r.params = seen;
                for (k, v) in &batch.tags {
                    r.tags.insert(k.clone(), v.clone());
                }
                for x in &batch.metrics {
                    r.history.entry(x.key.clone()).or_default().push(x.clone());
                }
            }
        }
        Op::LogInputs(run, specs) => {
            let n = m.runs.len().max(1);
            let Some(r) = m.runs.get_mut(*run % n) else {
                return Ok(());
            };
            let inputs: Vec<DatasetInput> = specs.iter().map(|&(d, c)| input(d, c)).collect();
            // The model: all or nothing; one input per dataset, a second context conflicts.
            let mut ok = !r.deleted && specs.iter().all(|&(d, _)| d != 3);
            let mut after = r.inputs.clone();
            for i in &inputs {
                match after.iter().find(|o| o.dataset.name == i.dataset.name) {
                    Some(o) if o == i => {}
                    Some(_) => ok = false,
                    None => after.push(i.clone()),
                }
            }
            let res = b.log_inputs(&r.id.unwrap(), &inputs);
            prop_assert_eq!(res.is_ok(), ok, "{:?}", res);
            if ok {
                r.inputs = after;
            }
        }
        Op::SetStatus(run, s) => {
            let n = m.runs.len().max(1);
            let Some(r) = m.runs.get_mut(*run % n) else {
                return Ok(());
            };
            let res = b.update_run(&r.id.unwrap(), &UpdateRun::new().status(STATUSES[*s]));
            prop_assert_eq!(res.is_ok(), !r.deleted, "{:?}", res);
            if res.is_ok() {
                r.status = Some(STATUSES[*s]);
            }
        }
        Op::DeleteRun(run) | Op::RestoreRun(run) => {
            let n = m.runs.len().max(1);
            let Some(r) = m.runs.get_mut(*run % n) else {
                return Ok(());
            };
            let delete = matches!(op, Op::DeleteRun(_));
            let res = if delete {
                b.delete_run(&r.id.unwrap())
            } else {
                b.restore_run(&r.id.unwrap())
            };
            prop_assert_eq!(res.is_ok(), r.deleted != delete, "{:?}", res);
            if res.is_ok() {
                r.deleted = delete;
            }
        }
        Op::Reopen => {}
    }
    Ok(())
}

/// Compare everything observable.
fn check(b: &dyn TrackingBackend, m: &Model) -> Result<(), TestCaseError> {
    let exps = b.list_experiments(ViewType::All).unwrap();
    prop_assert_eq!(exps.len(), m.experiments.len() + 1);
    for (slot, (id, deleted)) in &m.experiments {
        let e = b.get_experiment(id).unwrap();
        prop_assert_eq!(&e.name, &format!("exp{slot}"));
        prop_assert_eq!(e.lifecycle_stage == LifecycleStage::Deleted, *deleted);
    }
    let all_runs = b
        .search_all_runs(&mlops_tracking::SearchRuns::default().view(ViewType::All))
        .unwrap();
    prop_assert_eq!(all_runs.len(), m.runs.len());
    for r in &m.runs {
        let id = r.id.unwrap();
        let got = b.get_run(&id).unwrap();
        prop_assert_eq!(&got.info.experiment_id, &m.experiments[&r.experiment].0);
        prop_assert_eq!(
            got.info.lifecycle_stage == LifecycleStage::Deleted,
            r.deleted
        );
        prop_assert_eq!(Some(got.info.status), r.status);
        prop_assert_eq!(&got.data.params, &r.params);
        let user_tags: BTreeMap<String, String> = got
            .data
            .tags
            .iter()
            .filter(|(k, _)| !k.starts_with("mlflow."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        prop_assert_eq!(&user_tags, &r.tags);
        prop_assert_eq!(&got.inputs, &r.inputs);
        prop_assert_eq!(got.data.metrics.len(), r.history.len());
        for (key, hist) in &r.history {
            let latest = hist.iter().max_by(|a, b| a.latest_order(b)).unwrap();
            let got_latest = &got.data.metrics[key];
            prop_assert!(
                got_latest.same_as(latest),
                "{:?} vs {:?}",
                got_latest,
                latest
            );
            let got_hist = b.metric_history(&id, key).unwrap();
            prop_assert_eq!(got_hist.len(), hist.len());
            for (x, y) in got_hist.iter().zip(hist) {
                prop_assert!(x.same_as(y), "{:?} vs {:?}", x, y);
            }
        }
    }
    Ok(())
}

/// Searches against the model, in every experiment and in all: a metric filter ordered by a
/// metric, a param filter over every view, a tag filter over deleted runs, and a best-run order
/// (NaN, then missing values, last), fetched in pages of 2. All runs start at 7: ties go by id.
fn check_searches(b: &dyn TrackingBackend, m: &Model) -> Result<(), TestCaseError> {
    type Pred = fn(&ModelRun) -> bool;
    /// A filter, the metric to order by (ascending?), the view, and which model runs match.
    type Case<'a> = (&'a str, Option<(&'a str, bool)>, ViewType, Pred);
    fn latest(r: &ModelRun, key: &str) -> Option<f64> {
        r.history
            .get(key)
            .and_then(|h| h.iter().max_by(|a, b| a.latest_order(b)))
            .map(|p| p.value)
    }
    let cases: [Case<'_>; 4] = [
        (
            "metrics.loss > 0",
            Some(("loss", true)),
            ViewType::ActiveOnly,
            |r| !r.deleted && latest(r, "loss").is_some_and(|v| v > 0.0),
        ),
        ("params.`lr 1` = 'a'", None, ViewType::All, |r| {
            r.params.get("lr 1").is_some_and(|v| v == "a")
        }),
        ("tags.`val/acc` != 'b'", None, ViewType::DeletedOnly, |r| {
            r.deleted && r.tags.get("val/acc").is_some_and(|v| v != "b")
        }),
        ("", Some(("val/acc", false)), ViewType::ActiveOnly, |r| {
            !r.deleted
        }),
    ];
    let scopes = std::iter::once(None).chain(m.experiments.keys().copied().map(Some));
    for scope in scopes {
        for (filter, order, view, pred) in &cases {
            let mut req =
                mlops_tracking::SearchRuns::new(scope.map(|s| m.experiments[&s].0.clone()))
                    .filter(*filter)
                    .view(*view)
                    .max_results(2);
            if let Some((key, asc)) = order {
                req = req.order_by(format!(
                    "metrics.`{key}` {}",
                    if *asc { "ASC" } else { "DESC" }
                ));
            }
            let got: Vec<RunId> = b
                .search_all_runs(&req)
                .unwrap()
                .iter()
                .map(|r| r.info.run_id)
                .collect();
            let mut want: Vec<&ModelRun> = m
                .runs
                .iter()
                .filter(|r| scope.is_none_or(|s| r.experiment == s) && pred(r))
                .collect();
            let rank = |r: &ModelRun| match order.map(|(k, _)| latest(r, k)) {
                Some(None) => (2, 0.0),
                Some(Some(v)) if v.is_nan() => (1, 0.0),
                Some(Some(v)) => (0, v),
                None => (0, 0.0),
            };
            let asc = order.is_none_or(|(_, asc)| asc);
            want.sort_by(|a, b| {
                let ((ra, xa), (rb, xb)) = (rank(a), rank(b));
                ra.cmp(&rb)
                    .then_with(|| {
                        if asc {
                            xa.total_cmp(&xb)
                        } else {
                            xb.total_cmp(&xa)
                        }
                    })
                    .then_with(|| a.id.cmp(&b.id))
            });
            let want: Vec<RunId> = want.iter().map(|r| r.id.unwrap()).collect();
            prop_assert_eq!(got, want, "{:?}", req);
        }
    }
    Ok(())
}

fn run_model(
    ops: &[Op],
    mut open: impl FnMut() -> Box<dyn TrackingBackend>,
) -> Result<(), TestCaseError> {
    let mut b = open();
    let mut m = Model::default();
    for op in ops {
        if matches!(op, Op::Reopen) {
            drop(b);
            b = open();
        } else {
            step(&*b, &mut m, op)?;
        }
        check(&*b, &m)?;
        check_searches(&*b, &m)?;
    }
    drop(b);
    let b = open();
    check(&*b, &m)?;
    check_searches(&*b, &m)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn memory_backend_matches_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let backend = InMemoryTrackingBackend::new();
        run_model(&ops, || Box::new(backend.clone()))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn file_backend_matches_the_model_across_reopens(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        run_model(&ops, || {
            Box::new(FileTrackingBackend::open(dir.path()).unwrap().with_fsync(false))
        })?;
    }
}
