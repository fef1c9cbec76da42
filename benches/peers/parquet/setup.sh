#!/usr/bin/env bash
# Setup of the `parquet` peer suite: two venvs under $MLOPS_VENV_DIR (default
# $HOME/.cache/mlops/venvs), created or reused when they already have the pinned versions:
# feast-0.67.0 (Feast's file offline store) and the pinned pydata venv of .ci/run
# (pyarrow 26.0.1, DuckDB 2.0.0, Polars 2.1.0), which the `arrow` suite uses too.
# Idempotent. Run from the repository root (the driver does).
set -euo pipefail
peers="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../common.sh
. "$peers/common.sh"

FEAST_VERSION=0.67.0
PEER_VENV_IMPORT="feast" peer_venv "feast-$FEAST_VERSION" "feast==$FEAST_VERSION" >/dev/null
"$peers/arrow/setup.sh"
