"""MLflow side of the `registry` peer suite: the workload of benches/src/bin/peers_registry.rs
on MLflow's model registry through the in-process client (MlflowClient, no server), on its
SQLite store and on its file store. Prints one JSON line per case on stdout; everything else
goes to stderr.

Environment: PEERS_WORK (directory for the stores), PEERS_QUICK=1 (reduced sizes).
"""

import json
import os
import sys
import tempfile
import time
import traceback
import warnings

# No network calls from the client while it is being timed.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

SUITE = "registry"
MODEL = "peers-model"
N = 10 if os.environ.get("PEERS_QUICK") == "1" else 100
CASES = [
    f"create_model_version, {N} calls",
    f"set alias, {N} calls",
    f"transition stage, {N} calls",
    f"get version by alias, {N} calls",
]
EMITTED = set()


def log(msg):
    print(f"registry/workload.py: {msg}", file=sys.stderr, flush=True)


def emit(case, variant, seconds, count, **extra):
    EMITTED.add((case, variant))
    line = {
        "suite": SUITE,
        "case": case,
        "variant": variant,
        "side": "mlflow",
        "value": seconds * 1e3,
        "unit": "ms",
        "count": count,
    }
    line.update(extra)
    print(json.dumps(line), flush=True)


def emit_error(case, variant, error):
    line = {"suite": SUITE, "case": case, "variant": variant, "side": "mlflow",
            "value": None, "unit": "ms", "error": error}
    print(json.dumps(line), flush=True)


def mlflow_notes(caught):
    """MLflow's own warnings (not its dependencies' deprecation notices), deduplicated."""
    return sorted({f"{w.category.__name__}: {w.message}" for w in caught
                   if "/mlflow/" in str(w.filename)
                   and not w.category.__name__.startswith("SA")})


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
    import mlflow

    work = os.environ.get("PEERS_WORK") or tempfile.mkdtemp(prefix="peers-registry-")
    version = mlflow.__version__
    variants = [
        (f"mlflow {version}, SQLite store",
         "sqlite:///" + os.path.join(work, "mlflow-sqlite", "mlflow.db"),
         os.path.join(work, "mlflow-sqlite"), False),
        (f"mlflow {version}, file store",
         "file://" + os.path.join(work, "mlflow-file", "mlruns"),
         os.path.join(work, "mlflow-file"), True),
    ]
    failed = False
    for variant, uri, directory, file_store in variants:
        os.makedirs(directory, exist_ok=True)
        note = None
        if file_store and "MLFLOW_ALLOW_FILE_STORE" not in os.environ:
            # MLflow 3.x refuses the file store unless this opt-out is set ("maintenance
            # mode"); the refusal is recorded in the table note.
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
            note = ("MLflow refuses the file store by default (maintenance mode); "
                    "run with MLFLOW_ALLOW_FILE_STORE=true")
        os.chdir(directory)
        log(f"{variant}: {uri}")
        try:
            run_variant(uri, variant, note)
        except Exception as e:  # noqa: BLE001 - a failing variant is reported, not fatal
            failed = True
            traceback.print_exc()
            msg = f"{type(e).__name__}: {e}"
            for case in CASES:
                if (case, variant) not in EMITTED:
                    emit_error(case, variant, msg[:500])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
