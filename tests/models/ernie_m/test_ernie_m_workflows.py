"""ERNIE-M from raw strings: fit every task, `.keras` and preset round trips."""

import csv

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import keras_encoders  # noqa: F401
from keras_encoders import models
from tests.conftest import asset, to_numpy
from tests.models.ernie_m.test_ernie_m_tasks import VOCAB, write_tokenizer_files

SEQ = 40
LABELS = ["entailment", "neutral", "contradiction"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    directory = write_tokenizer_files(tmp_path_factory.mktemp("ernie_m_files"))
    return models.ErnieMTokenizer(
        proto=f"{directory}/sentencepiece.bpe.model", vocabulary=f"{directory}/vocab.txt"
    )


@pytest.fixture(scope="module")
def xnli():
    """16 English and French premise / hypothesis / label rows."""
    rows = []
    for lang in ("en", "fr"):
        with open(asset("data", "xnli", f"dev-{lang}.tsv"), encoding="utf-8") as f:
            rows += list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:8]
    premises = [r[0] for r in rows]
    hypotheses = [r[1] for r in rows]
    return premises, hypotheses, np.array([LABELS.index(r[2]) for r in rows])


def backbone():
    return models.ErnieMBackbone(
        vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, dropout=0.0, attention_dropout=0.0,
        max_sequence_length=64,
    )


def repeat(data, times):
    """Each example `times` times over (lists, arrays, ragged tensors, and
    tuples or dicts of them)."""
    if isinstance(data, tuple):
        return tuple(repeat(d, times) for d in data)
    if isinstance(data, dict):
        return {k: repeat(v, times) for k, v in data.items()}
    if isinstance(data, tf.RaggedTensor):
        return tf.concat([data] * times, axis=0)
    if isinstance(data, np.ndarray):
        return np.concatenate([data] * times)
    return list(data) * times


def fit_decreases(task, x, y, passes=3):
    """`fit` on raw inputs lowers the training loss.

    A single epoch over the data repeated `passes` times: every epoch
    re-creates the `tf.data` iterator, whose graph (the whole tokenizer)
    TensorFlow optimizes again, seconds each. The loss is measured eagerly
    on the preprocessed data before and after.
    """
    inputs, targets, *weights = [to_numpy(v) for v in task.preprocessor(x=x, y=y)]

    def loss():
        out = task(inputs, training=False)
        # A fresh weight tensor per call: Keras' `apply_mask` multiplies
        # `sample_weight` in place (`*=`), which on torch changes the caller's
        # tensor (with `ignore_class`, as for token classification).
        weight = np.array(weights[0]) if weights else None
        value = task.compute_loss(x=inputs, y=targets, y_pred=out, sample_weight=weight)
        return float(to_numpy(value))

    task.compile(optimizer=keras.optimizers.Adam(5e-3))
    before = loss()
    history = task.fit(x=repeat(x, passes), y=repeat(y, passes), batch_size=8,
                       epochs=1, verbose=0).history["loss"]
    after = loss()
    assert np.all(np.isfinite(history)) and after < before, (before, after)


def assert_same(a, b):
    a, b = to_numpy(a), to_numpy(b)
    for key in a if isinstance(a, dict) else [None]:
        np.testing.assert_allclose(
            a if key is None else a[key], b if key is None else b[key], atol=1e-6
        )


def assert_round_trips(task, x, tmp_path, base=None):
    """Same preprocessing and outputs after `.keras` and after
    save_to_preset / from_preset.

    Preprocessing runs eagerly and the models are called directly: every
    `predict` on strings would trace the tokenizer into a new `tf.data` graph
    (seconds each), and `fit` has already run that path.
    """
    inputs = task.preprocessor(x=x)
    before = task(inputs, training=False)
    task.save(tmp_path / "task.keras")
    restored = keras.models.load_model(tmp_path / "task.keras")
    task.save_to_preset(str(tmp_path / "preset"))
    again = (base or type(task)).from_preset(str(tmp_path / "preset"))
    for loaded in (restored, again):
        assert type(loaded) is type(task)
        assert loaded.preprocessor.get_config() == task.preprocessor.get_config()
        assert_same(loaded.preprocessor(x=x), inputs)
        assert_same(loaded(inputs, training=False), before)
    return again


def test_text_classifier_on_pairs(tokenizer, xnli, tmp_path):
    premises, hypotheses, y = xnli
    pre = models.ErnieMTextClassifierPreprocessor(tokenizer, sequence_length=SEQ)
    task = models.ErnieMTextClassifier(
        backbone(), num_classes=3, preprocessor=pre, label_names=LABELS
    )
    x = (premises, hypotheses)
    fit_decreases(task, x, y)
    # Through keras-hub's base classes; the label names survive.
    again = assert_round_trips(task, x, tmp_path, base=keras_hub.models.TextClassifier)
    assert again.label_names == LABELS
    assert isinstance(keras_hub.models.Backbone.from_preset(str(tmp_path / "preset")),
                      models.ErnieMBackbone)


def test_token_classifier_on_words(tokenizer, xnli, tmp_path):
    premises, _, _ = xnli
    words = [p.split()[:12] for p in premises]
    # Tag capitalized words 1, words with punctuation 2, others 0.
    labels = [[1 if w[:1].isupper() else 2 if not w.isalnum() else 0 for w in ws] for ws in words]
    pre = models.ErnieMTokenClassifierPreprocessor(tokenizer, sequence_length=SEQ)
    task = models.ErnieMTokenClassifier(
        backbone(), num_classes=3, preprocessor=pre, label_names=["O", "CAP", "PUNCT"]
    )
    # Rows of different lengths, as ragged tensors.
    fit_decreases(task, tf.ragged.constant(words), tf.ragged.constant(labels))
    # Raw sentences (inference only) go through the same preprocessor.
    assert_round_trips(task, premises[:4], tmp_path)


def test_question_answerer_and_answers(tokenizer, xnli, tmp_path):
    premises, hypotheses, _ = xnli
    # Answer: the longest word of the premise.
    answers = [max(p.replace(",", " ").replace(".", " ").split(), key=len) for p in premises]
    starts = [p.index(a) for p, a in zip(premises, answers)]
    y = {"answer_start": starts, "answer_end": [s + len(a) for s, a in zip(starts, answers)]}
    pre = models.ErnieMQuestionAnswererPreprocessor(
        tokenizer, sequence_length=SEQ, max_question_length=12
    )
    task = models.ErnieMQuestionAnswerer(backbone(), preprocessor=pre)
    fit_decreases(task, (hypotheses, premises), y)
    again = assert_round_trips(task, (hypotheses[:4], premises[:4]), tmp_path)
    # Answers are substrings of the contexts, found across windows.
    found = again.answer(hypotheses[:2], premises[:2], doc_stride=8)
    for a, context in zip(found, premises[:2]):
        assert context[a["start"]:a["end"]] == a["text"]


def test_multiple_choice(tokenizer, xnli, tmp_path):
    premises, hypotheses, _ = xnli
    choices = np.array([[hypotheses[i], hypotheses[(i + 5) % 16]] for i in range(16)])
    y = np.array([0, 1] * 8)
    choices[y == 1] = choices[y == 1][:, ::-1]
    pre = models.ErnieMMultipleChoicePreprocessor(tokenizer, sequence_length=SEQ)
    task = models.ErnieMMultipleChoice(backbone(), preprocessor=pre)
    fit_decreases(task, (premises, choices), y)
    assert_round_trips(task, (premises[:4], choices[:4]), tmp_path)
