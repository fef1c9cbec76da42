"""MLflow side of the `registry` peer suite: the workload of benches/src/bin/peers_registry.rs
on MLflow's model registry through the in-process client (MlflowClient, no server), on its
SQLite store and on its file store. Prints one JSON line per case on stdout; everything else
goes to stderr.

Environment: PEERS_WORK (directory for the stores), PEERS_QUICK=1 (reduced sizes).
"""

import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mlflow_common import Lines, mlflow_notes, run_on_both_stores  # noqa: E402

SUITE = "registry"
LINES = Lines(SUITE)
log, emit, emit_error = LINES.log, LINES.emit, LINES.emit_error
MODEL = "peers-model"
N = 10 if os.environ.get("PEERS_QUICK") == "1" else 100
CASES = [
    f"create_model_version, {N} calls",
    f"set alias, {N} calls",
    f"transition stage, {N} calls",
    f"get version by alias, {N} calls",
]


def run_variant(uri, variant, extra_note=None):
    from mlflow import MlflowClient

    c_create, c_alias, c_stage, c_get = CASES
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        # Creating the model creates the store (the SQLite schema migrations): untimed.
        client.create_registered_model(MODEL)
    notes = mlflow_notes(caught)
    if extra_note:
        notes.insert(0, extra_note)

    t = time.perf_counter()
    for i in range(N):
        client.create_model_version(MODEL, f"s3://models/{i}")
    emit(c_create, variant, time.perf_counter() - t, N,
         **({"note": "; ".join(notes)[:400]} if notes else {}))

    t = time.perf_counter()
    for i in range(1, N + 1):
        client.set_registered_model_alias(MODEL, "champion", str(i))
    emit(c_alias, variant, time.perf_counter() - t, N)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = time.perf_counter()
        for i in range(1, N + 1):
            client.transition_model_version_stage(MODEL, str(i), "Staging",
                                                  archive_existing_versions=False)
        elapsed = time.perf_counter() - t
    notes = mlflow_notes(caught)
    emit(c_stage, variant, elapsed, N, **({"note": "; ".join(notes)[:400]} if notes else {}))

    t = time.perf_counter()
    for _ in range(N):
        v = client.get_model_version_by_alias(MODEL, "champion")
        if int(v.version) != N:
            raise RuntimeError(f"get by alias returned version {v.version}, expected {N}")
    emit(c_get, variant, time.perf_counter() - t, N)


def main():
    return run_on_both_stores(LINES, run_variant, CASES)


if __name__ == "__main__":
    sys.exit(main())
