#!/usr/bin/env bash
# Build the PaddleNLP reference environment that the live UIE-M comparison
# (tests/models/ernie_m/test_uie_taskflow.py) runs Taskflow in, as a
# subprocess. Paddle cannot share a process (or a venv, given its pins) with
# TensorFlow and torch, hence a venv of its own.
#
# PaddleNLP 2.8.1 on paddlepaddle 2.6.2: paddle 3.x cannot run 2.8.1's
# Taskflow (it exports `inference.json`, then opens `inference.pdmodel`).
# The other pins keep PaddleNLP 2.8.1 importable.
#
# Usage: tests/paddle_reference/setup_venv.sh [VENV_DIR]
# The directory defaults to $KERAS_ENCODERS_PADDLE_VENV, else .venv-paddle in
# the repository root (the path the tests look at). Re-running is cheap when
# the venv already works.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${1:-${KERAS_ENCODERS_PADDLE_VENV:-$ROOT/.venv-paddle}}"

check() {
    # scipy.linalg before paddle: paddle's bundled libraries otherwise break it.
    "$VENV/bin/python" -c "import scipy.linalg, paddle, paddlenlp; from paddlenlp import Taskflow" \
        >/dev/null 2>&1
}

if [ -x "$VENV/bin/python" ] && check; then
    echo "paddle reference venv ready: $VENV"
    exit 0
fi
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q \
    "paddlepaddle==2.6.2" "paddlenlp==2.8.1" \
    "huggingface_hub==0.25.2" "aistudio-sdk==0.2.6" "datasets==2.21.0" "pyarrow==17.0.0"
check || { echo "paddle reference venv at $VENV does not import paddlenlp's Taskflow" >&2; exit 1; }
echo "paddle reference venv ready: $VENV"
