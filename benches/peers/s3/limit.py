#!/usr/bin/env python3
"""The server's limit in the `s3` peer suite: a plain parallel boto3 upload and download of the
same bytes, at the same concurrency (16), against a fresh moto server.

- big file: `upload_file` / `download_file` with a TransferConfig of 8 MiB parts (our part
  size) and 16 threads;
- small files: 16 threads, one `put_object` / `get_object` (written to a file) per file.

Nothing else: no hashing of ours, no cache, no checkout. Run from the repository root with the
moto venv's python (it has boto3); PEERS_WORK is the scratch folder, PEERS_QUICK=1 shrinks the
data. One JSON line per case on stdout.
"""

import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3_common as c  # noqa: E402

import boto3  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.config import Config  # noqa: E402

SIDE = "boto3"
VARIANT = f"boto3 {boto3.__version__}, 16 threads (the server's limit)"


def main():
    os.environ.update(c.CREDENTIALS)
    work = tempfile.mkdtemp(prefix="s3-boto3-", dir=os.environ.get("PEERS_WORK"))
    data = os.path.join(work, "data")
    c.gen(data)
    server = c.Moto()
    try:
        s3 = boto3.client("s3", endpoint_url=server.endpoint,
                          config=Config(max_pool_connections=c.JOBS + 4,
                                        retries={"max_attempts": 3}))
        names = c.cases()
        big = os.path.join(data, "big.bin")
        nbig = os.path.getsize(big)
        tc = TransferConfig(multipart_threshold=c.PART, multipart_chunksize=c.PART,
                            max_concurrency=c.JOBS)
        t = time.perf_counter()
        s3.upload_file(big, c.BUCKET, "big/big.bin", Config=tc)
        c.emit(SIDE, names["push_big"], VARIANT, time.perf_counter() - t, nbig)
        out = os.path.join(work, "big-down.bin")
        t = time.perf_counter()
        s3.download_file(c.BUCKET, "big/big.bin", out, Config=tc)
        el = time.perf_counter() - t
        assert os.path.getsize(out) == nbig
        c.emit(SIDE, names["pull_big"], VARIANT, el, nbig, "download only")

        small = os.path.join(data, "small")
        rels = sorted(os.path.relpath(os.path.join(r, f), small)
                      for r, _, fs in os.walk(small) for f in fs)
        nsmall = c.tree_bytes(small)

        def put(rel):
            with open(os.path.join(small, rel), "rb") as f:
                s3.put_object(Bucket=c.BUCKET, Key=f"small/{rel}", Body=f.read())

        t = time.perf_counter()
        with ThreadPoolExecutor(c.JOBS) as pool:
            list(pool.map(put, rels))
        c.emit(SIDE, names["push_small"], VARIANT, time.perf_counter() - t, nsmall)

        down = os.path.join(work, "small-down")
        for d in {os.path.dirname(r) for r in rels}:
            os.makedirs(os.path.join(down, d), exist_ok=True)

        def get(rel):
            body = s3.get_object(Bucket=c.BUCKET, Key=f"small/{rel}")["Body"].read()
            with open(os.path.join(down, rel), "wb") as f:
                f.write(body)

        t = time.perf_counter()
        with ThreadPoolExecutor(c.JOBS) as pool:
            list(pool.map(get, rels))
        el = time.perf_counter() - t
        assert c.tree_bytes(down) == nsmall
        c.emit(SIDE, names["pull_small"], VARIANT, el, nsmall, "download only")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
