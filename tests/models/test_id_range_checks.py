"""Out-of-range ids are refused on every path into a backbone, every backend.

Compiled steps cannot raise (JAX gives NaN, XLA clamps, id -1 passes), so the
check runs where the data is: on host arrays before anything is compiled, and
in the `tf.data` pipeline that feeds the steps (a batch with a bad id fails
when it is read, before it reaches the weights).
"""

import numpy as np
import pytest
import tensorflow as tf

from keras_encoders import models
from tests import tiny_models



def _token_error(bad_id):
    """The message naming the valid range and the bad id (the batch's min
    for -1, its max for one past the end)."""
    found = r"\[-1, \d+\]" if bad_id < 0 else rf"\[\d+, {bad_id}\]"
    return r"`token_ids` must be in \[0, 50\).*Found ids in " + found


def _bad_batch(model, bad_id):
    x = tiny_models.tiny_batch(model)
    x["token_ids"] = x["token_ids"].copy()
    x["token_ids"][0, 1] = bad_id
    return x


def _weights(task):
    return [np.array(w) for w in task.get_weights()]


# One past the end and -1 (which XLA clamps silently); the backbone test
# below gives every model -1.
@pytest.mark.parametrize(
    "model,bad_id", [("nezha", -1), ("convbert", tiny_models.VOCAB), ("ernie_m", tiny_models.VOCAB)]
)
def test_task_refuses_bad_ids_from_tf_data(model, bad_id):
    task = tiny_models.tiny_classifier(model)
    task.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = _bad_batch(model, bad_id)
    y = tiny_models.tiny_labels()
    error = _token_error(bad_id)
    features = tf.data.Dataset.from_tensor_slices(x).batch(2)
    labelled = tf.data.Dataset.from_tensor_slices((x, y)).batch(2)
    before = _weights(task)
    with pytest.raises(ValueError, match=error):
        task.fit(labelled, epochs=1, verbose=0)
    # The first batch holds the bad id: nothing was trained.
    for old, new in zip(before, _weights(task)):
        np.testing.assert_array_equal(old, new)
    with pytest.raises(ValueError, match=error):
        task.evaluate(labelled, verbose=0)
    with pytest.raises(ValueError, match=error):
        task.predict(features, verbose=0)
    with pytest.raises(ValueError, match=error):
        task.predict(x, verbose=0)
    good = tf.data.Dataset.from_tensor_slices((tiny_models.tiny_batch(model), y)).batch(2)
    with pytest.raises(ValueError, match=error):
        task.fit(good, validation_data=labelled, verbose=0)
    assert all(np.isfinite(w).all() for w in _weights(task))


@pytest.mark.parametrize("model", ["nezha", "convbert"])
def test_task_refuses_bad_segment_ids_from_tf_data(model):
    task = tiny_models.tiny_classifier(model)
    x = tiny_models.tiny_batch(model)
    x["segment_ids"] = np.full_like(x["segment_ids"], 2)
    with pytest.raises(ValueError, match=r"`segment_ids` must be in \[0, 2\).*\[2, 2\]"):
        task.predict(tf.data.Dataset.from_tensor_slices(x).batch(2), verbose=0)


@pytest.mark.parametrize("model", tiny_models.MODELS)
def test_backbone_predict_fit_evaluate_refuse_bad_ids(model):
    backbone = tiny_models.tiny_backbone(model)
    x = _bad_batch(model, -1)
    error = _token_error(-1)
    with pytest.raises(ValueError, match=error):
        backbone.predict(x, verbose=0)
    with pytest.raises(ValueError, match=error):
        backbone.predict(tf.data.Dataset.from_tensor_slices(x).batch(2), verbose=0)
    with pytest.raises(ValueError, match=error):
        backbone.predict((batch for batch in [x]), verbose=0)
    with pytest.raises(ValueError, match=error):
        backbone.predict_on_batch(x)
    good = tiny_models.tiny_batch(model)
    out = backbone.predict(tf.data.Dataset.from_tensor_slices(good).batch(2), verbose=0)
    assert np.isfinite(out["sequence_output"]).all()


def test_tokenizer_larger_than_backbone_vocabulary_is_refused():
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(60)]
    tokenizer = models.NezhaTokenizer(vocabulary=vocab)
    preprocessor = models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=8)
    backbone = tiny_models.tiny_backbone("nezha")
    task = models.NezhaTextClassifier(backbone, num_classes=2, preprocessor=preprocessor)
    assert task.predict(["w1 w2"], verbose=0).shape == (1, 2)
    error = r"`token_ids` must be in \[0, 50\).*Found ids in \[0, 64\]"
    with pytest.raises(ValueError, match=error):
        task.predict(["w1 w59"], verbose=0)
    with pytest.raises(ValueError, match=error):
        task.predict(tf.data.Dataset.from_tensor_slices(["w1 w59"]).batch(1), verbose=0)
    task.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = _weights(task)
    with pytest.raises(ValueError, match=error):
        task.fit(["w1 w59", "w2"], np.array([0, 1]), batch_size=2, verbose=0)
    for old, new in zip(before, _weights(task)):
        np.testing.assert_array_equal(old, new)


def test_host_check_reads_eager_tf_tensors_on_every_backend():
    task = tiny_models.tiny_classifier("nezha")
    x = _bad_batch("nezha", tiny_models.VOCAB)
    with pytest.raises(ValueError, match=_token_error(tiny_models.VOCAB)):
        task.check_host_inputs({k: tf.constant(v) for k, v in x.items()})
