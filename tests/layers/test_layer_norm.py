"""LayerNorm against torch's layer_norm (the references' kernel) and Keras'
LayerNormalization, whose weights and config it keeps."""

import keras
import numpy as np
import pytest
import torch

from keras_encoders.layers import LayerNorm
from tests.conftest import max_abs_diff, to_numpy

RNG = np.random.default_rng(0)


def layer_pair(width, epsilon, dtype="float32"):
    """Ours and Keras', built with the same random gamma and beta."""
    ours = LayerNorm(epsilon=epsilon, dtype=dtype)
    theirs = keras.layers.LayerNormalization(epsilon=epsilon, dtype=dtype)
    gamma = RNG.normal(size=width).astype("float32")
    beta = RNG.normal(size=width).astype("float32")
    for layer in (ours, theirs):
        layer.build((None, width))
        layer.set_weights([gamma, beta])
    return ours, theirs, gamma, beta


@pytest.mark.parametrize("shape", [(2, 7, 16), (9, 16)], ids=["sequences", "token_rows"])
@pytest.mark.parametrize("epsilon", [1e-12, 1e-5])
def test_matches_torch_layer_norm_and_keras(shape, epsilon):
    ours, theirs, gamma, beta = layer_pair(shape[-1], epsilon)
    # Rows far from zero mean: the centering is what float32 must get right.
    x = (RNG.normal(size=shape) * 3 + 5).astype("float32")
    want = torch.nn.functional.layer_norm(
        torch.from_numpy(x), shape[-1:], torch.from_numpy(gamma), torch.from_numpy(beta), epsilon
    ).numpy()
    got = to_numpy(ours(x))
    assert got.dtype == np.float32 and got.shape == shape
    assert max_abs_diff(got, want) <= 2e-6
    assert max_abs_diff(got, to_numpy(theirs(x))) <= 2e-6


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_half_precision_computes_in_float32(policy):
    """As Keras': half-precision inputs are normalized in float32 and the
    output is in the policy's compute dtype."""
    ours, theirs, _, _ = layer_pair(16, 1e-5, dtype=policy)
    # Deviations of about 1000: their squares overflow float16 (65504), so
    # a variance taken in float16 would be inf and the output 0 or NaN.
    x = (RNG.normal(size=(3, 16)) * 1000).astype("float32")
    half = keras.ops.cast(x, ours.compute_dtype)
    got = ours(half)
    assert keras.backend.standardize_dtype(got.dtype) == ours.compute_dtype
    got = to_numpy(keras.ops.cast(got, "float32"))
    assert np.isfinite(got).all() and np.abs(got).max() > 0.5
    assert max_abs_diff(got, to_numpy(keras.ops.cast(theirs(half), "float32"))) <= 2e-2


def test_keeps_keras_weights_and_config():
    ours, _, gamma, beta = layer_pair(8, 1e-12)
    assert [w.path.split("/")[-1] for w in ours.weights] == ["gamma", "beta"]
    copy = LayerNorm.from_config(ours.get_config())
    copy.build((None, 8))
    copy.set_weights(ours.get_weights())
    x = RNG.normal(size=(2, 8)).astype("float32")
    np.testing.assert_array_equal(to_numpy(copy(x)), to_numpy(ours(x)))
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(ours))
    assert type(restored) is LayerNorm and restored.epsilon == 1e-12


@pytest.mark.parametrize("option", [{"axis": 1}, {"center": False}, {"scale": False},
                                    {"rms_scaling": True}])
def test_other_layouts_are_refused_with_the_alternative(option):
    with pytest.raises(ValueError, match="keras.layers.LayerNormalization"):
        LayerNorm(**option)
