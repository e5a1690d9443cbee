"""Mixed precision: the backbones run in `mixed_float16` / `mixed_bfloat16`
(as `dtype=` and as the global policy) with finite outputs on padded batches,
attention logits beyond float16's range stay finite, presets reload in the
policy asked for, and tasks train under `mixed_float16` with loss scaling."""

import json
import os

import keras
import keras_hub
import numpy as np
import pytest

from keras_encoders import models
from keras_encoders.layers.mixed_attention import MixedAttention
from keras_encoders.layers.multi_head_self_attention import MultiHeadSelfAttention
from tests.conftest import asset, to_numpy
from tests.tiny_models import MODELS, tiny_backbone, tiny_batch, tiny_classifier, tiny_labels

POLICIES = ("mixed_float16", "mixed_bfloat16")
# Max |mixed - float32| of the sequence output (LayerNorm'd, so O(1) values).
TOLERANCE = {"mixed_float16": 2e-2, "mixed_bfloat16": 1e-1}
FLOAT16_MAX = 65504.0


@pytest.fixture
def global_policy():
    """Set the global dtype policy for one test, then restore it."""
    previous = keras.config.dtype_policy()
    yield keras.config.set_dtype_policy
    keras.config.set_dtype_policy(previous)


def _float(x):
    return to_numpy(keras.ops.cast(x, "float32"))


def _run(backbone, x):
    # JAX compiles eager ops one by one per dtype; one jitted call is cheaper.
    if keras.config.backend() == "jax":
        return backbone.predict_on_batch(x)
    return backbone(x)


@pytest.mark.parametrize("model", MODELS)
def test_backbone_in_mixed_policies(model):
    reference = tiny_backbone(model)
    x = tiny_batch(model)
    want = _run(reference, x)
    for policy in POLICIES:
        mixed = tiny_backbone(model, dtype=policy)
        mixed.set_weights(reference.get_weights())
        assert mixed.dtype_policy.name == policy
        assert {v.dtype for v in mixed.weights} == {"float32"}  # master weights

        got = _run(mixed, x)
        compute = policy.split("_")[1]
        for key in want:
            assert keras.backend.standardize_dtype(got[key].dtype) == compute
            out = _float(got[key])
            assert np.isfinite(out).all(), (policy, key)
            assert np.max(np.abs(out - to_numpy(want[key]))) <= TOLERANCE[policy], (policy, key)

        if model != "convbert" and policy == "mixed_float16":
            # The mask holds in float16: a padded row's real tokens equal the
            # same row without padding. (ConvBERT's convolution heads see the
            # padding by design, as in the reference.)
            row = {k: v[-1:, :2] for k, v in x.items()}
            short = _float(_run(mixed, row)["sequence_output"])
            padded = _float(got["sequence_output"])[-1:, :2]
            assert np.max(np.abs(short - padded)) <= TOLERANCE[policy]


def test_backbones_follow_global_policy(global_policy):
    global_policy("mixed_float16")
    for model in MODELS:
        backbone = tiny_backbone(model)
        assert backbone.dtype_policy.name == "mixed_float16"
        out = _run(backbone, tiny_batch(model))["sequence_output"]
        assert keras.backend.standardize_dtype(out.dtype) == "float16"
        assert np.isfinite(_float(out)).all()


@pytest.mark.parametrize("layer_cls", [MultiHeadSelfAttention, MixedAttention])
def test_attention_logits_beyond_float16_range_stay_finite(layer_cls):
    """q.k past 65504 would be inf (then NaN) in float16; the layers scale the
    queries first in float16, so the logits fit."""

    def build(dtype):
        if layer_cls is MultiHeadSelfAttention:  # NEZHA's, relative positions on
            layer = MultiHeadSelfAttention(num_heads=2, head_dim=8, max_relative_position=2, dtype=dtype)
        else:  # ConvBERT's: 2 attention heads of size 4 + 2 convolution heads
            layer = MixedAttention(hidden_dim=16, num_heads=4, conv_kernel_size=3, dtype=dtype)
        layer.build((None, None, 16))
        return layer

    x = np.random.RandomState(0).randn(2, 6, 16).astype("float32")
    reference = build("float32")
    width = reference.query.kernel.shape[1]
    head_dim = width // 2
    # Identity-like q/k kernels scaled by c: q.k grows as c^2. Pick c so the
    # largest raw logit is 1.5x float16's maximum.
    heads = x[..., :width].reshape(2, 6, 2, head_dim)
    raw = np.abs(np.einsum("bihd,bjhd->bhij", heads, heads)).max()
    c = np.sqrt(1.5 * FLOAT16_MAX / raw)
    for name in ("query", "key"):
        getattr(reference, name).kernel.assign(np.eye(16, width, dtype="float32") * c)
    want = to_numpy(reference(x))

    mixed = build("mixed_float16")
    mixed.set_weights(reference.get_weights())
    got = _float(mixed(x))
    assert np.isfinite(got).all()
    assert np.max(np.abs(got - want)) <= 2e-2 * max(1.0, np.abs(want).max())


@pytest.fixture(scope="module")
def bf16_preset(tmp_path_factory):
    """A NEZHA classifier (real vocabulary) saved as a mixed_bfloat16 preset."""
    tokenizer = models.NezhaTokenizer(asset("vocab", "bert-base-chinese-vocab.txt"))
    backbone = models.NezhaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2,
        hidden_dim=16, intermediate_dim=32, max_relative_position=4,
        dropout=0.0, attention_dropout=0.0, dtype="mixed_bfloat16",
    )
    preprocessor = models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=16)
    task = models.NezhaTextClassifier(backbone, num_classes=2, preprocessor=preprocessor)
    path = str(tmp_path_factory.mktemp("bf16") / "preset")
    task.save_to_preset(path)
    x = preprocessor(["今天天气很好", "这家酒店不太干净，服务也差"])
    return path, task, x


# task.weights.h5 carries the saved optimizer's variables; a reload under
# another policy has a LossScaleOptimizer instead, and Keras says so.
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_preset_reloads_in_the_policy_asked_for(bf16_preset, global_policy):
    path, saved, x = bf16_preset
    saved_weights = saved.backbone.get_weights()
    with open(os.path.join(path, "config.json")) as f:
        assert json.load(f)["config"]["dtype"]["config"]["name"] == "mixed_bfloat16"

    # An explicit dtype wins.
    backbone = models.NezhaBackbone.from_preset(path, dtype="mixed_float16")
    assert backbone.dtype_policy.name == "mixed_float16"
    out = backbone(x)["pooled_output"]
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    assert np.max(np.abs(_float(out) - _float(saved.backbone(x)["pooled_output"]))) <= 5e-2

    task = keras_hub.models.TextClassifier.from_preset(path, dtype="mixed_float16")
    assert isinstance(task, models.NezhaTextClassifier)
    assert task.dtype_policy.name == task.backbone.dtype_policy.name == "mixed_float16"
    assert task.output_dense.dtype_policy.name == "mixed_float16"
    assert isinstance(task.optimizer, keras.optimizers.LossScaleOptimizer)

    # Without one, the current global policy applies (keras-hub's rule, like
    # `from_pretrained` without `torch_dtype`); the saved policy does not.
    backbone = models.NezhaBackbone.from_preset(path)
    assert backbone.dtype_policy.name == keras.config.dtype_policy().name == "float32"
    global_policy("mixed_bfloat16")
    assert models.NezhaBackbone.from_preset(path).dtype_policy.name == "mixed_bfloat16"

    # Mixed policies keep float32 variables: every reload has the exact weights.
    for got, want in zip(backbone.get_weights(), saved_weights):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("model", ["nezha", "ernie_m"])
def test_task_trains_under_mixed_float16_with_loss_scaling(model):
    if keras.config.backend() != "tensorflow" and model == "ernie_m":
        pytest.skip("one task per backend is enough off TensorFlow (slow on CPU)")
    task = tiny_classifier(model, dtype="mixed_float16")
    task.compile(optimizer=keras.optimizers.Adam(1e-2))
    # Keras wraps the optimizer because the task's policy is mixed_float16.
    assert task.dtype_policy.name == "mixed_float16"
    assert isinstance(task.optimizer, keras.optimizers.LossScaleOptimizer)
    x, y = tiny_batch(model), tiny_labels()
    before = [to_numpy(v) for v in task.trainable_weights]
    history = task.fit(x, y, batch_size=4, epochs=4, shuffle=False, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    after = [to_numpy(v) for v in task.trainable_weights]
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in after)
    assert max(np.max(np.abs(a - b)) for a, b in zip(after, before)) > 0
    assert np.isfinite(float(to_numpy(task.optimizer.dynamic_scale)))
