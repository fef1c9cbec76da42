#!/usr/bin/env python3
"""Feast's side of the `parquet` peer suite: the point-in-time join of our Parquet files with
Feast's file offline store.

The files are parquet_pit's (see pit_data.py: written untimed by our binary into
$PEERS_WORK/data). A local Feast repository as its quickstart makes one (local provider, file
offline store, SQLite online store unused), a `FileSource` on the offline store's directory of
Parquet files (`store/user_features/`, 10 files, 1M rows), the feature view's TTL 2 hours.
Timed: `get_historical_features(entity_df, 8 features).to_df()` with the entity frame read
(untimed) from `entity_df.parquet` with pandas. The rows, nulls and values are checked against
the truth and reported: Feast's file offline store drops the entity rows without a feature row
inside the TTL, so its row check fails (the values it returns are right). One JSON line on
stdout.
"""

import json
import os
import sys
import tempfile
import time
import warnings
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pit_data  # noqa: E402


def log(msg):
    print(f"[feast_pit] {msg}", file=sys.stderr, flush=True)


def main():
    work = os.environ.get("PEERS_WORK") or tempfile.mkdtemp()
    d, meta = pit_data.write(work)
    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    import pandas as pd
    import feast
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, String
    log(f"imports {time.perf_counter() - t0:.1f} s")

    repo = os.path.join(work, "repo")
    os.makedirs(repo)
    with open(os.path.join(repo, "feature_store.yaml"), "w") as f:
        f.write(f"""project: peers
registry: {os.path.join(work, "registry.db")}
provider: local
online_store:
  type: sqlite
  path: {os.path.join(work, "online.db")}
offline_store:
  type: file
entity_key_serialization_version: 3
""")
    store = FeatureStore(repo_path=repo)
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING)
    source = FileSource(path=os.path.join(d, "store", "user_features"),
                        timestamp_field="event_timestamp")
    nf = meta["features"]
    view = FeatureView(
        name="user_features", entities=[user], ttl=timedelta(seconds=meta["ttl_s"]),
        schema=[Field(name="user_id", dtype=String)]
        + [Field(name=f"f{j}", dtype=Float64) for j in range(nf)],
        source=source, online=False)
    store.apply([user, view])
    refs = [f"user_features:f{j}" for j in range(nf)]
    entity_df = pd.read_parquet(os.path.join(d, "entity_df.parquet"))

    t = time.perf_counter()
    df = store.get_historical_features(entity_df=entity_df, features=refs).to_df()
    el = time.perf_counter() - t

    wrong = present = 0
    for uid, stamp, f3 in zip(df["user_id"], df["event_timestamp"], df["f3"]):
        v = pit_data.expected_version(int(stamp.timestamp()), meta)
        want = None if v is None else pit_data.value(int(uid[5:]), 3, v, nf)
        got = None if pd.isna(f3) else float(f3)
        present += got is not None
        wrong += got != want
    expected_nulls = pit_data.expected_nulls(meta)
    print(json.dumps({
        "suite": "parquet",
        "case": pit_data.case(meta),
        "variant": f"feast {feast.__version__} file offline store",
        "side": "feast",
        "value": el,
        "unit": "s",
        "count": 1,
        "check": {"rows": len(df), "expected": meta["frame"]},
        "note": f"{present} rows with features, {len(df) - present} nulls (a correct join: "
                f"{meta['frame'] - expected_nulls} with features, {expected_nulls} nulls); "
                f"{wrong} returned rows with a wrong value; get_historical_features(...).to_df()",
    }))
    if wrong:
        sys.exit("feast_pit: wrong values")


if __name__ == "__main__":
    main()
