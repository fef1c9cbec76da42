#!/usr/bin/env python3
"""Polars' side of the `arrow` peer suite: the 10 expectations of parquet_pit's validation,
as Polars expressions over the same Parquet file.

The file is parquet_pit's `validate.parquet` (1M rows: user_id, event_timestamp, f0..f7),
written untimed by our binary into $PEERS_WORK/data (see ../parquet/pit_data.py). Timed:
`pl.read_parquet` and one `select` computing, per expectation, the unexpected count as Great
Expectations defines it (user_id not null; user_id matching `^user_[0-9]{7}$`; f0..f7 between
0 and 1e7, nulls and NaN not evaluated). The counts are checked (every expectation met). One
JSON line on stdout.
"""

import json
import os
import sys
import tempfile
import time

import polars as pl

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "parquet"))
import pit_data  # noqa: E402


def main():
    d, meta = pit_data.write(os.environ.get("PEERS_WORK") or tempfile.mkdtemp())
    path = os.path.join(d, "validate.parquet")
    feats = [f"f{j}" for j in range(meta["features"])]
    t = time.perf_counter()
    df = pl.read_parquet(path)
    exprs = [
        pl.col("user_id").null_count().alias("not_null(user_id)"),
        (~pl.col("user_id").str.contains(r"^user_[0-9]{7}$")).sum().alias("regex(user_id)"),
    ]
    for c in feats:
        x = pl.col(c)
        exprs.append((x.is_not_nan() & ~x.is_between(0.0, 1e7)).sum().alias(f"between({c})"))
    counts = df.select(exprs).row(0, named=True)
    elapsed = time.perf_counter() - t
    n = df.height
    unexpected = sum(counts.values())
    print(json.dumps({
        "suite": "arrow",
        "case": f"validate {n} rows x 10 columns read from parquet",
        "variant": f"polars {pl.__version__} read_parquet + 10 expressions",
        "side": "polars",
        "value": elapsed,
        "unit": "s",
        "count": 1,
        "note": f"10 expectations, {n} rows, {unexpected} unexpected values; "
                f"{pl.thread_pool_size()} threads",
    }))
    if unexpected:
        sys.exit(f"polars_validate: {counts}")


if __name__ == "__main__":
    main()
