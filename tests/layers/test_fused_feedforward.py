"""The encoder block's projections run on token rows so that TensorFlow fuses
them: a 2-D MatMul, its BiasAdd and an erf-form GELU become one oneDNN
`_FusedMatMul` where TensorFlow runs oneDNN, a MatMul with its BiasAdd where it
does not (benchmarks/serving/notes.md has the time it saves). The math is the
reference's GELU on every backend."""

import platform

import keras
import numpy as np
import pytest

from keras_encoders.layers import PostLNEncoderLayer
from keras_encoders.layers.post_ln_encoder_layer import erf_gelu, feedforward_activation


def test_erf_gelu_is_the_exact_gelu():
    x = np.linspace(-12, 12, 2001).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(erf_gelu(x)),
        keras.ops.convert_to_numpy(keras.activations.gelu(x, approximate=False)),
        atol=1e-6, rtol=0,
    )


def test_only_tensorflow_swaps_the_gelu():
    """torch and JAX keep their own one-kernel GELU; other activations stay."""
    swapped = feedforward_activation(keras.activations.gelu)
    assert (swapped is erf_gelu) == (keras.backend.backend() == "tensorflow")
    assert feedforward_activation(keras.activations.relu) is keras.activations.relu


def optimized_nodes(function, *args):
    """The nodes of `function`'s graph after Grappler, from the run metadata
    of one call (TensorFlow has no public API for the optimized graph). The
    metadata also holds one-op graphs of eager ops run earlier in the
    process: the traced function's graph is the largest."""
    from tensorflow.python.eager import context

    ctx = context.context()
    ctx.enable_run_metadata()
    try:
        function(*args)
        metadata = ctx.export_run_metadata()
    finally:
        ctx.disable_run_metadata()
    graph = max((g.post_optimization_graph for g in metadata.function_graphs),
                key=lambda g: len(g.node))
    return list(graph.node)


def onednn_on():
    """Whether TensorFlow runs its oneDNN kernels in this process: by default
    only on x86 CPUs with AVX-512 VNNI, bf16 or AMX, and as
    `TF_ENABLE_ONEDNN_OPTS` says. The private function is TensorFlow's own
    test helper's; there is no public one."""
    from tensorflow.python.util import _pywrap_util_port

    return _pywrap_util_port.IsMklEnabled()


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow" or platform.machine() not in ("x86_64", "AMD64"),
    reason="Grappler's CPU fusions on x86",
)
@pytest.mark.parametrize("relative", [None, 2], ids=["absolute", "relative"])
def test_tensorflow_fuses_every_projection_with_its_bias(relative):
    import tensorflow as tf

    layer = PostLNEncoderLayer(hidden_dim=16, intermediate_dim=32, num_heads=2,
                               max_relative_position=relative)
    x = tf.constant(np.random.RandomState(0).randn(2, 5, 16).astype("float32"))
    mask = tf.constant([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    layer(x, padding_mask=mask)
    nodes = optimized_nodes(tf.function(lambda x, m: layer(x, padding_mask=m)), x, mask)
    fused = [[op.decode() for op in node.attr["fused_ops"].list.s]
             for node in nodes if "FusedMatMul" in node.op]
    if not onednn_on():
        # Eigen's kernels (an AVX2-only CPU, or oneDNN turned off): every
        # projection still takes its bias; the GELU and the adds run apart.
        assert sorted(fused) == [["BiasAdd"]] * 6
        assert "BiasAdd" not in {node.op for node in nodes}
        return
    # query, key and value; the attention output and the output projection,
    # each with the residual add that follows it (token rows in, rows out);
    # the intermediate with its GELU.
    assert sorted(fused) == sorted(
        [["BiasAdd"]] * 3 + [["BiasAdd", "Add"]] * 2 + [["BiasAdd", "GeluExact"]]
    )
    assert not {"Erf", "Erfc", "BiasAdd"} & {node.op for node in nodes}
