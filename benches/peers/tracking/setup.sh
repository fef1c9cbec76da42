#!/usr/bin/env bash
# Creates (or reuses) the pinned MLflow venv of the tracking and registry peer suites.
set -euo pipefail
cd "$(dirname "$0")/../../.."
# shellcheck source=../common.sh
. benches/peers/common.sh
PEER_VENV_IMPORT=mlflow peer_venv mlflow-3.17.2 mlflow==3.17.2 >/dev/null
