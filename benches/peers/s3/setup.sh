#!/usr/bin/env bash
# Setup of the `s3` peer suite, idempotent, run from the repository root (the driver does):
# - the server and the limit side: $MLOPS_VENV_DIR/moto-5.2.5 (moto[server]==5.2.5, and
#   boto3==1.44.8 for the plain parallel upload/download);
# - DVC with its S3 plugin: $MLOPS_VENV_DIR/dvc-s3-3.3.0 (dvc==3.67.1, dvc-s3==3.3.0);
# - our side: `cargo build --release -p mlops-benches --features s3 --bin s3_transfer` (the
#   driver's own build leaves out the binaries that need a feature); the peer scripts use its
#   `gen` command for the data;
# - git (DVC works in a git repository).
set -euo pipefail
peers="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../common.sh
. "$peers/common.sh"

MOTO_VERSION=5.2.5
BOTO3_VERSION=1.44.8
DVC_VERSION=3.67.1
DVC_S3_VERSION=3.3.0
PEER_VENV_IMPORT="moto boto3" peer_venv "moto-$MOTO_VERSION" \
    "moto[server]==$MOTO_VERSION" "boto3==$BOTO3_VERSION" >/dev/null
PEER_VENV_IMPORT="dvc dvc_s3" peer_venv "dvc-s3-$DVC_S3_VERSION" \
    "dvc==$DVC_VERSION" "dvc-s3==$DVC_S3_VERSION" >/dev/null

command -v git >/dev/null || { echo "the s3 suite needs git on PATH" >&2; exit 1; }
cargo build --release -p mlops-benches --features s3 --bin s3_transfer >&2
