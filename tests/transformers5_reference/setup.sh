#!/usr/bin/env bash
# Build the transformers 5.x reference that tests/hf_export/test_transformers5.py
# loads ConvBERT exports with (ConvBERT is the one family 5.x still ships;
# NEZHA and ERNIE-M were removed after 4.57).
#
# Not a venv: a folder of packages (requirements.txt, installed with
# --no-deps) put in front of the main venv on PYTHONPATH, as .ci/run does
# with keras-hub-nightly. It reuses the main venv's torch and numpy, so it
# costs ~25 MB of downloads and seconds, and pip never pulls another torch.
#
# Usage: tests/transformers5_reference/setup.sh [DIR]
# DIR defaults to $KERAS_ENCODERS_TRANSFORMERS5, else .transformers5 in the
# repository root (where the test looks). Run it with the main venv's python
# first on PATH (or PYTHON=...). Re-running is cheap when the folder works.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TARGET="${1:-${KERAS_ENCODERS_TRANSFORMERS5:-$ROOT/.transformers5}}"
PYTHON="${PYTHON:-python}"
VERSION="$(sed -n 's/^transformers==//p' "$HERE/requirements.txt")"

check() {
    PYTHONPATH="$TARGET" "$PYTHON" -c "
import transformers, torch
assert transformers.__version__ == '$VERSION', transformers.__version__
assert transformers.__file__.startswith('$TARGET'), transformers.__file__
from transformers import AutoTokenizer, ConvBertModel" >/dev/null 2>&1
}

if [ -d "$TARGET" ] && check; then
    echo "transformers $VERSION reference ready: $TARGET"
    exit 0
fi
rm -rf "$TARGET"
"$PYTHON" -m pip install -q --no-deps --target "$TARGET" -r "$HERE/requirements.txt"
check || { echo "transformers $VERSION at $TARGET does not import (see requirements.txt)" >&2; exit 1; }
echo "transformers $VERSION reference ready: $TARGET"
