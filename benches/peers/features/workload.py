#!/usr/bin/env python3
"""The Feast side of the `features` peer suite.

A local Feast repository as its quickstart makes one (feature_store.yaml: local provider, SQLite
online store, file offline store over parquet), driven in-process through the Python SDK:

- offline data (untimed, the user's parquet): 100,000 entities x 10 hourly versions = 1M rows of
  8 float64 features, the last version one hour old; the feature view's TTL is 2 hours;
- materialize the newest version (100,000 entities x 8 features) into the online store;
- online reads of 1 and of 100 entities x 8 features (1,000 calls each after 20 warm-up calls;
  p50 and p99 are separate cases);
- point-in-time join of 100,000 entity rows against the 1M feature rows (`to_df()` included),
  with a row-count check: entity rows whose features all lie outside the TTL window (before the
  first version, or more than 2 hours after the last) are part of the frame, and a correct join
  keeps every entity row.

The same numbers as `peers_features` (our side). PEERS_QUICK=1 shrinks them; PEERS_WORK is the
scratch folder. One JSON line per measurement on stdout.
"""

import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from datetime import datetime, timedelta, timezone

SUITE = "features"
QUICK = os.environ.get("PEERS_QUICK", "") not in ("", "0")
ENTITIES = 1_000 if QUICK else 100_000
VERSIONS = 10
FRAME = 1_000 if QUICK else 100_000
CALLS = 50 if QUICK else 1_000
WARMUP = 20
FEATURES = 8
TTL_S = 2 * 3600
HOUR = 3600


def log(msg):
    print(f"[features workload] {msg}", file=sys.stderr, flush=True)


# Our JSON lines go to the real stdout; everything else the tools print (on fd 1 too) goes to
# stderr, as the protocol asks.
OUT = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr


def emit(case, variant, value, unit, count=1, note=None, check=None):
    line = {"suite": SUITE, "case": case, "variant": variant, "side": "feast",
            "value": value, "unit": unit, "count": count}
    if check is not None:
        line["check"] = check
    if note:
        line["note"] = note
    print(json.dumps(line), file=OUT, flush=True)


def key(i):
    return f"user_{i:07}"


def value(i, j, v):
    """Feature j of entity i at version v (exact in float64)."""
    return float(i * FEATURES + j) + v * 0.25


def frame_row(i, base):
    """Entity row i of the point-in-time frame: (entity index, timestamp in seconds)."""
    return (i * 7919) % ENTITIES, base - 1800 + (i * 104_729) % (13 * HOUR)


def expected_version(ts, base):
    """The version a correct point-in-time join picks for an entity row at ts, or None."""
    if ts < base:
        return None
    v = min((ts - base) // HOUR, VERSIONS - 1)
    return v if ts - (base + v * HOUR) <= TTL_S else None


def pick(n, s):
    return [key((s * 7919 + i * 104_729) % ENTITIES) for i in range(n)]


def percentile(sorted_values, p):
    # Nearest rank, as our side computes it.
    k = max(0, min(len(sorted_values) - 1, -(-len(sorted_values) * p // 100) - 1))
    return sorted_values[int(k)]


def main():
    base_dir = os.environ.get("PEERS_WORK") or tempfile.mkdtemp(prefix="peers-features-")
    work = os.path.join(base_dir, f"feast-{os.getpid()}")
    os.makedirs(work)
    try:
        workload(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def workload(work):
    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    import pandas as pd
    import feast
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, String
    log(f"imports {time.perf_counter() - t0:.1f} s")

    variant = f"feast {feast.__version__}, SQLite online + file offline store"
    now = int(time.time())
    base = now - VERSIONS * HOUR  # versions at base + v hours; the newest is one hour old

    # The user's offline data: one parquet file.
    data = os.path.join(work, "data")
    os.makedirs(data)
    t0 = time.perf_counter()
    n = ENTITIES * VERSIONS
    cols = {"user_id": [key(i) for i in range(ENTITIES)] * VERSIONS,
            "event_timestamp": pd.to_datetime(
                [base + v * HOUR for v in range(VERSIONS) for _ in range(ENTITIES)],
                unit="s", utc=True)}
    for j in range(FEATURES):
        cols[f"f{j}"] = [value(i, j, v) for v in range(VERSIONS) for i in range(ENTITIES)]
    parquet = os.path.join(data, "user_features.parquet")
    pd.DataFrame(cols).to_parquet(parquet, index=False)
    del cols
    log(f"wrote {n} rows to parquet in {time.perf_counter() - t0:.1f} s")

    repo = os.path.join(work, "repo")
    os.makedirs(repo)
    with open(os.path.join(repo, "feature_store.yaml"), "w") as f:
        f.write(f"""project: peers
registry: {os.path.join(data, "registry.db")}
provider: local
online_store:
  type: sqlite
  path: {os.path.join(data, "online.db")}
offline_store:
  type: file
entity_key_serialization_version: 3
""")
    store = FeatureStore(repo_path=repo)
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING)
    source = FileSource(path=parquet, timestamp_field="event_timestamp")
    view = FeatureView(
        name="user_features", entities=[user], ttl=timedelta(seconds=TTL_S),
        schema=[Field(name="user_id", dtype=String)]
        + [Field(name=f"f{j}", dtype=Float64) for j in range(FEATURES)],
        source=source, online=True)
    store.apply([user, view])
    refs = [f"user_features:f{j}" for j in range(FEATURES)]

    # Materialize the newest version: 100,000 entities x 8 features.
    utc = timezone.utc
    t = time.perf_counter()
    store.materialize(start_date=datetime.fromtimestamp(base + (VERSIONS - 1) * HOUR, utc),
                      end_date=datetime.fromtimestamp(now + 1, utc))
    el = time.perf_counter() - t
    emit(f"materialize {ENTITIES:,} entities x 8 features", variant, el, "s",
         note="newest of 10 versions in the offline store, into the online store")

    # Online reads.
    for n_keys in (1, 100):
        sets = [pick(n_keys, s) for s in range(64)]
        times = []
        for c in range(WARMUP + CALLS):
            rows = [{"user_id": k} for k in sets[c % 64]]
            t = time.perf_counter()
            out = store.get_online_features(features=refs, entity_rows=rows).to_dict()
            el = time.perf_counter() - t
            if c >= WARMUP:
                times.append(el)
        # The last response holds the newest version of each entity.
        got = out["f7"]
        want = [value(int(k[5:]), 7, VERSIONS - 1) for k in sets[(WARMUP + CALLS - 1) % 64]]
        if got != want:
            raise SystemExit(f"online read returned {got[:3]}..., expected {want[:3]}...")
        times.sort()
        for p in (50, 99):
            emit(f"online read {n_keys} {'entity' if n_keys == 1 else 'entities'} x 8 features, "
                 f"p{p}", variant, percentile(times, p) * 1e6, "us",
                 note=f"one call's latency, p{p} of {CALLS} calls; "
                      "get_online_features(...).to_dict()")

    # Point-in-time join.
    idx, ts = zip(*(frame_row(i, base) for i in range(FRAME)))
    entity_df = pd.DataFrame({"user_id": [key(e) for e in idx],
                              "event_timestamp": pd.to_datetime(list(ts), unit="s", utc=True)})
    with_features = sum(expected_version(s, base) is not None for s in ts)
    t = time.perf_counter()
    df = store.get_historical_features(entity_df=entity_df, features=refs).to_df()
    el = time.perf_counter() - t
    # Check the values Feast did return against the truth.
    wrong = 0
    present = 0
    for uid, stamp, f3 in zip(df["user_id"], df["event_timestamp"], df["f3"]):
        s = int(stamp.timestamp())
        v = expected_version(s, base)
        want = None if v is None else value(int(uid[5:]), 3, v)
        got = None if pd.isna(f3) else float(f3)
        present += got is not None
        wrong += got != want
    emit(f"point-in-time join {FRAME:,} entity rows x {ENTITIES * VERSIONS:,} feature rows",
         variant, el, "s", check={"rows": len(df), "expected": FRAME},
         note=f"{present} rows with features (a correct join: {with_features}); "
              f"{wrong} returned rows with a wrong value; get_historical_features(...).to_df()")


if __name__ == "__main__":
    main()
