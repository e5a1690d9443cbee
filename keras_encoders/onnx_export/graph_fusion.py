"""Rewrites of the tf2onnx graph into the lean ops ONNX Runtime runs fast.

tf2onnx converts the TensorFlow trace op by op: every Dense on a 3-D input
arrives as TensorFlow's `Tensordot` (reshape to 2-D, `MatMul`, reshape
back, with the shapes computed by Shape, Gather, ReduceProd, Concat and
Cast nodes), and every LayerNorm as its arithmetic (GlobalAveragePool or
ReduceMean, Sub, Mul, Sqrt, Reciprocal ...), which ONNX Runtime's own
fusions do not recognize. `fuse` rewrites the two patterns into one
broadcasting `MatMul` and one `LayerNormalization` (opset 17), and an exact
GELU (TensorFlow's erfc form, or the erf form with a Mul by 1/sqrt(2)) into
the erf form with a Div that ONNX Runtime fuses into one Gelu kernel; the
attention's `1/sqrt(d)` on the queries, a power of two, moves into the query
Dense's weights. Two rewrites steer ONNX Runtime away from its slower
kernels: a Dense on 2-D token rows keeps its MatMul apart from its bias
(not a Gemm). Each rewrite checks the whole
pattern (constants, shapes, that no intermediate tensor has another reader)
and leaves anything else as it is; the outputs are the same computation.
"""

import numpy as np

# LayerNormalization entered the default ONNX domain in opset 17.
LAYER_NORMALIZATION_OPSET = 17
# Squeeze and Unsqueeze take their axes as an input from opset 13.
AXES_AS_INPUT_OPSET = 13


def fuse(model):
    """Rewrite `model` (an `onnx.ModelProto`) in place; returns it."""
    shapes = _shapes(model)
    graph = _Graph(model.graph)
    graph.rewrite_each(["MatMul"], _fuse_tensordot, shapes)
    graph.rewrite_each(["Erf"], _rewrite_gelu)
    graph.rewrite_each(["Mul"], _fold_power_of_two_scale)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset >= LAYER_NORMALIZATION_OPSET:
        # Shapes again: a broadcasting MatMul's output has the static width
        # the Tensordot's computed reshape hid (a LayerNorm's input, often).
        shapes = _shapes(model)
        graph.rewrite_each(["GlobalAveragePool", "ReduceMean"], _fuse_layer_norm, shapes)
    if opset >= AXES_AS_INPUT_OPSET:
        # The ranks these read are still right: every rewrite keeps the
        # names and ranks of the tensors it leaves.
        graph.rewrite_each(["MatMul"], _keep_out_of_gemm, shapes)
    graph.remove_dead_nodes()
    return model


# Initializers up to this many elements go to shape inference by value (a
# Reshape's target shape); larger ones, the weights, only by type and shape.
SHAPE_VALUE_LIMIT = 64


def _shapes(model):
    """`{tensor name: dims}` of the tensors shape inference could rank; a dim
    is its size, or None where it is dynamic."""
    import onnx

    # ONNX's shape inference serializes the model it is given, parses it and
    # returns a copy: three copies of every weight, unless the weights stay
    # behind (as typed inputs: no shape depends on their values).
    graph = model.graph
    small, typed = [], []
    for initializer in graph.initializer:
        if np.prod(initializer.dims) <= SHAPE_VALUE_LIMIT:
            small.append(initializer)
        else:
            typed.append(onnx.helper.make_tensor_value_info(
                initializer.name, initializer.data_type, initializer.dims))
    light = onnx.helper.make_model(
        onnx.helper.make_graph(graph.node, graph.name, [*graph.input, *typed], graph.output, small),
        opset_imports=model.opset_import, ir_version=model.ir_version,
    )
    inferred = onnx.shape_inference.infer_shapes(light).graph
    shapes = {}
    for info in list(inferred.value_info) + list(inferred.input) + list(inferred.output):
        tensor_type = info.type.tensor_type
        if tensor_type.HasField("shape"):
            shapes[info.name] = [
                d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim
            ]
    return shapes


class _Graph:
    """Producers, readers and constants of a `GraphProto`, kept in step with edits."""

    def __init__(self, graph):
        from onnx import numpy_helper

        self.graph = graph
        self.constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        self.outputs = {o.name for o in graph.output}
        self.reindex()

    def reindex(self):
        self.producer = {}
        self.readers = {}
        for node in self.graph.node:
            for name in node.output:
                self.producer[name] = node
            for name in dict.fromkeys(node.input):  # a node reading x twice reads it once
                self.readers.setdefault(name, []).append(node)

    def only_reader(self, name, op_type):
        """The single node reading `name` if it is an `op_type` and `name` is
        not a graph output; else None."""
        readers = self.readers.get(name, [])
        if name in self.outputs or len(readers) != 1 or readers[0].op_type != op_type:
            return None
        return readers[0]

    def only_value_reader(self, name, node):
        """Whether `node` is the only reader of `name`'s values: the others,
        if any, are Shape nodes (tf2onnx computes a reshape's target from
        the shape of the tensor it reshapes), which a rescaling leaves as
        they are; `name` is not a graph output."""
        readers = self.readers.get(name, [])
        return name not in self.outputs and node in readers and all(
            r is node or r.op_type == "Shape" for r in readers)

    def made_by(self, name, op_type, skip_casts=False):
        node = self.producer.get(name)
        while skip_casts and node is not None and node.op_type == "Cast":
            node = self.producer.get(node.input[0])
        return node if node is not None and node.op_type == op_type else None

    def rewrite_each(self, op_types, rewrite, *args):
        """`rewrite(self, node, *args)` for each node of `op_types`, each
        looked up again by its (unique) first output, as an edit rebuilds
        the node list (and may have removed it)."""
        for node in [n for n in self.graph.node if n.op_type in op_types]:
            if node.output[0] in self.producer:
                rewrite(self, self.producer[node.output[0]], *args)

    def axes(self, *values):
        """The name of an int64 constant holding `values` (Squeeze,
        Unsqueeze and ReduceSum axes), one initializer for every rewrite
        that needs it."""
        name = "graph_fusion/axes" + "".join(f"_{v}" for v in values)
        if name not in self.constants:
            self.add_constant(name, np.array(values, np.int64))
        return name

    def add_constant(self, name, value):
        from onnx import numpy_helper

        self.graph.initializer.append(numpy_helper.from_array(value, name))
        self.constants[name] = value

    def replace(self, removed, added, at):
        """Swap the nodes `removed` for `added`, placed where `at` was."""
        removed = {n.output[0] for n in removed}
        nodes = list(self.graph.node)
        index = [n.output[0] for n in nodes].index(at.output[0])
        kept = [n for n in nodes[:index] if n.output[0] not in removed]
        kept += list(added) + [n for n in nodes[index:] if n.output[0] not in removed]
        del self.graph.node[:]
        self.graph.node.extend(kept)
        self.reindex()

    def remove_dead_nodes(self):
        """Drop nodes none of whose outputs is read (the shape arithmetic
        the rewrites left behind), then the constants nothing reads."""
        while True:
            kept = [
                n for n in self.graph.node
                if any(o in self.outputs or self.readers.get(o) for o in n.output)
            ]
            if len(kept) == len(self.graph.node):
                break
            del self.graph.node[:]
            self.graph.node.extend(kept)
            self.reindex()
        unread = [i for i in self.graph.initializer if i.name not in self.readers]
        for initializer in unread:
            self.graph.initializer.remove(initializer)
            del self.constants[initializer.name]


def _fuse_tensordot(graph, matmul, shapes):
    """`Reshape(x, [N, H]) -> MatMul(W) -> Reshape(s)` with a 2-D constant `W`
    (H, O) and x of static width H (or a reshape that Tensordot's shape
    arithmetic shows is x's leading axes flattened) as `MatMul(x, W) -> Reshape(s)`, and as
    `MatMul(x, W)` alone where `s` is `Shape(x)[:-1]` joined with `[O]`.

    A 2-D reshape of x to width H, x's own width, can only be x with its
    leading axes flattened, row-major: the MatMul broadcasting over them
    gives the same numbers in the same order, and the reshape back gets them
    whatever shape it makes (tf2onnx sometimes merges Tensordot's own
    reshape back into the layer's next one).
    """
    # A computed 2-D W (NEZHA's relative position tables) broadcasts the same.
    weight = graph.constants.get(matmul.input[1])
    weight_shape = weight.shape if weight is not None else shapes.get(matmul.input[1])
    flatten = graph.made_by(matmul.input[0], "Reshape")
    if weight_shape is None or len(weight_shape) != 2 or flatten is None:
        return
    x = flatten.input[0]
    dims = shapes.get(x)
    reshape = graph.only_reader(matmul.output[0], "Reshape")
    if (
        reshape is None
        or reshape.input[0] != matmul.output[0]
        or len(shapes.get(flatten.output[0], ())) != 2
        or dims is None or len(dims) < 3
        or (weight is None or dims[-1] != weight_shape[0])
        and not _is_flattening(graph, flatten.input[1], x, len(dims))
    ):
        return
    if weight is not None and _is_leading_shape_and(
        graph, reshape.input[1], x, len(dims), weight_shape[1]
    ):
        fused = _copy_node(matmul, inputs=[x, matmul.input[1]], outputs=[reshape.output[0]])
        removed = [matmul, reshape]
    else:
        fused = _copy_node(matmul, inputs=[x, matmul.input[1]], outputs=list(matmul.output))
        removed = [matmul]
    # The flattening goes with its last reader (tf2onnx shares one between
    # two Dense layers on the same input): remove_dead_nodes.
    graph.replace(removed, [fused], at=matmul)


def _is_flattening(graph, name, x, rank):
    """Whether `name` computes `[prod(Shape(x)[:rank - 1]), Shape(x)[rank - 1]]`."""
    concat = graph.made_by(name, "Concat", skip_casts=True)
    if concat is None or _attribute(concat, "axis") != 0 or len(concat.input) != 2:
        return False
    return all(
        _is_product_of_axes(graph, part, x, axes)
        for part, axes in zip(concat.input, (list(range(rank - 1)), [rank - 1]))
    )


def _is_product_of_axes(graph, name, x, axes):
    """Whether `name` is `[prod(Shape(x)[axes])]` (Unsqueeze of a ReduceProd of a Gather)."""
    unsqueeze = graph.made_by(name, "Unsqueeze")
    product = unsqueeze and graph.made_by(unsqueeze.input[0], "ReduceProd")
    if product is None or len(unsqueeze.input) != 2 or len(product.input) != 1:
        return False
    if graph.constants.get(unsqueeze.input[1], np.zeros(0)).tolist() != [0]:
        return False
    if _attribute(product, "keepdims", 1) != 0 or _attribute(product, "axes", [0]) != [0]:
        return False
    return _is_axes_of_shape(graph, product.input[0], x, axes)


def _is_axes_of_shape(graph, name, x, axes):
    """Whether `name` is `Shape(x)[axes]` (a Gather of the whole shape)."""
    gather = graph.made_by(name, "Gather")
    if gather is None or _attribute(gather, "axis", 0) != 0:
        return False
    indices = graph.constants.get(gather.input[1])
    shape = graph.made_by(gather.input[0], "Shape", skip_casts=True)
    return (
        indices is not None and indices.tolist() == axes
        and shape is not None and shape.input[0] == x
        and not shape.attribute  # no start / end: the whole shape
    )


def _is_leading_shape_and(graph, name, x, rank, last):
    """Whether `name` computes `concat(Shape(x)[:rank - 1], [last])`."""
    concat = graph.made_by(name, "Concat", skip_casts=True)
    if concat is None or _attribute(concat, "axis") != 0 or len(concat.input) != 2:
        return False
    tail = graph.constants.get(concat.input[1])
    return (
        tail is not None and tail.tolist() == [last]
        and _is_axes_of_shape(graph, concat.input[0], x, list(range(rank - 1)))
    )


def _averages_last_axis(node, dims):
    """Whether `node` is a mean over the last axis of an input of `dims`,
    keeping it: tf2onnx writes TensorFlow's `reduce_mean(x, -1, keepdims)`
    as GlobalAveragePool on rank 3 (which averages the last axis only there)
    and as ReduceMean on rank 2 (token rows)."""
    if node is None or dims is None:
        return False
    if node.op_type == "GlobalAveragePool":
        return len(dims) == 3
    if node.op_type == "ReduceMean" and len(node.input) == 1:  # axes as an attribute
        axes = [a % len(dims) for a in _attribute(node, "axes", [])]
        return _attribute(node, "keepdims", 1) == 1 and axes == [len(dims) - 1]
    return False


def _fuse_layer_norm(graph, mean, shapes):
    """A LayerNorm over the last axis of a 2-D or 3-D `x`, as tf2onnx writes
    TensorFlow's arithmetic (`Mean` a last-axis mean, see
    `_averages_last_axis`; `inverse` is Reciprocal(Sqrt(variance + epsilon))):

        centered = x - Mean(x); variance = Mean(centered * centered)
        y = centered * inverse * gamma + beta                  (`LayerNorm`)
        y = x * scale + (-Mean(x) * scale + beta),             (Keras')
            scale = inverse * gamma

    as `LayerNormalization(x, gamma, beta, axis=-1, epsilon)`. Both forms
    reach the export: our layers use `LayerNorm`, keras-hub's heads (the
    masked LM's) Keras' `LayerNormalization`.
    """
    x = mean.input[0]
    dims = shapes.get(x)
    if not _averages_last_axis(mean, dims) or dims[-1] is None:
        return
    readers = graph.readers.get(mean.output[0], [])
    centered = next((n for n in readers if n.op_type == "Sub"), None)
    if centered is None or list(centered.input) != [x, mean.output[0]]:
        return
    c = centered.output[0]
    squares = [n for n in graph.readers.get(c, []) if n.op_type == "Mul" and list(n.input) == [c, c]]
    variance = graph.only_reader(squares[0].output[0], mean.op_type) if len(squares) == 1 else None
    if not _averages_last_axis(variance, dims):
        return
    shifted = graph.only_reader(variance.output[0], "Add")
    epsilon = shifted and _other_constant(graph, shifted, variance.output[0])
    root = shifted and graph.only_reader(shifted.output[0], "Sqrt")
    inverse = root and graph.only_reader(root.output[0], "Reciprocal")
    if (epsilon is None or inverse is None or epsilon.size != 1
            or {mean.output[0], c} & graph.outputs):
        return
    if len(readers) == 1 and len(graph.readers[c]) == 2:
        tail = _centered_tail(graph, c, inverse)
    elif (len(readers) == 2 and {n.op_type for n in readers} == {"Neg", "Sub"}
          and len(graph.readers[c]) == 1):
        tail = _keras_tail(graph, x, next(n for n in readers if n.op_type == "Neg"), inverse)
    else:
        return
    if tail is None:
        return
    nodes, total, gamma, beta = tail
    beta = np.zeros_like(gamma) if beta is None else beta
    if (
        not _is_last_axis_vector(gamma) or not _is_last_axis_vector(beta)
        or not gamma.size == beta.size == dims[-1]
        or gamma.dtype != np.float32 or beta.dtype != np.float32
    ):
        return
    from onnx import helper

    name = total.output[0]
    graph.add_constant(name + "/gamma", gamma.reshape(-1))
    graph.add_constant(name + "/beta", beta.reshape(-1))
    fused = helper.make_node(
        "LayerNormalization", [x, name + "/gamma", name + "/beta"], [name],
        name=total.name + "/LayerNormalization", axis=-1, epsilon=float(epsilon.reshape(())),
    )
    removed = [mean, centered, squares[0], variance, shifted, root, inverse] + nodes
    graph.replace(removed, [fused], at=total)


def _beta_add(graph, scaled):
    """`(add, beta)`: the Add of a constant that is the only reader of
    `scaled`, and that constant; `(None, None)` when there is none: tf2onnx
    drops the `+ beta` of an all-zero beta (a fresh LayerNorm)."""
    add = graph.only_reader(scaled.output[0], "Add")
    beta = add and _other_constant(graph, add, scaled.output[0])
    return (add, beta) if beta is not None else (None, None)


def _centered_tail(graph, centered, inverse):
    """`(nodes, total, gamma, beta)` of `centered * inverse * gamma + beta`
    (beta None where it is 0: the LayerNorm ends at the gamma product)."""
    normed = graph.only_reader(inverse.output[0], "Mul")
    if normed is None or set(normed.input) != {centered, inverse.output[0]}:
        return None
    scaled = graph.only_reader(normed.output[0], "Mul")
    gamma = scaled and _other_constant(graph, scaled, normed.output[0])
    if gamma is None:
        return None
    add, beta = _beta_add(graph, scaled)
    total = add or scaled
    return [normed, scaled, total], total, gamma, beta


def _keras_tail(graph, x, negated, inverse):
    """`(nodes, total, gamma, beta)` of `x * scale + (-mean * scale + beta)`,
    `scale = inverse * gamma` (beta None where it is 0)."""
    scale = graph.only_reader(inverse.output[0], "Mul")
    gamma = scale and _other_constant(graph, scale, inverse.output[0])
    if gamma is None:
        return None
    scaled = graph.readers.get(scale.output[0], [])
    scaled_x = [n for n in scaled if n.op_type == "Mul" and set(n.input) == {x, scale.output[0]}]
    scaled_mean = graph.only_reader(negated.output[0], "Mul")
    if (
        len(scaled) != 2 or len(scaled_x) != 1 or scaled_mean is None
        or set(scaled_mean.input) != {negated.output[0], scale.output[0]}
    ):
        return None
    add, beta = _beta_add(graph, scaled_mean)
    shift = add or scaled_mean
    total = graph.only_reader(shift.output[0], "Add")
    if (
        total is None
        or _name(graph.only_reader(scaled_x[0].output[0], "Add")) != total.output[0]
        or set(total.input) != {scaled_x[0].output[0], shift.output[0]}
    ):
        return None
    return [negated, scale, scaled_x[0], scaled_mean, shift, total], total, gamma, beta


def _rewrite_gelu(graph, erf):
    """An exact GELU in either form TensorFlow traces:

        0.5 * x * (1 - Erf(Neg(x) * 0.7071))    (tf.nn.gelu: 0.5 x erfc(-x / sqrt(2)))
        (x * 0.5) * (Erf(x * 0.7071) + 1)       (layers.post_ln_encoder_layer.erf_gelu)

    as `0.5 * x * (1 + Erf(x / sqrt(2)))`, the form ONNX Runtime fuses into
    one Gelu kernel (with the Div: it does not fuse a Mul by 0.7071); the
    ops stay standard, for other runtimes.
    """
    scaled = graph.made_by(erf.input[0], "Mul")
    if scaled is None or graph.only_reader(scaled.output[0], "Erf") is None:
        return
    negated = next((graph.producer.get(i) for i in scaled.input
                    if getattr(graph.producer.get(i), "op_type", None) == "Neg"), None)
    if negated is not None:
        x, sign, combine = negated.input[0], negated.output[0], "Sub"
    else:
        x = next((i for i in scaled.input if i not in graph.constants), None)
        sign, combine = x, "Add"
    root = x and _other_constant(graph, scaled, sign)
    combined = graph.only_reader(erf.output[0], combine)
    product = combined and graph.only_reader(combined.output[0], "Mul")
    one = combined and [i for i in combined.input if i != erf.output[0]]
    if (
        root is None or root.size != 1 or root.dtype != np.float32
        or abs(float(root.reshape(())) - 0.5 ** 0.5) > 1e-6
        or (negated is not None and graph.only_reader(sign, "Mul") is None)
        or combined is None or (combine == "Sub" and combined.input[1] != erf.output[0])
        or len(one) != 1 or graph.constants.get(one[0], np.zeros(0)).tolist() not in (1.0, [1.0])
        or product is None or sorted(product.input).count(combined.output[0]) != 1
    ):
        return
    other = [i for i in product.input if i != combined.output[0]][0]
    half_x = graph.made_by(other, "Mul")
    half = half_x and _other_constant(graph, half_x, x)
    if half is None or half.size != 1 or float(half.reshape(())) != 0.5:
        return
    from onnx import helper

    root_two = scaled.output[0] + "/sqrt2"
    graph.add_constant(root_two, np.array(2 ** 0.5, np.float32))
    divided = helper.make_node("Div", [x, root_two], list(scaled.output), name=scaled.name)
    if negated is None:
        graph.replace([scaled], [divided], at=scaled)
        return
    one_plus = _copy_node(combined, inputs=[erf.output[0], one[0]],
                          outputs=list(combined.output))
    one_plus.op_type = "Add"
    graph.replace([negated, scaled], [divided], at=scaled)
    graph.replace([combined], [one_plus], at=combined)


def _fold_power_of_two_scale(graph, mul):
    """`Reshape(MatMul(x, W) + b) * c` as `Reshape(MatMul(x, W * c) + b * c)`
    for a constant scalar c that is a power of two: the attention scales
    its queries by `1/sqrt(d)` (1/8 for every published head size) after
    the query Dense, one pass over the queries per layer that the weights
    can take once. Multiplying by a power of two is exact, so every product
    and sum is the same number scaled: bit for bit the same output.

    (A select written by tf2onnx as `Cast(c) * x + Cast(Not(c)) * y` is left
    as it is: ONNX Runtime's broadcasting `Where` runs about 3x slower than
    those three ops.)
    """
    scale = scaled = None
    for name in mul.input:
        value = graph.constants.get(name)
        if value is not None and value.size == 1 and value.dtype == np.float32:
            scale, scaled = float(value.reshape(())), [i for i in mul.input if i != name]
    if scale is None or len(scaled) != 1 or scale == 0 or np.frexp(scale)[0] != 0.5:
        return
    reshape = graph.made_by(scaled[0], "Reshape")
    if reshape is None or graph.only_reader(reshape.output[0], "Mul") is None:
        return
    # The Dense before it: MatMul(x, W), then optionally + b.
    source, folded = reshape.input[0], []
    add = graph.made_by(source, "Add")
    if add is not None:
        if not graph.only_value_reader(add.output[0], reshape):
            return
        products = [i for i, name in enumerate(add.input) if graph.made_by(name, "MatMul")]
        if len(products) != 1:
            return
        folded.append((add, 1 - products[0]))
        source = add.input[products[0]]
    matmul = graph.made_by(source, "MatMul")
    if matmul is None or not graph.only_value_reader(matmul.output[0], add or reshape):
        return
    folded.append((matmul, 1))
    for node, index in folded:
        name = node.input[index]
        if name not in graph.constants or len(graph.readers.get(name, [])) != 1:
            return
    for node, index in folded:  # in place: the nodes are the graph's own
        name = node.input[index]
        value = graph.constants[name]
        graph.add_constant(name + "/scaled", (value * scale).astype(value.dtype))
        node.input[index] = name + "/scaled"
    # The Reshape writes the Mul's output; the Mul goes (and `replace`
    # reindexes the readers of the constants switched above).
    unscaled = _copy_node(reshape, inputs=list(reshape.input), outputs=list(mul.output))
    graph.replace([reshape, mul], [unscaled], at=reshape)


def _keep_out_of_gemm(graph, matmul, shapes):
    """`MatMul(x, W) + b` on a 2-D `x` (a Dense on token rows) as
    `Squeeze(MatMul(Unsqueeze(x), W)) + b`, with a unit axis 0 added and
    taken away: the same products, in the same order.

    Why: ONNX Runtime's CPU optimizer fuses a 2-D MatMul and the Add of a
    constant bias into one Gemm, which ran 5-10% slower than MatMul and Add
    (base-size products, ONNX Runtime 1.32, benchmarks/serving/notes.md);
    it leaves a MatMul on a 3-D input as it is, as in transformers' own
    export. The Add stays next to what reads it, so that ONNX Runtime still
    fuses it with a following GELU (BiasGelu). Squeeze and Unsqueeze only
    relabel the tensor's shape.
    """
    x, weights = matmul.input
    add = graph.only_reader(matmul.output[0], "Add")
    if (
        len(shapes.get(x) or ()) != 2 or weights not in graph.constants
        or graph.constants[weights].ndim != 2 or add is None
    ):
        return
    bias = _other_constant(graph, add, matmul.output[0])
    if bias is None or not _is_last_axis_vector(bias):
        return
    from onnx import helper

    name, axis0 = matmul.output[0], graph.axes(0)
    added = [
        helper.make_node("Unsqueeze", [x, axis0], [name + "/x"], name=matmul.name + "/Unsqueeze"),
        _copy_node(matmul, inputs=[name + "/x", weights], outputs=[name + "/product"]),
        helper.make_node("Squeeze", [name + "/product", axis0], [name], name=matmul.name + "/Squeeze"),
    ]
    graph.replace([matmul], added, at=matmul)


def _other_constant(graph, node, name):
    """The constant operand of the binary `node` whose other operand is `name`."""
    if len(node.input) != 2 or name not in node.input:
        return None
    other = node.input[1] if node.input[0] == name else node.input[0]
    return graph.constants.get(other)


def _is_last_axis_vector(value):
    """A per-feature vector: (H,) or (1, ..., 1, H)."""
    return value.ndim >= 1 and value.size == value.shape[-1]


def _name(node):
    return None if node is None else node.output[0]


def _attribute(node, name, default=None):
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def _copy_node(node, inputs, outputs):
    from onnx import NodeProto

    copy = NodeProto()
    copy.CopyFrom(node)
    copy.input[:] = inputs
    copy.output[:] = outputs
    return copy
