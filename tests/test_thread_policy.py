"""Importing keras_encoders first makes torch's OpenMP threads sleep while
waiting (they would otherwise spin and take the cores from TensorFlow's
tokenizer threads: ~20x slower tiny forward passes on 2 cores)."""

import os
import subprocess
import sys

import keras
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Backend-independent; run once, where it matters.
@pytest.mark.skipif(keras.config.backend() != "torch", reason="checked on the torch backend")
def test_import_sets_a_passive_wait_policy_unless_the_user_chose():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    code = (
        "import os; os.environ.setdefault('KERAS_BACKEND', 'torch'); "
        "import keras_encoders; print(os.environ['OMP_WAIT_POLICY'])"
    )
    chosen = subprocess.run(
        [sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    default = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT,
        timeout=300,
    )
    assert chosen.stdout.split()[-1:] == ["ACTIVE"], chosen.stderr[-2000:]
    assert default.stdout.split()[-1:] == ["PASSIVE"], default.stderr[-2000:]
