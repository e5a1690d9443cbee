"""Shared pytest configuration: backend-aware helpers, `large` marker, assets."""

import os

import keras
import numpy as np
import pytest

SHARED = os.environ.get(
    "KERAS_ENCODERS_SHARED",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared")),
)
ASSETS = os.path.join(SHARED, "assets")


def pytest_addoption(parser):
    parser.addoption(
        "--run-large", action="store_true", default=False, help="run `large` tests"
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-large"):
        return
    skip = pytest.mark.skip(reason="full-size check: pass --run-large")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)


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
