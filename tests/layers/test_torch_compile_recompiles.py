"""Attention layers compile once under torch.compile.

A layer whose `call` makes a new named Keras Operation (`ops.pad` does, on
every call) gives Dynamo a guard on Keras' global name counter: every call,
and every encoder layer of a model, then recompiles, until the recompile
limit sends the layer back to eager. ConvBERT's `jit_compile=True` on torch
ran slower than its eager model that way.
"""

import keras
import numpy as np
import pytest

from keras_encoders.layers import MixedAttention
from keras_encoders.layers import MultiHeadSelfAttention

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="torch.compile is the torch backend's"
)

LAYERS = {
    "mixed_attention": lambda: MixedAttention(
        hidden_dim=8, num_heads=2, head_ratio=2, conv_kernel_size=3
    ),
    "relative_attention": lambda: MultiHeadSelfAttention(
        num_heads=2, head_dim=4, max_relative_position=3
    ),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_repeated_calls_do_not_recompile(name):
    import torch

    layer = LAYERS[name]()
    x = torch.from_numpy(np.random.RandomState(0).normal(size=(2, 5, 8)).astype("float32"))
    eager = keras.ops.convert_to_numpy(layer(x))
    torch._dynamo.reset()  # no cache entries from other tests' compiled code
    compiled = torch.compile(lambda inputs: layer(inputs))
    outputs = [compiled(x)]  # compiles
    # Any later call that would compile again raises.
    with torch._dynamo.config.patch(error_on_recompile=True):
        outputs += [compiled(x) for _ in range(2)]
    for out in outputs:
        np.testing.assert_allclose(keras.ops.convert_to_numpy(out), eager, atol=1e-6)
