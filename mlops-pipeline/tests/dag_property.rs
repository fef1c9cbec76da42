//! Property test: random DAGs with random failing (and panicking) steps, on 1 to 4 threads.
//!
//! Checks that every step ends in exactly one final state, that no step runs before all its
//! dependencies completed, that exactly the transitive dependents of failed steps are skipped
//! (naming a failed ancestor), and that outputs flow correctly.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mlops_pipeline::{Pipeline, RunOptions, SkipReason, StepError, StepStatus};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Dag {
    deps: Vec<Vec<usize>>,
    /// 0: succeeds, 1: returns an error, 2: panics.
    fails: Vec<u8>,
    threads: usize,
}

fn dag() -> impl Strategy<Value = Dag> {
    (1usize..28)
        .prop_flat_map(|n| {
            let deps = (0..n)
                .map(|i| proptest::collection::btree_set(0..i.max(1), 0..=i.min(3)))
                .collect::<Vec<_>>();
            let fails = proptest::collection::vec(
                prop_oneof![8 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8)],
                n,
            );
            (deps, fails, 1usize..=4)
        })
        .prop_map(|(deps, fails, threads)| Dag {
            deps: deps
                .into_iter()
                .enumerate()
                .map(|(i, d)| d.into_iter().filter(|&j| j < i).collect())
                .collect(),
            fails,
            threads,
        })
}

struct Probe {
    done: Vec<AtomicBool>,
    runs: Vec<AtomicUsize>,
    early: AtomicBool,
}

fn build(d: &Dag, probe: &Arc<Probe>) -> Pipeline {
    let mut b = Pipeline::builder("random");
    // Declare in a shuffled-but-deterministic order (reverse) so declaration order is not
    // topological order.
    for i in (0..d.deps.len()).rev() {
        let deps = d.deps[i].clone();
        let fail = d.fails[i];
        let probe = Arc::clone(probe);
        b.step(&format!("s{i}"), move |ctx| {
            probe.runs[i].fetch_add(1, Ordering::SeqCst);
            if deps.iter().any(|&j| !probe.done[j].load(Ordering::SeqCst)) {
                probe.early.store(true, Ordering::SeqCst);
            }
            let mut sum = i as u64;
            for j in &deps {
                sum += *ctx.input::<u64>(&format!("s{j}"))?;
            }
            match fail {
                1 => return Err(StepError::msg(format!("s{i} failed"))),
                2 => panic!("s{i} panicked"),
                _ => {}
            }
            probe.done[i].store(true, Ordering::SeqCst);
            Ok(sum)
        })
        .after(d.deps[i].iter().map(|j| format!("s{j}")));
    }
    b.build().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_dags_with_random_failures(d in dag()) {
        let n = d.deps.len();
        let probe = Arc::new(Probe {
            done: (0..n).map(|_| AtomicBool::new(false)).collect(),
            runs: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            early: AtomicBool::new(false),
        });
        let p = build(&d, &probe);
        let report = p.run(&RunOptions::new().threads(d.threads));

        // Model: a step is skipped iff some ancestor failed; it failed iff it is not skipped and
        // its flag says so; else it completed with output i + sum of its deps' outputs.
        let mut skipped = vec![false; n];
        let mut failed = vec![false; n];
        let mut value = vec![0u64; n];
        for i in 0..n {
            skipped[i] = d.deps[i].iter().any(|&j| skipped[j] || failed[j]);
            failed[i] = !skipped[i] && d.fails[i] != 0;
            value[i] = i as u64 + d.deps[i].iter().map(|&j| value[j]).sum::<u64>();
        }

        prop_assert!(!probe.early.load(Ordering::SeqCst), "a step ran before its dependencies");
        prop_assert_eq!(report.steps.len(), n);
        let names: BTreeSet<_> = report.steps.iter().map(|s| s.name.to_string()).collect();
        prop_assert_eq!(names.len(), n);
        for i in 0..n {
            let name = format!("s{i}");
            let s = report.step(&name).unwrap();
            let runs = probe.runs[i].load(Ordering::SeqCst);
            if skipped[i] {
                prop_assert_eq!(s.status, StepStatus::Skipped);
                prop_assert_eq!(runs, 0);
                let Some(SkipReason::UpstreamFailed { step }) = &s.skip_reason else {
                    return Err(TestCaseError::fail(format!("{name}: {:?}", s.skip_reason)));
                };
                let cause: usize = step.as_str()[1..].parse().unwrap();
                prop_assert!(failed[cause], "{} names {} which did not fail", name, step);
                let mut ancestors = BTreeSet::new();
                let mut stack = d.deps[i].clone();
                while let Some(j) = stack.pop() {
                    if ancestors.insert(j) {
                        stack.extend(&d.deps[j]);
                    }
                }
                prop_assert!(ancestors.contains(&cause), "{} names {}, not an ancestor", name, step);
            } else if failed[i] {
                prop_assert_eq!(s.status, StepStatus::Failed);
                prop_assert_eq!(runs, 1);
                prop_assert!(s.error.is_some());
                prop_assert!(report.output::<u64>(&name).is_err());
            } else {
                prop_assert_eq!(s.status, StepStatus::Completed);
                prop_assert_eq!(runs, 1);
                prop_assert_eq!(*report.output::<u64>(&name).unwrap(), value[i]);
            }
        }
        prop_assert_eq!(report.is_success(), !failed.iter().any(|&f| f));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Fail-fast: after the first failure nothing new starts, so at most `threads` steps fail
    /// (one per worker that was already running a step), every step that ran is Completed or
    /// Failed, and every step that did not run is Skipped with a reason naming a failed step.
    #[test]
    fn fail_fast_on_random_dags(d in dag()) {
        let n = d.deps.len();
        let probe = Arc::new(Probe {
            done: (0..n).map(|_| AtomicBool::new(false)).collect(),
            runs: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            early: AtomicBool::new(false),
        });
        let report = build(&d, &probe).run(&RunOptions::new().threads(d.threads).fail_fast(true));
        prop_assert!(!probe.early.load(Ordering::SeqCst));
        let failed: BTreeSet<String> = report
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Failed)
            .map(|s| s.name.to_string())
            .collect();
        prop_assert!(failed.len() <= d.threads, "{} failed on {} threads", failed.len(), d.threads);
        for i in 0..n {
            let s = report.step(&format!("s{i}")).unwrap();
            let runs = probe.runs[i].load(Ordering::SeqCst);
            prop_assert!(runs <= 1);
            if runs == 1 {
                prop_assert!(matches!(s.status, StepStatus::Completed | StepStatus::Failed));
                prop_assert_eq!(s.status == StepStatus::Failed, d.fails[i] != 0);
            } else {
                prop_assert_eq!(s.status, StepStatus::Skipped);
                let cause = match &s.skip_reason {
                    Some(SkipReason::UpstreamFailed { step } | SkipReason::FailFast { failed: step }) => step.to_string(),
                    other => return Err(TestCaseError::fail(format!("{other:?}"))),
                };
                prop_assert!(failed.contains(&cause), "s{} names {}", i, cause);
            }
        }
        if d.fails.iter().all(|&f| f == 0) {
            prop_assert!(report.is_success());
        }
    }
}
