"""NEZHA's relative attention (angle-addition form, and the position-table
form the ONNX export traces) against the reference's `NezhaSelfAttention`,
past one rotation table (positions > 256), padded."""

import numpy as np
import pytest
import torch
from transformers.models.deprecated.nezha.configuration_nezha import NezhaConfig
from transformers.models.deprecated.nezha.modeling_nezha import (
    NezhaRelativePositionsEncoding,
    NezhaSelfAttention,
)

from keras_encoders.layers import MultiHeadSelfAttention
from keras_encoders.layers.multi_head_self_attention import ROTATION_BASE
from keras_encoders.layers.multi_head_self_attention import sinusoid_relative_table
from tests.conftest import max_abs_diff, to_numpy


def test_table_is_the_reference_table():
    encoding = NezhaRelativePositionsEncoding(length=11, depth=16, max_relative_position=4)
    # Row r of the reference's (L, L, d) tensor at i = 5 is distance r - 5,
    # clipped: every table row appears (rows 0 and 8 at the clipped ends).
    want = encoding(11)[5, 1:10].numpy()
    # Within an ulp (NumPy's and torch's float32 sin round differently).
    np.testing.assert_allclose(sinusoid_relative_table(4, 16), want, rtol=0, atol=1.2e-7)


def reference_case(length, k):
    """`(layer, x, mask, want)`: our layer with the weights of a reference
    `NezhaSelfAttention`, a padded batch and the reference's outputs."""
    config = NezhaConfig(
        hidden_size=32, num_attention_heads=4, max_relative_position=k,
        max_position_embeddings=length, attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(0)
    hf = NezhaSelfAttention(config).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.normal_(std=0.5)  # logits of a few units, so the softmax is not flat
    x = np.random.default_rng(0).normal(size=(2, length, 32)).astype("float32")
    mask = np.ones((2, length), "int32")
    mask[1, length // 2 :] = 0
    additive = torch.from_numpy(((1 - mask[:, None, None, :]) * np.finfo("float32").min).astype("float32"))
    with torch.no_grad():
        want = hf(torch.from_numpy(x), attention_mask=additive)[0].numpy()

    layer = MultiHeadSelfAttention(num_heads=4, head_dim=8, max_relative_position=k)
    layer.build(x.shape)
    for name in ("query", "key", "value"):
        module = getattr(hf, name)
        getattr(layer, name).set_weights(
            [module.weight.detach().numpy().T, module.bias.detach().numpy()]
        )
    return layer, x, mask, want


# (4, 3): no key farther than K (L = K + 1); (5, 3): one each side.
@pytest.mark.parametrize("length, k", [(4, 3), (5, 3), (9, 3), (300, 64)])
def test_matches_reference_self_attention(length, k):
    layer, x, mask, want = reference_case(length, k)
    # float32 agreement relative to the outputs' scale (up to ~14 here; the
    # previous gather form was as far off); a wrong rotation or band is off
    # by whole units.
    factored = layer(x, padding_mask=mask)
    assert max_abs_diff(factored, want) <= 4e-6 * np.abs(want).max()
    # The reference's form (what the ONNX export traces): the same table
    # rows, so nearer to the factored form than either is to the reference.
    layer.use_position_table = True
    table = layer(x, padding_mask=mask)
    assert max_abs_diff(table, want) <= 4e-6 * np.abs(want).max()
    assert max_abs_diff(table, to_numpy(factored)) <= 2e-6 * np.abs(want).max()


# The first rows alone (`query_rows`, what a pooled classifier's server runs
# in the last layer): queries near the start, keys farther than K on the right.
@pytest.mark.parametrize("use_position_table", [False, True])
@pytest.mark.parametrize("query_rows", [1, 3])
def test_query_rows_are_the_reference_rows(query_rows, use_position_table):
    layer, x, mask, want = reference_case(9, 3)
    layer.use_position_table = use_position_table
    rows = layer(x, padding_mask=mask, query_rows=query_rows)
    assert tuple(rows.shape) == (2, query_rows, 32)
    assert max_abs_diff(rows, want[:, :query_rows]) <= 4e-6 * np.abs(want).max()


def test_length_limit_and_odd_head_dim_are_clear_errors():
    layer = MultiHeadSelfAttention(num_heads=1, head_dim=2, max_relative_position=4)
    too_long = ROTATION_BASE**2 - 4 + 1
    with pytest.raises(ValueError, match=f"up to {too_long - 1} tokens"):
        layer(np.zeros((1, too_long, 2), "float32"))
    with pytest.raises(ValueError, match="head_dim must be even"):
        MultiHeadSelfAttention(num_heads=2, head_dim=5, max_relative_position=4)
