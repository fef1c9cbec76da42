//! Read throughput of the in-memory online store with 1 and 2 reader threads, with and without
//! a writer ingesting 800,000 values/s (100 rows every millisecond), measured two ways: as
//! throughput over a fixed window (each reader reads until a deadline; total reads over the
//! window: a service's view), and as a fixed number of reads split equally (the slowest reader
//! sets the time). Both are measured interleaved: the
//! two reader counts alternate in short rounds, so load from other work on a shared machine
//! falls on both alike. Reports the median wall time per read of each, the ratio of the
//! medians and the median of the per-round ratios, reader CPU time per read (the contention
//! cost without the time spent waiting for a core) and the writer's CPU share. A control run
//! of pure CPU work (1 vs 2 threads computing a hash chain, sharing nothing) measures, in the
//! same way and at the same time, how far this machine's two cores scale at all: on a shared
//! virtual machine that ceiling is often below 2x, and the readers cannot beat it. Run with
//! `cargo run --release -p mlops-benches --bin features_scaling`.
#![allow(missing_docs, clippy::print_stdout, clippy::cast_precision_loss)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mlops_benches::features_fixture::{ReaderPool, group, key, rows, spawn_writer};
use mlops_features::{EntityKey, InMemoryOnlineStore, OnlineStore};

const ENTITIES: usize = 100_000;
/// Rounds per configuration; each round times both reader counts.
const ROUNDS: usize = 40;
/// Reads per timed run (about 20 ms with one reader, so waking the readers is amortized).
const READS: u64 = 200_000;
/// The window of a throughput round.
const WINDOW: std::time::Duration = std::time::Duration::from_millis(30);

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Pure CPU work of about the length of one timed reader run: an xorshift chain.
fn spin(iterations: u64) -> u64 {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// Wall time per iteration with `threads` threads each spinning `iterations` times.
fn spin_run(threads: usize, iterations: u64) -> f64 {
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| std::hint::black_box(spin(std::hint::black_box(iterations))));
        }
    });
    start.elapsed().as_secs_f64() * 1e9 / (iterations * threads as u64) as f64
}

/// The machine's own 1 → 2 thread throughput ratio for work that shares nothing.
fn cpu_control() {
    const SPINS: u64 = 20_000_000;
    let (mut one, mut two, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (a, b) = if round % 2 == 0 {
            let a = spin_run(1, SPINS);
            (a, spin_run(2, SPINS))
        } else {
            let b = spin_run(2, SPINS);
            (spin_run(1, SPINS), b)
        };
        one.push(a);
        two.push(b);
        ratio.push(a / b);
    }
    let (m1, m2) = (median(&mut one), median(&mut two));
    println!(
        "features_scaling: control, pure CPU work sharing nothing: 1 thread {m1:.2} ns/iteration, \
         2 threads {m2:.2} ns/iteration: {:.2}x; median per-round ratio {:.2}x (the machine's \
         ceiling for any 2-thread scaling right now)",
        m1 / m2,
        median(&mut ratio),
    );
}

fn main() {
    cpu_control();
    let store = InMemoryOnlineStore::new();
    store.apply_group(&group()).unwrap();
    for start in (0..ENTITIES).step_by(10_000) {
        store
            .write_batch("user_features", &rows(start..start + 10_000, 1_700_000_000))
            .unwrap();
    }
    let keys: Arc<Vec<EntityKey>> =
        Arc::new((0..1024).map(|s| key((s * 7919) % ENTITIES)).collect());
    for with_writer in [true, false] {
        let stop = Arc::new(AtomicBool::new(false));
        let writer = with_writer.then(|| spawn_writer(store.clone(), ENTITIES, Arc::clone(&stop)));
        let pools = [
            ReaderPool::new(&store, 1, &keys),
            ReaderPool::new(&store, 2, &keys),
        ];
        for p in &pools {
            p.run(READS); // warm-up
        }
        let (mut one, mut two, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        let (mut one_t, mut two_t, mut ratio_t) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            // Throughput over a fixed window (each reader reads until the deadline).
            let (a, b) = if round % 2 == 0 {
                let a = pools[0].run_for(WINDOW);
                (a, pools[1].run_for(WINDOW))
            } else {
                let b = pools[1].run_for(WINDOW);
                (pools[0].run_for(WINDOW), b)
            };
            one_t.push(a);
            two_t.push(b);
            ratio_t.push(a / b);
        }
        for round in 0..ROUNDS {
            // The same reads split equally: the slowest reader sets the time.
            // Alternate which goes first.
            let per_read = |p: &ReaderPool| p.run(READS).as_secs_f64() * 1e9 / READS as f64;
            let (a, b) = if round % 2 == 0 {
                let a = per_read(&pools[0]);
                (a, per_read(&pools[1]))
            } else {
                let b = per_read(&pools[1]);
                (per_read(&pools[0]), b)
            };
            one.push(a);
            two.push(b);
            ratio.push(a / b);
        }
        stop.store(true, Ordering::Relaxed);
        let writer = writer.map(|w| w.join().unwrap());
        let (m1, m2) = (median(&mut one), median(&mut two));
        let label = if with_writer {
            "with a writer at 800k values/s"
        } else {
            "no writer"
        };
        let (t1, t2) = (median(&mut one_t), median(&mut two_t));
        println!(
            "features_scaling: {label}: throughput over {} ms windows: 1 reader {t1:.1} ns/read, \
             2 readers {t2:.1} ns/read (wall, medians of {ROUNDS} interleaved rounds): {:.2}x; \
             median per-round ratio {:.2}x",
            WINDOW.as_millis(),
            t1 / t2,
            median(&mut ratio_t),
        );
        println!(
            "features_scaling: {label}: equal split, the slowest reader sets the time: 1 reader \
             {m1:.1} ns/read, 2 readers {m2:.1} ns/read \
             (wall, medians of {ROUNDS} interleaved rounds of {READS} reads): {:.2}x; median \
             per-round ratio {:.2}x; reader CPU per read {:.0} ns (1 reader), {:.0} ns (2 readers)",
            m1 / m2,
            median(&mut ratio),
            pools[0].cpu_ns_per_read().unwrap_or(f64::NAN),
            pools[1].cpu_ns_per_read().unwrap_or(f64::NAN),
        );
        if let Some((cpu, wall)) = writer {
            println!(
                "features_scaling: the writer used {:.1}% of one core ({cpu:.2} s CPU in {wall:.1} s)",
                100.0 * cpu / wall
            );
        }
    }
    cpu_control();
}
