"""Original TF1 checkpoints (Huawei NEZHA, Yitu ConvBERT) -> Keras presets.

Each test writes a TF1 checkpoint the way the original code saves one (see
`checkpoint_writers`: original variable names, optimizer slots) from the
random weights of a tiny transformers model; the converted preset must
reproduce that transformers model.
"""

import json
import os
import shutil

import numpy as np
import pytest
import torch
import transformers

import keras_encoders  # noqa: F401
from keras_encoders import models
from keras_encoders.convert import CheckpointFormatError
from keras_encoders.convert import CheckpointMismatchError
from keras_encoders.convert import conversion
from keras_encoders.convert import sources
from keras_encoders.convert.readers import tf1 as tf1_checkpoint
from keras_encoders.convert.families.convbert import tf1 as tf1_convbert
from tests.conftest import asset, max_abs_diff
from tests.convert.checkpoint_writers import NEZHA_VOCAB
from tests.convert.checkpoint_writers import convbert_tf1_names
from tests.convert.checkpoint_writers import nezha_config
from tests.convert.checkpoint_writers import nezha_release
from tests.convert.checkpoint_writers import nezha_tf1_names
from tests.convert.checkpoint_writers import randomize
from tests.convert.checkpoint_writers import write_tf1_checkpoint

TOL = 1e-5
B, L = 3, 12


def batch(vocab, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(104, vocab, (B, L)).astype("int32")
    seg = np.zeros((B, L), "int32")
    seg[:, 6:] = 1
    mask = np.ones((B, L), "int32")
    mask[1, 9:] = 0
    mask[2, 4:] = 0
    ids[mask == 0] = 0
    seg[mask == 0] = 0
    return {"token_ids": ids, "segment_ids": seg, "padding_mask": mask}


def torch_inputs(x):
    return {
        "input_ids": torch.tensor(x["token_ids"], dtype=torch.long),
        "token_type_ids": torch.tensor(x["segment_ids"], dtype=torch.long),
        "attention_mask": torch.tensor(x["padding_mask"], dtype=torch.long),
    }


# === NEZHA ===
@pytest.fixture(scope="module")
def nezha(tmp_path_factory):
    torch.manual_seed(0)
    model = randomize(transformers.NezhaForPreTraining(nezha_config()))
    root = tmp_path_factory.mktemp("nezha_tf1")
    release = nezha_release(str(root / "release"), model)
    result = conversion.convert_checkpoint(release, str(root / "preset"), quiet=True)
    return model, release, result


def test_nezha_tf1_checkpoint_converts_to_a_matching_preset(nezha):
    hf, _, result = nezha
    assert result.model_class == "NezhaPreTrainer"
    assert result.report.passed and result.report.max_abs_diff <= TOL
    task = models.NezhaPreTrainer.from_preset(result.output)
    x = batch(NEZHA_VOCAB)
    x["mask_positions"] = np.tile(np.arange(L, dtype="int32"), (B, 1))
    out = task(x, training=False)
    with torch.no_grad():
        ref = hf(**torch_inputs(x))
    assert max_abs_diff(out["mlm_logits"], ref.prediction_logits) <= TOL
    assert max_abs_diff(out["nsp_logits"], ref.seq_relationship_logits) <= TOL
    backbone = models.NezhaBackbone.from_preset(result.output)
    x.pop("mask_positions")
    with torch.no_grad():
        base = hf.nezha(**torch_inputs(x))
    got = backbone(x, training=False)
    assert max_abs_diff(got["sequence_output"], base.last_hidden_state) <= TOL
    assert max_abs_diff(got["pooled_output"], base.pooler_output) <= TOL
    # The tokenizer came along and reads raw text.
    tokens = models.NezhaTokenizer.from_preset(result.output)("今天天气很好")
    assert len(np.asarray(tokens)) == 6


def test_nezha_tf1_optimizer_state_is_skipped_and_recorded(nezha):
    _, release, result = nezha
    src = result.source
    slots = [n for n, why in src.skipped if why == "optimizer state"]
    # adam_m + adam_v for every weight, and global_step.
    assert len(slots) == 2 * len(src.tensors) + 1
    assert not any(n.endswith(("adam_m", "adam_v")) for n in src.tensors)
    with open(os.path.join(result.output, "conversion.json")) as f:
        record = json.load(f)
    assert record["source_format"].startswith("TF1 checkpoint")
    assert record["source_path"] == os.path.abspath(src.path)  # the prefix actually read
    assert record["architecture"] == "NezhaForPreTraining"
    assert record["verification"]["passed"]
    # The original's hard-coded relative distance, and the GELU caveat.
    assert record["config"]["max_relative_position"] == 64
    assert any("tanh" in n for n in record["notes"])
    # The prefix is found from the folder, a file of the checkpoint, or the prefix.
    prefix = tf1_checkpoint.resolve_checkpoint_prefix(release)
    assert prefix.endswith("model.ckpt-1000")
    assert tf1_checkpoint.resolve_checkpoint_prefix(prefix + ".index") == prefix


def test_nezha_tf1_heads_select_the_task(tmp_path):
    torch.manual_seed(1)
    hf = randomize(transformers.NezhaForPreTraining(nezha_config()), seed=1)
    release = nezha_release(str(tmp_path / "mlm"), hf, drop=("cls/seq_relationship",))
    src = sources.open_source(release)
    assert src.architecture == "NezhaForMaskedLM"
    task, _ = sources.build_model(src)
    assert isinstance(task, models.NezhaMaskedLM)
    x = batch(NEZHA_VOCAB)
    x["mask_positions"] = np.tile(np.arange(L, dtype="int32"), (B, 1))
    with torch.no_grad():
        ref = hf(**torch_inputs(x))
    assert max_abs_diff(task(x, training=False), ref.prediction_logits) <= TOL
    # --backbone-only keeps the encoder and lists the head as skipped.
    src = sources.open_source(release, backbone_only=True)
    backbone, _ = sources.build_model(src)
    assert isinstance(backbone, models.NezhaBackbone)
    assert {n for n, why in src.skipped if why.startswith("head")} == {
        n for n in src.tensors if n.startswith("cls/")
    }


def test_nezha_tf1_unknown_and_missing_variables_are_listed(tmp_path):
    torch.manual_seed(2)
    hf = randomize(transformers.NezhaModel(nezha_config()), seed=2)
    tensors = nezha_tf1_names({f"nezha.{k}": v for k, v in hf.state_dict().items()})
    tensors.pop("bert/encoder/layer_1/output/dense/bias")
    tensors["bert/encoder/layer_1/output/extra_scale"] = np.ones(3, "float32")
    directory = str(tmp_path / "broken")
    nezha_release(directory, hf)  # config and vocab
    for name in os.listdir(directory):
        if name.startswith(("model.ckpt", "checkpoint")):
            os.remove(os.path.join(directory, name))
    write_tf1_checkpoint(directory, tensors, optimizer_slots=False)
    src = sources.open_source(directory)
    with pytest.raises(CheckpointMismatchError) as e:
        sources.build_model(src)
    message = str(e.value)
    assert "missing keys (1): bert/encoder/layer_1/output/dense/bias" in message
    assert "unexpected keys (1): bert/encoder/layer_1/output/extra_scale" in message


def test_a_state_file_cannot_pick_a_checkpoint_outside_the_folder(tmp_path):
    # The `checkpoint` state file names an absolute path: another folder's
    # checkpoint of the same name, or one only that other folder has.
    here = tmp_path / "release"
    elsewhere = tmp_path / "elsewhere"
    write_tf1_checkpoint(str(here), {"w": np.float32([1, 1])}, optimizer_slots=False)
    write_tf1_checkpoint(str(elsewhere), {"w": np.float32([2, 2])}, optimizer_slots=False)
    for suffix in (".index", ".data-00000-of-00001"):  # a second one, only there
        shutil.copy(elsewhere / f"model.ckpt-1000{suffix}", elsewhere / f"model.ckpt-5{suffix}")
    for named in ("model.ckpt-1000", "model.ckpt-5"):
        (here / "checkpoint").write_text(f'model_checkpoint_path: "{elsewhere / named}"\n')
        prefix, tensors, _ = tf1_checkpoint.load_tf1_checkpoint(str(here))
        # Read by its base name inside the folder (or the folder's only checkpoint).
        assert prefix == str(here / "model.ckpt-1000")
        np.testing.assert_array_equal(tensors["w"], [1, 1])


def test_a_string_variable_is_a_format_error(tmp_path):
    write_tf1_checkpoint(
        str(tmp_path), {"bert/w": np.float32([1]), "bert/vocab_name": np.array([b"vocab.txt"])},
        optimizer_slots=False,
    )
    with pytest.raises(CheckpointFormatError, match=r"model\.ckpt-1000: variable 'bert/vocab_name' has dtype string"):
        tf1_checkpoint.load_tf1_checkpoint(str(tmp_path))


def test_variables_beyond_the_data_files_are_refused_before_reading(tmp_path):
    # A data file cut to an eighth: the index claims more than the file
    # holds (as it would naming one byte range under many variables).
    import tracemalloc

    prefix = write_tf1_checkpoint(str(tmp_path), {"bert/w": np.ones(1 << 20, "float32")}, optimizer_slots=False)
    data = prefix + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 8)
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointFormatError, match=r"model\.ckpt-1000: its variables need 4194304 bytes \(the largest, 'bert/w'"):
            tf1_checkpoint.load_tf1_checkpoint(str(tmp_path))
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()


def _index_with_block_size(path, size):
    """Rewrite a checkpoint .index so that its footer gives the index block
    `size` bytes (the footer: two block handles of varints, then padding to
    40 bytes and the 8-byte magic)."""
    with open(path, "rb") as f:
        data = f.read()
    footer, magic = data[-48:-8], data[-8:]

    def skip_varint(pos):
        while footer[pos] & 0x80:
            pos += 1
        return pos + 1

    start = pos = 0
    for _ in range(3):  # metaindex offset and size, index offset
        start = pos = skip_varint(pos)
    end = skip_varint(start)
    encoded = bytearray()
    while True:
        encoded.append((size & 0x7F) | (0x80 if size >> 7 else 0))
        size >>= 7
        if not size:
            break
    footer = (footer[:start] + bytes(encoded) + footer[end:])[:40].ljust(40, b"\0")
    with open(path, "wb") as f:
        f.write(data[:-48] + footer + magic)


def test_damage_that_tensorflow_reports_as_other_errors_is_a_format_error(tmp_path):
    # Found by mutating small checkpoints: TensorFlow's reader raises
    # IndexError for a record cut short, and MemoryError (std::bad_alloc)
    # for an index that gives a block an absurd size.
    cut = str(tmp_path / "cut")
    prefix = write_tf1_checkpoint(cut, {"bert/w": np.ones(1 << 16, "float32")}, optimizer_slots=False)
    data = prefix + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) * 3 // 5)  # within what the size check allows
    with pytest.raises(CheckpointFormatError, match=r"cannot read variable 'bert/w' \(Read less bytes"):
        tf1_checkpoint.load_tf1_checkpoint(cut)
    huge = str(tmp_path / "huge")
    prefix = write_tf1_checkpoint(huge, {"bert/w": np.ones(4, "float32")}, optimizer_slots=False)
    _index_with_block_size(prefix + ".index", 1 << 60)
    with pytest.raises(CheckpointFormatError, match=r"not a readable TensorFlow checkpoint \(.*bad_alloc.*\.index"):
        tf1_checkpoint.load_tf1_checkpoint(huge)


# === ConvBERT ===
CONVBERT_VOCAB = 30522  # bert-base-uncased


def convbert_release(directory, model, num_groups, extra=True):
    """A Yitu release folder: checkpoint (discriminator + generator parts), vocab."""
    tensors = convbert_tf1_names(model.state_dict(), num_groups)
    if extra:  # ELECTRA pre-training parts that are not the encoder
        rng = np.random.default_rng(0)
        tensors["generator/encoder/layer_0/attention/self/query/kernel"] = rng.normal(size=(8, 4)).astype("float32")
        tensors["generator_predictions/dense/kernel"] = rng.normal(size=(8, 16)).astype("float32")
        tensors["generator_predictions/output_bias"] = rng.normal(size=(CONVBERT_VOCAB,)).astype("float32")
        tensors["discriminator_predictions/dense_1/kernel"] = rng.normal(size=(32, 1)).astype("float32")
    write_tf1_checkpoint(directory, tensors)
    with open(asset("vocab", "bert-base-uncased-vocab.txt"), encoding="utf-8") as f:
        vocab = f.read()
    with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write(vocab)
    return directory


def convbert_config(**kwargs):
    defaults = dict(
        vocab_size=CONVBERT_VOCAB, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, embedding_size=16,
        num_groups=2, head_ratio=2, conv_kernel_size=9, max_position_embeddings=64,
    )
    return transformers.ConvBertConfig(**{**defaults, **kwargs})


@pytest.fixture(scope="module")
def convbert(tmp_path_factory):
    torch.manual_seed(0)
    model = randomize(transformers.ConvBertModel(convbert_config()))
    root = tmp_path_factory.mktemp("convbert_tf1")
    release = convbert_release(str(root / "release"), model, num_groups=2)
    result = conversion.convert_checkpoint(release, str(root / "preset"), quiet=True)
    return model, result


def test_convbert_tf1_checkpoint_converts_to_a_matching_preset(convbert):
    hf, result = convbert
    assert result.model_class == "ConvBertBackbone"
    assert result.report.passed and result.report.max_abs_diff <= TOL
    # No config file: everything was read off the shapes, as the original
    # release derives it from --model-size.
    config = result.source.config
    assert (config["embedding_size"], config["num_groups"], config["num_attention_heads"]) == (16, 2, 4)
    assert config["head_ratio"] == 2 and config["intermediate_size"] == 64
    backbone = models.ConvBertBackbone.from_preset(result.output)
    x = batch(CONVBERT_VOCAB)
    with torch.no_grad():
        ref = hf(**torch_inputs(x))
    assert max_abs_diff(backbone(x, training=False)["sequence_output"], ref.last_hidden_state) <= TOL
    skipped = dict(result.source.skipped)
    assert skipped["generator_predictions/output_bias"] == "pre-training part outside the encoder"
    assert skipped["global_step"] == "optimizer state"
    tokenizer = models.ConvBertTokenizer.from_preset(result.output)
    assert np.asarray(tokenizer("Hello world")).tolist() == [7592, 2088]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(num_groups=1, embedding_size=32, num_attention_heads=4),  # base-like
        dict(num_groups=1, num_attention_heads=1),  # one head: the original's fallback
        dict(num_groups=2, num_attention_heads=8, head_ratio=4),
    ],
)
def test_convbert_config_is_read_off_the_shapes(kwargs):
    hf = transformers.ConvBertModel(convbert_config(**kwargs))
    tensors = convbert_tf1_names(hf.state_dict(), kwargs["num_groups"])
    config = tf1_convbert.infer_config(tensors)
    hf_config = hf.config
    for key in ("hidden_size", "embedding_size", "num_groups", "intermediate_size",
                "num_hidden_layers", "vocab_size", "max_position_embeddings", "conv_kernel_size"):
        assert config[key] == getattr(hf_config, key), key
    # Heads and ratio may be spelled differently but must build the same layers.
    rebuilt = transformers.ConvBertModel(transformers.ConvBertConfig(**{
        k: v for k, v in config.items() if k not in ("model_type", "architectures")
    }))
    assert {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()} == {
        k: tuple(v.shape) for k, v in hf.state_dict().items()
    }
    assert rebuilt.encoder.layer[0].attention.self.num_attention_heads == (
        hf.encoder.layer[0].attention.self.num_attention_heads
    )


def test_original_config_files_are_translated():
    from keras_encoders.convert.families.nezha import tf1 as tf1_nezha

    # NEZHA's bert_config.json; the TF code's hard-coded distance wins.
    config, notes = tf1_nezha.convert_config(
        {"vocab_size": 99, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
         "intermediate_size": 16, "max_relative_position": 127},
        "NezhaForMaskedLM",
    )
    assert config["max_relative_position"] == 64 and config["architectures"] == ["NezhaForMaskedLM"]
    assert any("127" in n for n in notes)
    with pytest.raises(ValueError, match="plain BERT"):
        tf1_nezha.convert_config({"use_relative_position": False}, "NezhaModel")
    # ConvBERT: a config file (original BertConfig names) is used, and
    # disagreements with the shapes are reported.
    hf = transformers.ConvBertModel(convbert_config())
    tensors = convbert_tf1_names(hf.state_dict(), num_groups=2)
    config, notes = tf1_convbert.convert_config(
        {"linear_groups": 2, "hidden_dropout_prob": 0.2, "max_position_embeddings": 128},
        tensors, "ConvBertModel",
    )
    assert config["num_groups"] == 2 and config["hidden_dropout_prob"] == 0.2
    assert config["max_position_embeddings"] == 128
    assert notes == [
        "config file sets max_position_embeddings=128; the checkpoint's shapes suggest 64 "
        "(the file's value is used)."
    ]
