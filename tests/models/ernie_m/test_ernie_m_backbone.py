"""ErnieMBackbone against `transformers.ErnieMModel`, loaded from save_pretrained."""

import json
import os
import shutil

import keras
import keras_hub
import numpy as np
import pytest
import torch
import transformers

import keras_encoders  # noqa: F401  (registers the converters)
from keras_encoders.convert import CheckpointFormatError
from keras_encoders.convert import CheckpointMismatchError
from keras_encoders.convert.families.ernie_m import hf as convert_ernie_m
from keras_encoders.models import ErnieMBackbone
from tests.conftest import max_abs_diff, to_numpy

try:
    from transformers import ErnieMConfig, ErnieMModel
except ImportError:  # later releases keep it only under `deprecated`
    from transformers.models.deprecated.ernie_m import ErnieMConfig, ErnieMModel

VOCAB = 99
PAD = 1
TOL = 1e-5


def hf_config(**kwargs):
    # intermediate_size != 4 * hidden (HF honours it, Paddle did not) and a
    # nonzero act_dropout (inert in eval mode) exercise the config conversion.
    defaults = dict(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=40, max_position_embeddings=64, act_dropout=0.3,
        hidden_act="gelu",
    )
    return ErnieMConfig(**{**defaults, **kwargs})


def randomize(model, seed=0):
    """Noise on every tensor: non-zero biases, non-trivial LayerNorms."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def hf_model(cls=ErnieMModel, seed=0, **kwargs):
    torch.manual_seed(seed)
    return randomize(cls(hf_config(**kwargs)), seed)


def save(model, directory, safe=True):
    model.save_pretrained(str(directory), safe_serialization=safe)
    return str(directory)


def padded_batch(length=9):
    """Three rows of different real lengths, padded with id 1 at the end.

    Row 0 holds id 0 mid-sequence: it is a real token (early PaddleNLP
    masked id 0 by mistake), so only id 1 may be masked.
    """
    rng = np.random.default_rng(0)
    ids = rng.integers(2, VOCAB, size=(3, length)).astype("int32")
    ids[:, 0] = 0  # [CLS]
    ids[0, 3] = 0
    ids[1, length - 3:] = PAD
    ids[2, 4:] = PAD
    return ids


def hf_outputs(model, ids, mask=None):
    with torch.no_grad():
        out = model(
            torch.tensor(ids, dtype=torch.long),
            attention_mask=None if mask is None else torch.tensor(mask, dtype=torch.long),
        )
    pooled = out.pooler_output  # None for heads built without a pooler
    return out.last_hidden_state.numpy(), None if pooled is None else pooled.numpy()


def assert_parity(backbone, hf, ids, tol=TOL):
    """Explicit 2-D mask, then no mask on either side."""
    mask = (ids != PAD).astype("int32")
    diffs = {}
    for name, kwargs, hf_mask in (
        ("explicit_mask", {"padding_mask": mask}, mask),
        ("no_mask", {}, None),
    ):
        ours = backbone({"token_ids": ids, **kwargs})
        seq, pooled = hf_outputs(hf, ids, hf_mask)
        diffs[name] = (
            max_abs_diff(ours["sequence_output"], seq),
            max_abs_diff(ours["pooled_output"], pooled),
        )
    assert all(d <= tol for pair in diffs.values() for d in pair), diffs
    return diffs


@pytest.fixture(scope="module")
def hf():
    return hf_model()


@pytest.fixture(scope="module", params=["safetensors", "pytorch_model.bin"])
def hf_dir(request, hf, tmp_path_factory):
    directory = tmp_path_factory.mktemp(request.param.replace(".", "_"))
    return save(hf, directory, safe=request.param == "safetensors")


@pytest.fixture(scope="module")
def st_dir(hf, tmp_path_factory):
    """The safetensors save, for tests that do not depend on the format."""
    return save(hf, tmp_path_factory.mktemp("st"))


# === Parity ===
def test_parity_from_preset(hf, hf_dir):
    backbone = ErnieMBackbone.from_preset(hf_dir)
    assert_parity(backbone, hf, padded_batch())


def test_keras_hub_backbone_from_preset_returns_ernie_m(hf, hf_dir):
    backbone = keras_hub.models.Backbone.from_preset(hf_dir)
    assert isinstance(backbone, ErnieMBackbone)
    assert_parity(backbone, hf, padded_batch())


def test_config_conversion(st_dir):
    backbone = ErnieMBackbone.from_preset(st_dir, load_weights=False)
    assert backbone.intermediate_dim == 40
    assert backbone.activation_dropout == 0.3
    assert backbone.layer_norm_epsilon == 1e-5
    assert backbone.max_sequence_length == 62  # 64 positions - the offset 2
    assert backbone.pad_token_id == 1
    # `act_dropout: null` means hidden_dropout_prob in the reference.
    config = {**hf_config().to_dict(), "act_dropout": None, "hidden_dropout_prob": 0.2}
    assert convert_ernie_m.convert_backbone_config(config)["activation_dropout"] == 0.2
    with pytest.raises(ValueError, match="gelu"):
        convert_ernie_m.convert_backbone_config({**config, "hidden_act": "relu"})


def test_missing_mask_is_derived_from_pad_id_not_zero(st_dir):
    backbone = ErnieMBackbone.from_preset(st_dir)
    ids = padded_batch()
    derived = to_numpy(backbone({"token_ids": ids})["sequence_output"])
    explicit = to_numpy(
        backbone({"token_ids": ids, "padding_mask": ids != PAD})["sequence_output"]
    )
    np.testing.assert_array_equal(derived, explicit)
    # Masking id 0 as well (the old Paddle default) changes the numbers.
    paddle_bug = (ids != PAD) & (ids != 0)
    wrong = to_numpy(
        backbone({"token_ids": ids, "padding_mask": paddle_bug})["sequence_output"]
    )
    assert np.max(np.abs(wrong[0] - derived[0])) > 1e-3


def test_symbolic_call_without_padding_mask(st_dir):
    backbone = ErnieMBackbone.from_preset(st_dir)
    token_ids = keras.Input(shape=(None,), dtype="int32")
    outputs = backbone({"token_ids": token_ids})
    model = keras.Model(token_ids, outputs["pooled_output"])
    ids = padded_batch()
    np.testing.assert_allclose(
        to_numpy(model(ids)), to_numpy(backbone({"token_ids": ids})["pooled_output"]),
        atol=1e-6,
    )


def test_predict_without_padding_mask(st_dir):
    # `predict` is compiled (TF graph, JAX jit via `stateless_call`): the mask
    # must also be derived from traced ids.
    backbone = ErnieMBackbone.from_preset(st_dir)
    ids = padded_batch()
    out = backbone.predict({"token_ids": ids}, verbose=0)
    expected = to_numpy(backbone({"token_ids": ids, "padding_mask": ids != PAD}))
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(out[key], expected[key], atol=1e-6)


def test_count_params_and_config_round_trip(hf, st_dir):
    backbone = ErnieMBackbone.from_preset(st_dir)
    assert backbone.count_params() == sum(p.numel() for p in hf.parameters())
    # The position table keeps the two unused rows of the reference.
    assert tuple(backbone.get_layer("position_embedding").weights[0].shape) == (64, 32)
    clone = ErnieMBackbone.from_config(backbone.get_config())
    assert clone.get_config() == backbone.get_config()


def test_head_checkpoints_load_into_backbone(tmp_path):
    """Base weights under `ernie_m.`; head keys match the HEADS rules."""
    ids = padded_batch()
    for arch, (rules, _) in convert_ernie_m.HEADS.items():
        if arch == "ErnieMModel":
            continue
        hf_task = hf_model(getattr(transformers, arch), num_labels=3)
        directory = save(hf_task, tmp_path / arch)
        head_keys = {k for k in hf_task.state_dict() if not k.startswith("ernie_m.")}
        assert head_keys == {key for _, key, _ in rules}, arch
        backbone = ErnieMBackbone.from_preset(directory)
        seq, _ = hf_outputs(hf_task.ernie_m, ids)
        assert max_abs_diff(backbone({"token_ids": ids})["sequence_output"], seq) <= TOL


# === Sequence length ===
def test_512_positions_and_513_raises(tmp_path):
    hf = hf_model(max_position_embeddings=514, num_hidden_layers=1)
    backbone = ErnieMBackbone.from_preset(save(hf, tmp_path))
    assert backbone.max_sequence_length == 512
    rng = np.random.default_rng(1)
    ids = rng.integers(2, VOCAB, size=(1, 512)).astype("int32")
    ids[0, -20:] = PAD
    seq, pooled = hf_outputs(hf, ids)
    ours = backbone({"token_ids": ids})
    assert max_abs_diff(ours["sequence_output"], seq) <= TOL
    assert max_abs_diff(ours["pooled_output"], pooled) <= TOL
    too_long = np.full((1, 513), 5, "int32")
    with pytest.raises(ValueError, match="513 exceeds the maximum of 512"):
        backbone({"token_ids": too_long})


# === Errors ===
@pytest.mark.parametrize("cls_name", ["NezhaModel", "BertModel"])
def test_wrong_model_type_names_the_right_class(cls_name, tmp_path):
    config_cls = getattr(transformers, cls_name.replace("Model", "Config"))
    config = config_cls(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32)
    directory = save(getattr(transformers, cls_name)(config), tmp_path)
    expected = cls_name.replace("Model", "Backbone")
    with pytest.raises(ValueError, match=f"{expected}.*not a subclass.*ErnieMBackbone"):
        ErnieMBackbone.from_preset(directory)


def test_missing_weights_file(st_dir, tmp_path):
    shutil.copy(os.path.join(st_dir, "config.json"), tmp_path / "config.json")
    with pytest.raises(FileNotFoundError, match="No weights"):
        ErnieMBackbone.from_preset(str(tmp_path))
    # The architecture alone still builds.
    assert ErnieMBackbone.from_preset(str(tmp_path), load_weights=False).num_layers == 2


def test_missing_tensor(hf, tmp_path):
    from safetensors.numpy import load_file, save_file

    directory = save(hf, tmp_path)
    path = os.path.join(directory, "model.safetensors")
    tensors = load_file(path)
    del tensors["encoder.layers.1.linear2.weight"]
    save_file(tensors, path, metadata={"format": "pt"})
    with pytest.raises(CheckpointMismatchError, match=r"missing keys \(1\).*layers\.1\.linear2\.weight"):
        ErnieMBackbone.from_preset(directory)


def edit_config(directory, **changes):
    path = os.path.join(directory, "config.json")
    with open(path) as f:
        config = json.load(f)
    config.update(changes)
    with open(path, "w") as f:
        json.dump(config, f)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"num_hidden_layers": 1}, r"unexpected keys \(16\): encoder\.layers\.1\."),
        ({"num_hidden_layers": 3}, r"missing keys \(16\): encoder\.layers\.2\."),
        ({"intermediate_size": 48}, r"(?s)shape mismatches:.*linear1\.weight: checkpoint \(40, 32\)"),
        ({"max_position_embeddings": 66}, r"position_embeddings\.weight: checkpoint \(64, 32\)"),
    ],
)
def test_config_does_not_match_weights(hf, tmp_path, changes, message):
    directory = save(hf, tmp_path)
    edit_config(directory, **changes)
    with pytest.raises(CheckpointMismatchError, match=message):
        ErnieMBackbone.from_preset(directory)


@pytest.mark.parametrize("safe", [True, False])
def test_truncated_weights_file(hf, tmp_path, safe):
    directory = save(hf, tmp_path, safe=safe)
    path = os.path.join(directory, "model.safetensors" if safe else "pytorch_model.bin")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(CheckpointFormatError, match=os.path.basename(path)):
        ErnieMBackbone.from_preset(directory)


def test_out_of_vocabulary_ids(st_dir):
    backbone = ErnieMBackbone.from_preset(st_dir)
    ids = padded_batch()
    ids[0, 2] = VOCAB
    with pytest.raises(ValueError, match=rf"\[0, {VOCAB}\)"):
        backbone({"token_ids": ids})


# === Full size ===
@pytest.mark.large
def test_parity_base_size(tmp_path):
    """ernie-m-base's shapes (278M parameters), random weights, short inputs."""
    base = dict(vocab_size=250002, hidden_size=768, num_hidden_layers=12,
                num_attention_heads=12, intermediate_size=3072,
                max_position_embeddings=514, act_dropout=0.0)
    torch.manual_seed(0)
    hf = ErnieMModel(ErnieMConfig(**base)).eval()
    backbone = ErnieMBackbone.from_preset(save(hf, tmp_path))
    assert backbone.count_params() == 278_042_880
    rng = np.random.default_rng(0)
    ids = rng.integers(2, 250002, size=(2, 16)).astype("int32")
    ids[:, 0] = 0
    ids[1, 10:] = PAD
    assert_parity(backbone, hf, ids, tol=1e-4)
