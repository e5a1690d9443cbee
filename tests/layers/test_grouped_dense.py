"""GroupedDense against Hugging Face's `GroupedLinearLayer` and a Dense view."""

import keras
import numpy as np
import pytest
import torch
from transformers.models.convbert.modeling_convbert import GroupedLinearLayer

from keras_encoders.layers import GroupedDense
from tests.conftest import max_abs_diff, to_numpy


@pytest.mark.parametrize("groups, d_in, d_out", [(1, 8, 6), (2, 8, 6), (4, 12, 8)])
def test_matches_grouped_linear_layer(groups, d_in, d_out):
    torch.manual_seed(0)
    hf = GroupedLinearLayer(d_in, d_out, groups)
    with torch.no_grad():
        hf.weight.normal_()
        hf.bias.normal_()
    layer = GroupedDense(d_out, num_groups=groups)
    x = np.random.default_rng(0).normal(size=(2, 5, d_in)).astype("float32")
    layer.build(x.shape)
    # Same layout as the checkpoint: no transpose.
    assert tuple(layer.kernel.shape) == tuple(hf.weight.shape)
    layer.kernel.assign(hf.weight.detach().numpy())
    layer.bias.assign(hf.bias.detach().numpy())
    with torch.no_grad():
        want = hf(torch.from_numpy(x)).numpy()
    assert max_abs_diff(layer(x), want) <= 1e-5


def test_equals_block_diagonal_dense():
    layer = GroupedDense(6, num_groups=3, bias_initializer="random_normal")
    x = np.random.default_rng(1).normal(size=(4, 9)).astype("float32")
    y = to_numpy(layer(x))
    kernel = to_numpy(layer.kernel)
    dense = np.zeros((9, 6), "float32")
    for g in range(3):
        dense[3 * g:3 * g + 3, 2 * g:2 * g + 2] = kernel[g]
    np.testing.assert_allclose(y, x @ dense + to_numpy(layer.bias), atol=1e-5)
    assert layer.count_params() == 3 * 3 * 2 + 6


def test_config_round_trip_and_errors():
    layer = GroupedDense(8, num_groups=2, use_bias=False, name="g")
    clone = GroupedDense.from_config(layer.get_config())
    assert (clone.units, clone.num_groups, clone.use_bias) == (8, 2, False)
    assert keras.saving.get_registered_object("keras_encoders>GroupedDense") is GroupedDense
    with pytest.raises(ValueError, match="divisible"):
        GroupedDense(7, num_groups=2)
    with pytest.raises(ValueError, match="divisible"):
        GroupedDense(8, num_groups=2)(np.zeros((1, 5), "float32"))
