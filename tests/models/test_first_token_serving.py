"""`serving_call` (what `export_saved_model` traces): heads that read only
the first position run the last layer for that position alone
(`EncoderBackbone.first_token_outputs`), with the numbers of the full call,
padded rows included; other heads and ConvBERT run the full model."""

import numpy as np
import pytest

from keras_encoders import models
from keras_encoders.layers import PostLNEncoderLayer
from tests.conftest import max_abs_diff, to_numpy
from tests.tiny_models import MODELS, tiny_backbone, tiny_batch

TASKS = {
    "nezha": ("NezhaTextClassifier", "NezhaMultipleChoice", "NezhaNextSentencePredictor"),
    "ernie_m": ("ErnieMTextClassifier", "ErnieMMultipleChoice", None),
    "convbert": ("ConvBertTextClassifier", "ConvBertMultipleChoice", None),
}


def tasks(model):
    """Every summarizing head of `model` on one two-layer backbone."""
    backbone = tiny_backbone(model, num_layers=2)
    classifier, chooser, nsp = (getattr(models, name) if name else None for name in TASKS[model])
    heads = [
        classifier(backbone, num_classes=3, summary_type=summary, hidden_dim=8)
        for summary in ("pooled", "first", "last")
        if summary != "pooled" or "pooled_dense" in dir(backbone)
    ]
    heads.append(chooser(backbone))
    if nsp is not None:
        heads.append(nsp(backbone))
    return backbone, heads


def choices(x, count=2):
    """(B, C, L) inputs from (B, L) ones: each choice its own rows."""
    return {k: np.stack([np.roll(v, i, axis=0) for i in range(count)], axis=1) for k, v in x.items()}


@pytest.mark.parametrize("model", MODELS)
def test_serving_call_gives_the_full_calls_numbers(model):
    backbone, heads = tasks(model)
    x = tiny_batch(model)
    for task in heads:
        inputs = choices(x) if isinstance(task, models.MultipleChoice) else x
        want = to_numpy(task(inputs, training=False))
        got = to_numpy(task.serving_call(inputs))
        assert got.shape == want.shape
        # float32 rounding of products of other shapes; a wrong row or key
        # set is off by whole logits.
        assert max_abs_diff(got, want) <= 1e-6 * max(1.0, np.abs(want).max()), type(task).__name__


@pytest.mark.parametrize("model", MODELS)
def test_first_token_outputs_compute_one_row(model):
    backbone = tiny_backbone(model, num_layers=2)
    x = tiny_batch(model)
    if model == "convbert":
        # Its convolution heads read every position's neighbours.
        assert not backbone.first_token_alone
        with pytest.raises(NotImplementedError, match="sequence_output"):
            backbone.first_token_outputs(x)
        return
    assert backbone.first_token_alone
    full = {k: to_numpy(v) for k, v in backbone(x).items()}
    first = {k: to_numpy(v) for k, v in backbone.first_token_outputs(x).items()}
    assert first["sequence_output"].shape == (4, 1, 16)
    assert max_abs_diff(first["sequence_output"], full["sequence_output"][:, :1]) <= 1e-6
    assert max_abs_diff(first["pooled_output"], full["pooled_output"]) <= 1e-6
    # The checks of a full call: an id outside the vocabulary is refused.
    bad = dict(x, token_ids=np.where(x["token_ids"] == x["token_ids"][0, 0], 999, x["token_ids"]))
    with pytest.raises(ValueError, match="token_ids"):
        backbone.first_token_outputs(bad)


@pytest.mark.parametrize("relative", [None, 2])
def test_encoder_layer_query_rows_are_its_first_rows(relative):
    layer = PostLNEncoderLayer(hidden_dim=8, intermediate_dim=16, num_heads=2,
                               max_relative_position=relative, dropout=0.0, attention_dropout=0.0)
    x = np.random.default_rng(0).normal(size=(3, 7, 8)).astype("float32")
    mask = np.ones((3, 7), "int32")
    mask[1, 4:] = 0
    full = to_numpy(layer(x, padding_mask=mask))
    for rows in (1, 2):
        got = to_numpy(layer(x, padding_mask=mask, query_rows=rows))
        assert got.shape == (3, rows, 8)
        assert max_abs_diff(got, full[:, :rows]) <= 1e-6
