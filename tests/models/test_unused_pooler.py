"""Heads that read only `sequence_output` train without Keras' warning that
the pooler has no gradients (it is frozen; its weights are kept)."""

import warnings

import numpy as np

from keras_encoders import models
from tests.tiny_models import tiny_backbone, tiny_batch


def test_token_classifier_fits_without_the_pooler_gradient_warning():
    backbone = tiny_backbone("nezha")
    pooler = [w.path for w in backbone.pooled_dense.weights]
    tagger = models.NezhaTokenClassifier(backbone, num_classes=3, preprocessor=None)
    tagger.compile(optimizer="adam")
    x = tiny_batch("nezha", batch=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tagger.fit(x, np.zeros((2, 8), "int32"), epochs=1, verbose=0)
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "Gradients do not exist" in m], messages
    assert not set(pooler) & {w.path for w in tagger.trainable_weights}
    # The head itself trains.
    assert {w.path for w in tagger.output_dense.weights} <= {w.path for w in tagger.trainable_weights}
