"""Common input shapes get an answer, not a trace: an empty batch predicts
empty outputs, text pairs given as rows are refused with how to pass them."""

import numpy as np
import pytest

from keras_encoders import models
from tests.tiny_models import tiny_backbone

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("这家酒店很好服务太差了")


@pytest.fixture(scope="module")
def classifier():
    preprocessor = models.NezhaTextClassifierPreprocessor(
        models.NezhaTokenizer(vocabulary=VOCABULARY), sequence_length=8)
    return models.NezhaTextClassifier(
        tiny_backbone("nezha", vocabulary_size=len(VOCABULARY)), num_classes=3,
        preprocessor=preprocessor)


@pytest.mark.parametrize("empty", [[], np.array([], dtype=str), ([], [])], ids=["list", "array", "pairs"])
def test_an_empty_batch_predicts_empty_outputs(classifier, empty):
    logits = classifier.predict(empty, verbose=0)
    assert tuple(logits.shape) == (0, 3)
    packed = classifier.preprocessor(x=empty)
    assert tuple(packed["token_ids"].shape) == (0, 8)


@pytest.mark.parametrize(
    "pairs", [[["很好", "太差"], ["好", "差"]], [("很好", "太差"), ("好", "差")],
              np.array([["很好", "太差"], ["好", "差"]])],
    ids=["list of lists", "list of tuples", "array"])
def test_pairs_as_rows_are_refused_with_how_to_pass_them(classifier, pairs):
    for call in (lambda: classifier.predict(pairs, verbose=0),
                 lambda: classifier.evaluate(pairs, np.array([0, 1]), verbose=0),
                 lambda: classifier.preprocessor(pairs)):
        with pytest.raises(ValueError, match=r"tuple of two lists: x=\(first_texts, second_texts\)") as error:
            call()
        assert "zip(*pairs)" in str(error.value)
    # The way the message says works.
    first, second = tuple(map(list, zip(*pairs)))
    assert tuple(classifier.predict((first, second), verbose=0).shape) == (2, 3)
