"""Tests for `ErnieMTokenizer`: ids identical to Hugging Face's `ErnieMTokenizer`.

The reference is transformers' (deprecated) slow ERNIE-M tokenizer, fed the
same SentencePiece model and `vocab.txt`. The real ERNIE-M files are not
available, so the models are the small SentencePiece models of
`shared/assets/sentencepiece/`, each with a `vocab.txt` built here, once in
SentencePiece id order and once in XLM-R order (`[CLS] [PAD] [SEP] [UNK]`
first, like ERNIE-M's), so that using SentencePiece ids instead of vocabulary
lines cannot pass.
"""

import glob
import json
import os
import unicodedata

import keras
import numpy as np
import pytest
import sentencepiece
import tensorflow as tf
from transformers.models.deprecated.ernie_m import tokenization_ernie_m

from keras_encoders.models.ernie_m.ernie_m_tokenizer import ErnieMTokenizer
from tests.conftest import asset, to_numpy

SPIECE = ("sentencepiece", "hf_transformers_fixtures", "spiece.model")
TINY = ("sentencepiece", "keras_hub", "xlm_roberta_test_vocab.spm")
BPE = ("sentencepiece", "hf_transformers_fixtures", "test_sentencepiece_bpe.model")
SPECIALS = ["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"]

HANDMADE = [
    "I was born in 92000, and this is falsé.",
    "model2000year",
    "This is a test",
    "world Hello",  # a lone "▁" piece that Hugging Face keeps
    "我爱北京天安门，今天天气很好。",
    "《红楼梦》【注】：这是第3版！真的？好的；",
    "ＡＢＣ１２３ ｆｕｌｌ－ｗｉｄｔｈ，ｔｅｘｔ。",
    "emoji 😊🎉 and 🇫🇷 flags",
    "multiple    spaces\tand\nnewlines",
    "",
    "   ",
    "  leading and trailing spaces  ",
    "x 9 a9b 9a ２０２０年 ²³ ①② ٣٤",
    "[CLS] hello [MASK]world[SEP] <unk> [PAD]",
    "HELLO İstanbul ΟΔΟΣ Σ Straße",
    "e\u0301te and ﬁne print ㍿",
    "the quick brown fox",
]


def _xnli_premises(per_file=300):
    texts = []
    for path in sorted(glob.glob(os.path.join(asset("data", "xnli"), "dev-*.tsv"))):
        with open(path, encoding="utf-8") as f:
            premises = [line.split("\t")[0] for line in f.read().split("\n") if line]
        # Each premise comes with three hypotheses: keep distinct ones.
        texts += list(dict.fromkeys(premises))[:per_file]
    assert len(texts) == 15 * per_file
    return texts


TEXTS = HANDMADE + _xnli_premises()


def _pieces(model_path):
    sp = sentencepiece.SentencePieceProcessor(model_file=model_path)
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size())]


def _write_vocab(path, tokens):
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(f"{t}\n" for t in tokens))
    return str(path)


def _vocab(model_path, order, directory):
    pieces = _pieces(model_path)
    if order == "spm":
        # Line i = piece i; missing special tokens go after the pieces.
        tokens = pieces + [t for t in SPECIALS if t not in pieces]
    else:
        # ERNIE-M / XLM-R layout: ids shifted, so spm ids would be wrong.
        head = ["[CLS]", "[PAD]", "[SEP]", "[UNK]"]
        tokens = head + [p for p in pieces if p not in head + ["[MASK]"]] + ["[MASK]"]
    name = os.path.basename(model_path).split(".")[0]
    return _write_vocab(os.path.join(directory, f"{name}_{order}_vocab.txt"), tokens)


CONFIGS = {
    # name: (model, vocabulary order, lowercase)
    "spiece-spm-lower": (SPIECE, "spm", True),
    "spiece-xlmr": (SPIECE, "xlmr", False),
    "tiny-spm": (TINY, "spm", False),
    "tiny-xlmr-lower": (TINY, "xlmr", True),
    "bpe-xlmr": (BPE, "xlmr", False),
}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """Per config: (ours, Hugging Face's, lowercase), built once."""
    directory = tmp_path_factory.mktemp("ernie_m_vocab")
    built = {}

    def get(name):
        if name not in built:
            model, order, lowercase = CONFIGS[name]
            model = asset(*model)
            vocab = _vocab(model, order, directory)
            ours = ErnieMTokenizer(proto=model, vocabulary=vocab, lowercase=lowercase)
            ref = tokenization_ernie_m.ErnieMTokenizer(
                model, vocab_file=vocab, do_lower_case=lowercase
            )
            built[name] = (ours, ref, lowercase)
        return built[name]

    return get


def _hf_ids(ref, texts):
    return ref(texts, add_special_tokens=False)["input_ids"]


def _rows(x):
    """A batch of ragged ids (a tf.RaggedTensor or, off TensorFlow, nested
    lists) as lists of ints."""
    if isinstance(x, tf.RaggedTensor):
        x = x.to_list()
    return [[int(i) for i in np.asarray(row).reshape(-1)] for row in x]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_ids_match_hugging_face(pairs, name):
    ours, ref, _ = pairs(name)
    got = _rows(ours(TEXTS))
    want = _hf_ids(ref, TEXTS)
    bad = [i for i in range(len(TEXTS)) if got[i] != want[i]]
    details = [(TEXTS[i], ref.tokenize(TEXTS[i]), got[i], want[i]) for i in bad[:3]]
    assert not bad, details


def test_hugging_face_fixture_expectations():
    """transformers' own ErnieM tokenizer test (spiece.model, lowercase)."""
    model = asset(*SPIECE)
    pieces = _pieces(model)
    # Vocabulary == SentencePiece ids, as in the Hugging Face test.
    tokenizer = ErnieMTokenizer(
        proto=model,
        vocabulary=pieces,
        lowercase=True,
        unk_token="<unk>",
        pad_token="<pad>",
    )
    ref = tokenization_ernie_m.ErnieMTokenizer(
        model, do_lower_case=True, unk_token="<unk>", pad_token="<pad>"
    )
    texts = ["This is a test", "I was born in 92000, and this is falsé."]
    expected = [
        [48, 25, 21, 1289],
        [31, 23, 386, 19, 518, 3050, 15, 17, 48, 25, 8256, 18, 1, 9],
    ]
    assert _rows(tokenizer(texts)) == expected
    assert _hf_ids(ref, texts) == expected
    assert [tokenizer.id_to_token(i) for i in expected[1][3:7]] == [
        "▁in", "9", "2000", ",",
    ]


def test_lone_underline_kept_like_hugging_face(pairs):
    # PaddleNLP drops a lone "▁"; Hugging Face keeps it before a piece that
    # does not start a word ("H" is not in this lowercase model).
    ours, ref, _ = pairs("spiece-xlmr")
    assert ref.tokenize("world Hello") == ["▁world", "▁", "H", "ello"]
    ids = _rows(ours(["world Hello"]))[0]
    assert ids == _hf_ids(ref, ["world Hello"])[0]
    assert ids[1] == ours.token_to_id("▁")
    assert ids[2] == ours.unk_token_id


def test_paddlenlp_reference_drops_lone_underline(pairs, tmp_path):
    # PaddleNLP's rule: a piece that is only "▁" never becomes a token; every
    # other token is Hugging Face's.
    ours, ref, _ = pairs("spiece-xlmr")
    config = ours.get_config()
    assert config["reference"] == "transformers"
    paddle = ErnieMTokenizer.from_config({**config, "reference": "paddlenlp"})
    paddle.set_proto(ours.proto)
    paddle.set_vocabulary(ours.get_vocabulary())
    lone = ours.token_to_id("▁")
    got = _rows(paddle(TEXTS))
    want = [[i for i in row if i != lone] for row in _hf_ids(ref, TEXTS)]
    assert got == want
    assert got[HANDMADE.index("world Hello")] == [
        ours.token_to_id("▁world"), ours.unk_token_id, ours.token_to_id("ello"),
    ]
    # Offsets stay aligned with the ids.
    ids, starts, ends = paddle.tokenize_with_offsets(["world Hello"])
    assert _rows(ids) == [got[HANDMADE.index("world Hello")]]
    assert _rows(starts) == [[0, 6, 7]] and _rows(ends) == [[5, 7, 11]]
    # Saved with the tokenizer (config and presets).
    assert paddle.get_config()["reference"] == "paddlenlp"
    paddle.save_to_preset(str(tmp_path))
    with open(tmp_path / "tokenizer.json", encoding="utf-8") as f:
        assert json.load(f)["config"]["reference"] == "paddlenlp"
    with pytest.raises(ValueError, match="reference"):
        ErnieMTokenizer(reference="paddle")


def test_tf_data_and_tf_function_match_eager(pairs):
    ours, _, _ = pairs("spiece-xlmr")
    texts = HANDMADE + TEXTS[len(HANDMADE) :: 150]  # every language
    eager = _rows(ours(texts))
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(8).map(ours)
    from_data = [list(map(int, row)) for batch in ds for row in batch.to_list()]
    assert from_data == eager

    @tf.function
    def graph(x):
        return ours.tokenize(x)

    assert _rows(graph(tf.constant(texts))) == eager
    # A scalar gives a dense vector.
    assert to_numpy(ours(texts[0])).tolist() == eager[0]


def _normal(text, lowercase):
    """`text` modulo SentencePiece's normalization: NFKC, and no spaces or
    invisible characters (which it drops or turns into "▁", model-dependent).
    """
    if lowercase:
        # Hugging Face lowercases one character at a time (no final sigma).
        text = "".join(c.lower() for c in text)
    text = unicodedata.normalize("NFKC", text.replace("▁", " "))
    return "".join(
        c for c in text if not c.isspace() and unicodedata.category(c) not in ("Cc", "Cf")
    )


@pytest.mark.parametrize("name", ["spiece-xlmr", "tiny-xlmr-lower", "bpe-xlmr"])
def test_offsets_point_at_the_original_text(pairs, name):
    ours, ref, lowercase = pairs(name)
    texts = HANDMADE + TEXTS[len(HANDMADE) :: 3]  # a third keeps it fast
    _check_offsets(ours, ref, lowercase, texts)


def _check_offsets(ours, ref, lowercase, texts):
    ids, starts, ends = ours.tokenize_with_offsets(texts)
    ids, starts, ends = _rows(ids), _rows(starts), _rows(ends)
    for text, row, row_start, row_end in zip(texts, ids, starts, ends):
        # Hugging Face's token strings (ids are equal, see above), so that
        # unknown pieces are checked too.
        tokens = ref.tokenize(text)
        assert len(tokens) == len(row)
        for token, start, end in zip(tokens, row_start, row_end):
            assert 0 <= start <= end <= len(text)
            # Special tokens written in the text are never lowercased.
            lower = lowercase and token not in ours.special_tokens
            got, want = _normal(text[start:end], lower), _normal(token, False)
            # A character that NFKC expands ("…" -> "...", "㍿" -> "株式会社")
            # can be split between tokens: each gets the whole character.
            expanded = want in got and any(
                len(unicodedata.normalize("NFKC", c)) > 1 for c in text[start:end]
            )
            assert got == want or expanded, (text, token, start, end)
        assert row_start == sorted(row_start) and row_end == sorted(row_end)


# Runs of characters the models do not know, longer than the parts they are
# cut into before SentencePiece (`_UNKNOWN_RUN_PART`, 512): emoji, private
# use, CJK (unknown to spiece.model), "a" + combining acute ("á" after NFKC),
# at either end, between known words, next to special tokens and expansions.
LONG_UNKNOWN = [
    "😀" * 1500,
    "x" + "😀" * 1025 + " " + "😀" * 513 + "y",
    "\ue000" * 1200 + "我爱" * 700 + "\ue000😀" * 600 + "known words",
    "a\u0301" * 1100 + "b" + "E\u0301" * 700,
    "㍿" * 600 + "😀" * 1100 + "…" + "😀" * 600,
    "😀" * 700 + "[MASK]" + "😀" * 700 + " [SEP]" + "😀" * 513,
    "x\u0301😀" * 900,
    "Ünï😀我,12x\u0301 " * 200,
    "我爱北京天安门，今天天气很好。" * 140,  # ~2,000 CJK and punctuation
    # Over 8,192 unknown characters that are not `_inert_chars` (forced cuts).
    "\u0301" * 9000,
    "a" + "\u0378" * 9000 + "b",
    "x " + "\u0301\u0316" * 4200 + "😀" * 700,
]


def _random_mixed(count=8, seed=0):
    """Random texts of mostly unknown characters: parts are cut wherever two
    unknown ones meet at a multiple of 512, next to anything else."""
    rng = np.random.default_rng(seed)
    alphabet = ["😀", "\ue000", "我", "a\u0301", "\u0301", "㍿", "…", " ", "x",
                "[MASK]", "1", "Ａ", "\u200b", "\u0378", "İ", "\U00020000", "가",
                "\u1100\u1161"]
    weights = np.array([30, 20, 20, 10, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 5, 3, 1])
    p = weights / weights.sum()
    sizes = rng.integers(600, 2000, size=count)
    return ["".join(rng.choice(alphabet, size=int(n), p=p)) for n in sizes]


@pytest.mark.parametrize("name", ["spiece-xlmr", "tiny-xlmr-lower", "bpe-xlmr"])
def test_long_unknown_runs_match_hugging_face(pairs, name):
    """Cutting long unknown runs changes no id and no offset."""
    ours, ref, lowercase = pairs(name)
    texts = LONG_UNKNOWN + _random_mixed()
    assert _rows(ours(texts)) == _hf_ids(ref, texts)
    _check_offsets(ours, ref, lowercase, texts)
    # The merged unknown piece spans the whole run.
    _, starts, ends = ours.tokenize_with_offsets("😀" * 1500)
    assert _rows([starts, ends]) == [[0], [1500]]


def test_offsets_of_splits_and_special_tokens(pairs):
    ours, _, _ = pairs("spiece-xlmr")
    text = "ＡＢ，中文9x [MASK] world Hello"
    ids, starts, ends = ours.tokenize_with_offsets(text)
    tokens = [ours.id_to_token(i) for i in to_numpy(ids).tolist()]
    spans = [text[s:e] for s, e in zip(to_numpy(starts), to_numpy(ends))]
    assert tokens[-4:] == ["▁world", "▁", "[UNK]", "ello"]  # no "H" piece
    assert spans[-4:] == ["world", "", "H", "ello"]
    assert spans[:-4] == ["ＡＢ", "，", "中", "文", "9", "x", "[MASK]"]


def test_lowercase_keeps_special_tokens(pairs):
    ours, ref, _ = pairs("spiece-spm-lower")
    text = "HELLO [MASK] [mask] WORLD"
    got = _rows(ours([text]))[0]
    assert got == _hf_ids(ref, [text])[0]
    assert ours.token_to_id("[MASK]") in got


def _strings(x):
    x = np.asarray(to_numpy(x) if not isinstance(x, (str, bytes, list)) else x)
    return [v.decode() if isinstance(v, bytes) else str(v) for v in x.reshape(-1)]


def test_detokenize(pairs):
    ours, ref, _ = pairs("tiny-xlmr-lower")
    text = "the quick brown fox"
    assert _strings(ours.detokenize(ours(text))) == [text]
    texts = ["the earth is round", "the fox"]
    assert _strings(ours.detokenize(ours(texts))) == texts
    # Same rule as Hugging Face's `convert_tokens_to_string`.
    ids = _rows(ours([text]))[0]
    assert ref.convert_tokens_to_string([ours.id_to_token(i) for i in ids]) == text


def test_vocabulary_helpers(pairs):
    ours, ref, _ = pairs("spiece-xlmr")
    assert ours.vocabulary_size() == len(ours.get_vocabulary()) == ref.vocab_size
    assert ours.token_to_id("[CLS]") == 0
    assert ours.token_to_id("[PAD]") == ours.pad_token_id == 1
    assert ours.token_to_id("[SEP]") == ours.end_token_id == 2
    assert ours.token_to_id("[UNK]") == 3
    assert ours.start_token_id == ours.cls_token_id == 0
    assert ours.id_to_token(ours.token_to_id("▁this")) == "▁this"
    assert ours.token_to_id("▁this") == ref.convert_tokens_to_ids("▁this")
    with pytest.raises(ValueError):
        ours.token_to_id("not a piece")
    with pytest.raises(ValueError):
        ours.id_to_token(ours.vocabulary_size())


@pytest.mark.parametrize("damage", ["truncated", "not a model"])
def test_a_damaged_sentencepiece_model_is_named(tmp_path, damage):
    # SentencePiece's own error is a source line and
    # "[model_proto->ParseFromArray(...)]" (a TensorFlow InternalError).
    model = asset(*BPE)
    vocab = _vocab(model, "xlmr", str(tmp_path))
    with open(model, "rb") as f:
        good = f.read()
    proto = good[: len(good) // 3] if damage == "truncated" else b"<html>rate limited</html>"
    path = tmp_path / "sentencepiece.bpe.model"
    path.write_bytes(proto)
    with pytest.raises(ValueError, match=rf"SentencePiece model \({len(proto)} bytes\) cannot be parsed.*truncated or corrupt"):
        ErnieMTokenizer(proto=str(path), vocabulary=vocab)
    assert len(ErnieMTokenizer(proto=good, vocabulary=vocab)(["ok"])) == 1


def test_sequence_length_pads_with_pad_id_and_truncates(pairs):
    ours, _, _ = pairs("spiece-xlmr")
    texts = ["This is a test", TEXTS[0]]
    ragged = _rows(ours(texts))
    assert len(ragged[0]) < 8 < len(ragged[1])
    fixed = ErnieMTokenizer(
        proto=asset(*SPIECE), vocabulary=ours.get_vocabulary(), sequence_length=8
    )
    dense = to_numpy(fixed(texts))
    assert dense.shape == (2, 8)
    # ERNIE-M masks by pad id, which is 1 ("[PAD]"), not 0 ("[CLS]").
    assert dense[0].tolist() == ragged[0] + [fixed.pad_token_id] * (8 - len(ragged[0]))
    assert dense[1].tolist() == ragged[1][:8]
    assert to_numpy(fixed(texts[0])).tolist() == dense[0].tolist()


def test_config_and_assets_round_trip(pairs, tmp_path):
    ours, _, _ = pairs("tiny-xlmr-lower")
    config = ours.get_config()
    assert config["proto"] is None and config["vocabulary"] is None
    assert config["lowercase"] is True
    assert ours.file_assets == ["vocabulary.txt", "vocabulary.spm"]
    ours.save_assets(str(tmp_path))
    restored = ErnieMTokenizer.from_config(config)
    restored.load_assets(str(tmp_path))
    texts = TEXTS[:50]
    assert _rows(restored(texts)) == _rows(ours(texts))
    serialized = keras.saving.serialize_keras_object(ours)
    clone = keras.saving.deserialize_keras_object(serialized)
    assert isinstance(clone, ErnieMTokenizer)
    clone.load_assets(str(tmp_path))
    assert _rows(clone(texts)) == _rows(ours(texts))
    # Bytes work as well as a path.
    with open(asset(*TINY), "rb") as f:
        from_bytes = ErnieMTokenizer(
            proto=f.read(), vocabulary=ours.get_vocabulary(), lowercase=True
        )
    assert _rows(from_bytes(texts)) == _rows(ours(texts))


@pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="exporting a Keras layer as a SavedModel needs TF-tracked layers",
)
def test_saved_model_export(pairs, tmp_path):
    ours, _, _ = pairs("tiny-xlmr-lower")
    module = tf.Module()
    module.tokenizer = ours
    module.serve = tf.function(
        lambda x: ours.tokenize(x).to_tensor(default_value=-1),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    texts = HANDMADE
    want = _rows(ours(texts))
    got = loaded.serve(tf.constant(texts)).numpy().tolist()
    assert [[i for i in row if i != -1] for row in got] == want


@pytest.mark.parametrize("name", ["spiece-spm-lower", "tiny-spm"])
def test_batches_without_any_token(pairs, name):
    ours, _, _ = pairs(name)
    assert _rows(ours(["", "   ", "\t\n"])) == [[], [], []]
    ids, starts, ends = ours.tokenize_with_offsets(["", " "])
    assert _rows(ids) == _rows(starts) == _rows(ends) == [[], []]
    assert to_numpy(ours("")).shape == (0,)


def test_survives_reseeding(pairs):
    # tf-text's own SentencePiece resource dies with TF's kernel cache,
    # which `tf.random.set_seed` clears.
    ours, _, _ = pairs("tiny-spm")
    want = _rows(ours(HANDMADE))
    keras.utils.set_random_seed(1)
    tf.random.set_seed(2)
    assert _rows(ours(HANDMADE)) == want


def test_errors():
    tokenizer = ErnieMTokenizer(vocabulary=SPECIALS)
    assert tokenizer.token_to_id("[PAD]") == 2
    with pytest.raises(ValueError, match="SentencePiece"):
        tokenizer(["hello"])
    with pytest.raises(ValueError, match="vocabulary"):
        ErnieMTokenizer(proto=asset(*TINY))(["hello"])
    # keras-hub's check of the special tokens, before any table is built.
    with pytest.raises(ValueError, match="Cannot find special token .* for `ErnieMTokenizer`"):
        ErnieMTokenizer(proto=asset(*TINY), vocabulary=["[CLS]", "[SEP]"])


def test_from_preset_finds_the_ernie_m_tokenizer(pairs, tmp_path):
    """A Keras preset holding an ERNIE-M backbone gives back this tokenizer,
    from our class and from keras-hub's base class."""
    import keras_hub

    from keras_encoders.models import ErnieMBackbone

    ours, _, _ = pairs("tiny-xlmr-lower")
    backbone = ErnieMBackbone(
        vocabulary_size=ours.vocabulary_size(), num_layers=1, num_heads=2,
        hidden_dim=8, intermediate_dim=8,
    )
    backbone.save_to_preset(str(tmp_path))
    ours.save_to_preset(str(tmp_path))
    texts = TEXTS[:20]
    for cls in (ErnieMTokenizer, keras_hub.models.Tokenizer):
        loaded = cls.from_preset(str(tmp_path))
        assert isinstance(loaded, ErnieMTokenizer)
        assert _rows(loaded(texts)) == _rows(ours(texts))
