"""Property-based comparison of the three tokenizers with transformers'.

Random texts mix the characters that break tokenizers: unassigned code points
(category Cn), controls and format characters, combining marks, full-width
forms, CJK, emoji, whitespace of every kind and special tokens, plus long
strings. Ids must equal the slow (reference) tokenizer's; for NEZHA and
ConvBERT the offsets must equal the fast tokenizer's wherever its ids agree
with the slow one's; for ERNIE-M (no fast tokenizer) every offset must point
at text that produced the token. Examples are bounded and derandomized so CI
runs the same cases every time.
"""

import unicodedata

import numpy as np
import pytest
import sentencepiece
import transformers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers.models.deprecated.ernie_m import tokenization_ernie_m

from keras_encoders.models.convbert.convbert_tokenizer import ConvBertTokenizer
from keras_encoders.models.ernie_m.ernie_m_tokenizer import ErnieMTokenizer
from keras_encoders.models.nezha.nezha_tokenizer import NezhaTokenizer
from tests.conftest import asset

# The tokenizers' algorithms run in TensorFlow ops under every backend; the
# per-backend tokenizer checks are in each model's tokenizer tests.
pytestmark = pytest.mark.backend_independent

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)

_pieces = st.one_of(
    st.characters(categories=["Cn"]),
    st.characters(categories=["Cc", "Cf", "Co"]),
    st.characters(categories=["Mn", "Mc", "Me"]),
    st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E),  # full-width
    st.characters(min_codepoint=0x4E00, max_codepoint=0x4E80),  # CJK
    st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF),  # emoji
    st.sampled_from(list(" \t\n\r\u00a0\u2028\u3000\u200b\ufffd\x00")),
    st.sampled_from(["[MASK]", "[SEP]", "[CLS]", "[UNK]", "[PAD]"]),
    st.sampled_from(["hello", "WORLD", "naïve", "Straße", "İ", "ΟΔΟΣ", "92000", "model2000year", "...", "…"]),
    st.characters(categories=["Lu", "Ll", "Nd", "P", "S"], max_codepoint=0x2FFF),
    # No lone surrogates (Cs): the fast tokenizer refuses them; see
    # test_lone_surrogates_are_dropped_like_bert_tokenizer.
    st.characters(codec="utf-8"),
)
TEXTS = st.one_of(
    st.lists(_pieces, max_size=30).map("".join),
    st.lists(_pieces, min_size=150, max_size=300).map("".join),  # long
)
BATCHES = st.lists(TEXTS, min_size=1, max_size=4)


def _rows(x):
    return [[int(i) for i in np.asarray(row).reshape(-1)] for row in x]


def _check_bert(ours, slow, fast, texts):
    ids, starts, ends = ours.tokenize_with_offsets(texts)
    ids, starts, ends = _rows(ids), _rows(starts), _rows(ends)
    for i, text in enumerate(texts):
        want = slow(text, add_special_tokens=False)["input_ids"]
        assert ids[i] == want, (text, ids[i], want)
        encoded = fast(text, add_special_tokens=False, return_offsets_mapping=True)
        if encoded["input_ids"] == want and _same_normalization(slow, fast, text):
            got = list(zip(starts[i], ends[i]))
            assert got == [tuple(o) for o in encoded["offset_mapping"]], (text, got)


def _same_normalization(slow, fast, text):
    """Whether the fast tokenizer cleans `text` as the slow one does.

    The Rust tokenizer classifies characters with its own Unicode tables (it
    keeps unassigned code points such as U+0378 that `BertTokenizer` drops),
    so where the two normalize differently its offsets describe other
    tokens, even when the ids happen to agree ([UNK] either way).
    """
    basic = slow.basic_tokenizer
    cleaned = basic._tokenize_chinese_chars(basic._clean_text(text))
    cleaned = basic._run_strip_accents(cleaned.lower())
    return fast.backend_tokenizer.normalizer.normalize_str(text) == cleaned


@pytest.fixture(scope="module")
def nezha():
    vocab = asset("vocab", "bert-base-chinese-vocab.txt")
    return (
        NezhaTokenizer(vocabulary=vocab),
        transformers.BertTokenizer(vocab),
        transformers.BertTokenizerFast(vocab),
    )


@pytest.fixture(scope="module")
def convbert():
    vocab = asset("vocab", "convbert-vocab-as-published.txt")
    return (
        ConvBertTokenizer(vocabulary=vocab),
        transformers.ConvBertTokenizer(vocab),
        transformers.ConvBertTokenizerFast(vocab),
    )


@pytest.fixture(scope="module")
def ernie_m(tmp_path_factory):
    model = asset("sentencepiece", "hf_transformers_fixtures", "spiece.model")
    sp = sentencepiece.SentencePieceProcessor(model_file=model)
    head = ["[CLS]", "[PAD]", "[SEP]", "[UNK]"]
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    tokens = head + [p for p in pieces if p not in head + ["[MASK]"]] + ["[MASK]"]
    path = tmp_path_factory.mktemp("ernie_m_fuzz") / "vocab.txt"
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return (
        ErnieMTokenizer(proto=model, vocabulary=str(path)),
        tokenization_ernie_m.ErnieMTokenizer(model, vocab_file=str(path)),
    )


@SETTINGS
@given(texts=BATCHES)
def test_nezha_matches_bert_tokenizer(nezha, texts):
    _check_bert(*nezha, texts)


@SETTINGS
@given(texts=BATCHES)
def test_convbert_matches_convbert_tokenizer(convbert, texts):
    _check_bert(*convbert, texts)


@SETTINGS
@given(texts=BATCHES)
def test_ernie_m_matches_ernie_m_tokenizer(ernie_m, texts):
    ours, ref = ernie_m
    ids, starts, ends = ours.tokenize_with_offsets(texts)
    ids, starts, ends = _rows(ids), _rows(starts), _rows(ends)
    for i, text in enumerate(texts):
        want = ref(text, add_special_tokens=False)["input_ids"]
        assert ids[i] == want, (text, ids[i], want)
        previous = 0
        for token, start, end in zip(ids[i], starts[i], ends[i]):
            piece = ours.id_to_token(token).lstrip("\u2581")
            assert previous <= start <= end <= len(text), (text, starts[i], ends[i])
            previous = start
            # SentencePiece normalizes (NFKC) and drops some characters
            # (controls...); the letters and digits of the token are there.
            span = unicodedata.normalize("NFKC", text[start:end])
            span = "".join(c for c in span if c.isalnum())
            if piece and token != ours.unk_token_id and piece.isascii() and piece.isalnum():
                assert piece in span, (text, piece, span)


def test_lone_surrogates_are_dropped_like_bert_tokenizer(nezha):
    """Python strings may hold lone surrogates (not valid Unicode). They become
    U+FFFD (one code point each, so offsets still index the string), which
    BERT drops, as `BertTokenizer` drops them (category Cs)."""
    ours, slow, _ = nezha
    text = "ab\ud800cd \udfff好"
    ids, starts, ends = ours.tokenize_with_offsets([text])
    assert _rows(ids)[0] == slow(text, add_special_tokens=False)["input_ids"]
    assert [text[s:e] for s, e in zip(_rows(starts)[0], _rows(ends)[0])][-1] == "好"
    assert _rows(ours([text]))[0] == _rows(ours(["abcd 好"]))[0]
