"""What the MLflow peer workloads (tracking/workload.py, registry/workload.py) share: the result
lines of the protocol, and running a workload on MLflow's SQLite store and on its file store.
Imported by those scripts (they put this folder on sys.path); Python standard library only."""

import json
import os
import sys
import tempfile
import traceback

# No network calls from the client while it is being timed.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


class Lines:
    """The JSON result lines of one suite's MLflow side (stdout), and its log (stderr)."""

    def __init__(self, suite):
        self.suite = suite
        self.emitted = set()

    def log(self, msg):
        print(f"{self.suite}/workload.py: {msg}", file=sys.stderr, flush=True)

    def emit(self, case, variant, seconds, count, **extra):
        self.emitted.add((case, variant))
        line = {
            "suite": self.suite,
            "case": case,
            "variant": variant,
            "side": "mlflow",
            "value": seconds * 1e3,
            "unit": "ms",
            "count": count,
        }
        line.update(extra)
        print(json.dumps(line), flush=True)

    def emit_error(self, case, variant, error):
        line = {"suite": self.suite, "case": case, "variant": variant, "side": "mlflow",
                "value": None, "unit": "ms", "error": error}
        print(json.dumps(line), flush=True)


def mlflow_notes(caught):
    """MLflow's own warnings (not its dependencies' deprecation notices), deduplicated."""
    return sorted({f"{w.category.__name__}: {w.message}" for w in caught
                   if "/mlflow/" in str(w.filename)
                   and not w.category.__name__.startswith("SA")})


def run_on_both_stores(lines, run_variant, cases):
    """Run `run_variant(uri, variant, note)` on MLflow's SQLite store, then on its file store,
    each in its own directory under PEERS_WORK. A failing variant is reported as an error line
    for each case it did not emit, not fatal. Returns the process exit code."""
    import mlflow

    work = os.environ.get("PEERS_WORK") or tempfile.mkdtemp(prefix=f"peers-{lines.suite}-")
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
        # Artifacts (none are logged) would go under the store's directory, not the cwd.
        os.chdir(directory)
        lines.log(f"{variant}: {uri}")
        try:
            run_variant(uri, variant, note)
        except Exception as e:  # noqa: BLE001 - a failing variant is reported, not fatal
            failed = True
            traceback.print_exc()
            msg = f"{type(e).__name__}: {e}"
            for case in cases:
                if (case, variant) not in lines.emitted:
                    lines.emit_error(case, variant, msg[:500])
    return 1 if failed else 0
