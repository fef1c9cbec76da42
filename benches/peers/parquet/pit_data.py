"""The data of the `parquet` and `arrow` peer suites, shared by their Python sides.

`write(work)` runs our binary untimed (`target/release/parquet_pit write DIR`, or under
$CARGO_TARGET_DIR) so that every side reads the same Parquet files: DIR/store/user_features/
*.parquet (1M feature rows in 10 files), DIR/entity_df.parquet (100,000 entity rows),
DIR/meta.json, DIR/validate.parquet (1M rows x 10 columns). `expected_nulls(meta)` is the
number of entity rows a correct join leaves without features (the truth of parquet_pit.rs).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def binary():
    target = os.environ.get("CARGO_TARGET_DIR") or str(ROOT / "target")
    return str(Path(target) / "release" / "parquet_pit")


def write(work):
    """Writes the files into WORK/data (untimed) and returns (directory, meta)."""
    d = os.path.join(work, "data")
    t = time.perf_counter()
    subprocess.run([binary(), "write", d], check=True, stdout=sys.stderr)
    print(f"[pit_data] files written by parquet_pit in {time.perf_counter() - t:.1f} s",
          file=sys.stderr, flush=True)
    with open(os.path.join(d, "meta.json")) as f:
        return d, json.load(f)


def expected_version(ts, meta):
    base, hour, ttl, versions = meta["base"], meta["hour"], meta["ttl_s"], meta["versions"]
    if ts < base:
        return None
    v = min((ts - base) // hour, versions - 1)
    return v if ts - (base + v * hour) <= ttl else None


def frame_ts(i, meta):
    return meta["base"] - 1800 + (i * 104_729) % (13 * 3600)


def expected_nulls(meta):
    return sum(expected_version(frame_ts(i, meta), meta) is None for i in range(meta["frame"]))


def value(i, j, v, features):
    return float(i * features + j) + v * 0.25


def case(meta):
    return (f"point-in-time join {meta['frame']} entity rows x "
            f"{meta['entities'] * meta['versions']} feature rows from parquet")
