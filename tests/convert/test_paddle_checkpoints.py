"""PaddleNLP `.pdparams` (ERNIE-M, UIE-M) -> Keras presets, without paddle.

The test files are written in Paddle's own format (see
`checkpoint_writers.write_pdparams`, and `test_genuine_paddle_save_files`,
which compares it with genuine `paddle.save` output when paddle is
installed), holding the weights of tiny transformers models renamed and laid
out as PaddleNLP's `ErnieMModel` / `UIEM` name them (`nn.Linear.weight` is
`(in, out)`; q/k/v sit directly under `self_attn`).
"""

import importlib.util
import json
import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
import sentencepiece
import torch

import keras_encoders  # noqa: F401
from keras_encoders import models
from keras_encoders.convert import CheckpointFormatError
from keras_encoders.convert import UnsafeCheckpointError
from keras_encoders.convert import conversion
from keras_encoders.convert.families.ernie_m import paddle as paddle_ernie_m
from keras_encoders.convert import sources
from keras_encoders.convert.readers.paddle_params import load_paddle_state_dict
from tests.conftest import asset, max_abs_diff, to_numpy
from tests.convert.checkpoint_writers import paddle_names
from tests.convert.checkpoint_writers import write_pdparams

try:
    from transformers import ErnieMConfig, ErnieMForInformationExtraction, ErnieMModel
except ImportError:
    from transformers.models.deprecated.ernie_m import (
        ErnieMConfig,
        ErnieMForInformationExtraction,
        ErnieMModel,
    )

TOL = 1e-5
SPIECE = ("sentencepiece", "hf_transformers_fixtures", "spiece.model")


def write_tokenizer(directory, lowercase=None):
    """sentencepiece.bpe.model + vocab.txt in ERNIE-M's id layout."""
    model = asset(*SPIECE)
    sp = sentencepiece.SentencePieceProcessor(model_file=model)
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    head = ["[CLS]", "[PAD]", "[SEP]", "[UNK]"]
    tokens = head + [p for p in pieces if p not in head + ["[MASK]"]] + ["[MASK]"]
    with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in tokens))
    with open(model, "rb") as src, open(os.path.join(directory, "sentencepiece.bpe.model"), "wb") as dst:
        dst.write(src.read())
    if lowercase is not None:
        with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
            json.dump({"do_lower_case": lowercase, "tokenizer_class": "ErnieMTokenizer"}, f)
    return len(tokens)


def base_args(vocab):
    return dict(
        vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
        max_position_embeddings=66, initializer_range=0.02, pad_token_id=1,
    )


def hf_model(cls, vocab, seed):
    torch.manual_seed(seed)
    # Paddle builds the FFN 4 * hidden wide, whatever the config says.
    model = cls(ErnieMConfig(**base_args(vocab), intermediate_size=128))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def padded_batch(vocab, length=10):
    rng = np.random.default_rng(0)
    ids = rng.integers(5, vocab, size=(3, length)).astype("int32")
    ids[:, 0] = 0
    ids[1, length - 3:] = 1
    ids[2, 4:] = 1
    return {"token_ids": ids, "padding_mask": (ids != 1).astype("int32")}


def reference(model, x):
    with torch.no_grad():
        return model(
            torch.tensor(x["token_ids"], dtype=torch.long),
            attention_mask=torch.tensor(x["padding_mask"], dtype=torch.long),
        )


@pytest.fixture(scope="module")
def ernie_m(tmp_path_factory):
    """ERNIE-M: protocol 4, a new-style flat config.json."""
    root = tmp_path_factory.mktemp("ernie_m_pdparams")
    release = root / "ernie-m-tiny"
    release.mkdir()
    vocab = write_tokenizer(str(release), lowercase=True)
    hf = hf_model(ErnieMModel, vocab, seed=0)
    write_pdparams(str(release / "model_state.pdparams"), paddle_names(hf.state_dict(), ie=False))
    with open(release / "config.json", "w") as f:
        json.dump({**base_args(vocab), "architectures": ["ErnieMModel"], "type_vocab_size": 16}, f)
    result = conversion.convert_checkpoint(str(release), str(root / "preset"), quiet=True)
    return hf, vocab, result


def test_ernie_m_pdparams_converts_to_a_matching_preset(ernie_m):
    hf, vocab, result = ernie_m
    assert result.model_class == "ErnieMBackbone"
    assert result.report.passed and result.report.max_abs_diff <= TOL
    assert result.source.prefix == "ernie_m."
    assert dict(result.source.skipped) == {
        "ernie_m.embeddings.position_ids": "buffer, not a weight"
    }
    backbone = models.ErnieMBackbone.from_preset(result.output)
    x = padded_batch(vocab)
    ref = reference(hf, x)
    out = backbone(x, training=False)
    assert max_abs_diff(out["sequence_output"], ref.last_hidden_state) <= TOL
    assert max_abs_diff(out["pooled_output"], ref.pooler_output) <= TOL
    # The tokenizer and its assets came along, with the release's
    # tokenizer_config.json setting.
    with open(os.path.join(result.output, "tokenizer.json")) as f:
        tokenizer = json.load(f)
    assert tokenizer["class_name"] == "ErnieMTokenizer"
    assert tokenizer["config"]["lowercase"] is True
    assets = os.listdir(os.path.join(result.output, "assets", "tokenizer"))
    assert len(assets) == 2


@pytest.fixture(scope="module")
def uie_m(tmp_path_factory):
    """UIE-M as Taskflow ships it: model_state.pdparams written with protocol 2
    (the word embedding split in slices), a legacy model_config.json."""
    root = tmp_path_factory.mktemp("uie_m_pdparams")
    release = root / "uie_m_tiny"
    release.mkdir()
    vocab = write_tokenizer(str(release))
    hf = hf_model(ErnieMForInformationExtraction, vocab, seed=1)
    state = paddle_names(hf.state_dict(), ie=True)
    write_pdparams(str(release / "model_state.pdparams"), state, protocol=2, max_bytes=1 << 20)
    with open(release / "model_config.json", "w") as f:
        json.dump({
            "init_args": [{**base_args(vocab), "init_class": "ErnieMModel"}],
            "init_class": "UIEM",
        }, f)
    result = conversion.convert_checkpoint(str(release), str(root / "preset"), quiet=True)
    return hf, vocab, result


def test_uie_m_pdparams_converts_to_a_matching_information_extractor(uie_m):
    hf, vocab, result = uie_m
    assert result.model_class == "ErnieMInformationExtractor"
    assert result.report.passed and result.report.max_abs_diff <= TOL
    compared = {c.name for c in result.report.comparisons}
    assert {"task.start_logits", "task.end_logits", "backbone.sequence_output"} <= compared
    task = models.ErnieMInformationExtractor.from_preset(result.output)
    # Written the way PaddleNLP's Taskflow feeds UIE-M (the weights' training
    # conventions); the same weights in Hugging Face's conventions match it.
    assert task.preprocessor.tokenizer.reference == "paddlenlp"
    assert task.backbone.pad_position_id == 0 and task.decoding == "taskflow"
    task = task.with_convention("transformers")
    x = padded_batch(vocab)
    ref = reference(hf, x)
    out = task(x, training=False)
    assert max_abs_diff(out["start_logits"], ref.start_logits) <= TOL
    assert max_abs_diff(out["end_logits"], ref.end_logits) <= TOL
    # The start/end Dense layers hold exactly linear_start / linear_end.
    for layer, linear in (("start_logits", hf.linear_start), ("end_logits", hf.linear_end)):
        dense = task.get_layer(layer)
        np.testing.assert_array_equal(to_numpy(dense.kernel), linear.weight.detach().numpy().T)
        np.testing.assert_array_equal(to_numpy(dense.bias), linear.bias.detach().numpy())


def test_pdparams_reader_rejoins_split_parameters(uie_m, tmp_path):
    hf, _, result = uie_m
    state = load_paddle_state_dict(result.source.path)
    assert "UnpackBigParamInfor@@" not in state and "StructuredToParameterName@@" not in state
    assert not any("@@." in k for k in state)
    np.testing.assert_array_equal(
        state["ernie_m.embeddings.word_embeddings.weight"],
        hf.ernie_m.embeddings.word_embeddings.weight.detach().numpy(),
    )
    # The Paddle -> HF renaming the verification uses inverts `paddle_names`.
    renamed = paddle_ernie_m.to_hf_state_dict(state, "ernie_m.", "ErnieMForInformationExtraction")
    assert set(renamed) == set(hf.state_dict())


def test_legacy_model_config_is_flattened(uie_m):
    src = uie_m[2].source
    assert src.architecture == "ErnieMForInformationExtraction"
    assert src.config["intermediate_size"] == 4 * src.config["hidden_size"]
    assert src.config["layer_norm_eps"] == 1e-5 and src.config["pad_token_id"] == 1


class _Marker:
    """Pickles as a call to os.system that would create a file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_pdparams_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pdparams"
    with open(path, "wb") as f:
        pickle.dump({"ernie_m.embeddings.word_embeddings.weight": _Marker(marker)}, f, protocol=4)
    with pytest.raises(UnsafeCheckpointError, match="posix.system|os.system"):
        load_paddle_state_dict(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload, error",
    [
        (b"", "pickle protocol"),
        (b"PK\x03\x04rest", "zip archive"),
        (pickle.dumps([np.zeros(2)], protocol=4), "not a state dict"),
        (pickle.dumps({"w": np.array(["a"], dtype=object)}, protocol=4), "unsupported dtype"),
        (pickle.dumps({"w": np.zeros(3, "float32")}, protocol=4)[:-20], "truncated or corrupt|malformed"),
    ],
)
def test_malformed_pdparams_are_explained(tmp_path, payload, error):
    path = tmp_path / "bad.pdparams"
    path.write_bytes(payload)
    with pytest.raises((CheckpointFormatError, UnsafeCheckpointError), match=error):
        load_paddle_state_dict(path)


# paddle.save in its own process: importing paddle next to TensorFlow and
# torch crashes the interpreter (seen with paddlepaddle 3.3.1).
_PADDLE_SAVE = """
import sys
import numpy as np
import paddle
state = np.load(sys.argv[1])
for protocol in (2, 4):
    tensors = {k: paddle.to_tensor(state[k]) for k in state.files}
    paddle.save(tensors, f"{sys.argv[2]}/p{protocol}.pdparams", protocol=protocol)
"""


def test_genuine_paddle_save_files(tmp_path):
    if importlib.util.find_spec("paddle") is None:
        pytest.skip("paddle is not installed (the `paddle` extra)")
    rng = np.random.default_rng(0)
    state = {
        "ernie_m.embeddings.word_embeddings.weight": rng.normal(size=(7, 4)).astype("float32"),
        "linear_start.bias": rng.normal(size=(1,)).astype("float32"),
        "ernie_m.embeddings.position_ids": np.arange(5, dtype="int64")[None],
    }
    np.savez(tmp_path / "state.npz", **state)
    subprocess.run(
        [sys.executable, "-c", _PADDLE_SAVE, str(tmp_path / "state.npz"), str(tmp_path)],
        check=True, timeout=600, capture_output=True,
    )
    for protocol in (2, 4):
        path = str(tmp_path / f"p{protocol}.pdparams")
        loaded = load_paddle_state_dict(path)
        assert set(loaded) == set(state)
        for key in state:
            np.testing.assert_array_equal(loaded[key], state[key])
        ours = str(tmp_path / f"ours{protocol}.pdparams")
        write_pdparams(ours, state, protocol=protocol)
        # The same structure: the same opcodes; only the name table differs.
        assert _opcodes(path) == _opcodes(ours)


def _opcodes(path):
    import pickletools

    with open(path, "rb") as f:
        data = f.read()
    return [op.name for op, arg, _ in pickletools.genops(data) if op.name not in ("FRAME",)]


def test_unknown_and_missing_paddle_keys_are_listed(tmp_path):
    vocab = write_tokenizer(str(tmp_path))
    hf = hf_model(ErnieMModel, vocab, seed=2)
    state = paddle_names(hf.state_dict(), ie=False)
    state.pop("ernie_m.encoder.layers.1.norm2.bias")
    state["ernie_m.encoder.layers.1.extra.weight"] = np.zeros((2, 2), "float32")
    state["classifier.weight"] = np.zeros((32, 3), "float32")
    write_pdparams(str(tmp_path / "model_state.pdparams"), state)
    with open(tmp_path / "model_config.json", "w") as f:
        json.dump({**base_args(vocab), "init_class": "ErnieMModel"}, f)
    src = sources.open_source(str(tmp_path))
    with pytest.raises(Exception) as e:
        sources.build_model(src)
    message = str(e.value)
    assert "missing keys (1): ernie_m.encoder.layers.1.norm2.bias" in message
    assert re.search(r"unexpected keys \(2\): .*classifier\.weight", message)
    assert "ernie_m.encoder.layers.1.extra.weight" in message


def test_a_float16_array_under_many_keys_is_widened_only_where_used(tmp_path):
    # One 1024 x 1024 float16 array (2 MiB, pickled once) under 250 extra
    # keys: widening every key to float32 up front took ~1 GiB. Only the
    # keys a rule reads are widened, so the refusal (unexpected keys) stays small.
    import tracemalloc

    from keras_encoders.convert import CheckpointMismatchError

    release = tmp_path / "release"
    release.mkdir()
    vocab = write_tokenizer(str(release))
    state = paddle_names(hf_model(ErnieMModel, vocab, seed=0).state_dict(), ie=False)
    shared = np.ones((1024, 1024), dtype=np.float16)
    state.update({f"extra.{i}": shared for i in range(250)})
    path = write_pdparams(str(release / "model_state.pdparams"), state)
    with open(release / "config.json", "w") as f:
        json.dump({**base_args(vocab), "architectures": ["ErnieMModel"], "type_vocab_size": 16}, f)
    assert os.path.getsize(path) < 8 << 20  # the shared array is pickled once
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointMismatchError, match=r"unexpected keys \(250\): extra\.0"):
            sources.build_model(sources.open_source(str(release)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The file's arrays plus building a tiny model: a fixed ceiling.
    assert peak < 48 << 20, f"peak {peak / 2**20:.0f} MiB"
