"""Checkpointing: a `fit` on raw strings interrupted mid-epoch and restarted
with `keras.callbacks.BackupAndRestore` ends with the weights of an
uninterrupted run."""

import csv
import json
import os

import keras
import numpy as np
import pytest

from keras_encoders import models
from tests.conftest import asset, to_numpy

EPOCHS = 2
BATCH = 4


@pytest.fixture(scope="module")
def data():
    with open(asset("data", "chnsenticorp", "train.tsv"), encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))[1:13]  # 12 reviews: 3 batches
    return np.array([r[1] for r in rows]), np.array([int(r[0]) for r in rows])


@pytest.fixture(scope="module")
def preprocessor():
    tokenizer = models.NezhaTokenizer(asset("vocab", "bert-base-chinese-vocab.txt"))
    return models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=16)


def classifier(preprocessor, with_preprocessor=True):
    # Deterministic: no dropout anywhere, and the same initial weights.
    keras.utils.set_random_seed(1)
    backbone = models.NezhaBackbone(
        vocabulary_size=preprocessor.tokenizer.vocabulary_size(), num_layers=1,
        num_heads=2, hidden_dim=16, intermediate_dim=32, max_relative_position=4,
        dropout=0.0, attention_dropout=0.0,
    )
    task = models.NezhaTextClassifier(
        backbone, num_classes=2, dropout=0.0,
        preprocessor=preprocessor if with_preprocessor else None,
    )
    task.compile(optimizer=keras.optimizers.Adam(1e-2))
    return task


class Interrupt(keras.callbacks.Callback):
    """Fails like a preempted job in the middle of epoch `epoch`."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("preempted")


def test_backup_and_restore_resumes_to_the_same_weights(data, preprocessor, tmp_path):
    x, y = data
    fit = dict(batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)

    # The reference trains on the same batches preprocessed up front (a fit
    # on raw strings re-traces the tokenizer's tf.data graph: seconds each).
    reference = classifier(preprocessor, with_preprocessor=False)
    reference.fit(preprocessor(x), y, **fit)

    backup = str(tmp_path / "backup")
    run = classifier(preprocessor)
    with pytest.raises(RuntimeError, match="preempted"):
        run.fit(x, y, callbacks=[keras.callbacks.BackupAndRestore(backup), Interrupt(1, 1)], **fit)
    # The interrupted run stopped short of the reference...
    moved = max(np.max(np.abs(to_numpy(a) - to_numpy(b))) for a, b in zip(run.weights, reference.weights))
    assert moved > 1e-4
    # ...and its backup is from the end of epoch 0 (epoch 1 was half done).
    with open(os.path.join(backup, "training_metadata.json")) as f:
        assert json.load(f)["epoch"] == 1

    resumed = classifier(preprocessor)  # a fresh process would rebuild the model
    history = resumed.fit(x, y, callbacks=[keras.callbacks.BackupAndRestore(backup)], **fit)
    assert len(history.history["loss"]) == EPOCHS - 1  # epoch 1 only
    assert not os.path.exists(backup)  # deleted after a completed run

    # Same optimizer step count and Adam state, hence the same weights.
    steps = EPOCHS * len(x) // BATCH
    assert int(to_numpy(resumed.optimizer.iterations)) == steps
    assert int(to_numpy(reference.optimizer.iterations)) == steps
    for got, want in zip(resumed.weights, reference.weights):
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), atol=1e-6, err_msg=got.path)
    for got, want in zip(resumed.optimizer.variables, reference.optimizer.variables):
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), atol=1e-6, err_msg=got.path)
