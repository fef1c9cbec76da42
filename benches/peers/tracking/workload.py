"""MLflow side of the `tracking` peer suite: the workload of benches/src/bin/peers_tracking.rs
on MLflow's in-process client (MlflowClient, no server), on its SQLite store and on its file
store. Prints one JSON line per case on stdout; everything else goes to stderr.

Environment: PEERS_WORK (directory for the stores), PEERS_QUICK=1 (reduced sizes).
"""

import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mlflow_common import Lines, mlflow_notes, run_on_both_stores  # noqa: E402

SUITE = "tracking"
LINES = Lines(SUITE)
log, emit, emit_error = LINES.log, LINES.emit, LINES.emit_error
FILTER = "metrics.acc > 0.5 and params.lr = '0.01'"
ORDER = "metrics.loss ASC"
LRS = ["0.1", "0.01", "0.001"]
SEARCHES = 5  # searches timed per process; the median is reported

QUICK = os.environ.get("PEERS_QUICK") == "1"
if QUICK:
    METRICS, BATCHES, BATCH_SIZE, PARAMS, RUNS = 200, 2, 1000, 30, 100
else:
    METRICS, BATCHES, BATCH_SIZE, PARAMS, RUNS = 2000, 10, 1000, 300, 1000




def cases():
    return [
        f"log_metric, {METRICS:,} single calls",
        f"log_batch, {BATCHES} x {BATCH_SIZE:,}-metric batches",
        f"log_param, {PARAMS:,} single calls",
        f"search_runs over {RUNS:,} runs (filter + order by metric), per call",
    ]


class Lcg:
    """The deterministic generator shared with peers_tracking.rs."""

    def __init__(self, seed):
        self.state = seed

    def next(self):
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
        return (self.state >> 11) / float(1 << 53)


def search_data(runs):
    rng = Lcg(42)
    out = []
    for _ in range(runs):
        lr = LRS[min(int(rng.next() * 3.0), 2)]
        acc = rng.next()
        loss = rng.next()
        out.append((lr, acc, loss))
    return out


def run_variant(uri, variant, extra_note=None):
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    c_metric, c_batch, c_param, c_search = cases()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = MlflowClient(tracking_uri=uri)
        # Creating the experiment creates the store (the SQLite schema migrations): untimed.
        exp = client.create_experiment("peers-tracking")
    # MLflow's own warnings (not its dependencies' deprecation notices) go into the table.
    notes = sorted({f"{w.category.__name__}: {w.message}" for w in caught
                    if "/mlflow/" in str(w.filename)
                    and not w.category.__name__.startswith("SA")})
    for n in notes:
        log(f"{variant}: warning at store creation: {n}")
    if extra_note:
        notes.insert(0, extra_note)
    store_note = {"note": "; ".join(notes)[:400]} if notes else {}

    # 1. Single log_metric calls (synchronous: durable when the call returns).
    run_id = client.create_run(exp).info.run_id
    t = time.perf_counter()
    for i in range(METRICS):
        client.log_metric(run_id, "loss", 1.0 / (1.0 + i), step=i)
    emit(c_metric, variant, time.perf_counter() - t, METRICS, **store_note)

    # 2. Batches of metrics.
    run_id = client.create_run(exp).info.run_id
    t = time.perf_counter()
    for b in range(BATCHES):
        ts = int(time.time() * 1000)
        metrics = [
            Metric(f"m{i % 10}", (b * BATCH_SIZE + i) * 1e-3, ts, b * BATCH_SIZE // 10 + i // 10)
            for i in range(BATCH_SIZE)
        ]
        client.log_batch(run_id, metrics=metrics)
    emit(c_batch, variant, time.perf_counter() - t, BATCHES * BATCH_SIZE)

    # 3. Single log_param calls.
    run_id = client.create_run(exp).info.run_id
    t = time.perf_counter()
    for i in range(PARAMS):
        client.log_param(run_id, f"p{i}", str(i))
    emit(c_param, variant, time.perf_counter() - t, PARAMS)

    # 4. Search: populate an experiment (untimed), then time the same query SEARCHES times.
    sexp = client.create_experiment("peers-search")
    data = search_data(RUNS)
    t = time.perf_counter()
    for i, (lr, acc, loss) in enumerate(data):
        rid = client.create_run(sexp, run_name=f"run-{i}").info.run_id
        client.log_batch(rid, metrics=[Metric("acc", acc, 1, 0), Metric("loss", loss, 1, 0)],
                         params=[Param("lr", lr)])
    log(f"{variant}: {RUNS} runs created in {time.perf_counter() - t:.1f} s")
    expected = sum(1 for lr, acc, _ in data if lr == "0.01" and acc > 0.5)
    times = []
    hits = 0
    for _ in range(SEARCHES):
        t = time.perf_counter()
        page = client.search_runs([sexp], filter_string=FILTER, order_by=[ORDER],
                                  max_results=1000)
        times.append(time.perf_counter() - t)
        losses = [r.data.metrics.get("loss", float("nan")) for r in page]
        if any(not a <= b for a, b in zip(losses, losses[1:])):
            raise RuntimeError("search_runs: results are not ordered by metrics.loss ASC")
        hits = len(page)
    times.sort()
    emit(c_search, variant, times[len(times) // 2], 1,
         check={"rows": hits, "expected": expected})


def main():
    return run_on_both_stores(LINES, run_variant, cases())


if __name__ == "__main__":
    sys.exit(main())
