"""NEZHA tokenizer parity with BertTokenizer, pair packing, and clear errors."""

import csv
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch
import transformers

import keras_encoders  # noqa: F401
from keras_encoders import models
from keras_encoders.convert import CheckpointFormatError
from keras_encoders.convert import CheckpointMismatchError
from keras_encoders.convert import UnsafeCheckpointError
from tests.conftest import asset, to_numpy

VOCAB = asset("vocab", "bert-base-chinese-vocab.txt")
CORPUS = [
    "我爱北京天安门", "Hello WORLD, Café! 2023年12月", "", "   ", "naïve ＡＢＣ１２３ full-width！",
    "a\u200bb c\x00d \ufffd e\x07f", "😊 emoji 👍🏽 [MASK] test [mask]", "x" * 120, "é" * 101,
    "ΣΑΣ Ünïcödé \t\n tabs", "巴黎是[MASK]国的首都。", "Ｈｅｌｌｏ，世界！", "ﬁ ligature ½ ①",
    "\u3000全角空格\u3000", "Ĳsselmeer résumé Ångström", "中华人民共和国成立于1949年10月1日",
    "第二十九届奥林匹克运动会", "don't stop-believing...!!", "\u2028line\u2029sep",
]


@pytest.fixture(scope="module")
def tokenizers():
    return models.NezhaTokenizer(VOCAB), transformers.BertTokenizer(VOCAB)


def corpus():
    with open(asset("data", "chnsenticorp", "dev.tsv"), encoding="utf-8") as f:
        rows = [r[1] for r in list(csv.reader(f, delimiter="\t"))[1:121]]
    with open(asset("data", "sst2", "dev.tsv"), encoding="utf-8") as f:
        rows += [r[1] for r in list(csv.reader(f, delimiter="\t"))[1:41]]
    return CORPUS + rows


def test_ids_and_offsets_match_bert_tokenizer(tokenizers):
    ours, hf = tokenizers
    texts = corpus()
    ids, starts, ends = ours.tokenize_with_offsets(texts)
    for text, i, s, e in zip(texts, ids, starts, ends):
        assert [int(t) for t in i] == hf(text, add_special_tokens=False)["input_ids"], text
        for token_id, a, b in zip(i, s, e):
            token = hf.convert_ids_to_tokens(int(token_id)).removeprefix("##")
            if token != "[UNK]" and not token.startswith("["):
                piece = hf.basic_tokenizer.tokenize(text[a:b])
                assert token in "".join(piece), (text, token, text[a:b])


def test_eager_and_tf_data_agree(tokenizers):
    import tensorflow as tf

    ours, _ = tokenizers
    texts = corpus()[:40]
    eager = ours(texts)
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(8).map(ours)
    graph = [row for batch in ds for row in batch.to_list()]
    assert [list(map(int, r)) for r in eager] == graph


def test_pair_preprocessor_matches_hf(tokenizers):
    ours, hf = tokenizers
    texts = corpus()
    a, b = texts[: len(texts) // 2], texts[len(texts) // 2: 2 * (len(texts) // 2)]
    pre = models.NezhaTextClassifierPreprocessor(ours, sequence_length=24)
    x = to_numpy(pre(x=(a, b)))
    ref = hf(a, b, truncation="longest_first", max_length=24, padding="max_length")
    np.testing.assert_array_equal(x["token_ids"], np.array(ref["input_ids"]))
    np.testing.assert_array_equal(x["segment_ids"], np.array(ref["token_type_ids"]))
    np.testing.assert_array_equal(x["padding_mask"].astype(int), np.array(ref["attention_mask"]))


def tiny_nezha(path, cls=None, safe=True):
    cls = cls or transformers.NezhaModel
    config = transformers.NezhaConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=20, max_position_embeddings=64, max_relative_position=3,
    )
    cls(config).save_pretrained(path, safe_serialization=safe)
    return path


def test_a_vocabulary_that_is_not_utf8_or_lacks_a_special_token_is_named(tmp_path):
    # Before: UnicodeDecodeError naming no file, and KeyError: '[MASK]'.
    garbage = tmp_path / "vocab.txt"
    garbage.write_bytes(b"[PAD]\n\xb4\xff\x02garbage\n")
    with pytest.raises(ValueError, match=r"vocab\.txt is not UTF-8 text \(byte 6"):
        models.NezhaTokenizer(vocabulary=str(garbage))
    with pytest.raises(ValueError, match=r"Cannot find special token `'\[MASK\]'`.*NezhaTokenizer"):
        models.NezhaTokenizer(vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])
    with pytest.raises(ValueError, match=r"Cannot find special token `'\[UNK\]'`.*ConvBertTokenizer"):
        models.ConvBertTokenizer(vocabulary=["[PAD]", "[CLS]", "[SEP]", "[MASK]", "a"])


def test_unknown_preset_name():
    with pytest.raises(ValueError, match="nezha_no_such_preset"):
        models.NezhaBackbone.from_preset("nezha_no_such_preset")


def test_wrong_model_type_names_the_class(tmp_path):
    config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=20)
    transformers.BertModel(config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="BertBackbone"):
        models.NezhaBackbone.from_preset(str(tmp_path))


def test_missing_weights_file(tmp_path):
    tiny_nezha(tmp_path)
    os.remove(tmp_path / "model.safetensors")
    with pytest.raises(FileNotFoundError, match="pytorch_model.bin"):
        models.NezhaBackbone.from_preset(str(tmp_path))


def test_missing_and_mismatched_keys_are_named(tmp_path):
    tiny_nezha(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["num_hidden_layers"] = 3
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointMismatchError, match=r"encoder\.layer\.2\.attention\.self\.query\.weight"):
        models.NezhaBackbone.from_preset(str(tmp_path))
    config["num_hidden_layers"] = 1
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointMismatchError, match=r"unexpected keys.*encoder\.layer\.1\."):
        models.NezhaBackbone.from_preset(str(tmp_path))
    config["num_hidden_layers"] = 2
    config["intermediate_size"] = 24
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointMismatchError, match=r"intermediate\.dense\.weight.*\(20, 16\)"):
        models.NezhaBackbone.from_preset(str(tmp_path))


@pytest.mark.parametrize("safe", [True, False])
def test_truncated_weights(tmp_path, safe):
    tiny_nezha(tmp_path, safe=safe)
    name = "model.safetensors" if safe else "pytorch_model.bin"
    data = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointFormatError, match="truncated or corrupt"):
        models.NezhaBackbone.from_preset(str(tmp_path))


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pytorch_model_bin_is_refused(tmp_path):
    tiny_nezha(tmp_path, safe=False)
    marker = tmp_path / "pwned"
    path = tmp_path / "pytorch_model.bin"
    with zipfile.ZipFile(path) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    pkl = next(n for n in entries if n.endswith("data.pkl"))
    entries[pkl] = pickle.dumps({"x": _Payload(marker)})
    with zipfile.ZipFile(path, "w") as z:
        for n, d in entries.items():
            z.writestr(n, d)
    with pytest.raises(UnsafeCheckpointError):
        models.NezhaBackbone.from_preset(str(tmp_path))
    assert not marker.exists()


def test_token_ids_out_of_vocabulary(tmp_path):
    backbone = models.NezhaBackbone.from_preset(str(tiny_nezha(tmp_path)))
    x = {"token_ids": np.array([[1, 2, 50]], "int32"), "segment_ids": np.zeros((1, 3), "int32"),
         "padding_mask": np.ones((1, 3), "int32")}
    with pytest.raises(ValueError, match=r"\[0, 50\)"):
        backbone(x)
    with pytest.raises(TypeError, match="integer"):
        backbone({**x, "token_ids": x["token_ids"].astype("float32") * 0})


def test_long_sequences_run(tmp_path):
    """Relative positions only: 1024 and 2048 tokens run (the reference stops at 512)."""
    hf_dir = tiny_nezha(tmp_path)
    backbone = models.NezhaBackbone.from_preset(str(hf_dir))
    for length in (1024, 2048):
        x = {"token_ids": np.ones((1, length), "int32"), "segment_ids": np.zeros((1, length), "int32"),
             "padding_mask": np.ones((1, length), "int32")}
        out = to_numpy(backbone(x)["sequence_output"])
        assert out.shape == (1, length, 16) and np.all(np.isfinite(out))
    # Where the reference runs (up to its max_position_embeddings), the two agree.
    hf = transformers.NezhaModel.from_pretrained(str(hf_dir)).eval()
    x = {k: v[:, :64] for k, v in x.items()}
    with torch.no_grad():
        ref = hf(input_ids=torch.tensor(x["token_ids"], dtype=torch.long)).last_hidden_state
    np.testing.assert_allclose(to_numpy(backbone(x)["sequence_output"]), ref.numpy(), atol=1e-5)
