"""`export_onnx`: a task (or backbone) as an ONNX model of its token-id inputs."""

import contextlib
import os
import subprocess
import sys
import tempfile

import keras
import numpy as np

from keras_encoders.layers import MultiHeadSelfAttention
from keras_encoders.onnx_export import graph_fusion

DEFAULT_OPSET = 17


def export_onnx(task, path, *, int8=False, opset=DEFAULT_OPSET):
    """Write `task` as an ONNX model for ONNX Runtime (and TensorRT, OpenVINO ...).

    The model takes the task's own integer inputs, named as in Keras
    (`token_ids`, `padding_mask`, `segment_ids` for NEZHA and ConvBERT,
    `mask_positions` for masked LMs), int32, with dynamic batch and length
    (multiple choice: batch, choices, length). Its outputs are the task's,
    by name: `logits` for a single output (`output_0` in the graph becomes
    `logits`), `start_logits` / `end_logits`, `mlm_logits` / `nsp_logits`,
    `sequence_output` / `pooled_output`. Tokenization stays outside: run the
    task's preprocessor (or the SavedModel, `export_saved_model`) for ids.

    The graph is traced on the TensorFlow backend and converted with
    `tf2onnx` (`pip install keras-encoders[onnx]`). From JAX or torch the
    task is saved to a temporary `.keras` file and exported by
    `python -m keras_encoders.onnx_export` in a TensorFlow process, so any
    backend can export (Keras' own JAX and torch ONNX paths need
    `jax2onnx`, or fail on torch's traced LayerNorm with a dynamic length).
    The weights join the graph after the conversion: an export needs about
    five times the weights' size beyond the loaded task (2 GB for a base
    model), and NEZHA base converts in about 20 s on two cores. The graph
    is the task's `serving_call`, as in the SavedModel: heads that read the
    first position alone run the last layer for it only.

    Args:
        task: a keras_encoders task or backbone (float32 weights).
        path: the `.onnx` file to write.
        int8: bool. Quantize the weights of matrix products to int8 with
            ONNX Runtime's dynamic quantization, in 7 bits so that CPUs
            without VNNI do not saturate (`quantize_int8`); about 4x smaller,
            faster on CPUs. Outputs drift (1.5% of the logits' range on the
            tests' tiny NEZHA token classifier, `test_int8_drift`).
        opset: the ONNX opset.

    Example:
    ```python
    keras_encoders.export_onnx(classifier, "classifier.onnx")

    import onnxruntime
    session = onnxruntime.InferenceSession("classifier.onnx")
    x = classifier.preprocessor(["这家酒店很好"])
    logits, = session.run(None, {k: np.asarray(v, "int32") for k, v in x.items()})
    ```
    """
    path = os.fspath(path)
    check_float32(task)
    if keras.backend.backend() != "tensorflow":
        return _export_in_tensorflow(task, path, int8=int8, opset=opset)
    if int8:
        with tempfile.TemporaryDirectory() as scratch:
            full = os.path.join(scratch, "float32.onnx")
            _convert(task, full, opset)
            quantize_int8(full, path)
        return path
    _convert(task, path, opset)
    return path


def sublayers(layer):
    """`layer` and every layer inside it, at any depth. Keras' own walk, a
    private method (as in `EncoderBackbone.enable_lora`): Keras 3 has no
    public one, and `Model.layers` stops at a model's own layers (an
    encoder block's attention is not among them)."""
    return layer._flatten_layers(include_self=True, recursive=True)


def check_float32(task):
    """Raise a ValueError naming the dtype policies of `task`'s layers that
    compute in another float type than float32 (bfloat16, mixed_float16 ...):
    tf2onnx writes such graphs with float types ONNX Runtime will not load
    together. (Keras' int8 quantization computes in float32 and exports.)"""
    # Float policies only: the walk reaches the preprocessor's int32 layers.
    policies = sorted({
        layer.dtype_policy.name for layer in sublayers(task)
        if keras.backend.is_float_dtype(layer.dtype_policy.compute_dtype)
        and layer.dtype_policy.compute_dtype != "float32"
    })
    if policies:
        raise ValueError(
            f"export_onnx writes float32 models, and this {type(task).__name__} computes in "
            f"{', '.join(policies)}. Export the task in float32: build or load it with "
            f"`dtype=\"float32\"` (e.g. `{type(task).__name__}.from_preset(..., "
            f"dtype=\"float32\")`); for a smaller, faster model, add `int8=True`."
        )


def input_spec(task):
    """`{name: tf.TensorSpec}` of the task's inputs: int32, every axis dynamic."""
    import tensorflow as tf

    return {
        name: tf.TensorSpec((None,) * len(x.shape), tf.int32, name=name)
        for name, x in task.input.items()
    }


def quantize_int8(source, target):
    """ONNX Runtime's dynamic int8 quantization of `source`, written to `target`.

    Weights take 7 bits (`reduce_range`). On x86 CPUs without VNNI, ONNX
    Runtime's uint8 x int8 products add pairs of products in 16 bits, which
    saturate with 8-bit weights: on an AVX2 AMD EPYC the tiny NEZHA token
    classifier's logits drifted by 23% of their range with 8-bit weights,
    1.5% with 7-bit ones. The file may run on any CPU, so it is made safe for
    all of them, at some precision on CPUs with VNNI."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(source, target, weight_type=QuantType.QInt8, reduce_range=True)


def _convert(task, path, opset):
    import onnx
    import tensorflow as tf

    tf2onnx = _tf2onnx()
    spec = input_spec(task)
    # The weights enter the trace as inputs and become ONNX initializers only
    # after the conversion (`bind_weights`). Captured, they would be frozen
    # into the TensorFlow graph, and every tf2onnx stage copies a frozen
    # graph whole (freezing, grappler, each ONNX optimizer's deep copy):
    # NEZHA base's 400 MB of weights peaked at 16 GB resident.
    variables = list(task.variables)
    weight_spec = [
        tf.TensorSpec(v.shape, v.dtype, name=f"variable_{i}") for i, v in enumerate(variables)
    ]

    def call(inputs, weights):
        # `task.serving_call` (what the SavedModel serves too: a pooled
        # head's last layer for the first position alone) on the traced
        # weights, as `stateless_call` runs `call`.
        with keras.StatelessScope(state_mapping=list(zip(variables, weights))):
            return task.serving_call(inputs)

    with position_tables(task):
        concrete = tf.function(call, autograph=False).get_concrete_function(spec, weight_spec)
    # The graph's inputs are the signature's: tensors the model captures
    # (NEZHA's position tables) are frozen into constants, not inputs, which
    # `tf2onnx.convert.from_function` would make them.
    input_names = [t.name for t in concrete.inputs[: len(spec) + len(variables)]]
    output_names = [t.name for t in concrete.outputs]
    with tf.device("/cpu:0"):
        frozen = tf2onnx.tf_loader.from_function(concrete, input_names, output_names)
        # `from_graph_def`, with a choice of ONNX graph optimizers.
        model, _ = tf2onnx.convert._convert_common(
            frozen, name=concrete.name, opset=opset, input_names=input_names,
            output_names=output_names, custom_op_handlers={"Erfc": (_erfc, [])},
            tensors_to_rename=tf2onnx.convert.tensor_names_from_structed(
                concrete, input_names, output_names
            ),
            optimizers=_optimizers(tf2onnx),
        )
    bind_weights(model, {t.name: v for t, v in zip(weight_spec, variables)})
    _rename_outputs(model, _output_names(task))
    _name_axes(model, task)
    # Tensordots into MatMuls, LayerNorm arithmetic into LayerNormalization:
    # about half the nodes, which ONNX Runtime needs to match transformers' export.
    graph_fusion.fuse(model)
    onnx.save(model, path)


@contextlib.contextmanager
def position_tables(task):
    """NEZHA's relative terms from the (L, L, d) position table while the
    task is traced (`MultiHeadSelfAttention.use_position_table`): ONNX
    Runtime runs that form's batched products faster than the factored
    form's elementwise passes, which TensorFlow fuses and ONNX Runtime
    does not. The attention layers are set back afterwards."""
    layers = [layer for layer in sublayers(task) if isinstance(layer, MultiHeadSelfAttention)]
    before = [layer.use_position_table for layer in layers]
    try:
        for layer in layers:
            layer.use_position_table = True
        yield
    finally:
        for layer, value in zip(layers, before):
            layer.use_position_table = value


def bind_weights(model, weights):
    """Make the graph inputs named in `weights` (`{name: variable}`)
    initializers holding the variables' values, in place.

    Nodes whose inputs are then all constants (tf2onnx reshapes each
    LayerNorm scale to the input's rank) are computed once and replaced by
    their results, as tf2onnx's constant folding did for frozen weights.
    A variable nothing reads any more is left out.
    """
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    kept = [i for i in graph.input if i.name not in weights]
    del graph.input[:]
    graph.input.extend(kept)
    initializers = {i.name: i for i in graph.initializer}
    folded = {}

    def value(name):
        if name in folded:
            return folded[name]
        if name in weights:
            return keras.ops.convert_to_numpy(weights[name])
        return numpy_helper.to_array(initializers[name])

    nodes = []
    for node in graph.node:
        names = [x for x in node.input if x]
        bound = [x in weights or x in folded for x in names]
        if any(bound) and all(b or x in initializers for b, x in zip(bound, names)):
            results = ReferenceEvaluator(node).run(None, {x: value(x) for x in names})
            folded.update((name, np.asarray(r)) for name, r in zip(node.output, results))
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    read = {x for node in nodes for x in node.input} | {o.name for o in graph.output}
    for name in [*weights, *folded]:
        if name in read:
            # One variable at a time: its NumPy copy goes once it is serialized.
            graph.initializer.append(numpy_helper.from_array(value(name), name))


# tf2onnx optimizers that break these graphs: the Einsum one cannot read
# ellipsis equations (ConvBERT's grouped feed-forward; it fails, logging a
# traceback); the Reshape one merges a Dense's reshape into the next one
# while the merged shape still reads the dropped tensor's dimensions
# (ERNIE-M's attention: (B * L, H) reshaped as (B * L, H, heads, depth)).
SKIPPED_OPTIMIZERS = ("einsum_optimizer", "reshape_optimizer")


def _optimizers(tf2onnx):
    from collections import OrderedDict

    every = tf2onnx.optimizer._get_optimizers()
    return OrderedDict((k, v) for k, v in every.items() if k not in SKIPPED_OPTIMIZERS)


def _output_names(task):
    """The graph's output names, in tf2onnx's (flattened) order."""
    import tensorflow as tf

    outputs = task.output
    if isinstance(outputs, dict):
        return list(tf.nest.flatten({k: k for k in outputs}))
    return ["logits"]


def _rename_outputs(model, names):
    renames = {
        output.name: name for output, name in zip(model.graph.output, names) if output.name != name
    }
    for node in model.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for output in model.graph.output:
        output.name = renames.get(output.name, output.name)


# Axis names by input rank (the same name is the same size).
AXES = {2: ("batch", "sequence"), 3: ("batch", "choices", "sequence")}


def _name_axes(model, task):
    """Name the inputs' dynamic axes (tf2onnx leaves them `unk__N`)."""
    for graph_input in model.graph.input:
        rank = len(task.input[graph_input.name].shape)
        axes = ("batch", "masks") if graph_input.name == "mask_positions" else AXES[rank]
        for dim, axis in zip(graph_input.type.tensor_type.shape.dim, axes):
            dim.dim_param = axis


def _erfc(ctx, node, name, args):
    """tf2onnx handler: `Erfc(x)` as `1 - Erf(x)` (ONNX has no Erfc)."""
    from tf2onnx import utils

    node.type = "Erf"
    dtype = ctx.get_dtype(node.output[0])
    one = ctx.make_const(utils.make_name("one"), np.array(1, utils.map_onnx_to_numpy_type(dtype)))
    complement = ctx.insert_new_node_on_output("Sub", node.output[0], name=utils.make_name(node.name))
    complement.input[:] = [one.output[0], node.output[0]]
    ctx.copy_shape(node.output[0], complement.output[0])
    ctx.set_dtype(complement.output[0], dtype)


def _tf2onnx():
    try:
        import tf2onnx
    except ImportError as error:
        raise ImportError(
            "ONNX export converts the TensorFlow graph with tf2onnx: "
            "`pip install keras-encoders[onnx]` (or `pip install tf2onnx`)."
        ) from error
    # tf2onnx 1.17 still uses NumPy 1 aliases; Keras ships the patch it uses itself.
    from keras.src.export.tf2onnx_lib import patch_tf2onnx

    patch_tf2onnx()
    return tf2onnx


def _export_in_tensorflow(task, path, *, int8, opset):
    """Save `task` as a `.keras` file and export it in a TensorFlow process."""
    with tempfile.TemporaryDirectory() as scratch:
        saved = os.path.join(scratch, "task.keras")
        task.save(saved)
        command = [sys.executable, "-m", "keras_encoders.onnx_export", saved, path, "--opset", str(opset)]
        if int8:
            command.append("--int8")
        env = dict(os.environ, KERAS_BACKEND="tensorflow")
        done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"Exporting {type(task).__name__} to ONNX in a TensorFlow process failed:\n"
            + done.stderr[-3000:]
        )
    return path
