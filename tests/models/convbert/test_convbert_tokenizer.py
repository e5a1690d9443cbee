"""ConvBertTokenizer against transformers' (slow) `ConvBertTokenizer`, id for id."""

import json
import unicodedata

import pytest
import transformers

import keras_encoders  # noqa: F401
from keras_encoders.models import ConvBertBackbone
from keras_encoders.models import ConvBertTokenizer
from tests.conftest import asset

PUBLISHED = ("vocab", "convbert-vocab-as-published.txt")  # CRLF, mojibake, duplicates
CLEAN = ("vocab", "bert-base-uncased-vocab.txt")

# The tokenization mixin's common string and its expected ids with the
# published vocabulary (HF test_tokenization_convbert.py; reference §6.3).
COMMON = (
    "This is a test 😊\nI was born in 92000, and this is falsé.\n生活的真谛是\n"
    "Hi  Hello\nHi   Hello\n\n \n  \n Hello\n<s>\nhi<s>there\nThe following string "
    "should be properly encoded: Hello.\nBut ird and ปี   ird   ด\nHey how are you doing"
)
COMMON_IDS = [
    2023, 2003, 1037, 3231, 100, 1045, 2001, 2141, 1999, 6227, 8889, 2692, 1010,
    1998, 2023, 2003, 6270, 1012, 100, 100, 100, 100, 100, 100, 7632, 7592, 7632,
    7592, 7592, 1026, 1055, 1028, 7632, 1026, 1055, 1028, 2045, 1996, 2206, 5164,
    2323, 2022, 7919, 12359, 1024, 7592, 1012, 2021, 20868, 2094, 1998, 100, 20868,
    2094, 100, 4931, 2129, 2024, 2017, 2725,
]

CORPUS = [
    COMMON,
    "",
    "   ",
    "Hello, World! It's 3:45pm -- isn't it?",
    "The quick brown fox jumps over the lazy dog.",
    "unaffable UNAFFABLE Un-Affable",
    "e-mail: someone@example.com, https://example.org/a?b=c&d=e#f",
    "我爱北京天安门。生活的真谛是",
    "日本語のテキストとカタカナ、한국어 텍스트",
    "3.14159 1,000,000 2023年12月31日 007 1e-10 ½ ² ³",
    "Ｆｕｌｌ－ｗｉｄｔｈ ＡＢＣ １２３ ！？",
    "Café naïve résumé façade Ærøskøbing Straße ΑΘΗΝΑ Ελληνικά Москва",
    "falsé ŝtrange àéîõü ÀÉÎÕÜ",
    "emoji 😊👍🏽 ❤️ 🇫🇷 family 👨‍👩‍👧",
    "control\x00chars\x01and\x7fdel\u200bzero\u200cwidth\u200djoiner\ufeffbom\ufffdrepl",
    "tabs\tand\nnewlines\r\nand\u00a0nbsp\u2028line\u3000ideographic space",
    "a" * 101 + " " + "b" * 100 + " short",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "[CLS] special [SEP] tokens [MASK] in [PAD] text [UNK]",
    "€100 £50 ¥1000 ©2024 ™ § ¶ • … — “quotes” ‘single’ «guillemets»",
    "Mixed中文and English混合text",
    "x" * 250,
]

PAIRS = [
    ("How old are you?", "I am 6 years old."),
    ("Is this a question", "Yes, it's a question – with a dash."),
]


@pytest.fixture(scope="module", params=[PUBLISHED, CLEAN], ids=["published", "clean"])
def tokenizers(request):
    path = asset(*request.param)
    return ConvBertTokenizer(vocabulary=path), transformers.ConvBertTokenizer(path)


def as_lists(x):
    if hasattr(x, "to_list"):
        return x.to_list()
    return [[int(i) for i in row] for row in x]


def hf_ids(hf, text):
    return hf.convert_tokens_to_ids(hf.tokenize(text))


def test_vocabulary_as_hf_reads_it(tokenizers):
    ours, hf = tokenizers
    # Ids are line indices; a duplicated line's token maps to its last line.
    for token, index in hf.vocab.items():
        assert ours.token_to_id(token) == index
    assert not any(t.endswith("\r") for t in ours.get_vocabulary())


def test_common_string_matches_integration_ids():
    path = asset(*PUBLISHED)
    ours = ConvBertTokenizer(vocabulary=path)
    hf = transformers.ConvBertTokenizer(path)
    assert hf_ids(hf, COMMON) == COMMON_IDS
    assert as_lists(ours([COMMON]))[0] == COMMON_IDS
    assert len(hf.vocab) == 29514  # the duplicates of the published file


def test_corpus_matches_hf(tokenizers):
    ours, hf = tokenizers
    got = as_lists(ours(CORPUS))
    for text, ids in zip(CORPUS, got):
        assert ids == hf_ids(hf, text), repr(text)


def test_pairs_match_hf(tokenizers):
    ours, hf = tokenizers
    for first, second in PAIRS:
        a, b = as_lists(ours([first, second]))
        want = hf(first, second)
        cls, sep = ours.token_to_id("[CLS]"), ours.token_to_id("[SEP]")
        assert [cls] + a + [sep] + b + [sep] == want["input_ids"]
        assert [0] * (len(a) + 2) + [1] * (len(b) + 1) == want["token_type_ids"]


def test_sst2_dev_matches_hf(tokenizers):
    ours, hf = tokenizers
    with open(asset("data", "sst2", "dev.tsv"), encoding="utf-8") as f:
        lines = f.read().splitlines()[1:201]  # skip the `label\ttext_a` header
    texts = [line.split("\t", 1)[1] for line in lines]
    got = as_lists(ours(texts))
    for text, ids in zip(texts, got):
        assert ids == hf_ids(hf, text), repr(text)


def normalize(text):
    text = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in text if unicodedata.category(c) != "Mn")


def test_offsets_slice_back(tokenizers):
    ours, _ = tokenizers
    texts = [t for t in CORPUS if t] + [p for pair in PAIRS for p in pair]
    ids, starts, ends = (as_lists(x) for x in ours.tokenize_with_offsets(texts))
    unk = ours.token_to_id("[UNK]")
    checked = 0
    for text, row, s_row, e_row in zip(texts, ids, starts, ends):
        assert s_row == sorted(s_row)
        for i, s, e in zip(row, s_row, e_row):
            assert 0 <= s < e <= len(text)
            if i == unk:
                continue
            token = ours.id_to_token(i)
            piece = token[2:] if token.startswith("##") else token
            if token in ours.special_tokens:
                assert text[s:e] == token
            else:
                # Controls and zero-width characters inside the span vanish.
                span = "".join(c for c in normalize(text[s:e]) if c.isprintable())
                if len(text[s:e]) == 1:
                    # One character can normalize to several pieces (Hangul
                    # syllables decompose into jamo); each gets its span.
                    assert piece in span, (text, token, text[s:e])
                else:
                    assert span == piece, (text, token, text[s:e])
            checked += 1
    assert checked > 200


def test_defaults_and_preset(tmp_path):
    tokenizer = ConvBertTokenizer(vocabulary=asset(*CLEAN))
    assert tokenizer.lowercase is True
    assert tokenizer.backbone_cls is ConvBertBackbone
    assert as_lists(tokenizer(["HeLLo Naïve"]))[0] == [7592, 15743]
    # A Hugging Face layout directory: the tokenizer comes from vocab.txt +
    # tokenizer_config.json; without the latter the class defaults apply.
    config = {"model_type": "convbert", "vocab_size": 30522, "hidden_size": 32,
              "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with open(asset(*PUBLISHED), "rb") as f:
        (tmp_path / "vocab.txt").write_bytes(f.read())
    loaded = ConvBertTokenizer.from_preset(str(tmp_path))
    assert type(loaded) is ConvBertTokenizer and loaded.lowercase is True
    assert as_lists(loaded([COMMON]))[0] == COMMON_IDS
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": false}')
    cased = ConvBertTokenizer.from_preset(str(tmp_path))
    assert cased.lowercase is False
    hf_cased = transformers.ConvBertTokenizer(asset(*PUBLISHED), do_lower_case=False)
    assert as_lists(cased(["Hello hello Naïve"]))[0] == hf_ids(hf_cased, "Hello hello Naïve")
