"""Token classification decoding: tokens -> words -> entities, BIO/BIOES/IO."""

import doctest

import numpy as np
import pytest

from keras_encoders.decoding import entities
from keras_encoders.decoding import spans

# Decoding is NumPy and TensorFlow, the same under every backend.
pytestmark = pytest.mark.backend_independent


def decode(text, tokens, labels, names, scores=None):
    """Decode one text whose tokens are `(start, end)` spans labelled with
    `labels` (names), wrapped in [CLS] ... [SEP] [PAD] like packed inputs."""
    ids = [names.index(label) for label in labels]
    count = len(ids) + 3
    logits = np.zeros((1, count, len(names)), "float32")
    for position, label in enumerate(ids, start=1):
        logits[0, position, label] = 10.0 if scores is None else scores[position - 1]
    starts = [[-1] + [a for a, _ in tokens] + [-1, -1]]
    ends = [[-1] + [b for _, b in tokens] + [-1, -1]]
    out = entities.decode_token_labels(logits, starts, ends, [text], names)
    return {k: v.to_list()[0] for k, v in out.items()}


def found(out):
    return [(t.decode(), l.decode(), a, b) for t, l, a, b in zip(
        out["entity_text"], out["entity_label"], out["entity_start"], out["entity_end"])]


BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
BIOES = ["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "S-PER"]
CHARS = lambda text: [(i, i + 1) for i in range(len(text))]  # noqa: E731


def test_bio_entities_and_o():
    text = "张三在北京"
    out = decode(text, CHARS(text), ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"], BIO)
    assert found(out) == [("张三", "PER", 0, 2), ("北京", "LOC", 3, 5)]


def test_i_without_b_begins_an_entity():
    text = "在北京"
    out = decode(text, CHARS(text), ["O", "I-LOC", "I-LOC"], BIO)
    assert found(out) == [("北京", "LOC", 1, 3)]
    # And a type change inside a run starts another entity.
    out = decode(text, CHARS(text), ["B-PER", "I-LOC", "I-LOC"], BIO)
    assert found(out) == [("在", "PER", 0, 1), ("北京", "LOC", 1, 3)]


def test_adjacent_entities_stay_apart():
    text = "京沪港"
    out = decode(text, CHARS(text), ["B-LOC", "B-LOC", "I-LOC"], BIO)
    assert found(out) == [("京", "LOC", 0, 1), ("沪港", "LOC", 1, 3)]
    out = decode(text, CHARS(text), ["S-LOC", "S-LOC", "S-PER"], BIOES)
    assert found(out) == [("京", "LOC", 0, 1), ("沪", "LOC", 1, 2), ("港", "PER", 2, 3)]


def test_bioes():
    text = "去上海市和京"
    labels = ["O", "B-LOC", "I-LOC", "E-LOC", "O", "S-LOC"]
    assert found(decode(text, CHARS(text), labels, BIOES)) == [
        ("上海市", "LOC", 1, 4), ("京", "LOC", 5, 6)]
    # An E- ends its entity: the I- after it begins the next one.
    labels = ["B-LOC", "E-LOC", "I-LOC", "E-LOC", "O", "O"]
    assert found(decode(text, CHARS(text), labels, BIOES)) == [
        ("去上", "LOC", 0, 2), ("海市", "LOC", 2, 4)]


def test_io_plain_labels():
    text = "张三去北京"
    out = decode(text, CHARS(text), ["PER", "PER", "O", "LOC", "LOC"], ["O", "PER", "LOC"])
    assert found(out) == [("张三", "PER", 0, 2), ("北京", "LOC", 3, 5)]


def test_subword_tokens_become_words_with_the_first_token_label():
    text = "I love Shanghai!"
    tokens = [(0, 1), (2, 6), (7, 12), (12, 15), (15, 16)]  # i love shang ##hai !
    # "##hai" has its own (ignored) label: the word takes its first token's.
    out = decode(text, tokens, ["O", "O", "B-LOC", "I-PER", "O"], BIO)
    words = [(t.decode(), l.decode(), a, b) for t, l, a, b in zip(
        out["word_text"], out["word_label"], out["word_start"], out["word_end"])]
    assert words == [("I", "O", 0, 1), ("love", "O", 2, 6), ("Shanghai", "B-LOC", 7, 15),
                     ("!", "O", 15, 16)]
    assert found(out) == [("Shanghai", "LOC", 7, 15)]


def test_cjk_characters_digits_and_latin():
    text = "2月8日谷爱凌在Beijing"
    tokens = [(i, i + 1) for i in range(8)] + [(8, 13), (13, 15)]  # ... 在 beiji ##ng
    labels = ["O"] * 4 + ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "O"]
    out = decode(text, tokens, labels, BIO)
    assert [w.decode() for w in out["word_text"]] == ["2", "月", "8", "日", "谷", "爱", "凌", "在", "Beijing"]
    assert found(out) == [("谷爱凌", "PER", 4, 7), ("Beijing", "LOC", 8, 15)]


def test_scores_are_label_probabilities_averaged_over_words():
    text = "北京"
    out = decode(text, CHARS(text), ["B-LOC", "I-LOC"], BIO, scores=[np.log(4.0), np.log(12.0)])
    # Logits 0 everywhere but the label: p = e^x / (e^x + 4).
    p = [4 / 8, 12 / 16]
    np.testing.assert_allclose(out["word_score"], p, rtol=1e-6)
    np.testing.assert_allclose(out["entity_score"], [np.mean(p)], rtol=1e-6)


def test_batches_with_empty_rows_and_no_label_names():
    names = ["O", "B-LOC"]
    logits = np.zeros((3, 4, 2), "float32")
    logits[0, 1, 1] = logits[2, 1, 1] = 5.0
    starts = [[-1, 0, 1, -1], [-1, -1, -1, -1], [-1, 0, -1, -1]]
    ends = [[-1, 1, 2, -1], [-1, -1, -1, -1], [-1, 1, -1, -1]]
    out = entities.decode_token_labels(logits, starts, ends, ["京沪", "", "港"], names)
    assert out["entity_text"].to_list() == [[b"\xe4\xba\xac"], [], ["港".encode()]]
    assert out["word_start"].to_list() == [[0, 1], [], [0]]
    plain = entities.decode_token_labels(logits, starts, ends, ["京沪", "", "港"])
    assert "entity_text" not in plain and "word_label" not in plain
    assert plain["word_label_id"].to_list() == [[1, 0], [], [1]]
    none = entities.decode_token_labels(
        np.zeros((1, 2, 2)), [[-1, -1]], [[-1, -1]], ["x"], names)
    assert none["entity_text"].to_list() == [[]] and none["word_text"].to_list() == [[]]


def brute_force_answer(start, end, token_start, token_end, context, max_answer_length):
    best = ("", 0, 0, -np.inf)
    for i in range(len(start)):
        for j in range(i, min(len(start), i + max_answer_length)):
            if token_start[i] >= 0 and token_start[j] >= 0 and start[i] + end[j] > best[3]:
                a, b = token_start[i], token_end[j]
                best = (context[a:b], a, b, start[i] + end[j])
    return best


@pytest.mark.parametrize("seed", range(4))
def test_best_answer_spans_match_a_brute_force_search(seed):
    rng = np.random.RandomState(seed)
    context = "小明在北京工作，他很喜欢那里。"
    rows, length = 3, 12
    start, end = rng.randn(2, rows, length).astype("float32")
    token_start = np.full((rows, length), -1)
    token_end = np.full((rows, length), -1)
    for r, first in enumerate((3, 5, 0)):
        count = 0 if r == 2 else length - first - 1  # row 2: no context token
        token_start[r, first:first + count] = np.arange(count)
        token_end[r, first:first + count] = np.arange(count) + 1
    out = spans.best_answer_spans(start, end, token_start, token_end, [context] * rows, 4)
    for r in range(rows):
        text, a, b, score = brute_force_answer(start[r], end[r], token_start[r], token_end[r], context, 4)
        assert (out["text"][r].numpy().decode(), int(out["start"][r]), int(out["end"][r])) == (text, a, b)
        assert float(out["score"][r]) == pytest.approx(score) if np.isfinite(score) else out["score"][r] == -np.inf


@pytest.mark.parametrize("module", [entities, spans])
def test_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted and not result.failed
