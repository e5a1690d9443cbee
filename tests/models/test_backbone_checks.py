"""Backbone constructor arguments are checked before any layer is built
(`models.backbone_checks`): a bad value is a one-line `ValueError` naming the
argument, the value and the accepted range, and a configuration beyond the
parameter ceiling is refused without allocating it."""

import numpy as np
import pytest

from keras_encoders import models
from tests.convert.test_hostile_checkpoints import MiB
from tests.convert.test_hostile_checkpoints import assert_refused
from tests.tiny_models import tiny_backbone

BACKBONES = {"nezha": models.NezhaBackbone, "convbert": models.ConvBertBackbone, "ernie_m": models.ErnieMBackbone}
TINY = dict(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32)

BAD_ARGUMENTS = [
    # (model, argument, value, what the message says)
    ("nezha", "num_heads", 0, "must be between 1 and 4096, got 0"),
    ("convbert", "num_heads", 0, "must be between 1 and 4096, got 0"),
    ("ernie_m", "num_heads", 0, "must be between 1 and 4096, got 0"),
    ("nezha", "num_layers", 1_000_000, "must be between 1 and 1000, got 1000000"),
    ("nezha", "layer_norm_epsilon", float("nan"), "must be a positive, finite number, got nan"),
    ("ernie_m", "layer_norm_epsilon", -1.0, "must be a positive, finite number, got -1.0"),
    ("convbert", "dropout", 1.5, "must be a probability in [0, 1], got 1.5"),
    ("nezha", "vocabulary_size", 50.0, "must be an integer, got 50.0 (float)"),
    ("ernie_m", "hidden_dim", True, "must be an integer, got True (bool)"),
    ("nezha", "num_heads", 3, "(16) must be divisible by num_heads (3)"),
    ("convbert", "conv_kernel_size", 4, "must be odd"),
    ("convbert", "num_groups", 3, "must be divisible by num_groups (3)"),
    ("ernie_m", "pad_position_id", -1, "must be between 0 and 1000000, got -1"),
    ("nezha", "num_segments", None, "is None"),
    # Keras' Embedding refused input_dim 0 in its own words.
    ("nezha", "num_segments", 0, "must be between 1 and 1000, got 0"),
    ("convbert", "num_segments", 0, "must be between 1 and 1000, got 0"),
    ("convbert", "attention_dropout", None, "is None"),
    ("ernie_m", "layer_norm_epsilon", None, "is None"),
]


@pytest.mark.parametrize("model,argument,value,fragment", BAD_ARGUMENTS,
                         ids=[f"{m}-{a}-{v}" for m, a, v, _ in BAD_ARGUMENTS])
def test_bad_argument_is_one_clear_value_error(model, argument, value, fragment):
    cls = BACKBONES[model]
    with pytest.raises(ValueError) as e:
        cls(**{**TINY, argument: value})
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"{cls.__name__}: argument ") and argument in message, message
    assert fragment in message, message


def test_arguments_whose_default_is_none_may_be_none():
    convbert = models.ConvBertBackbone(**{**TINY, "embedding_dim": None})
    assert convbert.embedding_dim == TINY["hidden_dim"]
    ernie_m = models.ErnieMBackbone(**{**TINY, "pad_position_id": None})
    assert ernie_m.get_config()["pad_position_id"] is None


SMALL = {
    "nezha": dict(max_relative_position=3),
    "convbert": dict(embedding_dim=8, num_groups=2, conv_kernel_size=3, max_sequence_length=16),
    "ernie_m": dict(max_sequence_length=16),
}


@pytest.mark.parametrize("model", sorted(BACKBONES))
@pytest.mark.parametrize("overrides", [
    {},
    dict(num_layers=2, num_heads=2, hidden_dim=24, intermediate_dim=48),
    dict(num_segments=3),
    dict(embedding_dim=16, num_groups=1, head_ratio=4, num_heads=8, hidden_dim=32),
], ids=["tiny", "wider", "segments", "heads"])
def test_implied_parameter_count_is_the_built_count(model, overrides):
    if model == "ernie_m":
        overrides = {k: v for k, v in overrides.items() if k != "num_segments"}
    if model != "convbert":
        overrides = {k: v for k, v in overrides.items() if k not in ("embedding_dim", "num_groups", "head_ratio")}
    backbone = BACKBONES[model](**{**TINY, **SMALL[model], **overrides})
    assert type(backbone).implied_parameter_count(backbone.get_config()) == backbone.count_params()


# The audit's cases: 1,000 layers x 4,096 wide (~805 GB) and a 5M x 65,536
# vocabulary (1.19 TiB): inside the per-field bounds, far past the ceiling.
ENORMOUS = {
    "deep-and-wide": dict(num_layers=1000, num_heads=64, hidden_dim=4096, intermediate_dim=16384),
    "huge-vocabulary": dict(vocabulary_size=5_000_000, num_heads=64, hidden_dim=65536),
}


@pytest.mark.parametrize("model", sorted(BACKBONES))
@pytest.mark.parametrize("case", sorted(ENORMOUS))
def test_enormous_configuration_is_refused_before_allocating(model, case):
    cls = BACKBONES[model]
    message = assert_refused(
        lambda: cls(**{**TINY, **ENORMOUS[case]}), ValueError,
        cls.__name__, "parameters", "allow_parameters", "KERAS_ENCODERS_MAX_PARAMETERS",
        limit=16 * MiB,
    )
    assert f"{models.parameter_ceiling():,}" in message


def test_the_ceiling_is_documented_and_overridable(monkeypatch):
    monkeypatch.delenv("KERAS_ENCODERS_MAX_PARAMETERS", raising=False)
    assert models.parameter_ceiling() == 4_000_000_000
    count = models.NezhaBackbone.implied_parameter_count({**TINY, "max_relative_position": 3})
    monkeypatch.setenv("KERAS_ENCODERS_MAX_PARAMETERS", str(count - 1))
    with pytest.raises(ValueError, match=f"{count:,} parameters"):
        tiny_backbone("nezha")
    with models.allow_parameters(count):
        backbone = tiny_backbone("nezha")
    assert backbone.count_params() == count
    monkeypatch.setenv("KERAS_ENCODERS_MAX_PARAMETERS", "lots")
    with pytest.raises(ValueError, match="KERAS_ENCODERS_MAX_PARAMETERS='lots'"):
        models.parameter_ceiling()


def test_numpy_integers_are_arguments_too():
    backbone = models.ErnieMBackbone(**{**TINY, "num_layers": np.int64(1)})
    assert backbone.count_params() == models.ErnieMBackbone.implied_parameter_count(backbone.get_config())
