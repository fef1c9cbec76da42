#!/usr/bin/env bash
# Setup of the `arrow` peer suite (and DuckDB's side of `parquet`): the pinned pydata venv of
# .ci/run under $MLOPS_VENV_DIR (default $HOME/.cache/mlops/venvs), created or reused when it
# already has pyarrow 26.0.1, DuckDB 2.0.0 and Polars 2.1.0.
# Idempotent. Run from the repository root (the driver does).
set -euo pipefail
peers="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../common.sh
. "$peers/common.sh"

PYARROW_VERSION=26.0.1
DUCKDB_VERSION=2.0.0
POLARS_VERSION=2.1.0
PEER_VENV_IMPORT="pyarrow duckdb polars" peer_venv \
    "pydata-pyarrow-$PYARROW_VERSION-duckdb-$DUCKDB_VERSION-polars-$POLARS_VERSION" \
    "pyarrow==$PYARROW_VERSION" "duckdb==$DUCKDB_VERSION" "polars==$POLARS_VERSION" >/dev/null
