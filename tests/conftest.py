"""Shared pytest configuration: backend-aware helpers, the `large` and
`backend_independent` markers, assets, JAX's compilation cache, and the
imported frameworks frozen out of garbage collection."""

import atexit
import gc
import os
import shutil
import tempfile

# JAX compiles every eager op once per shape and dtype (about 30 ms each on
# XLA:CPU): most of a tiny model's first call (16 of 24 s in ConvBERT's parity
# tests). JAX's own persistent compilation cache lets the xdist workers and
# the tests' subprocesses compile each one once. The process that starts the run
# (xdist's controller) makes the folder and removes it when it exits; the
# workers and subprocesses inherit it through the environment. Set before
# keras imports jax; a cache folder the user set wins.
if os.environ.get("KERAS_BACKEND") == "jax" and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="keras_encoders_jax_cache_")
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

SHARED = os.environ.get(
    "KERAS_ENCODERS_SHARED",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared")),
)
ASSETS = os.path.join(SHARED, "assets")


def pytest_addoption(parser):
    parser.addoption(
        "--run-large", action="store_true", default=False, help="run `large` tests"
    )


# The backend that runs the `backend_independent` tests.
INDEPENDENT_ON = "tensorflow"


def pytest_collection_modifyitems(config, items):
    large = pytest.mark.skip(reason="full-size check: pass --run-large")
    elsewhere = pytest.mark.skip(
        reason=f"backend-independent: checked under KERAS_BACKEND={INDEPENDENT_ON}"
    )
    run_large = config.getoption("--run-large")
    on_independent = keras.config.backend() == INDEPENDENT_ON
    for item in items:
        if "large" in item.keywords and not run_large:
            item.add_marker(large)
        if "backend_independent" in item.keywords and not on_independent:
            item.add_marker(elsewhere)


def pytest_collection_finish(session):
    # Every test module is imported now, and with them TensorFlow, JAX, torch
    # and transformers: millions of objects that live as long as the process
    # and that every full collection walks again (about 0.3 s each), Python's
    # own and those Keras runs, such as one per variable `quantize()` replaces.
    # Freezing puts what exists now out of the collector's reach; objects the
    # tests make are collected as before. (Our tasks' `quantize` freezes for
    # itself in a process that has not: tests/test_compiled_and_quantized.py.)
    # The suites took 16%, 14% and 15% less time (JAX, TensorFlow, torch).
    gc.freeze()


def asset(*parts):
    path = os.path.join(ASSETS, *parts)
    if not os.path.exists(path):
        pytest.fail(f"Missing shared asset {path} (set KERAS_ENCODERS_SHARED).")
    return path



def missing_reference(message):
    """A reference environment built by a setup script is missing: skip,
    except under CI (`CI=true`), where .ci/run builds it and its absence fails."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)

def to_numpy(x):
    if isinstance(x, dict):
        return {k: to_numpy(v) for k, v in x.items()}
    return np.asarray(keras.ops.convert_to_numpy(x))


def max_abs_diff(a, b):
    return float(np.max(np.abs(to_numpy(a).astype(np.float64) - np.asarray(b, np.float64))))


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:
        pass


def assert_round_trips(task, x, path, atol=1e-6):
    """`.keras` save/load and `save_to_preset`/`from_preset` both reproduce
    the task's outputs on `x` (and the task's own class comes back)."""
    def run(model):  # dicts are packed inputs: call the model, bypassing preprocessing
        if isinstance(x, dict):
            return to_numpy(model(x, training=False))
        return to_numpy(model.predict(x, verbose=0))

    os.makedirs(path, exist_ok=True)
    before = run(task)
    task.save(os.path.join(path, "task.keras"))
    restored = keras.models.load_model(os.path.join(path, "task.keras"))
    assert type(restored) is type(task)
    _assert_close(run(restored), before, atol)

    task.save_to_preset(os.path.join(path, "preset"))
    again = type(task).from_preset(os.path.join(path, "preset"))
    assert type(again) is type(task)
    _assert_close(run(again), before, atol)
    return before


def _assert_close(a, b, atol):
    if isinstance(b, dict):
        assert set(a) == set(b)
        for k in b:
            np.testing.assert_allclose(a[k], b[k], atol=atol, err_msg=k)
    else:
        np.testing.assert_allclose(a, b, atol=atol)
