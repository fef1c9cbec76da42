#!/usr/bin/env bash
# Setup of the `features` peer suite: Feast's venv, $MLOPS_VENV_DIR/feast-0.67.0 (default
# $HOME/.cache/mlops/venvs), created with `pip install feast==0.67.0` or reused when it already
# has that version and `import feast` works (Feast brings pandas, pyarrow and dask, which the
# workload uses).
# Idempotent. Run from the repository root (the driver does).
set -euo pipefail
peers="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../common.sh
. "$peers/common.sh"

FEAST_VERSION=0.67.0
PEER_VENV_IMPORT="feast" peer_venv "feast-$FEAST_VERSION" "feast==$FEAST_VERSION" >/dev/null
