"""Labels outside a head's classes fail before training, with one line that
names the bad value and the range, on every backend (JAX would train on
them silently; TensorFlow fails inside the compiled step)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_encoders import models
from tests.tiny_models import tiny_backbone

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("这家酒店很好服务太差了")
TEXTS = ["这家酒店很好", "服务太差了", "很好", "太差了"]


def tokenizer():
    return models.NezhaTokenizer(vocabulary=VOCABULARY)


def classifier(num_classes=2):
    task = models.NezhaTextClassifier(
        tiny_backbone("nezha", vocabulary_size=len(VOCABULARY)), num_classes=num_classes,
        preprocessor=models.NezhaTextClassifierPreprocessor(tokenizer(), sequence_length=8),
    )
    task.compile(optimizer="adam")
    return task


def assert_one_line(error, value, upper):
    text = str(error.value)
    assert "\n" not in text and len(text) < 300, text
    assert f"Label {value} is out of range" in text and f"[0, {upper})" in text, text


@pytest.mark.parametrize("labels,bad", [(np.array([0, 1, 2, 3]), 2), ([0, 1, 3, 1], 3)])
def test_text_classifier_refuses_labels_past_num_classes(labels, bad):
    task = classifier()
    before = [keras.ops.convert_to_numpy(v) for v in task.trainable_weights]
    with pytest.raises(ValueError) as error:
        task.fit(x=TEXTS, y=labels, batch_size=2, epochs=1, verbose=0)
    assert_one_line(error, bad, 2)
    with pytest.raises(ValueError) as error:
        task.evaluate(x=TEXTS, y=labels, verbose=0)
    assert_one_line(error, bad, 2)
    # Nothing trained.
    after = [keras.ops.convert_to_numpy(v) for v in task.trainable_weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_text_classifier_refuses_negative_labels_in_validation_data():
    task = classifier()
    with pytest.raises(ValueError) as error:
        task.fit(x=TEXTS, y=[0, 1, 0, 1], validation_data=(TEXTS, [0, -1, 0, 1]), verbose=0)
    assert_one_line(error, -1, 2)


def test_text_classifier_checks_labels_of_a_dataset():
    """A `tf.data` pipeline is checked as the task preprocesses it (the map
    that `fit` and `evaluate` apply; iterated here without a train step)."""
    task = classifier()
    dataset = tf.data.Dataset.from_tensor_slices((TEXTS, [0, 1, 5, 1])).batch(2)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"Label 5 is out of range: labels must be class ids in \[0, 2\)"):
        list(dataset.map(task.preprocess_samples))
    good = tf.data.Dataset.from_tensor_slices((TEXTS, [0, 1, 1, 1])).batch(2)
    assert len(list(good.map(task.preprocess_samples))) == 2


def test_token_classifier_refuses_labels_but_allows_the_ignore_index():
    task = models.NezhaTokenClassifier(
        tiny_backbone("nezha", vocabulary_size=len(VOCABULARY)), num_classes=3,
        preprocessor=models.NezhaTokenClassifierPreprocessor(tokenizer(), sequence_length=8),
    )
    task.compile(optimizer="adam")
    words = [["这家", "酒店"], ["服务", "太差", "了"]]
    task.check_host_labels(words, [[0, -100], [1, 2, 0]])  # no error
    with pytest.raises(ValueError) as error:
        task.fit(x=words, y=[[0, 1], [1, 3, 0]], epochs=1, verbose=0)
    assert_one_line(error, 3, 3)
    assert "-100" in str(error.value)


def test_multiple_choice_refuses_a_label_past_the_choices():
    task = models.NezhaMultipleChoice(
        tiny_backbone("nezha", vocabulary_size=len(VOCABULARY)),
        preprocessor=models.NezhaMultipleChoicePreprocessor(tokenizer(), sequence_length=8),
    )
    task.compile(optimizer="adam")
    x = (["这家酒店", "服务"], np.array([["很好", "太差"], ["很好", "太差"]]))
    with pytest.raises(ValueError) as error:
        task.fit(x=x, y=np.array([0, 2]), epochs=1, verbose=0)
    assert_one_line(error, 2, 2)
    assert "choice" in str(error.value)
