"""Rewrites of the tf2onnx graph into the lean ops ONNX Runtime runs fast.

tf2onnx converts the TensorFlow trace op by op: every Dense on a 3-D input
arrives as TensorFlow's `Tensordot` (reshape to 2-D, `MatMul`, reshape
back, with the shapes computed by Shape, Gather, ReduceProd, Concat and
Cast nodes), and every LayerNorm as its arithmetic (GlobalAveragePool, Sub,
Mul, Sqrt, Reciprocal ...), which ONNX Runtime's own fusions do not
recognize. `fuse` rewrites the two patterns into one broadcasting `MatMul`
and one `LayerNormalization` (opset 17). Each rewrite checks the whole
pattern (constants, ranks, that no intermediate tensor has another reader)
and leaves anything else as it is; the outputs are the same computation.
"""

import numpy as np

# LayerNormalization entered the default ONNX domain in opset 17.
LAYER_NORMALIZATION_OPSET = 17


def fuse(model):
    """Rewrite `model` (an `onnx.ModelProto`) in place; returns it."""
    import onnx

    shapes = _shapes(onnx.shape_inference.infer_shapes(model))
    ranks = {name: len(dims) for name, dims in shapes.items()}
    graph = _Graph(model.graph)
    # Nodes are looked up again by their (unique) first output: an edit
    # rebuilds the node list.
    for node in _of_type(model.graph, "MatMul"):
        if node.output[0] in graph.producer:
            _fuse_tensordot(graph, graph.producer[node.output[0]], ranks)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset >= LAYER_NORMALIZATION_OPSET:
        for node in _of_type(model.graph, "GlobalAveragePool"):
            if node.output[0] in graph.producer:
                _fuse_layer_norm(graph, graph.producer[node.output[0]], shapes)
    graph.remove_dead_nodes()
    return model


def _of_type(graph, op_type):
    return [n for n in graph.node if n.op_type == op_type]


def _shapes(model):
    """`{tensor name: dims}` of the tensors shape inference could rank; a dim
    is its size, or None where it is dynamic."""
    shapes = {}
    graph = model.graph
    for info in list(graph.value_info) + list(graph.input) + list(graph.output):
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

    def made_by(self, name, op_type, skip_casts=False):
        node = self.producer.get(name)
        while skip_casts and node is not None and node.op_type == "Cast":
            node = self.producer.get(node.input[0])
        return node if node is not None and node.op_type == op_type else None

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


def _fuse_tensordot(graph, matmul, ranks):
    """`Reshape(x, [prod(lead), H]) -> MatMul(W) -> Reshape([*lead, O])` with a
    2-D constant `W` (H, O) as `MatMul(x, W)`, which broadcasts over `lead`.

    The second shape must be `Shape(x)[:rank - 1]` joined with `[O]` and the
    first product 2-D: the element counts then force it to be x with its
    leading axes flattened, row-major, so the two graphs compute the same.
    """
    weight = graph.constants.get(matmul.input[1])
    flatten = graph.made_by(matmul.input[0], "Reshape")
    if weight is None or weight.ndim != 2 or flatten is None:
        return
    x = flatten.input[0]
    unflatten = graph.only_reader(matmul.output[0], "Reshape")
    if (
        _name(graph.only_reader(flatten.output[0], "MatMul")) != matmul.output[0]
        or unflatten is None
        or unflatten.input[0] != matmul.output[0]
        or ranks.get(flatten.output[0]) != 2
        or ranks.get(x, 0) < 3
        or not _is_leading_shape_and(graph, unflatten.input[1], x, ranks[x], weight.shape[1])
    ):
        return
    fused = _copy_node(matmul, inputs=[x, matmul.input[1]], outputs=[unflatten.output[0]])
    graph.replace([flatten, matmul, unflatten], [fused], at=matmul)


def _is_leading_shape_and(graph, name, x, rank, last):
    """Whether `name` computes `concat(Shape(x)[:rank - 1], [last])`."""
    concat = graph.made_by(name, "Concat", skip_casts=True)
    if concat is None or _attribute(concat, "axis") != 0 or len(concat.input) != 2:
        return False
    gather = graph.made_by(concat.input[0], "Gather")
    tail = graph.constants.get(concat.input[1])
    if gather is None or tail is None or tail.tolist() != [last]:
        return False
    indices = graph.constants.get(gather.input[1])
    shape = graph.made_by(gather.input[0], "Shape", skip_casts=True)
    return (
        _attribute(gather, "axis", 0) == 0
        and indices is not None
        and indices.tolist() == list(range(rank - 1))
        and shape is not None
        and shape.input[0] == x
        and not shape.attribute  # no start / end: the whole shape
    )


def _fuse_layer_norm(graph, mean, shapes):
    """TensorFlow's LayerNorm over the last axis of a 3-D `x`, as tf2onnx writes it:

        mean = GlobalAveragePool(x); variance = GlobalAveragePool((x - mean)^2)
        scale = Reciprocal(Sqrt(variance + epsilon)) * gamma
        y = x * scale + (-mean * scale + beta)

    as `LayerNormalization(x, gamma, beta, axis=-1, epsilon)`.
    """
    x = mean.input[0]
    dims = shapes.get(x)
    # On rank 3, GlobalAveragePool averages the last axis only.
    if dims is None or len(dims) != 3 or dims[-1] is None:
        return
    readers = {n.op_type: n for n in graph.readers.get(mean.output[0], [])}
    if len(graph.readers.get(mean.output[0], [])) != 2 or set(readers) != {"Neg", "Sub"}:
        return
    negated, centered = readers["Neg"], readers["Sub"]
    if list(centered.input) != [x, mean.output[0]]:
        return
    square = graph.only_reader(centered.output[0], "Mul")
    if square is None or list(square.input) != [centered.output[0]] * 2:
        return
    variance = graph.only_reader(square.output[0], "GlobalAveragePool")
    shifted = variance and graph.only_reader(variance.output[0], "Add")
    epsilon = shifted and _other_constant(graph, shifted, variance.output[0])
    root = shifted and graph.only_reader(shifted.output[0], "Sqrt")
    inverse = root and graph.only_reader(root.output[0], "Reciprocal")
    scale = inverse and graph.only_reader(inverse.output[0], "Mul")
    gamma = scale and _other_constant(graph, scale, inverse.output[0])
    if epsilon is None or gamma is None or epsilon.size != 1:
        return
    scaled = graph.readers.get(scale.output[0], [])
    scaled_x = [n for n in scaled if n.op_type == "Mul" and set(n.input) == {x, scale.output[0]}]
    scaled_mean = graph.only_reader(negated.output[0], "Mul")
    if (
        len(scaled) != 2 or len(scaled_x) != 1 or scaled_mean is None
        or set(scaled_mean.input) != {negated.output[0], scale.output[0]}
    ):
        return
    shift = graph.only_reader(scaled_mean.output[0], "Add")
    beta = shift and _other_constant(graph, shift, scaled_mean.output[0])
    total = shift and graph.only_reader(shift.output[0], "Add")
    if (
        beta is None or total is None
        or _name(graph.only_reader(scaled_x[0].output[0], "Add")) != total.output[0]
        or set(total.input) != {scaled_x[0].output[0], shift.output[0]}
        or not _is_last_axis_vector(gamma) or not _is_last_axis_vector(beta)
        or not gamma.size == beta.size == dims[-1] or gamma.dtype != np.float32 or beta.dtype != np.float32
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
    removed = [mean, negated, centered, square, variance, shifted, root, inverse, scale,
               scaled_x[0], scaled_mean, shift, total]
    graph.replace(removed, [fused], at=total)


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
