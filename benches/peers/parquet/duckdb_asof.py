#!/usr/bin/env python3
"""DuckDB's side of the `parquet` peer suite: the point-in-time join of our Parquet files.

The files are parquet_pit's (see pit_data.py: written untimed by our binary into
$PEERS_WORK/data, or read from DIR when given). Timed: DuckDB's `ASOF LEFT JOIN` of the entity
frame (100,000 rows) against the offline store's 1M rows (the newest feature row at or before
each entity row, per user), the TTL applied as a CASE on the time gap, fetched as an Arrow
table (as `get_historical_features` materialises ours). 2 threads. The rows and nulls are
checked against the truth. One JSON line on stdout.

    $VENVS/pydata-pyarrow-26.0.1-duckdb-2.0.0-polars-2.1.0/bin/python \
        benches/peers/parquet/duckdb_asof.py [DIR]
"""

import json
import os
import sys
import tempfile
import time

import duckdb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pit_data  # noqa: E402


def main():
    if len(sys.argv) > 1:
        d = sys.argv[1]
        meta = json.load(open(os.path.join(d, "meta.json")))
    else:
        d, meta = pit_data.write(os.environ.get("PEERS_WORK") or tempfile.mkdtemp())
    ttl = meta["ttl_s"]
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

    expected_nulls = pit_data.expected_nulls(meta)
    nulls = table.column("f3").null_count
    # The values: f3 of every returned row against the truth.
    wrong = 0
    for uid, ts, f3 in zip(table.column("user_id").to_pylist(),
                           table.column("event_timestamp").to_pylist(),
                           table.column("f3").to_pylist()):
        v = pit_data.expected_version(int(ts.timestamp()), meta)
        want = None if v is None else pit_data.value(int(uid[5:]), 3, v, meta["features"])
        wrong += f3 != want
    print(json.dumps({
        "suite": "parquet",
        "case": pit_data.case(meta),
        "variant": f"duckdb {duckdb.__version__} ASOF LEFT JOIN, 2 threads",
        "side": "duckdb",
        "value": elapsed,
        "unit": "s",
        "count": 1,
        "check": {"rows": table.num_rows, "expected": meta["frame"]},
        "note": f"{nulls} nulls (a correct join: {expected_nulls}); {wrong} wrong values; "
                "fetched as an Arrow table",
    }))
    if table.num_rows != meta["frame"] or nulls != expected_nulls or wrong:
        sys.exit("duckdb_asof: wrong answer")


if __name__ == "__main__":
    main()
