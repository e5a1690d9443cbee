"""LoRA: `backbone.enable_lora(rank)` adapts the right projections, trains only
the LoRA factors (plus the task head), and the factors save and load apart
from the base weights."""

import warnings

import keras
import numpy as np
import pytest

from keras_encoders import models
from tests.conftest import max_abs_diff, to_numpy
from tests.tiny_models import MODELS, tiny_backbone, tiny_batch, tiny_classifier, tiny_labels

# The sublayers `enable_lora` adapts in every transformer layer.
TARGETS = {
    "nezha": {"query", "value"},
    "ernie_m": {"query", "value"},
    # + the convolution heads' value projection; conv_kernel / key_conv stay frozen.
    "convbert": {"query", "value", "conv_out"},
}
LAYERS = 1
RANK = 2


def _paths(variables):
    return {v.path for v in variables}


@pytest.mark.parametrize("model", MODELS)
def test_lora_trains_only_adapters_and_reloads(model, tmp_path):
    task = tiny_classifier(model, num_layers=LAYERS)
    backbone = task.backbone
    x, y = tiny_batch(model), tiny_labels()
    base_weights = backbone.get_weights()
    before = {v.path: to_numpy(v) for v in backbone.weights}
    base_out = to_numpy(backbone(x)["sequence_output"])

    backbone.enable_lora(RANK)

    # Exactly the LoRA factors of the targeted layers, plus the task head.
    lora = _paths(backbone.trainable_weights)
    assert all(path.endswith(("/lora_kernel_a", "/lora_kernel_b")) for path in lora), lora
    adapted = [path.split("/")[-2] for path in lora if path.endswith("/lora_kernel_a")]
    assert sorted(adapted) == sorted(list(TARGETS[model]) * LAYERS)
    assert len(lora) == 2 * len(adapted)
    head = _paths(task.weights) - _paths(backbone.weights)
    assert head  # the classifier's own dense layer(s)
    assert _paths(task.trainable_weights) == lora | head

    # LoRA starts as the identity (B = 0): outputs unchanged until trained.
    assert max_abs_diff(backbone(x)["sequence_output"], base_out) == 0.0

    # Eager steps are cheapest, except on JAX (op-by-op compiles).
    task.compile(optimizer=keras.optimizers.Adam(5e-2), run_eagerly=keras.config.backend() != "jax")
    for _ in range(2):
        task.train_on_batch(x, y)
    # Frozen weights did not move (the merged kernels are not the variables).
    frozen = [v for v in backbone.weights if v.path not in lora]
    for v in frozen:
        np.testing.assert_array_equal(to_numpy(v), before[v.path], err_msg=v.path)
    tuned = to_numpy(backbone(x)["sequence_output"])
    assert np.max(np.abs(tuned - base_out)) > 1e-4, "LoRA training changed nothing"

    # The factors save on their own and reload onto fresh base weights.
    path = str(tmp_path / f"{model}.lora.h5")
    backbone.save_lora_weights(path)
    fresh = tiny_backbone(model, num_layers=LAYERS)
    fresh.set_weights(base_weights)
    fresh.load_lora_weights(path)
    assert max_abs_diff(fresh(x)["sequence_output"], tuned) <= 1e-6


def test_lora_targets_can_be_chosen():
    backbone = tiny_backbone("convbert")
    backbone.enable_lora(RANK, target_layer_names=["conv_kernel"])
    names = {v.path.split("/")[-2] for v in backbone.trainable_weights}
    assert names == {"conv_kernel"}
    assert all("lora_kernel" in v.path for v in backbone.trainable_weights)


def test_lora_on_a_reloaded_int8_preset_saves_merged(tmp_path):
    """LoRA on an int8 preset (QLoRA's recipe): the tuned backbone saves with
    the factors merged into its int8 kernels (Keras re-quantizes them), and
    reloads to the tuned outputs within int8 rounding (about 1e-3 of their
    scale, against 0.1 for the factors). Keras 3.15 failed to save it
    ("Invalid dtype: object") until `Quantizable.from_config` gave the
    reloaded layers their own policies."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # layers without int8 kernels stay float
        backbone = tiny_backbone("nezha", num_layers=LAYERS)
        backbone.quantize("int8")
    backbone.save_to_preset(str(tmp_path / "int8"))
    tuned = models.NezhaBackbone.from_preset(str(tmp_path / "int8"))
    tuned.enable_lora(RANK)
    rng = np.random.default_rng(0)
    for factor in tuned.trainable_weights:
        factor.assign(0.5 * rng.normal(size=factor.shape).astype("float32"))
    x = tiny_batch("nezha")
    want = to_numpy(tuned(x)["sequence_output"])
    assert max_abs_diff(want, to_numpy(backbone(x)["sequence_output"])) > 0.1  # the factors count
    tuned.save_to_preset(str(tmp_path / "tuned"))
    merged = models.NezhaBackbone.from_preset(str(tmp_path / "tuned"))
    assert not any("lora" in w.path for w in merged.weights)
    assert any("int8" in str(w.dtype) for w in merged.weights)
    assert max_abs_diff(to_numpy(merged(x)["sequence_output"]), want) <= 1e-2 * np.abs(want).max()
