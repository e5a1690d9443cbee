"""ConvBERT from raw strings: fit every task, `.keras` and preset round trips.

Uses the vocabulary exactly as the YituTech checkpoints ship it (CRLF,
duplicates) with a tiny random backbone, on English SST-2 sentences.
"""

import csv

import keras
import keras_hub
import numpy as np
import pytest

import keras_encoders  # noqa: F401
from keras_encoders import models
from tests.conftest import asset, to_numpy

SEQ = 32
BATCH = 4  # one batch shape everywhere: JAX reuses its compiled eager ops


@pytest.fixture(scope="module")
def tokenizer():
    return models.ConvBertTokenizer(asset("vocab", "convbert-vocab-as-published.txt"))


@pytest.fixture(scope="module")
def sentences():
    """16 short SST-2 sentences (so contexts fit in SEQ) and their labels."""
    with open(asset("data", "sst2", "dev.tsv"), encoding="utf-8") as f:
        rows = [r for r in list(csv.reader(f, delimiter="\t"))[1:] if len(r[1].split()) <= 12]
    rows = rows[:16]
    return [r[1].strip() for r in rows], np.array([int(r[0]) for r in rows])


def backbone():
    # Projected embeddings and a grouped FFN: the medium-small layout.
    return models.ConvBertBackbone(
        vocabulary_size=30522, num_layers=1, num_heads=4, hidden_dim=16,
        intermediate_dim=32, embedding_dim=8, num_groups=2, conv_kernel_size=3,
        max_sequence_length=SEQ, dropout=0.0, attention_dropout=0.0,
    )


def first(data, n=BATCH):
    """The first `n` examples of (nested) inputs or labels."""
    if isinstance(data, tuple):
        return tuple(v[:n] for v in data)
    if isinstance(data, dict):
        return {k: v[:n] for k, v in data.items()}
    return data[:n]


def fit_reduces_loss(task, x, y=None, run_eagerly=True, batch_size=BATCH):
    """Fit one epoch (4 steps) on raw strings; the loss on the first batch,
    preprocessed once (fixed masks), goes down.

    One epoch because each epoch re-instantiates the tokenizer's tf.data graph
    (about a second of CPU); eagerly because compiling a train step per task
    costs far more than a few steps (20 s of CPU under JAX). The classifier
    trains compiled on TensorFlow (and torch, where that is eager too).
    """
    task.compile(optimizer=keras.optimizers.Adam(5e-3), run_eagerly=run_eagerly)
    batch = task.preprocessor(first(x, batch_size), None if y is None else first(y, batch_size))
    inputs, targets, weights = keras.utils.unpack_x_y_sample_weight(batch)

    def loss():
        y_pred = task(inputs, training=False)
        # A fresh copy of the weights each time: on torch, Keras' loss masking
        # (ignore_class) scales `sample_weight` in place.
        w = None if weights is None else np.array(to_numpy(weights))
        return float(to_numpy(task.compute_loss(inputs, targets, y_pred, w)))

    before = loss()
    history = task.fit(x=x, y=y, batch_size=batch_size, epochs=1, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))
    after = loss()
    assert after < before, (before, after)
    return inputs


def assert_round_trips(task, inputs, base, tmp_path):
    """`.keras` and `save_to_preset` give the same model (called eagerly on
    fixed inputs: cheap under JAX, and independent of random masking)."""
    want = to_numpy(task(inputs, training=False))

    def assert_same(model):
        got = to_numpy(model(inputs, training=False))
        for g, w in zip(keras.tree.flatten(got), keras.tree.flatten(want)):
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-6)

    path = tmp_path / "task.keras"
    task.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(task)
    assert type(restored.preprocessor) is type(task.preprocessor)
    assert_same(restored)
    task.save_to_preset(str(tmp_path / "preset"))
    # Loaded through the generic base: keras-hub finds the ConvBERT class.
    again = base.from_preset(str(tmp_path / "preset"))
    assert type(again) is type(task)
    assert_same(again)


def test_text_classifier_fit_and_round_trips(tokenizer, sentences, tmp_path):
    x, y = sentences
    pre = models.ConvBertTextClassifierPreprocessor(tokenizer, sequence_length=SEQ)
    task = models.ConvBertTextClassifier(backbone(), num_classes=2, preprocessor=pre,
                                         label_names=["negative", "positive"])
    inputs = fit_reduces_loss(task, x, y, run_eagerly=keras.config.backend() == "jax")
    assert_round_trips(task, to_numpy(inputs), keras_hub.models.TextClassifier, tmp_path)
    again = models.ConvBertTextClassifier.from_preset(str(tmp_path / "preset"))
    assert again.label_names == ["negative", "positive"]
    assert again.hidden_dim == 16 and again.summary_type == "first"


def test_masked_lm_fit_and_round_trips(tokenizer, sentences, tmp_path):
    x, _ = sentences
    pre = models.ConvBertMaskedLMPreprocessor(tokenizer, sequence_length=SEQ,
                                              mask_selection_length=4)
    task = models.ConvBertMaskedLM(backbone(), preprocessor=pre)
    inputs = fit_reduces_loss(task, x)
    assert_round_trips(task, to_numpy(inputs), keras_hub.models.MaskedLM, tmp_path)


def test_token_classifier_fit_and_round_trips(tokenizer, sentences, tmp_path):
    import tensorflow as tf

    x, _ = sentences
    words = [s.split() for s in x]
    labels = [[int(len(w) > 4) for w in ws] for ws in words]  # tag the long words
    pre = models.ConvBertTokenClassifierPreprocessor(tokenizer, sequence_length=SEQ)
    task = models.ConvBertTokenClassifier(backbone(), num_classes=2, preprocessor=pre,
                                          label_names=["short", "long"])
    inputs = fit_reduces_loss(task, tf.ragged.constant(words), tf.ragged.constant(labels))
    assert_round_trips(task, to_numpy(inputs), models.TokenClassifier, tmp_path)


def test_question_answerer_fit_and_round_trips(tokenizer, sentences, tmp_path):
    contexts, _ = sentences
    # Find the longest word: learnable from the context alone.
    answers = [max(c.split(), key=len) for c in contexts]
    questions = ["which word is the longest ?"] * len(contexts)
    starts = [c.index(a) for c, a in zip(contexts, answers)]
    ends = [s + len(a) for s, a in zip(starts, answers)]
    pre = models.ConvBertQuestionAnswererPreprocessor(tokenizer, sequence_length=SEQ,
                                                      max_question_length=8)
    task = models.ConvBertQuestionAnswerer(backbone(), preprocessor=pre)
    inputs = fit_reduces_loss(task, (questions, contexts),
                              {"answer_start": starts, "answer_end": ends})
    assert_round_trips(task, to_numpy(inputs), models.QuestionAnswerer, tmp_path)


def test_multiple_choice_fit_and_round_trips(tokenizer, sentences, tmp_path):
    x, _ = sentences
    prompts = list(x[:8])
    # One choice is always "yes, it is" (learnable from the choice alone),
    # in the first or second place.
    labels = np.array([i % 2 for i in range(8)])
    choices = np.array([["yes, it is", "no"][::1 - 2 * k] for k in labels])
    pre = models.ConvBertMultipleChoicePreprocessor(tokenizer, sequence_length=SEQ)
    task = models.ConvBertMultipleChoice(backbone(), preprocessor=pre)
    # Batches of 2 x 2 choices: the backbone sees the same shapes as elsewhere.
    inputs = fit_reduces_loss(task, (prompts, choices), labels, batch_size=BATCH // 2)
    assert tuple(inputs["token_ids"].shape) == (BATCH // 2, 2, SEQ)
    assert_round_trips(task, to_numpy(inputs), models.MultipleChoice, tmp_path)
