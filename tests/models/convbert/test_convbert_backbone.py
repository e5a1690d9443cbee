"""ConvBertBackbone against `transformers.ConvBertModel`, loaded from save_pretrained."""

import json
import os

import keras
import keras_hub
import numpy as np
import pytest
import torch
import transformers

import keras_encoders  # noqa: F401  (registers the converters)
from keras_encoders.convert import CheckpointFormatError
from keras_encoders.convert import CheckpointMismatchError
from keras_encoders.models import ConvBertBackbone
from tests.conftest import max_abs_diff, to_numpy

VOCAB = 99
B = 3

# Tiny versions of every published shape, plus the corner cases of the
# mixed-attention head arithmetic (H' = N // r, d = (D // H') // 2).
CONFIGS = {
    # conv-bert-base: E == H (no projection), plain FFN, H'=2, d=12.
    "base_shaped": dict(hidden_size=48, embedding_size=48, num_attention_heads=4,
                        intermediate_size=64, num_groups=1, conv_kernel_size=9),
    # conv-bert-medium-small: E != H, grouped FFN (G=2), H'=4, d=4.
    "medium_small_shaped": dict(hidden_size=32, embedding_size=16, num_attention_heads=8,
                                intermediate_size=64, num_groups=2, conv_kernel_size=9),
    # conv-bert-small: E != H, plain FFN, H'=2, d=8.
    "small_shaped": dict(hidden_size=32, embedding_size=16, num_attention_heads=4,
                         intermediate_size=64, num_groups=1, conv_kernel_size=9),
    # head_ratio 3 with 6 heads: H'=2, d=(24//2)//2=6 (HF's formula, not D/N).
    "head_ratio_3": dict(hidden_size=24, embedding_size=24, num_attention_heads=6,
                         head_ratio=3, intermediate_size=48, conv_kernel_size=5),
    # N < r: one attention head of d = D // 2.
    "one_head_fallback": dict(hidden_size=24, embedding_size=16, num_attention_heads=1,
                              head_ratio=2, intermediate_size=48, conv_kernel_size=9),
    # The HF test's tiny shape: k=3, grouped, projected.
    "kernel_3_grouped": dict(hidden_size=32, embedding_size=16, num_attention_heads=4,
                             intermediate_size=40, num_groups=2, conv_kernel_size=3),
}


def hf_config(**kwargs):
    defaults = dict(vocab_size=VOCAB, num_hidden_layers=2, max_position_embeddings=32,
                    pad_token_id=0, hidden_act="gelu")
    return transformers.ConvBertConfig(**{**defaults, **kwargs})


def hf_model(seed=0, **kwargs):
    """A random `ConvBertModel` with non-trivial biases and LayerNorms."""
    torch.manual_seed(seed)
    model = transformers.ConvBertModel(hf_config(**kwargs)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def batch(length, seed=0, vocab=VOCAB):
    """Padded at the end with different real lengths; both segments used."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, (B, length)).astype("int32")
    seg = np.zeros((B, length), "int32")
    seg[:, length // 2:] = 1
    mask = np.ones((B, length), "int32")
    mask[1, length - 3:] = 0
    mask[2, 4:] = 0
    ids[mask == 0] = 0
    seg[mask == 0] = 0
    return {"token_ids": ids, "segment_ids": seg, "padding_mask": mask}


def reference(model, x):
    with torch.no_grad():
        return model(
            input_ids=torch.tensor(x["token_ids"], dtype=torch.long),
            token_type_ids=torch.tensor(x["segment_ids"], dtype=torch.long),
            attention_mask=torch.tensor(x["padding_mask"], dtype=torch.long),
        ).last_hidden_state.numpy()


def tiny_backbone(**overrides):
    """A random backbone in the "kernel_3_grouped" shape (E != H, G=2, k=3);
    sharing shapes with a parity case keeps JAX from compiling new
    initializers."""
    config = dict(vocabulary_size=VOCAB, num_layers=1, num_heads=4, hidden_dim=32,
                  intermediate_dim=40, embedding_dim=16, num_groups=2,
                  conv_kernel_size=3, max_sequence_length=32)
    return ConvBertBackbone(**{**config, **overrides})


def num_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name, safe, length, loader",
    [
        ("base_shaped", True, 13, "ConvBertBackbone"),
        ("medium_small_shaped", False, 12, "ConvBertBackbone"),  # pytorch_model.bin
        ("small_shaped", True, 11, "keras_hub.models.Backbone"),
        ("head_ratio_3", False, 13, "ConvBertBackbone"),
        ("one_head_fallback", True, 12, "ConvBertBackbone"),
        ("kernel_3_grouped", True, 11, "keras_hub.models.Backbone"),
    ],
)
def test_parity_with_hf(tmp_path, name, safe, length, loader):
    hf = hf_model(**CONFIGS[name])
    hf.save_pretrained(tmp_path, safe_serialization=safe)
    weights = "model.safetensors" if safe else "pytorch_model.bin"
    assert (tmp_path / weights).exists()

    if loader == "ConvBertBackbone":
        backbone = ConvBertBackbone.from_preset(str(tmp_path))
    else:  # keras-hub's entry point dispatches to our class
        backbone = keras_hub.models.Backbone.from_preset(str(tmp_path))
    assert type(backbone) is ConvBertBackbone
    assert backbone.count_params() == num_params(hf)
    assert backbone.embedding_dim == CONFIGS[name]["embedding_size"]
    x = batch(length)
    out = backbone(x)
    assert set(out) == {"sequence_output"}  # no pooler
    assert max_abs_diff(out["sequence_output"], reference(hf, x)) <= 1e-5
    assert_same_padding_leak(hf, backbone, x)


def assert_same_padding_leak(hf, backbone, x):
    """The convolution heads ignore the padding mask, in HF and here alike.

    Row 2 has 4 real tokens; changing the id of the padding token right after
    them changes their outputs (through the span convolution), by the same
    amount in both implementations.
    """
    y = {k: v.copy() for k, v in x.items()}
    assert x["padding_mask"][2, 4] == 0
    y["token_ids"][2, 4] = 57
    ours = to_numpy(backbone(y)["sequence_output"]) - to_numpy(backbone(x)["sequence_output"])
    theirs = reference(hf, y) - reference(hf, x)
    real = slice(0, 4)
    assert np.abs(theirs[2, real]).max() > 1e-4  # the leak exists in HF ...
    assert np.abs(ours[2, real]).max() > 1e-4  # ... and here
    np.testing.assert_allclose(ours[2, real], theirs[2, real], atol=1e-5)
    # Other rows of the batch do not change.
    assert np.abs(ours[:2]).max() <= 1e-6


def test_conv_bert_model_type_and_head_checkpoint(tmp_path):
    """`model_type: conv_bert` (the base upload) and a `convbert.`-prefixed
    head checkpoint both load; the head's keys are left to the task."""
    torch.manual_seed(0)
    hf = transformers.ConvBertForSequenceClassification(
        hf_config(num_labels=3, **CONFIGS["small_shaped"])
    ).eval()
    hf.save_pretrained(tmp_path)
    edit_config(tmp_path, model_type="conv_bert")
    backbone = ConvBertBackbone.from_preset(str(tmp_path))
    x = batch(11)
    with torch.no_grad():
        want = hf.convbert(
            input_ids=torch.tensor(x["token_ids"], dtype=torch.long),
            token_type_ids=torch.tensor(x["segment_ids"], dtype=torch.long),
            attention_mask=torch.tensor(x["padding_mask"], dtype=torch.long),
        ).last_hidden_state.numpy()
    assert max_abs_diff(backbone(x)["sequence_output"], want) <= 1e-5


@pytest.mark.skipif(keras.config.backend() == "torch", reason="TF/JAX compilation")
def test_compiled_call_matches_eager():
    backbone = tiny_backbone(num_layers=2)
    x = batch(13)
    eager = to_numpy(backbone(x)["sequence_output"])
    if keras.config.backend() == "jax":
        import jax

        @jax.jit
        def run(trainable, non_trainable, inputs):
            outputs, _ = backbone.stateless_call(trainable, non_trainable, inputs)
            return outputs

        compiled = run(
            [v.value for v in backbone.trainable_variables],
            [v.value for v in backbone.non_trainable_variables],
            x,
        )
    else:
        import tensorflow as tf

        compiled = tf.function(lambda inputs: backbone(inputs), jit_compile=True)(x)
    assert max_abs_diff(compiled["sequence_output"], eager) <= 1e-5
    # `predict` compiles on every backend too.
    predicted = backbone.predict(x, verbose=0)["sequence_output"]
    assert max_abs_diff(predicted, eager) <= 1e-5


def test_config_and_saving_round_trip(tmp_path):
    backbone = tiny_backbone()
    config = backbone.get_config()
    for key in ("embedding_dim", "head_ratio", "conv_kernel_size", "num_groups",
                "max_sequence_length"):
        assert key in config
    x = batch(10)
    want = to_numpy(backbone(x)["sequence_output"])
    path = str(tmp_path / "convbert.keras")
    backbone.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is ConvBertBackbone
    assert max_abs_diff(restored(x)["sequence_output"], want) == 0.0
    preset = str(tmp_path / "preset")
    backbone.save_to_preset(preset)
    again = keras_hub.models.Backbone.from_preset(preset)
    assert type(again) is ConvBertBackbone
    assert max_abs_diff(again(x)["sequence_output"], want) == 0.0


# === Errors ===
def test_sequence_longer_than_positions():
    backbone = tiny_backbone(max_sequence_length=8)
    backbone(batch(8))  # exactly the limit is fine
    with pytest.raises(ValueError, match="exceeds the maximum of 8 positions"):
        backbone(batch(9))


def test_even_kernel_size_is_refused():
    with pytest.raises(ValueError, match="odd"):
        ConvBertBackbone(vocabulary_size=VOCAB, num_layers=1, num_heads=2,
                         hidden_dim=16, intermediate_dim=32, conv_kernel_size=4)


def test_other_model_types_are_refused(tmp_path):
    torch.manual_seed(0)
    bert = tmp_path / "bert"
    transformers.BertModel(transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32,
    )).save_pretrained(bert)
    with pytest.raises(ValueError, match="BertBackbone"):
        ConvBertBackbone.from_preset(str(bert))
    nezha = tmp_path / "nezha"
    transformers.NezhaModel(transformers.NezhaConfig(
        vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_relative_position=4,
    )).save_pretrained(nezha)
    with pytest.raises(ValueError, match="NezhaBackbone"):
        ConvBertBackbone.from_preset(str(nezha))


@pytest.fixture
def checkpoint(tmp_path):
    hf_model(**CONFIGS["kernel_3_grouped"]).save_pretrained(tmp_path)
    return tmp_path


def edit_config(path, **changes):
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    (path / "config.json").write_text(json.dumps(config))


def test_missing_weights_file(checkpoint):
    os.remove(checkpoint / "model.safetensors")
    with pytest.raises(FileNotFoundError, match="No weights"):
        ConvBertBackbone.from_preset(str(checkpoint))
    # The architecture alone still builds.
    backbone = ConvBertBackbone.from_preset(str(checkpoint), load_weights=False)
    assert backbone.num_layers == 2


def test_more_layers_in_config_than_weights(checkpoint):
    edit_config(checkpoint, num_hidden_layers=3)
    with pytest.raises(CheckpointMismatchError, match="missing keys") as info:
        ConvBertBackbone.from_preset(str(checkpoint))
    assert "encoder.layer.2.attention.self.key_conv_attn_layer.depthwise.weight" in str(info.value)


def test_shape_mismatch_is_named(checkpoint):
    edit_config(checkpoint, hidden_size=48)
    with pytest.raises(CheckpointMismatchError, match="shape mismatches") as info:
        ConvBertBackbone.from_preset(str(checkpoint))
    assert "embeddings_project.weight: checkpoint (32, 16)" in str(info.value)


def test_grouped_config_with_plain_weights(checkpoint):
    edit_config(checkpoint, num_groups=1)
    with pytest.raises(CheckpointMismatchError, match="intermediate.dense.weight"):
        ConvBertBackbone.from_preset(str(checkpoint))


def test_truncated_safetensors(checkpoint):
    path = checkpoint / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointFormatError, match="truncated or corrupt"):
        ConvBertBackbone.from_preset(str(checkpoint))


# === Full size ===
@pytest.mark.large
@pytest.mark.parametrize(
    "size, expected_params",
    [
        ("medium_small", 17_475_888),
        ("base", 105_680_520),
    ],
)
def test_parity_at_published_sizes(tmp_path, size, expected_params):
    shapes = {
        "medium_small": dict(hidden_size=384, embedding_size=128, num_attention_heads=8,
                             intermediate_size=1536, num_groups=2),
        "base": dict(hidden_size=768, embedding_size=768, num_attention_heads=12,
                     intermediate_size=3072, num_groups=1),
    }[size]
    torch.manual_seed(0)
    hf = transformers.ConvBertModel(hf_config(
        vocab_size=30522, num_hidden_layers=12, max_position_embeddings=512, **shapes
    )).eval()
    hf.save_pretrained(tmp_path)
    backbone = ConvBertBackbone.from_preset(str(tmp_path))
    assert backbone.count_params() == num_params(hf) == expected_params
    x = batch(64, vocab=30522)
    assert max_abs_diff(backbone(x)["sequence_output"], reference(hf, x)) <= 1e-4
