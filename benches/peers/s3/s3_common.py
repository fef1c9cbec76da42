"""Shared by the peer sides of the `s3` suite: sizes, the data (from our generator, so every
side sends the same bytes), a fresh moto server per side, result lines.

Standard library only (each side imports it from its own venv)."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

SUITE = "s3"
QUICK = os.environ.get("PEERS_QUICK", "") not in ("", "0")
BIG_MIB = 16 if QUICK else 1024
SMALL = 200 if QUICK else 20_000
SMALL_KIB = 10
JOBS = 16
PART = 8 << 20  # our client's default part size (mlops_s3::DEFAULT_PART_SIZE)
GEN = os.environ.get("PEERS_S3_GEN", os.path.join("target", "release", "s3_transfer"))
VENVS = os.environ.get("VENVS") or os.path.expanduser("~/.cache/mlops/venvs")
MOTO = os.environ.get("MLOPS_MOTO") or os.path.join(VENVS, "moto-5.2.5", "bin", "moto_server")
BUCKET = "peers-s3"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}


def big_label():
    return f"{BIG_MIB // 1024} GiB file" if BIG_MIB % 1024 == 0 else f"{BIG_MIB} MiB file"


def cases():
    """The four case names, as our side prints them."""
    small = f"{SMALL:,} files of {SMALL_KIB} KiB"
    return {"push_big": f"push one {big_label()}", "pull_big": f"pull one {big_label()}",
            "push_small": f"push {small}", "pull_small": f"pull {small}"}


# Our JSON lines go to the real stdout; everything else the tools print (on fd 1 too) goes to
# stderr, as the protocol asks.
OUT = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr


def log(msg):
    print(f"[s3 workload] {msg}", file=sys.stderr, flush=True)


def emit(side, case, variant, seconds, nbytes, note=None):
    parts = [f"{nbytes / 1048576 / seconds:.0f} MiB/s"]
    if note:
        parts.append(note)
    line = {"suite": SUITE, "case": case, "variant": variant, "side": side,
            "value": seconds, "unit": "s", "count": 1, "note": "; ".join(parts)}
    print(json.dumps(line), file=OUT, flush=True)


def gen(dirpath):
    """Writes DIR/big.bin and DIR/small/ with our generator."""
    log(f"generating {BIG_MIB} MiB + {SMALL} x {SMALL_KIB} KiB in {dirpath}")
    subprocess.run([GEN, "gen", dirpath, "--big-mib", str(BIG_MIB), "--small", str(SMALL),
                    "--small-kib", str(SMALL_KIB)], check=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    """A fresh `moto_server -H 127.0.0.1 -p PORT` with the bucket created; stop() ends it."""

    def __init__(self):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{MOTO} on port {self.port} did not start")
                time.sleep(0.1)
        req = urllib.request.Request(f"{self.endpoint}/{BUCKET}", method="PUT", data=b"")
        with urllib.request.urlopen(req, timeout=10):
            pass
        log(f"moto at {self.endpoint}, bucket {BUCKET}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def tree_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total
