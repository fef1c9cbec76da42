//! The runner: validation, typed data, threads, failure policy, retries, timeouts, cache,
//! resume, observer and report.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mlops_pipeline::{
    AttemptOutcome, CacheKey, EventLog, FileCache, InMemoryCache, Pipeline, PipelineBuilder,
    PipelineError, RecordingSleeper, RetryPolicy, RunOptions, SkipReason, StepCache, StepError,
    StepErrorKind, StepStatus,
};

const MS: Duration = Duration::from_millis(1);

fn seq() -> RunOptions {
    RunOptions::new().threads(1)
}

fn noop(b: &mut PipelineBuilder, name: &str, deps: &[&str]) {
    b.step(name, |_| Ok(())).after(deps.iter().copied());
}

// ---------------------------------------------------------------- validation

#[test]
fn empty_pipeline_is_rejected() {
    let err = Pipeline::builder("p").build().unwrap_err();
    assert!(matches!(err, PipelineError::EmptyPipeline { .. }), "{err}");
    assert_eq!(err.to_string(), "pipeline p has no steps");
}

#[test]
fn duplicate_step_is_rejected() {
    let mut b = Pipeline::builder("p");
    noop(&mut b, "a", &[]);
    noop(&mut b, "a", &[]);
    let err = b.build().unwrap_err();
    assert!(matches!(err, PipelineError::AlreadyExists { .. }), "{err}");
    assert_eq!(err.to_string(), "step already exists: a");
}

#[test]
fn unknown_dependency_is_rejected() {
    let mut b = Pipeline::builder("p");
    noop(&mut b, "a", &[]);
    noop(&mut b, "b", &["a", "nope"]);
    let err = b.build().unwrap_err();
    assert_eq!(err.to_string(), "step b depends on unknown step nope");
}

#[test]
fn self_dependency_is_a_cycle_of_one() {
    let mut b = Pipeline::builder("p");
    noop(&mut b, "a", &["a"]);
    let err = b.build().unwrap_err();
    match &err {
        PipelineError::Cycle { steps } => assert_eq!(steps.len(), 1),
        other => panic!("{other}"),
    }
    assert_eq!(err.to_string(), "dependency cycle: a -> a");
}

#[test]
fn cycle_is_named_in_execution_order() {
    let mut b = Pipeline::builder("p");
    noop(&mut b, "start", &[]);
    noop(&mut b, "x", &["start", "z"]);
    noop(&mut b, "y", &["x"]);
    noop(&mut b, "z", &["y"]);
    noop(&mut b, "end", &["z"]);
    let err = b.build().unwrap_err();
    assert_eq!(err.to_string(), "dependency cycle: x -> y -> z -> x");
}

#[test]
fn long_chain_does_not_overflow_validation() {
    let mut b = Pipeline::builder("p");
    noop(&mut b, "s0", &[]);
    for i in 1..20_000 {
        noop(&mut b, &format!("s{i}"), &[&format!("s{}", i - 1)]);
    }
    noop(&mut b, "s0x", &["s19999"]);
    let p = b.build().unwrap();
    assert_eq!(p.len(), 20_001);
}

#[test]
fn bad_names_params_backoff_and_cache_wiring_are_rejected() {
    let mut b = Pipeline::builder("p");
    noop(&mut b, "a b", &[]);
    assert!(b.build().unwrap_err().to_string().contains("step name"));

    let mut b = Pipeline::builder("p");
    let mut bad_map = std::collections::HashMap::new();
    bad_map.insert((1, 2), 3);
    b.step("a", |_| Ok(())).param("m", bad_map);
    let err = b.build().unwrap_err().to_string();
    assert!(err.contains("a.m cannot be serialized"), "{err}");

    let mut b = Pipeline::builder("p");
    b.step("a", |_| Ok(()))
        .retry(RetryPolicy::exponential(2, MS, 0.5, MS));
    assert!(b.build().unwrap_err().to_string().contains("factor"));

    let mut b = Pipeline::builder("p");
    b.step("a", |_| Ok(1u32));
    b.step("b", |_| Ok(2u32)).after(["a"]).cache("v1");
    let err = b.build().unwrap_err().to_string();
    assert!(
        err.contains("step b is cached but its dependency a is not"),
        "{err}"
    );
}

// ---------------------------------------------------------------- typed data

#[test]
fn typed_outputs_and_params_flow_downstream() {
    let mut b = Pipeline::builder("p");
    b.step("load", |ctx| {
        let n: usize = ctx.param("n")?;
        Ok((1..=n).map(|i| i as f64).collect::<Vec<f64>>())
    })
    .param("n", 4);
    b.step("mean", |ctx| {
        let xs: &Vec<f64> = ctx.input("load")?;
        let scale = ctx.param_or("scale", 1.0_f64)?;
        Ok(scale * xs.iter().sum::<f64>() / xs.len() as f64)
    })
    .after(["load"])
    .param("scale", 2.0);
    let report = b.build().unwrap().run(&seq());
    assert!(report.is_success(), "{report}");
    assert_eq!(*report.output::<f64>("mean").unwrap(), 5.0);
    assert_eq!(report.output::<Vec<f64>>("load").unwrap().len(), 4);
    let err = report.output::<String>("mean").unwrap_err();
    assert!(matches!(err, PipelineError::TypeMismatch { .. }), "{err}");
    assert!(report.output::<f64>("nope").is_err());
}

#[test]
fn wrong_type_unknown_and_non_upstream_reads_are_clear_errors() {
    let mut b = Pipeline::builder("p");
    b.step("a", |_| Ok(1_u64));
    b.step("side", |_| Ok("x".to_owned()));
    b.step("wrong_type", |ctx| Ok(*ctx.input::<i32>("a")?))
        .after(["a"]);
    b.step("not_upstream", |ctx| {
        Ok(ctx.input::<String>("side")?.clone())
    })
    .after(["a"]);
    b.step("unknown", |ctx| Ok(*ctx.input::<u64>("ghost")?))
        .after(["a"]);
    b.step("bad_param", |ctx| {
        ctx.param::<u32>("p").map_err(StepError::from)
    })
    .param("p", "seven");
    b.step("missing_param", |ctx| {
        ctx.param::<u32>("q").map_err(StepError::from)
    });
    let report = b.build().unwrap().run(&seq());
    let error = |s: &str| report.step(s).unwrap().error.clone().unwrap();
    assert_eq!(
        error("wrong_type"),
        "step wrong_type reads the output of a as i32, but it is u64"
    );
    assert_eq!(
        error("not_upstream"),
        "step not_upstream reads the output of side, which is not one of its dependencies"
    );
    assert_eq!(error("unknown"), "step not found: ghost");
    assert!(
        error("bad_param")
            .starts_with("step bad_param reads parameter p as u32, but it is \"seven\"")
    );
    assert_eq!(
        error("missing_param"),
        "parameter not found: missing_param.q"
    );
    assert_eq!(report.step("a").unwrap().status, StepStatus::Completed);
}

// ---------------------------------------------------------------- threads

#[test]
fn one_thread_is_sequential_and_deterministic() {
    let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let mut b = Pipeline::builder("p");
    for (name, deps) in [
        ("a", vec![]),
        ("b", vec![]),
        ("c", vec!["a"]),
        ("d", vec!["b", "c"]),
        ("e", vec!["a"]),
    ] {
        let order = Arc::clone(&order);
        b.step(name, move |ctx| {
            order.lock().push(ctx.name().to_string());
            Ok(())
        })
        .after(deps);
    }
    let p = b.build().unwrap();
    let mut runs = Vec::new();
    for _ in 0..3 {
        order.lock().clear();
        let r = p.run(&seq());
        assert_eq!(r.threads, 1);
        runs.push(order.lock().clone());
    }
    assert_eq!(runs[0], ["a", "b", "c", "e", "d"]);
    assert!(runs.iter().all(|r| r == &runs[0]));
}

/// Two independent steps that each wait for the other to start: they finish only if they run
/// at the same time.
#[test]
fn independent_branches_run_in_parallel() {
    let started = Arc::new(AtomicUsize::new(0));
    let mut b = Pipeline::builder("p");
    for name in ["left", "right"] {
        let started = Arc::clone(&started);
        b.step(name, move |_| {
            started.fetch_add(1, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(10);
            while started.load(Ordering::SeqCst) < 2 {
                if Instant::now() > deadline {
                    return Err(StepError::msg("the other branch never started"));
                }
                std::thread::yield_now();
            }
            Ok(())
        });
    }
    let report = b.build().unwrap().run(&RunOptions::new().threads(2));
    assert!(report.is_success(), "{report}");
    assert_eq!(report.threads, 2);
}

#[test]
fn thread_pool_is_bounded() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut b = Pipeline::builder("p");
    for i in 0..24 {
        let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
        b.step(&format!("s{i}"), move |_| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::yield_now();
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        });
    }
    let report = b.build().unwrap().run(&RunOptions::new().threads(3));
    assert!(report.is_success());
    assert!(peak.load(Ordering::SeqCst) <= 3);
}

// ---------------------------------------------------------------- failure policy

fn failing_diamond() -> Pipeline {
    // a -> bad -> c -> d ; a -> ok1 -> ok2 ; d also needs ok2
    let mut b = Pipeline::builder("p");
    noop(&mut b, "a", &[]);
    b.step("bad", |_| -> Result<(), StepError> {
        Err(StepError::msg("boom"))
    })
    .after(["a"]);
    noop(&mut b, "c", &["bad"]);
    noop(&mut b, "ok1", &["a"]);
    noop(&mut b, "ok2", &["ok1"]);
    noop(&mut b, "d", &["c", "ok2"]);
    b.build().unwrap()
}

#[test]
fn failure_skips_transitive_dependents_and_others_continue() {
    for threads in [1, 2, 4] {
        let r = failing_diamond().run(&RunOptions::new().threads(threads));
        let status = |s: &str| r.step(s).unwrap().status;
        assert_eq!(status("a"), StepStatus::Completed);
        assert_eq!(status("bad"), StepStatus::Failed);
        assert_eq!(status("ok1"), StepStatus::Completed);
        assert_eq!(status("ok2"), StepStatus::Completed);
        for s in ["c", "d"] {
            assert_eq!(status(s), StepStatus::Skipped);
            assert_eq!(
                r.step(s).unwrap().skip_reason,
                Some(SkipReason::UpstreamFailed {
                    step: "bad".parse().unwrap()
                })
            );
        }
        assert_eq!(r.step("bad").unwrap().error.as_deref(), Some("boom"));
        assert!(!r.is_success());
    }
}

#[test]
fn fail_fast_stops_scheduling() {
    let r = failing_diamond().run(&seq().fail_fast(true));
    // Sequential order: a, bad (fails) -> everything not started is skipped.
    assert_eq!(r.step("a").unwrap().status, StepStatus::Completed);
    assert_eq!(r.step("bad").unwrap().status, StepStatus::Failed);
    for s in ["ok1", "ok2"] {
        assert_eq!(
            r.step(s).unwrap().skip_reason,
            Some(SkipReason::FailFast {
                failed: "bad".parse().unwrap()
            })
        );
    }
    assert_eq!(r.count(StepStatus::Skipped), 4);
    assert!(r.fail_fast);
}

#[test]
fn fail_fast_cancels_running_steps() {
    let mut b = Pipeline::builder("p");
    b.step("slow", |ctx| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ctx.is_cancelled() {
            if Instant::now() > deadline {
                return Ok("never cancelled");
            }
            std::thread::yield_now();
        }
        ctx.cancel_token().check()?;
        Ok("unreachable")
    });
    b.step("bad", |_| -> Result<&str, StepError> {
        Err(StepError::msg("boom"))
    });
    let r = b
        .build()
        .unwrap()
        .run(&RunOptions::new().threads(2).fail_fast(true));
    assert_eq!(r.step("bad").unwrap().status, StepStatus::Failed);
    assert_eq!(r.step("slow").unwrap().error.as_deref(), Some("cancelled"));
}

#[test]
fn panicking_step_is_a_failed_step() {
    let mut b = Pipeline::builder("p");
    b.step("explode", |_| -> Result<(), StepError> {
        panic!("kaboom {}", 42)
    });
    noop(&mut b, "after", &["explode"]);
    noop(&mut b, "other", &[]);
    let p = b.build().unwrap();
    for threads in [1, 2] {
        let r = p.run(&RunOptions::new().threads(threads));
        let s = r.step("explode").unwrap();
        assert_eq!(s.status, StepStatus::Failed);
        assert_eq!(s.error.as_deref(), Some("step panicked: kaboom 42"));
        assert_eq!(s.attempts[0].outcome, AttemptOutcome::Panicked);
        assert_eq!(r.step("after").unwrap().status, StepStatus::Skipped);
        assert_eq!(r.step("other").unwrap().status, StepStatus::Completed);
    }
}

// ---------------------------------------------------------------- retries

fn flaky(fail_times: usize, policy: RetryPolicy) -> (Pipeline, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let mut b = Pipeline::builder("p");
    b.step("flaky", move |ctx| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        assert_eq!(ctx.attempt() as usize, n + 1);
        if n < fail_times {
            Err(StepError::msg(format!("transient {n}")))
        } else {
            Ok(n)
        }
    })
    .retry(policy);
    (b.build().unwrap(), calls)
}

#[test]
fn retries_record_each_attempt_and_wait_the_backoff() {
    let sleeper = RecordingSleeper::new();
    let log = EventLog::new();
    let (p, calls) = flaky(3, RetryPolicy::exponential(5, 10 * MS, 2.0, 25 * MS));
    let r = p.run(
        &seq()
            .sleeper(Arc::new(sleeper.clone()))
            .observer(Arc::new(log.clone())),
    );
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(sleeper.delays(), vec![10 * MS, 20 * MS, 25 * MS]);
    let s = r.step("flaky").unwrap();
    assert_eq!(s.status, StepStatus::Completed);
    assert_eq!(s.attempts.len(), 4);
    assert_eq!(s.attempts[1].error.as_deref(), Some("transient 1"));
    assert_eq!(s.attempts[1].retry_after, Some(20 * MS));
    assert_eq!(s.attempts[3].outcome, AttemptOutcome::Succeeded);
    assert_eq!(*r.output::<usize>("flaky").unwrap(), 3);
    let lines = log.lines();
    assert!(
        lines.contains(&"retry flaky 1 10ms: transient 0".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"finished flaky COMPLETED".to_owned()),
        "{lines:?}"
    );
}

#[test]
fn retries_run_out_and_the_step_fails() {
    let sleeper = RecordingSleeper::new();
    let (p, calls) = flaky(10, RetryPolicy::delays(vec![MS, 2 * MS]));
    let r = p.run(&seq().sleeper(Arc::new(sleeper.clone())));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(sleeper.delays(), vec![MS, 2 * MS]);
    let s = r.step("flaky").unwrap();
    assert_eq!(s.status, StepStatus::Failed);
    assert_eq!(s.error.as_deref(), Some("transient 2"));
    assert_eq!(s.attempts.last().unwrap().retry_after, None);
}

#[test]
fn predicate_decides_what_is_retried() {
    #[derive(Debug, thiserror::Error)]
    #[error("schema mismatch")]
    struct Fatal;

    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let mut b = Pipeline::builder("p");
    b.step("s", move |_| -> Result<(), StepError> {
        c.fetch_add(1, Ordering::SeqCst);
        Err(Fatal.into())
    })
    .retry(RetryPolicy::fixed(5, MS).retry_if(|e| e.downcast_ref::<Fatal>().is_none()));
    let sleeper = RecordingSleeper::new();
    let r = b
        .build()
        .unwrap()
        .run(&seq().sleeper(Arc::new(sleeper.clone())));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(sleeper.delays().is_empty());
    assert_eq!(
        r.step("s").unwrap().error.as_deref(),
        Some("schema mismatch")
    );
}

#[test]
fn jittered_delays_are_reproducible_per_seed() {
    let run = |seed| {
        let sleeper = RecordingSleeper::new();
        let (p, _) = flaky(3, RetryPolicy::fixed(3, 100 * MS).with_jitter(0.5));
        p.run(&seq().sleeper(Arc::new(sleeper.clone())).jitter_seed(seed));
        sleeper.delays()
    };
    let a = run(1);
    assert_eq!(a, run(1));
    assert_ne!(a, run(2));
    assert!(a.iter().all(|d| *d >= 50 * MS && *d <= 100 * MS), "{a:?}");
}

// ---------------------------------------------------------------- timeouts

#[test]
fn cooperative_step_is_stopped_and_reported_timed_out() {
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let s2 = Arc::clone(&saw_cancel);
    let mut b = Pipeline::builder("p");
    b.step("spin", move |ctx| {
        let give_up = Instant::now() + Duration::from_secs(10);
        while Instant::now() < give_up {
            if ctx.is_cancelled() {
                s2.store(true, Ordering::SeqCst);
                ctx.cancel_token().check()?;
            }
            std::thread::yield_now();
        }
        Ok(())
    })
    .timeout(20 * MS);
    noop(&mut b, "after", &["spin"]);
    noop(&mut b, "other", &[]);
    let log = EventLog::new();
    let started = Instant::now();
    let r = b
        .build()
        .unwrap()
        .run(&seq().observer(Arc::new(log.clone())));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(saw_cancel.load(Ordering::SeqCst));
    let s = r.step("spin").unwrap();
    assert_eq!(s.status, StepStatus::TimedOut);
    assert!(
        s.error
            .as_deref()
            .unwrap()
            .starts_with("timed out after 20ms"),
        "{s:?}"
    );
    assert_eq!(s.attempts[0].outcome, AttemptOutcome::TimedOut);
    assert_eq!(r.step("after").unwrap().status, StepStatus::Skipped);
    assert_eq!(r.step("other").unwrap().status, StepStatus::Completed);
    assert!(log.lines().contains(&"timed out spin 1".to_owned()));
    assert!(r.to_string().contains("TIMED_OUT"));
}

/// The first attempt returns `Ok` only after its deadline passed: its result is discarded
/// and the attempt counts as timed out; the retry succeeds.
#[test]
fn attempt_that_returns_after_its_deadline_is_timed_out_and_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let mut b = Pipeline::builder("p");
    b.step("late_then_fast", move |ctx| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            let give_up = Instant::now() + Duration::from_secs(10);
            while !ctx.is_cancelled() && Instant::now() < give_up {
                std::thread::yield_now();
            }
            return Ok(-1);
        }
        Ok(7)
    })
    .timeout(200 * MS)
    .retry(RetryPolicy::fixed(1, MS));
    let sleeper = RecordingSleeper::new();
    let r = b.build().unwrap().run(&seq().sleeper(Arc::new(sleeper)));
    let s = r.step("late_then_fast").unwrap();
    assert_eq!(s.status, StepStatus::Completed, "{r}");
    assert_eq!(s.attempts[0].outcome, AttemptOutcome::TimedOut);
    assert_eq!(s.attempts[1].outcome, AttemptOutcome::Succeeded);
    assert_eq!(*r.output::<i32>("late_then_fast").unwrap(), 7);
}

#[test]
fn timeouts_can_be_excluded_from_retries() {
    let mut b = Pipeline::builder("p");
    b.step("t", |ctx| {
        while !ctx.is_cancelled() {
            std::thread::yield_now();
        }
        Ok(())
    })
    .timeout(5 * MS)
    .retry(RetryPolicy::fixed(3, MS).retry_if(|e| e.kind() != StepErrorKind::TimedOut));
    let r = b
        .build()
        .unwrap()
        .run(&seq().sleeper(Arc::new(RecordingSleeper::new())));
    assert_eq!(r.step("t").unwrap().attempts.len(), 1);
    assert_eq!(r.step("t").unwrap().status, StepStatus::TimedOut);
}

// ---------------------------------------------------------------- cache and resume

/// ingest -> features -> train -> eval, all cached; counts executions per step.
fn ml_pipeline(calls: &Arc<[AtomicUsize; 4]>, threshold: f64, lr: f64) -> Pipeline {
    let mut b = Pipeline::builder("ml");
    let c = Arc::clone(calls);
    b.step("ingest", move |_| {
        c[0].fetch_add(1, Ordering::SeqCst);
        Ok(vec![1.0_f64, 2.0, 3.0, 4.0])
    })
    .cache("v1");
    let c = Arc::clone(calls);
    b.step("features", move |ctx| {
        c[1].fetch_add(1, Ordering::SeqCst);
        let xs: &Vec<f64> = ctx.input("ingest")?;
        Ok(xs.iter().map(|x| x * 2.0).collect::<Vec<f64>>())
    })
    .after(["ingest"])
    .cache("v1");
    let c = Arc::clone(calls);
    b.step("train", move |ctx| {
        c[2].fetch_add(1, Ordering::SeqCst);
        let xs: &Vec<f64> = ctx.input("features")?;
        let lr: f64 = ctx.param("lr")?;
        Ok(xs.iter().sum::<f64>() * lr)
    })
    .after(["features"])
    .param("lr", lr)
    .cache("v1");
    let c = Arc::clone(calls);
    b.step("eval", move |ctx| {
        c[3].fetch_add(1, Ordering::SeqCst);
        let score: f64 = *ctx.input("train")?;
        let threshold: f64 = ctx.param("threshold")?;
        if score < threshold {
            return Err(StepError::msg(format!("score {score} below {threshold}")));
        }
        Ok(score)
    })
    .after(["train"])
    .param("threshold", threshold)
    .cache("v1");
    b.build().unwrap()
}

fn counts(calls: &Arc<[AtomicUsize; 4]>) -> [usize; 4] {
    std::array::from_fn(|i| calls[i].swap(0, Ordering::SeqCst))
}

#[test]
fn unchanged_rerun_is_served_from_the_cache() {
    let calls: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
    let cache = InMemoryCache::new();
    let opts = seq().cache(Arc::new(cache.clone()));
    let p = ml_pipeline(&calls, 1.0, 0.5);
    let first = p.run(&opts);
    assert!(first.is_success(), "{first}");
    assert_eq!(counts(&calls), [1, 1, 1, 1]);
    assert_eq!(cache.len(), 4);
    let log = EventLog::new();
    let second = p.run(&opts.clone().observer(Arc::new(log.clone())));
    assert_eq!(counts(&calls), [0, 0, 0, 0]);
    let lines = log.lines();
    for s in ["ingest", "features", "train", "eval"] {
        assert!(lines.contains(&format!("cached {s}")), "{lines:?}");
    }
    assert!(!lines.iter().any(|l| l.starts_with("started")), "{lines:?}");
    assert_eq!(second.count(StepStatus::Cached), 4);
    assert_eq!(*second.output::<f64>("eval").unwrap(), 10.0);
    assert!(
        second
            .to_string()
            .contains("ALL STEPS PASSED (4 from cache)")
    );
    // A parameter change reruns that step and what depends on it, not what is upstream.
    let p2 = ml_pipeline(&calls, 1.0, 0.25);
    let third = p2.run(&opts);
    assert_eq!(counts(&calls), [0, 0, 1, 1]);
    assert_eq!(*third.output::<f64>("eval").unwrap(), 5.0);
}

#[test]
fn upstream_output_change_invalidates_downstream() {
    let make = |value: u32| {
        let mut b = Pipeline::builder("p");
        b.step("src", move |_| Ok(value)).cache("v1");
        b.step("down", |ctx| Ok(*ctx.input::<u32>("src")? + 1))
            .after(["src"])
            .cache("v1");
        b.build().unwrap()
    };
    let cache = InMemoryCache::new();
    let opts = seq().cache(Arc::new(cache.clone()));
    make(1).run(&opts);
    // Same key for `src` (same name, version, params) but a different cached value is what a
    // bumped version avoids; here the version stays and `src` is served from the cache.
    let r = make(2).run(&opts);
    assert_eq!(r.step("src").unwrap().status, StepStatus::Cached);
    assert_eq!(*r.output::<u32>("down").unwrap(), 2);
    // Dropping `src`'s entry makes it run again; its new output has a new fingerprint, so
    // `down` misses too.
    let src_key = r.step("src").unwrap().cache_key.unwrap();
    cache.remove(&src_key).unwrap();
    let r = make(2).run(&opts);
    assert_eq!(r.step("src").unwrap().status, StepStatus::Completed);
    assert_eq!(r.step("down").unwrap().status, StepStatus::Completed);
    assert_eq!(*r.output::<u32>("down").unwrap(), 3);
}

#[test]
fn resume_after_failure_runs_only_what_did_not_complete() {
    let dir = tempfile::tempdir().unwrap();
    let calls: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
    let opts = || {
        seq().cache(Arc::new(
            FileCache::open(dir.path()).unwrap().with_fsync(false),
        ))
    };
    let failing = ml_pipeline(&calls, 100.0, 0.5).run(&opts());
    assert_eq!(failing.step("eval").unwrap().status, StepStatus::Failed);
    assert_eq!(counts(&calls), [1, 1, 1, 1]);
    // Fix the threshold and resume in a fresh process-like setting (a new cache handle).
    let resumed = ml_pipeline(&calls, 1.0, 0.5).run(&opts());
    assert!(resumed.is_success(), "{resumed}");
    assert_eq!(counts(&calls), [0, 0, 0, 1]);
    for s in ["ingest", "features", "train"] {
        assert_eq!(resumed.step(s).unwrap().status, StepStatus::Cached);
    }
    assert_eq!(resumed.step("eval").unwrap().status, StepStatus::Completed);
}

#[test]
fn corrupt_file_cache_entry_is_a_reported_miss() {
    let dir = tempfile::tempdir().unwrap();
    let calls: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
    let cache = FileCache::open(dir.path()).unwrap().with_fsync(false);
    let opts = seq().cache(Arc::new(cache.clone()));
    let p = ml_pipeline(&calls, 1.0, 0.5);
    let first = p.run(&opts);
    counts(&calls);
    let key: CacheKey = first.step("train").unwrap().cache_key.unwrap();
    let path = cache.entry_path(&key);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let log = EventLog::new();
    let r = p.run(&opts.clone().observer(Arc::new(log.clone())));
    assert_eq!(counts(&calls), [0, 0, 1, 0]);
    let train = r.step("train").unwrap();
    assert_eq!(train.status, StepStatus::Completed);
    let note = train.cache_note.as_deref().unwrap();
    assert!(
        note.contains("corrupt file") && note.contains("treated as a miss"),
        "{note}"
    );
    assert!(note.contains(&path.display().to_string()), "{note}");
    assert!(
        log.lines()
            .iter()
            .any(|l| l.starts_with("cache problem train"))
    );
    // The rerun rewrote the entry, so the next run is all hits.
    let again = p.run(&opts);
    assert_eq!(again.count(StepStatus::Cached), 4);
    // Garbage in place of the entry is also a miss, never a hit.
    std::fs::write(&path, b"garbage").unwrap();
    let r = p.run(&opts);
    assert_eq!(r.step("train").unwrap().status, StepStatus::Completed);
}

#[test]
fn output_that_no_longer_decodes_is_a_miss() {
    let cache = InMemoryCache::new();
    let opts = seq().cache(Arc::new(cache.clone()));
    let mut b = Pipeline::builder("p");
    b.step("s", |_| Ok("text".to_owned())).cache("v1");
    b.build().unwrap().run(&opts);
    // Same name and version, new output type: the old entry does not decode.
    let mut b = Pipeline::builder("p");
    b.step("s", |_| Ok(5_u32)).cache("v1");
    let r = b.build().unwrap().run(&opts);
    let s = r.step("s").unwrap();
    assert_eq!(s.status, StepStatus::Completed);
    assert!(s.cache_note.as_deref().unwrap().contains("does not decode"));
    assert_eq!(*r.output::<u32>("s").unwrap(), 5);
}

// ---------------------------------------------------------------- report

#[test]
fn report_table_and_json() {
    let r = failing_diamond().run(&seq());
    let table = r.to_string();
    assert!(table.starts_with("Pipeline p: 6 steps in "), "{table}");
    assert!(table.contains("bad   FAILED"), "{table}");
    assert!(table.contains("  error: boom"), "{table}");
    assert!(
        table.contains("  reason: upstream step bad failed"),
        "{table}"
    );
    assert!(table.ends_with("result: 1 FAILED, 2 SKIPPED"), "{table}");
    let json = r.to_json().unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["steps"][1]["status"], "failed");
    assert_eq!(v["steps"][2]["skip_reason"]["kind"], "upstream_failed");
    assert_eq!(v["steps"][2]["skip_reason"]["step"], "bad");
    assert!(v["duration"].as_f64().unwrap() >= 0.0);
    let back: mlops_pipeline::RunReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back.steps, r.steps);
}

#[test]
fn observer_sees_the_run() {
    let log = EventLog::new();
    failing_diamond().run(&seq().observer(Arc::new(log.clone())));
    let lines = log.lines();
    assert_eq!(lines.first().unwrap(), "run p 6");
    assert_eq!(lines.last().unwrap(), "run finished false");
    for want in [
        "started a 1",
        "finished a COMPLETED",
        "finished bad FAILED",
        "skipped c: upstream step bad failed",
        "skipped d: upstream step bad failed",
    ] {
        assert!(lines.contains(&want.to_owned()), "{want}: {lines:?}");
    }
}

#[test]
fn panicking_observer_does_not_stall_the_run() {
    #[derive(Debug)]
    struct Grumpy;
    impl mlops_pipeline::Observer for Grumpy {
        fn on_event(&self, event: &mlops_pipeline::Event<'_>) {
            if matches!(event, mlops_pipeline::Event::StepFinished { .. }) {
                panic!("observer bug");
            }
        }
    }
    for threads in [1, 2] {
        let r = failing_diamond().run(
            &RunOptions::new()
                .threads(threads)
                .observer(Arc::new(Grumpy)),
        );
        assert_eq!(r.count(StepStatus::Completed), 3);
        assert_eq!(r.count(StepStatus::Skipped), 2);
    }
}

/// A process killed in the middle of a run (abort in step `c`) leaves a file cache from which
/// the next run resumes: `a` and `b` are restored, `c` and `d` run.
#[test]
fn resume_after_the_process_died_mid_run() {
    const CHILD: &str = "MLOPS_PIPELINE_CRASH_CHILD";
    let make = |die: bool| {
        let mut b = Pipeline::builder("p");
        b.step("a", |_| Ok(1_u32)).cache("v1");
        b.step("b", |ctx| Ok(*ctx.input::<u32>("a")? + 1))
            .after(["a"])
            .cache("v1");
        b.step("c", move |ctx| {
            if die {
                std::process::abort();
            }
            Ok(*ctx.input::<u32>("b")? + 1)
        })
        .after(["b"])
        .cache("v1");
        b.step("d", |ctx| Ok(*ctx.input::<u32>("c")? + 1))
            .after(["c"])
            .cache("v1");
        b.build().unwrap()
    };
    if let Ok(root) = std::env::var(CHILD) {
        let cache = FileCache::open(root).unwrap();
        make(true).run(&seq().cache(Arc::new(cache)));
        unreachable!("step c aborts the process");
    }
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "resume_after_the_process_died_mid_run",
            "--nocapture",
        ])
        .env(CHILD, dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child should have died");
    let cache = FileCache::open(dir.path()).unwrap();
    assert_eq!(cache.keys().unwrap().len(), 2);
    let r = make(false).run(&seq().cache(Arc::new(cache)));
    let status = |s: &str| r.step(s).unwrap().status;
    assert_eq!(status("a"), StepStatus::Cached);
    assert_eq!(status("b"), StepStatus::Cached);
    assert_eq!(status("c"), StepStatus::Completed);
    assert_eq!(status("d"), StepStatus::Completed);
    assert_eq!(*r.output::<u32>("d").unwrap(), 4);
}
