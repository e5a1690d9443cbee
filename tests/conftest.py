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
