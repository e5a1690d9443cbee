"""Raw strings through tasks: tokenization traced once, host ids checked.

Traces are counted (never timed): the tokenizer's graph and each task's
preprocessing graph must be traced once, then reused by every later
`predict`, `fit`, `evaluate`, `tf.data` map and eager call.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_encoders import models
from tests import tiny_models
from tests.conftest import asset

TEXTS = ["我爱北京天安门", "今天天气很好 hello world", "ＡＢＣ１２３ ok!", "emoji 😊"]
LABELS = np.array([0, 1, 0, 1])


@pytest.fixture(scope="module")
def classifier():
    tokenizer = models.NezhaTokenizer(
        vocabulary=asset("vocab", "bert-base-chinese-vocab.txt")
    )
    preprocessor = models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=16)
    backbone = models.NezhaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2,
        hidden_dim=8, intermediate_dim=16, max_relative_position=4,
    )
    return models.NezhaTextClassifier(backbone, num_classes=2, preprocessor=preprocessor)


def _traces(task):
    return (
        task.preprocessor.tokenizer.tokenize_graph().experimental_get_tracing_count(),
        task.preprocessing_graph().experimental_get_tracing_count(),
    )


def test_second_predict_fit_evaluate_do_not_retrace(classifier):
    first = classifier.predict(TEXTS[:2], verbose=0)
    after_first = _traces(classifier)
    assert after_first == (1, 1)
    again = classifier.predict(TEXTS[:2], verbose=0)
    np.testing.assert_allclose(again, first, atol=1e-6)
    assert _traces(classifier) == after_first
    # Labels change the input structure: one more preprocessing trace, shared
    # by fit and evaluate; the tokenizer graph is never traced again.
    classifier.fit(TEXTS, LABELS, batch_size=2, verbose=0)
    after_fit = _traces(classifier)
    assert after_fit == (1, 2)
    classifier.fit(TEXTS, LABELS, batch_size=2, verbose=0)
    classifier.evaluate(TEXTS, LABELS, batch_size=2, verbose=0)
    classifier.predict(TEXTS, batch_size=3, verbose=0)
    assert _traces(classifier) == after_fit


def test_eager_tf_data_and_graph_calls_share_one_trace(classifier):
    tokenizer = classifier.preprocessor.tokenizer
    count = tokenizer.tokenize_graph().experimental_get_tracing_count
    tokenizer(TEXTS)
    before = count()
    eager = [list(map(int, r)) for r in tokenizer(TEXTS)]
    tokenizer(TEXTS[0])  # any batch size or rank
    ds = tf.data.Dataset.from_tensor_slices(TEXTS).batch(3).map(tokenizer)
    from_data = [list(map(int, r)) for batch in ds for r in batch.to_list()]
    ds = tf.data.Dataset.from_tensor_slices(TEXTS).batch(2).map(tokenizer)
    list(ds)
    assert from_data == eager
    assert count() == before == 1


def test_vocabulary_change_retraces_with_the_new_tables():
    tokenizer = models.NezhaTokenizer(vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"])
    assert [int(i) for i in tokenizer("a b")] == [5, 1]
    tokenizer.set_vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "b", "a"])
    assert [int(i) for i in tokenizer("a b")] == [6, 5]


@pytest.mark.parametrize("model", tiny_models.MODELS)
def test_out_of_range_ids_rejected_by_predict_and_fit(model):
    task = tiny_models.tiny_classifier(model)
    task.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = tiny_models.tiny_batch(model)
    y = tiny_models.tiny_labels()
    task.predict(x, verbose=0)  # in range: fine
    bad = dict(x, token_ids=x["token_ids"].copy())
    bad["token_ids"][0, 1] = tiny_models.VOCAB  # one past the end
    for call in (
        lambda: task.predict(bad, verbose=0),
        lambda: task.fit(bad, y, verbose=0),
        lambda: task.evaluate(bad, y, verbose=0),
        lambda: task.fit(x, y, validation_data=(bad, y), verbose=0),
    ):
        with pytest.raises(ValueError, match=r"`token_ids` must be in \[0, 50\)"):
            call()
    negative = dict(x, token_ids=np.where(x["token_ids"] == x["token_ids"][0, 0], -1, x["token_ids"]))
    with pytest.raises(ValueError, match="token_ids"):
        task.predict({k: v.tolist() for k, v in negative.items()}, verbose=0)
    if "segment_ids" in x:
        seg = dict(x, segment_ids=np.full_like(x["segment_ids"], 2))
        with pytest.raises(ValueError, match=r"`segment_ids` must be in \[0, 2\)"):
            task.predict(seg, verbose=0)
        with pytest.raises(ValueError, match="segment_ids"):
            task.fit(seg, y, verbose=0)


def test_small_predict_skips_the_keras_loop(classifier, monkeypatch):
    """Up to one batch of in-memory data: one compiled step, no `tf.data`
    pipeline, iterator or callbacks (Keras' loop costs ~0.3 s a call)."""
    looped = classifier.predict(TEXTS, batch_size=1, verbose=0)  # the Keras loop
    calls = []
    original = keras.Model.predict
    monkeypatch.setattr(keras.Model, "predict", lambda *a, **k: calls.append(1) or original(*a, **k))
    fast = classifier.predict(TEXTS, verbose=0)
    just_one = classifier.predict(TEXTS[:1], verbose=0)
    assert calls == []
    np.testing.assert_allclose(fast, looped, atol=1e-5)
    np.testing.assert_allclose(just_one, looped[:1], atol=1e-5)
    classifier.predict(TEXTS, batch_size=2, verbose=0)  # more than one batch
    assert calls == [1]
