//! [`Catalog::search`]: a scan of the experiments' [columns](crate::columns).
//!
//! Per experiment searched, each clause becomes a test on a column (a metric's value; a param's
//! or tag's dictionary code, the clause evaluated once per distinct value) or, for attributes,
//! datasets, `mlflow.runName` and keys without a column, a test on the run's state, run last.
//! Sort keys come from the same columns. Only the runs of the returned page are built from
//! their states.

use std::cmp::Ordering;

use super::{Catalog, RunState};
use crate::columns::{Column, ExpColumns, MISSING, MetricColumn, StrColumn};
use crate::error::{Result, TrackingError};
use crate::filter::{
    Clause, Field, Filter, NumAttr, OrderBy, SortVal, clause_matches, parse_order_by,
};
use crate::ids::RunId;
use crate::model::{
    MAX_SEARCH_RESULTS, Page, Run, SearchRuns, TAG_RUN_NAME, decode_page_token, encode_page_token,
};

/// One clause, as evaluated on an experiment's rows.
enum Test<'a> {
    Metric(&'a Clause, &'a MetricColumn),
    /// Whether each dictionary code matches, and whether a missing value does.
    Str {
        col: &'a StrColumn,
        hit: Vec<bool>,
        missing: bool,
    },
    /// Read from the run's state.
    Run(&'a Clause, &'a Field),
}

/// One order-by key, as read from an experiment's rows.
enum Key<'a> {
    Metric(&'a MetricColumn),
    Str(&'a StrColumn),
    StartTime,
    /// No run of the experiment has the key.
    Missing,
    /// Read from the run's state.
    Run,
}

/// The tests of `filter` on `exp`; `None` when no row can match.
fn tests<'a>(exp: &'a ExpColumns, filter: &'a Filter) -> Option<Vec<Test<'a>>> {
    let mut out = Vec::new();
    for (c, f) in filter.parts() {
        let str_col = match f {
            Field::Metric(k) => {
                match exp.metrics.get(k.as_str()) {
                    Some(Column::Dense(col)) => out.push(Test::Metric(c, col)),
                    Some(Column::Unindexed) => out.push(Test::Run(c, f)),
                    None if c.matches_num(None) => {}
                    None => return None,
                }
                continue;
            }
            Field::Param(k) => exp.params.get(k.as_str()),
            Field::Tag(k) if k != TAG_RUN_NAME => exp.tags.get(k.as_str()),
            _ => {
                out.push(Test::Run(c, f));
                continue;
            }
        };
        match str_col {
            Some(Column::Dense(col)) => {
                let hit: Vec<bool> = col.dict().iter().map(|v| c.matches_str(Some(v))).collect();
                let missing = c.matches_str(None);
                if !missing && !hit.contains(&true) {
                    return None;
                }
                out.push(Test::Str { col, hit, missing });
            }
            Some(Column::Unindexed) => out.push(Test::Run(c, f)),
            None if c.matches_str(None) => {}
            None => return None,
        }
    }
    // The column tests first: a test on the state reaches the run through its box.
    out.sort_by_key(|t| matches!(t, Test::Run(..)));
    Some(out)
}

fn key<'a>(exp: &'a ExpColumns, o: &'a OrderBy) -> Key<'a> {
    let str_key = |col: Option<&'a Column<StrColumn>>| match col {
        Some(Column::Dense(col)) => Key::Str(col),
        Some(Column::Unindexed) => Key::Run,
        None => Key::Missing,
    };
    match &o.field {
        Field::Metric(k) => match exp.metrics.get(k.as_str()) {
            Some(Column::Dense(col)) => Key::Metric(col),
            Some(Column::Unindexed) => Key::Run,
            None => Key::Missing,
        },
        Field::Param(k) => str_key(exp.params.get(k.as_str())),
        Field::Tag(k) if k != TAG_RUN_NAME => str_key(exp.tags.get(k.as_str())),
        Field::NumAttr(NumAttr::StartTime) => Key::StartTime,
        _ => Key::Run,
    }
}

impl Key<'_> {
    fn needs_run(&self) -> bool {
        matches!(self, Key::Run)
    }
}

/// A matching run: its id, start time and where its sort keys start.
struct Hit<'a> {
    id: &'a RunId,
    start_time: i64,
    keys_at: usize,
}

impl Catalog {
    /// The request's checks and parsed parts: its filter, its order and the page's offset.
    fn parse_search(&self, req: &SearchRuns) -> Result<(Filter, Vec<OrderBy>, usize)> {
        if req.max_results == 0 || req.max_results > MAX_SEARCH_RESULTS {
            return Err(TrackingError::invalid(
                "max_results",
                format!(
                    "{} is not between 1 and {MAX_SEARCH_RESULTS}",
                    req.max_results
                ),
            ));
        }
        for id in &req.experiment_ids {
            self.experiment(id)?;
        }
        let filter = Filter::parse(&req.filter)?;
        let order = parse_order_by(&req.order_by)?;
        let offset = decode_page_token(req.page_token.as_deref())?;
        Ok((filter, order, offset))
    }

    /// MLflow's run search: the runs of the experiments (all when none is named) in the view
    /// that match the filter, in the order asked (then newest first, then by run id), one page.
    pub(crate) fn search(&self, req: &SearchRuns) -> Result<Page<Run>> {
        let (filter, order, offset) = self.parse_search(req)?;
        let experiments: Vec<&ExpColumns> = if req.experiment_ids.is_empty() {
            self.columns.by_experiment.values().collect()
        } else {
            let mut ids: Vec<_> = req.experiment_ids.iter().collect();
            ids.sort_unstable();
            ids.dedup();
            ids.iter()
                .filter_map(|id| self.columns.by_experiment.get(*id))
                .collect()
        };
        // The sort keys of every hit in one flat vector (`order.len()` per hit).
        let width = order.len();
        let mut keys: Vec<SortVal<'_>> = Vec::new();
        let mut hits: Vec<Hit<'_>> = Vec::new();
        for exp in experiments {
            let Some(tests) = tests(exp, &filter) else {
                continue;
            };
            let exp_keys: Vec<Key<'_>> = order.iter().map(|o| key(exp, o)).collect();
            let needs_run = tests.iter().any(|t| matches!(t, Test::Run(..)))
                || exp_keys.iter().any(Key::needs_run);
            for (row, id) in exp.ids.iter().enumerate() {
                if !req.run_view_type.includes(exp.stages[row]) {
                    continue;
                }
                let mut state: Option<&RunState> = None;
                let mut pass = true;
                for t in &tests {
                    pass = match t {
                        Test::Metric(c, col) => c.matches_num(col.get(row)),
                        Test::Str { col, hit, missing } => match col.code(row) {
                            MISSING => *missing,
                            code => hit[code as usize],
                        },
                        Test::Run(c, f) => {
                            let run = match state {
                                Some(run) => run,
                                None => *state.insert(self.run(id)?),
                            };
                            clause_matches(c, f, run)
                        }
                    };
                    if !pass {
                        break;
                    }
                }
                if !pass {
                    continue;
                }
                if needs_run && state.is_none() {
                    state = Some(self.run(id)?);
                }
                hits.push(Hit {
                    id,
                    start_time: exp.start_times[row],
                    keys_at: keys.len(),
                });
                keys.extend(exp_keys.iter().zip(&order).map(|(k, o)| match k {
                    Key::Metric(col) => col.get(row).map_or(SortVal::Missing, SortVal::Num),
                    Key::Str(col) => match col.code(row) {
                        MISSING => SortVal::Missing,
                        code => SortVal::Str(&col.dict()[code as usize]),
                    },
                    #[allow(clippy::cast_precision_loss)]
                    Key::StartTime => SortVal::Num(exp.start_times[row] as f64),
                    Key::Missing => SortVal::Missing,
                    Key::Run => state.map_or(SortVal::Missing, |run| o.extract(run)),
                }));
            }
        }
        let cmp = |a: &Hit<'_>, b: &Hit<'_>| {
            order
                .iter()
                .zip(
                    keys[a.keys_at..a.keys_at + width]
                        .iter()
                        .zip(&keys[b.keys_at..b.keys_at + width]),
                )
                .map(|(o, (x, y))| o.compare(x, y))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
                .then_with(|| b.start_time.cmp(&a.start_time))
                .then_with(|| a.id.cmp(b.id))
        };
        // Only the hits up to the end of the page need their order: select them first
        // (linear), then sort just those. The order is total (run ids break ties), so every
        // page agrees with one full sort.
        let total = hits.len();
        let wanted = offset.saturating_add(req.max_results).min(total);
        if wanted < total {
            if wanted > 0 {
                hits.select_nth_unstable_by(wanted - 1, cmp);
            }
            hits.truncate(wanted);
        }
        hits.sort_by(cmp);
        let items = hits
            .get(offset..wanted)
            .unwrap_or_default()
            .iter()
            .map(|h| self.run(h.id).map(RunState::to_run))
            .collect::<Result<_>>()?;
        let next_page_token = (wanted < total).then(|| encode_page_token(wanted));
        Ok(Page {
            items,
            next_page_token,
        })
    }
}

#[cfg(test)]
mod reference {
    use super::*;
    use crate::filter::SortVal;
    use crate::model::SearchRuns;

    impl Catalog {
        /// The search as it was before the columns: every run visited through its state. The
        /// reference the column scan is tested against.
        pub(crate) fn search_by_visiting_runs(&self, req: &SearchRuns) -> Result<Page<Run>> {
            let (filter, order, offset) = self.parse_search(req)?;
            // The sort keys of every hit in one flat vector (`order.len()` per hit), not one small
            // vector per hit: no allocation per run.
            let width = order.len();
            let mut keys: Vec<SortVal<'_>> = Vec::new();
            let mut hits: Vec<(&RunState, usize)> = Vec::new();
            for r in self.runs.values().map(|r| &*r.state) {
                if (req.experiment_ids.is_empty()
                    || req.experiment_ids.contains(&r.info.experiment_id))
                    && req.run_view_type.includes(r.info.lifecycle_stage)
                    && filter.matches(r)
                {
                    hits.push((r, keys.len()));
                    keys.extend(order.iter().map(|o| o.extract(r)));
                }
            }
            let cmp = |(ra, ia): &(&RunState, usize), (rb, ib): &(&RunState, usize)| {
                order
                    .iter()
                    .zip(keys[*ia..*ia + width].iter().zip(&keys[*ib..*ib + width]))
                    .map(|(o, (a, b))| o.compare(a, b))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
                    .then(rb.info.start_time.cmp(&ra.info.start_time))
                    .then(ra.info.run_id.cmp(&rb.info.run_id))
            };
            // Only the hits up to the end of the page need their order: select them first
            // (linear), then sort just those. The order is total (run ids break ties), so every
            // page agrees with one full sort.
            let total = hits.len();
            let wanted = offset.saturating_add(req.max_results).min(total);
            if wanted < total {
                if wanted > 0 {
                    hits.select_nth_unstable_by(wanted - 1, cmp);
                }
                hits.truncate(wanted);
            }
            hits.sort_by(cmp);
            let end = wanted;
            let items = hits
                .get(offset..end)
                .unwrap_or_default()
                .iter()
                .map(|(r, _)| r.to_run())
                .collect();
            let next_page_token = (end < total).then(|| encode_page_token(end));
            Ok(Page {
                items,
                next_page_token,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    //! The column scan against the reference (every run visited through its state), after
    //! random writes, deletes, restores, renames, replaced states, runs moved between
    //! experiments and a rebuild of the catalog (as an open does). The unit tests' column limits
    //! are small (see `crate::columns`), so unindexed columns are reached too.

    use proptest::prelude::*;

    use super::Catalog;
    use crate::model::{
        Batch, CreateRun, LifecycleStage, SearchRuns, TAG_RUN_NAME, UpdateRun, ViewType,
    };

    const EXPERIMENTS: usize = 3;
    const CLAUSES: [&str; 20] = [
        "metrics.m0 > 0",
        "metrics.m1 <= 0.5",
        "metrics.m2 != 1",
        "metrics.m0 = 0.5",
        "metrics.m3 < 10",
        "params.p0 = 'v1'",
        "params.p1 != 'v0'",
        "params.p0 IN ('v0', 'v2')",
        "params.p1 IS NULL",
        "params.p2 NOT IN ('v1')",
        "params.p2 IS NOT NULL",
        "tags.t0 LIKE 'v%'",
        "tags.t0 ILIKE 'V1'",
        "tags.t1 IS NOT NULL",
        "tags.`mlflow.runName` = 'r1'",
        "attributes.status = 'RUNNING'",
        "run_name LIKE 'r%'",
        "attributes.start_time >= 1",
        "attributes.lifecycle_stage = 'active'",
        "tags.nobody IS NULL",
    ];
    const ORDERS: [&str; 10] = [
        "metrics.m0 ASC",
        "metrics.m1 DESC",
        "metrics.m3",
        "params.p0",
        "params.p2 DESC",
        "tags.t0 DESC",
        "attributes.start_time",
        "run_name DESC",
        "tags.`mlflow.runName`",
        "metrics.nobody",
    ];

    #[derive(Debug, Clone)]
    enum Op {
        Create(usize, i64),
        Log {
            run: usize,
            metrics: Vec<(usize, usize, i64, i64)>,
            params: Vec<(usize, usize)>,
            tags: Vec<(usize, usize)>,
        },
        Delete(usize),
        Restore(usize),
        Rename(usize, usize),
        /// A run's whole state replaced (as a file store refreshing a run does).
        Replace(usize, usize),
        /// A run's info moved to another experiment (no backend does this; it exercises the
        /// removal of a row).
        Move(usize, usize),
        /// The catalog rebuilt run by run (as an open does).
        Reopen,
    }

    const VALUES: [f64; 6] = [-1.0, 0.0, 0.5, 1.0, f64::NAN, f64::INFINITY];

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..EXPERIMENTS, 0..3i64).prop_map(|(e, t)| Op::Create(e, t)),
            6 => (
                0..16usize,
                prop::collection::vec((0..4usize, 0..VALUES.len(), 0..3i64, 0..3i64), 0..4),
                prop::collection::vec((0..3usize, 0..3usize), 0..3),
                prop::collection::vec((0..3usize, 0..6usize), 0..3),
            )
                .prop_map(|(run, metrics, params, tags)| Op::Log { run, metrics, params, tags }),
            1 => (0..16usize).prop_map(Op::Delete),
            1 => (0..16usize).prop_map(Op::Restore),
            1 => (0..16usize, 0..3usize).prop_map(|(r, n)| Op::Rename(r, n)),
            1 => (0..16usize, 0..VALUES.len()).prop_map(|(r, v)| Op::Replace(r, v)),
            1 => (0..16usize, 0..EXPERIMENTS).prop_map(|(r, e)| Op::Move(r, e)),
            1 => Just(Op::Reopen),
        ]
    }

    #[derive(Debug, Clone)]
    struct Query {
        clauses: Vec<usize>,
        orders: Vec<(usize, bool)>,
        view: usize,
        experiments: Vec<usize>,
        page: usize,
    }

    fn query() -> impl Strategy<Value = Query> {
        (
            prop::collection::vec(0..CLAUSES.len(), 0..3),
            prop::collection::vec((0..ORDERS.len(), any::<bool>()), 0..3),
            0..3usize,
            prop::collection::vec(0..EXPERIMENTS, 0..3),
            1..5usize,
        )
            .prop_map(|(clauses, orders, view, experiments, page)| Query {
                clauses,
                orders,
                view,
                experiments,
                page,
            })
    }

    fn apply(cat: &mut Catalog, runs: &mut Vec<crate::ids::RunId>, op: &Op) {
        let exp_id = |e: usize| crate::ids::ExperimentId::from_numeric(e as u64);
        let pick =
            |runs: &[crate::ids::RunId], i: usize| (!runs.is_empty()).then(|| runs[i % runs.len()]);
        match op {
            Op::Create(e, t) => {
                let opts = CreateRun::new()
                    .run_name(format!("r{}", runs.len() % 3))
                    .start_time(*t);
                let (state, _) = cat.new_run(&exp_id(*e), &opts, "mem", 0).unwrap();
                runs.push(state.info.run_id);
                cat.insert_run(state);
            }
            Op::Log {
                run,
                metrics,
                params,
                tags,
            } => {
                let Some(id) = pick(runs, *run) else { return };
                let mut batch = Batch::new();
                for (k, v, ts, step) in metrics {
                    batch = batch.metric(format!("m{k}"), VALUES[*v], *ts, *step);
                }
                for (k, v) in params {
                    batch = batch.param(format!("p{k}"), format!("v{v}"));
                }
                for (k, v) in tags {
                    let key = if *k == 2 {
                        TAG_RUN_NAME.to_owned()
                    } else {
                        format!("t{k}")
                    };
                    batch = batch.tag(key, format!("v{v}"));
                }
                if cat.check_batch(&id, &batch).is_ok() {
                    cat.apply_batch(&id, &batch).unwrap();
                }
            }
            Op::Delete(r) | Op::Restore(r) => {
                let Some(id) = pick(runs, *r) else { return };
                let to = if matches!(op, Op::Delete(_)) {
                    LifecycleStage::Deleted
                } else {
                    LifecycleStage::Active
                };
                if let Ok(info) = cat.run_lifecycle(&id, to) {
                    cat.set_run_info(&id, info).unwrap();
                }
            }
            Op::Rename(r, n) => {
                let Some(id) = pick(runs, *r) else { return };
                let update = UpdateRun {
                    run_name: Some(format!("r{n}")),
                    ..UpdateRun::default()
                };
                if let Ok(info) = cat.updated_info(&id, &update) {
                    cat.set_run_info(&id, info).unwrap();
                }
            }
            Op::Replace(r, v) => {
                let Some(id) = pick(runs, *r) else { return };
                let mut state = cat.run(&id).unwrap().clone();
                state.apply_metric("m1", VALUES[*v], 5, 5);
                state.params = Default::default();
                cat.insert_run(state);
            }
            Op::Move(r, e) => {
                let Some(id) = pick(runs, *r) else { return };
                let mut info = cat.run(&id).unwrap().info.clone();
                info.experiment_id = exp_id(*e);
                cat.set_run_info(&id, info).unwrap();
            }
            Op::Reopen => {
                let mut fresh = Catalog {
                    experiments: cat.experiments.clone(),
                    ..Catalog::default()
                };
                for entry in cat.runs.values() {
                    fresh.insert_run((*entry.state).clone());
                }
                *cat = fresh;
            }
        }
    }

    /// Every page of `q`, by both searches, as ids and as the runs' debug text (NaN-safe).
    fn check(cat: &Catalog, q: &Query) {
        let mut req = SearchRuns::new(
            q.experiments
                .iter()
                .map(|e| crate::ids::ExperimentId::from_numeric(*e as u64)),
        )
        .filter(
            q.clauses
                .iter()
                .map(|c| CLAUSES[*c])
                .collect::<Vec<_>>()
                .join(" and "),
        )
        .view([ViewType::ActiveOnly, ViewType::DeletedOnly, ViewType::All][q.view])
        .max_results(q.page);
        for (o, asc) in &q.orders {
            req = req.order_by(format!(
                "{} {}",
                ORDERS[*o].split(' ').next().unwrap(),
                if *asc { "ASC" } else { "DESC" }
            ));
        }
        loop {
            let fast = cat.search(&req).unwrap();
            let slow = cat.search_by_visiting_runs(&req).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{req:?}");
            match fast.next_page_token {
                Some(t) => req = req.page_token(Some(t)),
                None => break,
            }
        }
    }

    fn catalog() -> Catalog {
        let mut cat = Catalog::default();
        for i in 0..EXPERIMENTS {
            let exp = cat
                .new_experiment(&format!("e{i}"), &[], |id| format!("mem/{id}"), 0)
                .unwrap();
            cat.experiments.insert(exp.experiment_id.clone(), exp);
        }
        cat
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn column_scan_agrees_with_visiting_every_run(
            ops in prop::collection::vec(op(), 1..60),
            queries in prop::collection::vec(query(), 1..6),
        ) {
            let mut cat = catalog();
            let mut runs = Vec::new();
            for op in &ops {
                apply(&mut cat, &mut runs, op);
                for q in &queries {
                    check(&cat, q);
                }
            }
        }
    }

    #[test]
    fn rows_stay_consistent_when_a_run_leaves_its_experiment() {
        let mut cat = catalog();
        let mut runs = Vec::new();
        for e in [0, 0, 0, 1] {
            apply(&mut cat, &mut runs, &Op::Create(e, 0));
        }
        for (i, _) in runs.clone().iter().enumerate() {
            let op = Op::Log {
                run: i,
                metrics: vec![(0, i % VALUES.len(), 0, 0)],
                params: vec![],
                tags: vec![(0, i)],
            };
            apply(&mut cat, &mut runs, &op);
        }
        // The first run of experiment 0 moves: the last one takes its row.
        apply(&mut cat, &mut runs, &Op::Move(0, 1));
        for entry in cat.runs.values() {
            let exp = &cat.columns.by_experiment[&entry.state.info.experiment_id];
            assert_eq!(exp.ids[entry.row as usize], entry.state.info.run_id);
        }
        let q = Query {
            clauses: vec![0],
            orders: vec![(0, true)],
            view: 2,
            experiments: vec![],
            page: 1,
        };
        check(&cat, &q);
        let req = SearchRuns::new([crate::ids::ExperimentId::from_numeric(1)]).view(ViewType::All);
        assert_eq!(cat.search(&req).unwrap().items.len(), 2);
    }
}
