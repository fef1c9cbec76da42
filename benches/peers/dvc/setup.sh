#!/usr/bin/env bash
# Setup of the `dvc` peer suite: DVC's venv, $MLOPS_VENV_DIR/dvc-3.67.1 (default
# $HOME/.cache/mlops/venvs), created with `pip install dvc==3.67.1` or reused when it already
# has that version and `import dvc` works; and the tools the workload runs (git, sha256sum, cp,
# find, xargs).
# Idempotent. Run from the repository root (the driver does).
set -euo pipefail
peers="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../common.sh
. "$peers/common.sh"

DVC_VERSION=3.67.1
PEER_VENV_IMPORT="dvc" peer_venv "dvc-$DVC_VERSION" "dvc==$DVC_VERSION" >/dev/null

for tool in git sha256sum cp find xargs; do
    command -v "$tool" >/dev/null || { echo "the dvc suite needs $tool on PATH" >&2; exit 1; }
done
