"""`export_onnx`: every task type of the three models in ONNX Runtime.

Each tiny task is exported once (module fixture) and run on two batches of
different batch size and length, padded rows included: the outputs equal
the Keras task's within 1e-5, under the names of its Keras inputs and
outputs. The export traces under TensorFlow; from JAX and torch it goes
through a TensorFlow subprocess (`test_exports_from_any_backend`).
"""

import inspect
import os
import subprocess
import sys

import keras
import numpy as np
import onnxruntime
import pytest

import keras_encoders
from keras_encoders.convert.families import FAMILIES
from keras_encoders.convert.sources import task_class
from tests.conftest import to_numpy
from tests.tiny_models import tiny_backbone, tiny_batch


TOL = 1e-5
ON_TENSORFLOW = keras.backend.backend() == "tensorflow"


def task_classes(family):
    """Every Keras task of `family` that has a reference head, and the backbone."""
    spec = FAMILIES[family]
    backbone_cls = spec.keras_class(spec.backbone)
    found = [task_class(a, backbone_cls) for a in spec.hf.HEADS if a != spec.base_architecture]
    return [backbone_cls] + [cls for cls in found if cls is not None]


CASES = [(family, cls) for family in FAMILIES for cls in task_classes(family)]


def tiny_task(family, cls):
    keras.utils.set_random_seed(0)
    backbone = tiny_backbone(family)
    if cls is type(backbone):
        return backbone
    kwargs = {"num_classes": 3} if "num_classes" in inspect.signature(cls.__init__).parameters else {}
    return cls(backbone=backbone, preprocessor=None, **kwargs)


def inputs(task, family, batch, length, seed):
    """Inputs for every name of `task.input`, with padded rows."""
    shapes = {name: len(x.shape) for name, x in task.input.items()}
    choices = 2 if shapes.get("token_ids") == 3 else 1
    flat = tiny_batch(family, batch=batch * choices, length=length, seed=seed)
    x = {}
    for name, rank in shapes.items():
        if name == "mask_positions":
            x[name] = np.random.RandomState(seed).randint(0, length, (batch, 2)).astype("int32")
        else:
            x[name] = flat[name].reshape((batch, choices, length) if rank == 3 else (batch, length))
    return x


def compare(task, path, family):
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert sorted(i.name for i in session.get_inputs()) == sorted(task.input)
    names = [o.name for o in session.get_outputs()]
    for batch, length, seed in ((4, 8, 0), (5, 13, 1)):  # dynamic batch and length
        x = inputs(task, family, batch, length, seed)
        expected = to_numpy(task(x, training=False))
        expected = expected if isinstance(expected, dict) else {"logits": expected}
        got = dict(zip(names, session.run(None, x)))
        assert sorted(got) == sorted(expected)
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], atol=TOL, rtol=0, err_msg=name)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`{case id: (task, .onnx path)}`, exported once, on TensorFlow."""
    if not ON_TENSORFLOW:
        pytest.skip("every task type is exported under TensorFlow (KERAS_BACKEND=tensorflow); "
                    "the other backends' path is test_exports_from_any_backend")
    folder = tmp_path_factory.mktemp("onnx")
    models = {}
    for family, cls in CASES:
        task = tiny_task(family, cls)
        path = str(folder / f"{cls.__name__}.onnx")
        keras_encoders.export_onnx(task, path)
        models[cls.__name__] = (task, path)
    return models


@pytest.mark.parametrize("family,cls", CASES, ids=[c.__name__ for _, c in CASES])
def test_parity_in_onnx_runtime(family, cls, exported):
    task, path = exported[cls.__name__]
    compare(task, path, family)


def test_nezha_traces_the_position_table_form_and_is_set_back(exported):
    """NEZHA's relative terms are exported in the (L, L, d) table form
    (`position_tables`); afterwards the task computes as before."""
    import onnx

    from keras_encoders.layers import MultiHeadSelfAttention
    from keras_encoders.onnx_export.onnx_writer import sublayers

    task, path = exported["NezhaTextClassifier"]
    attention = [x for x in sublayers(task) if isinstance(x, MultiHeadSelfAttention)]
    assert attention and not any(layer.use_position_table for layer in attention)
    graph = onnx.load(path).graph
    rows = 2 * attention[0].max_relative_position + 3
    tables = {i.name for i in graph.initializer if list(i.dims[:1]) == [rows] and len(i.dims) == 2}
    assert [n.op_type for n in graph.node if n.input and n.input[0] in tables] == ["Gather"]
    # The factored form's far-key sums (a ReduceSum after the rewrite) are gone.
    assert "ReduceSum" not in [n.op_type for n in graph.node]


def test_axes_are_named_and_dynamic(exported):
    import onnx

    _, path = exported["ErnieMMultipleChoice"]
    graph = onnx.load(path).graph
    axes = {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert axes == {n: ["batch", "choices", "sequence"] for n in ("token_ids", "padding_mask")}


def test_exports_from_any_backend(tmp_path):
    """On JAX and torch the task goes to a TensorFlow process as a `.keras`
    file (through the command line); ONNX Runtime then matches the task as
    this backend computes it."""
    task = tiny_task("convbert", keras_encoders.models.ConvBertTokenClassifier)
    path = str(tmp_path / "model.onnx")
    assert keras_encoders.export_onnx(task, path) == path
    compare(task, path, "convbert")


def test_int8_drift(exported, tmp_path):
    """Dynamic int8 quantization: matrix products in int8, and the drift from
    float32, measured on the tiny token classifier, stays small."""
    import onnx

    task, full = exported["NezhaTokenClassifier"]
    quantized = str(tmp_path / "int8.onnx")
    keras_encoders.onnx_export.onnx_writer.quantize_int8(full, quantized)
    from onnx import numpy_helper

    graph = onnx.load(quantized).graph
    ops = {node.op_type for node in graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops
    # 7-bit weights: no 16-bit saturation in ONNX Runtime's products on CPUs
    # without VNNI (with 8-bit ones the drift was 23% of the logits' range on
    # an AVX2 AMD EPYC, against the 5% bound below).
    weights = [numpy_helper.to_array(t).astype(int) for t in graph.initializer
               if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 2]
    assert weights and max(int(np.max(np.abs(w))) for w in weights) == 64
    session = onnxruntime.InferenceSession(quantized, providers=["CPUExecutionProvider"])
    x = inputs(task, "nezha", 4, 8, 0)
    expected = to_numpy(task(x, training=False))
    drift = float(np.max(np.abs(session.run(None, x)[0] - expected)))
    scale = float(np.max(np.abs(expected)))
    # Measured: 1.5% of the logits' range on this model on an AVX2 AMD EPYC.
    print(f"int8 drift: {drift:.2e} (logits up to {scale:.2f})")
    assert 0 < drift <= 0.05 * scale, (drift, scale)


@pytest.mark.skipif(not ON_TENSORFLOW, reason="the command runs under TensorFlow whatever "
                    "the backend; test_exports_from_any_backend runs it from the others")
def test_command_line_exports_a_saved_preset(tmp_path):
    """`python -m keras_encoders.onnx_export` on a `save_to_preset` folder, with --int8
    (`.keras` files go through it in test_exports_from_any_backend)."""
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "fox"]
    preprocessor = keras_encoders.models.NezhaQuestionAnswererPreprocessor(
        keras_encoders.models.NezhaTokenizer(vocabulary=vocabulary), sequence_length=16,
        max_question_length=4,
    )
    task = keras_encoders.models.NezhaQuestionAnswerer(tiny_backbone("nezha"), preprocessor=preprocessor)
    task.save_to_preset(str(tmp_path / "preset"))
    path = str(tmp_path / "qa.onnx")
    done = subprocess.run(
        [sys.executable, "-m", "keras_encoders.onnx_export", str(tmp_path / "preset"), path, "--int8"],
        capture_output=True, text=True, cwd=os.getcwd(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    import onnx

    assert "MatMulInteger" in {node.op_type for node in onnx.load(path).graph.node}
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["end_logits", "start_logits"]
    packed = preprocessor(x=(["the fox"], ["the quick fox"]))
    packed = packed[0] if isinstance(packed, tuple) else packed
    x = {k: np.asarray(to_numpy(packed[k]), "int32") for k in task.input}
    expected = to_numpy(task(x, training=False))
    got = dict(zip(["end_logits", "start_logits"], session.run(None, x)))
    np.testing.assert_allclose(got["start_logits"], expected["start_logits"], atol=0.05)


def tensordot_chains(graph):
    """MatMuls by a constant 2-D weight between a Reshape to a computed shape
    and a Reshape (tf2onnx's Tensordot). A Dense on token rows reshapes to
    the constant (-1, width) on purpose: a 2-D MatMul, which TensorFlow fuses
    with its bias (layers/post_ln_encoder_layer.py)."""
    constants = {i.name for i in graph.initializer if len(i.dims) == 2}
    fixed = {i.name for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    readers = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node.op_type)
    return [
        n.name for n in graph.node
        if n.op_type == "MatMul" and n.input[1] in constants
        and getattr(producer.get(n.input[0]), "op_type", None) == "Reshape"
        and producer[n.input[0]].input[1] not in fixed
        and readers.get(n.output[0]) == ["Reshape"]
    ]


@pytest.mark.parametrize("family,cls", CASES, ids=[c.__name__ for _, c in CASES])
def test_graph_is_fused(family, cls, exported):
    """Every Dense is one broadcasting MatMul, every LayerNorm one
    LayerNormalization, every GELU in the form ONNX Runtime fuses (parity:
    test_parity_in_onnx_runtime, same files)."""
    import onnx

    task, path = exported[cls.__name__]
    graph = onnx.load(path).graph
    ops = [n.op_type for n in graph.node]
    assert tensordot_chains(graph) == []
    assert "GlobalAveragePool" not in ops  # the decomposed LayerNorm's mean
    assert "ReduceMean" not in ops  # the same on token rows
    producers = {o: n.op_type for n in graph.node for o in n.output}
    assert {producers[n.input[0]] for n in graph.node if n.op_type == "Erf"} == {"Div"}  # GELU
    backbone = getattr(task, "backbone", task)
    assert ops.count("LayerNormalization") >= 1 + 2 * backbone.num_layers


@pytest.mark.skipif(not ON_TENSORFLOW, reason="exports trace under TensorFlow")
@pytest.mark.parametrize("family", ["ernie_m", "nezha"])
def test_layers_share_shapes_and_position_tables(family, tmp_path):
    """The layers read the sequence's shape from the same padding mask (and
    NEZHA's from the same constant tables): with three layers instead of
    one, the graph has no more Shape, Concat, Cast, Range or Gather nodes (shape
    arithmetic and position tables are computed once, not once per layer).
    Each of these small nodes costs a fixed few microseconds per call.
    (ConvBERT's mixed attention runs its Denses on (B, L, D), as Tensordots
    that compute their shapes in every layer.)"""
    import collections

    import onnx

    counts = []
    for layers in (1, 3):
        path = str(tmp_path / f"{layers}.onnx")
        keras_encoders.export_onnx(tiny_backbone(family, num_layers=layers), path)
        counts.append(collections.Counter(n.op_type for n in onnx.load(path).graph.node))
    # Gather: NEZHA's (L, L, d) position table is gathered once for all layers.
    shared = ["Shape", "Concat", "Cast", "Range", "Gather"]
    assert {op: counts[1][op] for op in shared} == {op: counts[0][op] for op in shared}
    assert counts[1]["MatMul"] > counts[0]["MatMul"]  # the layers are there


def _status_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


@pytest.mark.skipif(not ON_TENSORFLOW,
                    reason="the export runs in this process only under TensorFlow")
def test_export_memory_is_bounded_by_the_weights(tmp_path):
    """An export's peak memory grows by a few copies of the weights, however
    many nodes the graph has. (Frozen into the TensorFlow graph, the weights
    were copied whole by every tf2onnx stage: NEZHA base's 400 MB peaked at
    16 GB resident, beside TensorFlow's own 1.4 GB.)"""
    # 100 MB of weights, nearly all in one embedding: what scales is then
    # the weights' copies, not the graph's fixed overhead.
    task = tiny_backbone("nezha", vocabulary_size=200_000, hidden_dim=128)
    weight_mib = sum(np.prod(v.shape) * 4 for v in task.weights) / 2**20
    assert weight_mib > 95
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak resident size (VmHWM) to the current one
    except OSError:
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the peak resident size")
    before = _status_mib("VmRSS")
    path = str(tmp_path / "wide.onnx")
    keras_encoders.export_onnx(task, path)
    growth = _status_mib("VmHWM") - before
    # 4.9x measured (the initializers, the rewrites' NumPy copy, the saved
    # bytes, each once; tracing and tf2onnx); 73x (7 GB) when frozen.
    assert growth < 8 * weight_mib, (
        f"exporting {weight_mib:.0f} MiB of weights took {growth:.0f} MiB")
    assert os.path.getsize(path) > weight_mib * 2**20


@pytest.mark.parametrize("policy", ["bfloat16", "mixed_bfloat16", "mixed_float16"])
def test_lower_precision_is_refused(policy, tmp_path):
    """A task computing in 16-bit floats gets a clear error (tf2onnx wrote
    graphs ONNX Runtime refused to load: bfloat16 weights typed float16),
    before any file is written, on every backend."""
    task = tiny_backbone("nezha", dtype=policy)
    path = tmp_path / "model.onnx"
    with pytest.raises(ValueError, match=rf"computes in {policy}\. Export the task in float32.*"
                                         r"dtype=\"float32\".*int8=True"):
        keras_encoders.export_onnx(task, path)
    assert not path.exists()


@pytest.mark.skipif(not ON_TENSORFLOW, reason="exports trace under TensorFlow (the other backends' "
                    "hop: test_exports_from_any_backend)")
def test_int8_quantized_task_exports(tmp_path):
    """Keras' own int8 quantization (`task.quantize("int8")`) computes in
    float32 and exports: ONNX Runtime gives the quantized task's outputs."""
    task = tiny_backbone("nezha")
    task.quantize("int8")
    path = str(tmp_path / "quantized.onnx")
    keras_encoders.export_onnx(task, path)
    compare(task, path, "nezha")
