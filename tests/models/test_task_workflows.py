"""Behaviour every task shares (the `EncoderTask` mixin and the generic
bases): `summary()`, training on in-memory data, reloading saved tasks."""

import warnings

import h5py
import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_encoders import models
from keras_encoders.models import encoder_task
from tests.tiny_models import tiny_backbone

FAMILIES = {models.NezhaBackbone: "nezha", models.ConvBertBackbone: "convbert",
            models.ErnieMBackbone: "ernie_m"}
TASKS = sorted(
    (value for value in vars(models).values()
     if isinstance(value, type) and issubclass(value, keras_hub.models.Task)
     and getattr(value, "backbone_cls", None) in FAMILIES),
    key=lambda cls: cls.__name__,
)
CHARACTERS = list("这家酒店很好服务太差了一般")
VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + CHARACTERS
# Warnings a user should never see from these workflows.
UNWANTED = ("Skipping variable loading", "shuffle=True", "compile()` was not called")


def build(cls, **kwargs):
    backbone = tiny_backbone(FAMILIES[cls.backbone_cls])
    if issubclass(cls, (models.EncoderTextClassifier, models.TokenClassifier)):
        kwargs.setdefault("num_classes", 3)
    return cls(backbone, **kwargs)


def test_every_family_has_its_tasks():
    names = {cls.__name__ for cls in TASKS}
    assert {"NezhaPreTrainer", "ConvBertMultipleChoice", "ErnieMInformationExtractor"} <= names
    assert len(TASKS) >= 17


@pytest.mark.parametrize("cls", TASKS, ids=lambda cls: cls.__name__)
def test_summary_works_on_every_task(cls):
    task = build(cls)
    lines = []
    task.summary(print_fn=lambda line, **kwargs: lines.append(line))
    text = "\n".join(lines)
    assert task.backbone.name in text and "Total params" in text
    # No config entry or class attribute of ours (task or backbone) hides a
    # method of keras.Model, as `summary` once did.
    for owner in (task, task.backbone):
        names = set(owner.get_config()) | {
            n for c in type(owner).__mro__ if c.__module__.startswith("keras_encoders")
            for n in vars(c)}
        hidden = sorted(n for n in names if callable(getattr(keras.Model, n, None))
                        and not callable(getattr(owner, n, None)))
        assert not hidden, hidden


def test_summary_type_replaces_summary_and_old_configs_load():
    task = build(models.ConvBertMultipleChoice, summary_type="first")
    assert task.summary_type == "first" and callable(task.summary)
    config = task.get_config()
    config["summary"] = config.pop("summary_type")  # saved before the rename
    assert models.ConvBertMultipleChoice.from_config(config).summary_type == "first"
    classifier = build(models.ConvBertTextClassifier)
    config = classifier.get_config()
    config["summary"] = config.pop("summary_type")
    assert models.ConvBertTextClassifier.from_config(config).summary_type == "first"
    with pytest.raises(TypeError, match="summary_type='last'"):
        build(models.NezhaTextClassifier, summary="last")


@pytest.fixture(scope="module")
def classifier():
    tokenizer = models.NezhaTokenizer(vocabulary=VOCABULARY)
    preprocessor = models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=8)
    backbone = tiny_backbone("nezha", vocabulary_size=len(VOCABULARY))
    return models.NezhaTextClassifier(backbone, 3, preprocessor=preprocessor)


TEXTS = ["这家酒店很好", "服务太差了", "一般", "很好", "太差", "一般般"]
LABELS = [2, 0, 1, 2, 0, 1]


def unwanted(caught):
    return [str(w.message) for w in caught if any(u in str(w.message) for u in UNWANTED)]


def test_fit_on_lists_and_reloading_warn_nothing(classifier, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        classifier.fit(TEXTS, LABELS, batch_size=3, epochs=2, verbose=0)

        classifier.save(str(tmp_path / "task.keras"))
        restored = keras.models.load_model(str(tmp_path / "task.keras"))
        classifier.save_to_preset(str(tmp_path / "preset"))
        again = models.NezhaTextClassifier.from_preset(str(tmp_path / "preset"))
        # A task saved before any training reloads quietly too.
        fresh = models.NezhaTextClassifier(classifier.backbone, 3, preprocessor=classifier.preprocessor)
        fresh.save(str(tmp_path / "fresh.keras"))
        keras.models.load_model(str(tmp_path / "fresh.keras"))
    assert not unwanted(caught), unwanted(caught)
    # The .keras file resumes training where it stopped ...
    assert int(restored.optimizer.iterations) == int(classifier.optimizer.iterations) == 4
    assert len(restored.optimizer.variables) == len(classifier.optimizer.variables)
    for a, b in zip(restored.optimizer.variables, classifier.optimizer.variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    # ... while the preset holds the model only.
    keys = []
    with h5py.File(tmp_path / "preset" / "task.weights.h5") as f:
        f.visit(keys.append)
    assert keys and not [k for k in keys if "optimizer" in k]
    for task in (restored, again):
        for a, b in zip(task.weights, classifier.weights):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_fit_shuffles_in_memory_data_each_epoch(classifier, monkeypatch):
    seen = {}

    def fake_fit(self, x=None, **kwargs):
        seen.update(x=x, **kwargs)

    monkeypatch.setattr(keras_hub.src.utils.pipeline_model.PipelineModel, "fit", fake_fit)
    # The labels here are sample ids that mark the order, not classes.
    monkeypatch.setattr(classifier, "sparse_label_range", lambda x: None)
    ids = list(range(20))
    texts = [f"text {i}" for i in ids]
    classifier.fit(texts, ids, batch_size=4, validation_split=0.25)
    assert seen["shuffle"] is False  # shuffled here; Keras must not warn
    assert isinstance(seen["x"], tf.data.Dataset)
    epochs = [np.concatenate([y.numpy() for _, y in seen["x"]]) for _ in range(3)]
    for order in epochs:
        assert sorted(order.tolist()) == ids[:15]  # Keras' split: the last 25 %
    assert len({tuple(order) for order in epochs}) > 1
    assert seen["validation_data"][1].tolist() == ids[15:]

    classifier.fit(texts, ids, batch_size=4, shuffle=False)
    assert np.concatenate([y.numpy() for _, y in seen["x"]]).tolist() == ids
    # Pairs, ragged rows and datasets keep their structure.
    classifier.fit((texts, texts), ids)
    (first, second), _ = next(iter(seen["x"]))
    assert first.shape == second.shape == (20,)
    dataset = tf.data.Dataset.from_tensor_slices((texts, ids)).batch(4)
    classifier.fit(dataset)
    assert seen["x"] is dataset


def test_in_memory_data_is_recognised():
    assert encoder_task.in_memory(["a"]) and encoder_task.in_memory(np.zeros(3))
    assert encoder_task.in_memory((["a"], ["b"])) and encoder_task.in_memory({"x": np.zeros(2)})
    assert not encoder_task.in_memory(tf.data.Dataset.range(3))
    assert not encoder_task.in_memory(iter([1, 2])) and not encoder_task.in_memory(None)


def test_token_classifier_docstring_examples_run():
    import doctest

    from keras_encoders.models import token_classifier

    result = doctest.testmod(token_classifier)
    assert result.attempted >= 8 and not result.failed
