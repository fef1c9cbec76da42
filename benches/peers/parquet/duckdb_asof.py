#!/usr/bin/env python3
"""DuckDB's side of the Parquet point-in-time join (`benches/src/bin/parquet_pit.rs`).

Run `parquet_pit --keep DIR` first: it writes the offline store (DIR/store/user_features/*.parquet,
1M rows), the entity frame (DIR/entity_df.parquet, 100,000 rows) and DIR/meta.json. This script
joins the same files with DuckDB's `ASOF LEFT JOIN` (the newest feature row at or before each
entity row, per user), applies the TTL as a CASE on the time gap, fetches the result as an Arrow
table (as `to_df()`/`get_historical_features` materialise theirs), and checks the rows and nulls
against the truth. 2 threads, as the issue measured. One JSON line on stdout.

    /root/.cache/mlops/venvs/pydata/bin/python benches/peers/features/duckdb_asof.py DIR
"""

import json
import os
import sys
import time

import duckdb


def main():
    d = sys.argv[1]
    meta = json.load(open(os.path.join(d, "meta.json")))
    base, ttl, hour, versions = meta["base"], meta["ttl_s"], meta["hour"], meta["versions"]
    feats = [f"f{j}" for j in range(meta["features"])]
    store = os.path.join(d, "store", "user_features", "*.parquet")
    frame = os.path.join(d, "entity_df.parquet")
    cols = ", ".join(
        f"CASE WHEN e.event_timestamp - f.event_timestamp <= INTERVAL {ttl} SECOND THEN f.{c} END AS {c}"
        for c in feats
    )
    query = f"""
        SELECT e.user_id, e.event_timestamp, {cols}
        FROM read_parquet('{frame}') e
        ASOF LEFT JOIN read_parquet('{store}') f
          ON e.user_id = f.user_id AND e.event_timestamp >= f.event_timestamp
    """
    con = duckdb.connect()
    con.execute("SET threads = 2")
    t = time.perf_counter()
    rel = con.sql(query)
    # DuckDB 2 names it to_arrow_table; 1.x arrow().
    table = (getattr(rel, "to_arrow_table", None) or rel.arrow)()
    elapsed = time.perf_counter() - t

    # The truth, as parquet_pit computes it.
    expected_nulls = 0
    for i in range(meta["frame"]):
        ts = base - 1800 + (i * 104_729) % (13 * 3600)
        if ts < base:
            expected_nulls += 1
            continue
        v = min((ts - base) // hour, versions - 1)
        if ts - (base + v * hour) > ttl:
            expected_nulls += 1
    nulls = table.column("f3").null_count
    print(json.dumps({
        "suite": "features",
        "case": f"point-in-time join {meta['frame']} entity rows x {meta['entities'] * versions} feature rows from parquet",
        "variant": f"duckdb {duckdb.__version__} ASOF LEFT JOIN, 2 threads",
        "side": "duckdb",
        "value": elapsed,
        "unit": "s",
        "count": 1,
        "check": {"rows": table.num_rows, "expected": meta["frame"]},
        "note": f"{nulls} nulls (a correct join: {expected_nulls})",
    }))
    if table.num_rows != meta["frame"] or nulls != expected_nulls:
        sys.exit("duckdb_asof: wrong answer")


if __name__ == "__main__":
    main()
