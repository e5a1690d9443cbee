"""`graph_fusion.fuse` on hand-made graphs in tf2onnx's layout: the patterns
fuse into the same numbers, and a pattern that differs in any checked part
stays as it is (the exported models: test_export_onnx.test_graph_is_fused)."""

import numpy as np
import onnxruntime
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from keras_encoders.onnx_export import graph_fusion  # noqa: E402

H, O = 4, 3
RNG = np.random.RandomState(0)


def constant(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def tensordot_nodes(x, out, shape_source=None):
    """tf2onnx's Dense on a 3-D x: reshape to (B * L, H), MatMul, reshape to (B, L, O)."""
    return [
        helper.make_node("Shape", [shape_source or x], ["s"]),
        helper.make_node("Gather", ["s", "lead_axes"], ["lead"], axis=0),
        helper.make_node("ReduceProd", ["lead"], ["rows"], keepdims=0),
        helper.make_node("Unsqueeze", ["rows", "zero"], ["rows1"]),
        helper.make_node("Concat", ["rows1", "width"], ["flat_shape"], axis=0),
        helper.make_node("Reshape", [x, "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["product"]),
        helper.make_node("Concat", ["lead", "out_width"], ["out_shape"], axis=0),
        helper.make_node("Reshape", ["product", "out_shape"], [out]),
    ]


LAYER_NORM_FORMS = ["centered", "keras"]


def layer_norm_nodes(x, out, beta=True, form="centered"):
    """A LayerNorm as tf2onnx writes TensorFlow's arithmetic: our
    `LayerNorm`'s `(x - mean) * inverse * gamma + beta` ("centered"), or
    Keras' `x * scale + (-mean * scale + beta)` ("keras"; keras-hub's heads)."""
    nodes = [
        helper.make_node("GlobalAveragePool", [x], ["mean"]),
        helper.make_node("Sub", [x, "mean"], ["centered"]),
        helper.make_node("Mul", ["centered", "centered"], ["square"]),
        helper.make_node("GlobalAveragePool", ["square"], ["variance"]),
        helper.make_node("Add", ["variance", "epsilon"], ["shifted"]),
        helper.make_node("Sqrt", ["shifted"], ["root"]),
        helper.make_node("Reciprocal", ["root"], ["inverse"]),
    ]
    if form == "centered":
        nodes += [helper.make_node("Mul", ["centered", "inverse"], ["normed"]),
                  helper.make_node("Mul", ["normed", "gamma"], ["scaled" if beta else out])]
        return nodes + [helper.make_node("Add", ["scaled", "beta"], [out])] if beta else nodes
    nodes += [
        helper.make_node("Neg", ["mean"], ["neg"]),
        helper.make_node("Mul", ["inverse", "gamma"], ["scale"]),
        helper.make_node("Mul", [x, "scale"], ["scaled_x"]),
        helper.make_node("Mul", ["neg", "scale"], ["scaled_mean"]),
    ]
    if beta:
        return nodes + [helper.make_node("Add", ["scaled_mean", "beta"], ["shift"]),
                        helper.make_node("Add", ["scaled_x", "shift"], [out])]
    return nodes + [helper.make_node("Add", ["scaled_x", "scaled_mean"], [out])]


def model(nodes, rank=3, width=H, extra_outputs=()):
    initializers = [
        constant("lead_axes", np.arange(rank - 1, dtype="int64")),
        constant("zero", np.array([0], "int64")),
        constant("width", np.array([H], "int64")),
        constant("out_width", np.array([O], "int64")),
        constant("w", RNG.randn(H, O).astype("float32")),
        constant("epsilon", np.array(1e-5, "float32")),
        constant("gamma", RNG.randn(1, 1, H).astype("float32")),
        constant("beta", RNG.randn(1, 1, H).astype("float32")),
    ]
    dims = ["batch", "length", "extra"][: rank - 1] + [width]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    outputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in extra_outputs]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)], outputs,
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(proto, x):
    """The outputs for input `x`, or for the feed `x` when it is a dict."""
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, x if isinstance(x, dict) else {"x": x})


def ops(proto):
    return [n.op_type for n in proto.graph.node]


def fused(proto):
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    return graph_fusion.fuse(copy)


@pytest.mark.parametrize("form", LAYER_NORM_FORMS)
@pytest.mark.parametrize("beta", [True, False], ids=["beta", "zero_beta"])
def test_dense_and_layer_norm_fuse_to_the_same_numbers(beta, form):
    original = model(tensordot_nodes("x", "dense") + [
        helper.make_node("Relu", ["dense"], ["h"]),
    ] + [helper.make_node("MatMul", ["h", "back"], ["h4"])] + layer_norm_nodes("h4", "y", beta, form))
    original.graph.initializer.append(constant("back", RNG.randn(O, H).astype("float32")))
    after = fused(original)
    assert ops(after) == ["MatMul", "Relu", "MatMul", "LayerNormalization"]
    x = RNG.randn(2, 5, H).astype("float32")
    np.testing.assert_allclose(run(after, x)[0], run(original, x)[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("form", LAYER_NORM_FORMS)
@pytest.mark.parametrize("read", [(), ("flat", "variance")], ids=["control", "read"])
def test_read_intermediates(read, form):
    """The flattened input and the variance are graph outputs too: the
    flattening stays for its other reader (the MatMul still reads x), the
    LayerNorm is not fused."""
    original = model(tensordot_nodes("x", "dense") + layer_norm_nodes("dense3", "y", form=form),
                     extra_outputs=read)
    original.graph.node.insert(9, helper.make_node("MatMul", ["dense", "back"], ["dense3"]))
    original.graph.initializer.append(constant("back", RNG.randn(O, H).astype("float32")))
    after = fused(original)
    if not read:
        assert ops(after) == ["MatMul", "MatMul", "LayerNormalization"]
        return
    assert "LayerNormalization" not in ops(after)
    assert "flat" in [o for n in after.graph.node for o in n.output]
    assert [n.input[0] for n in after.graph.node if n.op_type == "MatMul"][0] == "x"
    x = RNG.randn(2, 5, H).astype("float32")
    for got, expected in zip(run(after, x), run(original, x)):
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_a_reshape_to_another_shape_stays():
    """A reshape back that is not Shape(x)[:-1] + [O] (here it reads the shape
    of a copy of x: tf2onnx merges the layer's next reshape this way) stays;
    only the flattening goes."""
    other = model(tensordot_nodes("x", "y", shape_source="x_copy")
                  + [helper.make_node("Identity", ["x"], ["x_copy"])])
    other.graph.node.insert(0, other.graph.node.pop())  # Identity first
    after = fused(other)
    assert ops(after).count("Reshape") == 1 and "ReduceProd" not in ops(after)
    x = RNG.randn(2, 5, H).astype("float32")
    np.testing.assert_allclose(run(after, x)[0], run(other, x)[0], atol=1e-6, rtol=0)
    assert ops(fused(model(tensordot_nodes("x", "y")))) == ["MatMul"]  # the exact pattern


def test_a_layer_norm_pattern_on_4d_stays():
    """On a 4-D input GlobalAveragePool averages two axes: not a LayerNorm."""
    four_d = model(layer_norm_nodes("x", "y"), rank=4)
    assert ops(fused(four_d)) == ops(four_d)
    assert ops(fused(model(layer_norm_nodes("x", "y")))) == ["LayerNormalization"]  # the control


def gelu_nodes(x, out, form):
    """An exact GELU as tf2onnx writes it from TensorFlow: `tf.nn.gelu`'s
    0.5 x erfc(-x / sqrt(2)), or `erf_gelu`'s (x * 0.5) (erf(x * 0.7071) + 1)."""
    if form == "erf":
        return [
            helper.make_node("Mul", [x, "half"], ["half_x"]),
            helper.make_node("Mul", [x, "inverse_root_two"], ["scaled"]),
            helper.make_node("Erf", ["scaled"], ["erf"]),
            helper.make_node("Add", ["erf", "one"], ["one_plus"]),
            helper.make_node("Mul", ["half_x", "one_plus"], [out]),
        ]
    return [
        helper.make_node("Mul", ["half", x], ["half_x"]),
        helper.make_node("Neg", [x], ["neg_x"]),
        helper.make_node("Mul", ["neg_x", "inverse_root_two"], ["scaled"]),
        helper.make_node("Erf", ["scaled"], ["erf"]),
        helper.make_node("Sub", ["one", "erf"], ["erfc"]),
        helper.make_node("Mul", ["half_x", "erfc"], [out]),
    ]


def gelu_model(form, root=0.5 ** 0.5):
    original = model(gelu_nodes("x", "y", form))
    original.graph.initializer.extend([
        constant("half", np.array(0.5, "float32")), constant("one", np.array(1.0, "float32")),
        constant("inverse_root_two", np.array(root, "float32")),
    ])
    return original


@pytest.mark.parametrize("form", ["erfc", "erf"])
def test_gelu_becomes_the_form_onnx_runtime_fuses(tmp_path, form):
    original = gelu_model(form)
    after = fused(original)
    assert sorted(ops(after)) == ["Add", "Div", "Erf", "Mul", "Mul"]
    x = RNG.randn(2, 5, H).astype("float32") * 4
    np.testing.assert_allclose(run(after, x)[0], run(original, x)[0], atol=1e-5, rtol=0)
    options = onnxruntime.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    onnxruntime.InferenceSession(after.SerializeToString(), options, providers=["CPUExecutionProvider"])
    assert "Gelu" in ops(onnx.load(options.optimized_model_filepath))


@pytest.mark.parametrize("form", ["erfc", "erf"])
def test_a_gelu_with_another_constant_stays(form):
    """Erf of x times 0.7 is not a GELU: nothing changes."""
    original = gelu_model(form, root=0.7)
    assert ops(fused(original)) == ops(original)


def scaled_query_nodes(scale_name):
    """tf2onnx's query Dense, split into heads, then scaled by `1/sqrt(d)`;
    a Shape node reads the Dense's output (the reshape's target)."""
    return [
        helper.make_node("MatMul", ["x", "w"], ["product"]),
        helper.make_node("Add", ["product", "bias"], ["dense"]),
        helper.make_node("Shape", ["dense"], ["dense_shape"]),
        helper.make_node("Gather", ["dense_shape", "lead_axes"], ["lead"], axis=0),
        helper.make_node("Concat", ["lead", "heads"], ["split_shape"], axis=0),
        helper.make_node("Reshape", ["dense", "split_shape"], ["split"]),
        helper.make_node("Mul", ["split", scale_name], ["y"]),
    ]


@pytest.mark.parametrize("scale, folds", [(0.125, True), (0.3, False)], ids=["power_of_two", "other"])
def test_a_power_of_two_query_scale_moves_into_the_dense(scale, folds):
    """`1/sqrt(d)` = 1/8 goes into the query weights, bit for bit the same
    output; a scale that is not a power of two (inexact) stays."""
    original = model(scaled_query_nodes("scale"))
    original.graph.initializer.extend([
        constant("bias", RNG.randn(O).astype("float32")),
        constant("heads", np.array([O, 1], "int64")),
        constant("scale", np.array(scale, "float32")),
    ])
    after = fused(original)
    assert ("Mul" not in ops(after)) == folds
    x = RNG.randn(2, 5, H).astype("float32")
    want, got = run(original, x)[0], run(after, x)[0]
    assert got.shape == want.shape == (2, 5, O, 1)
    if folds:
        np.testing.assert_array_equal(got, want)


def rows_layer_norm_nodes(x, out, axes):
    """TensorFlow's LayerNorm of a 2-D x (token rows): tf2onnx writes the
    means as ReduceMean, not GlobalAveragePool."""
    nodes = layer_norm_nodes(x, out)
    for node in nodes:
        if node.op_type == "GlobalAveragePool":
            node.CopyFrom(helper.make_node("ReduceMean", list(node.input), list(node.output),
                                           axes=axes, keepdims=1))
    return nodes


@pytest.mark.parametrize("axes, fuses", [([1], True), ([-1], True), ([0], False)],
                         ids=["axis1", "axis-1", "axis0"])
def test_a_layer_norm_on_rows_fuses(axes, fuses):
    """Over the last axis of rows it is a LayerNorm; over the rows (axis 0) it is not."""
    original = model(rows_layer_norm_nodes("x", "y", axes), rank=2)
    for name in ("gamma", "beta"):
        initializer = next(i for i in original.graph.initializer if i.name == name)
        initializer.CopyFrom(constant(name, numpy_helper.to_array(initializer).reshape(H)))
    after = fused(original)
    assert (ops(after) == ["LayerNormalization"]) == fuses
    if not fuses:
        assert ops(after) == ops(original)
    x = RNG.randn(6, H).astype("float32")
    np.testing.assert_allclose(run(after, x)[0], run(original, x)[0], atol=1e-5, rtol=0)


def optimized_ops(tmp_path, proto):
    """The op types of `proto` after ONNX Runtime's own CPU optimizations."""
    options = onnxruntime.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    onnxruntime.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return ops(onnx.load(options.optimized_model_filepath))


def test_a_dense_on_rows_stays_out_of_gemm(tmp_path):
    """A Dense on 2-D rows, `MatMul + bias`, gets a unit leading axis around
    its MatMul, so ONNX Runtime keeps MatMul and Add (and fuses the Add with
    a following GELU) instead of making a Gemm, which ran slower; the
    products are the same."""
    original = model([
        helper.make_node("MatMul", ["x", "w"], ["product"]),
        helper.make_node("Add", ["product", "bias"], ["dense"]),
        helper.make_node("Relu", ["dense"], ["y"]),
    ], rank=2)
    original.graph.initializer.append(constant("bias", RNG.randn(O).astype("float32")))
    after = fused(original)
    assert ops(after) == ["Unsqueeze", "MatMul", "Squeeze", "Add", "Relu"]
    x = RNG.randn(6, H).astype("float32")
    np.testing.assert_array_equal(run(after, x)[0], run(original, x)[0])

    def gemms(proto):  # Gemm, or FusedGemm (with the Relu)
        return [op for op in optimized_ops(tmp_path, proto) if "Gemm" in op]

    assert gemms(original)  # why the rewrite
    assert not gemms(after)
    # On 3-D input ONNX Runtime makes no Gemm: nothing changes.
    three_d = model(list(original.graph.node))
    three_d.graph.initializer.append(constant("bias", RNG.randn(O).astype("float32")))
    assert ops(fused(three_d)) == ops(three_d)


@pytest.mark.parametrize("reader", ["centered", "normed", "mean"])
def test_a_centered_layer_norm_with_a_second_reader_stays(reader):
    """A tensor inside our LayerNorm's pattern read elsewhere too (here by a
    graph output) keeps the pattern as it is."""
    original = model(layer_norm_nodes("x", "y") + [helper.make_node("Relu", [reader], ["other"])],
                     extra_outputs=("other",))
    after = fused(original)
    assert ops(after) == ops(original)
    assert ops(fused(model(layer_norm_nodes("x", "y")))) == ["LayerNormalization"]  # the control
