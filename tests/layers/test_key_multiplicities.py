"""`padding_mask` as key multiplicities in `MultiHeadSelfAttention`: 0/1
masks give exactly the numbers of masking with `where`, and a key of count
k gives what k identical copies of it give."""

import numpy as np
from keras import ops

from keras_encoders.layers import MultiHeadSelfAttention
from keras_encoders.layers.multi_head_self_attention import MASK_VALUE
from keras_encoders.layers.multi_head_self_attention import key_bias
from tests.conftest import max_abs_diff, to_numpy


def test_zero_one_masks_are_bit_identical_to_where():
    rng = np.random.default_rng(0)
    scores = ops.convert_to_tensor((rng.normal(size=(3, 2, 5, 6)) * 40).astype("float32"))
    mask = np.array([[1, 1, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]])
    for m in (mask, mask.astype(bool)):
        old = ops.softmax(ops.where(ops.cast(m, "bool")[:, None, None, :], scores, MASK_VALUE), axis=-1)
        new = ops.softmax(scores + key_bias(m), axis=-1)
        np.testing.assert_array_equal(to_numpy(new), to_numpy(old))
    # (The row with every key masked: uniform weights, as before.)
    np.testing.assert_array_equal(to_numpy(new)[1], np.full((2, 5, 6), 1 / 6, "float32"))


def test_a_counted_key_stands_for_its_copies():
    rng = np.random.default_rng(1)
    layer = MultiHeadSelfAttention(num_heads=2, head_dim=4)
    tokens = rng.normal(size=(2, 4, 8)).astype("float32")
    pad = rng.normal(size=(8,)).astype("float32")
    # Row 0: 4 tokens then 5 copies of `pad`; row 1: the same with 2 copies.
    copies = (5, 2)
    width = 4 + max(copies)
    x = np.concatenate([tokens, np.broadcast_to(pad, (2, max(copies), 8))], axis=1)
    mask = (np.arange(width)[None, :] < 4 + np.array(copies)[:, None]).astype("int32")
    mask[:, 0] = 0  # a masked key too, as PaddleNLP's [CLS]
    full = to_numpy(layer(x, padding_mask=mask))
    counted = mask[:, :5].copy()
    counted[:, 4] = copies
    short = to_numpy(layer(x[:, :5], padding_mask=counted))
    assert max_abs_diff(short, full[:, :5]) <= 1e-6
    assert max_abs_diff(full[0, 5:], np.broadcast_to(full[0, 4], (4, 8))) <= 1e-6
