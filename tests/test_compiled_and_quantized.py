"""Compiled training and int8 weights, on every backend, at tiny size.

`compile(jit_compile=True)` means XLA on JAX and TensorFlow and
`torch.compile` on torch; every classifier must train a few steps and
predict the same numbers as the uncompiled model. `backbone.quantize("int8")`
must leave a model that runs compiled and stays close to float32.
"""

import gc
import warnings

import keras
import numpy as np
import pytest

from tests.conftest import to_numpy
from tests.tiny_models import MODELS
from tests.tiny_models import tiny_backbone
from tests.tiny_models import tiny_batch
from tests.tiny_models import tiny_classifier
from tests.tiny_models import tiny_labels


# torch.compile of a training step and a predict step took 44 to 95 s per
# model in a 2-core test run (Keras layers break the graph into several). On
# torch, ERNIE-M's classifier runs by default: the task, the loss and the
# optimizer compiled. NEZHA's relative and ConvBERT's mixed attention layers
# are compiled, and checked not to recompile, by
# tests/layers/test_torch_compile_recompiles.py; their whole classifiers are
# `large` on torch.
TORCH_COMPILE_BY_DEFAULT = ("ernie_m",)


@pytest.mark.parametrize(
    "model",
    [
        m if keras.config.backend() != "torch" or m in TORCH_COMPILE_BY_DEFAULT
        else pytest.param(m, marks=pytest.mark.large)
        for m in MODELS
    ],
)
def test_jit_compile_fit_and_predict(model):
    # ConvBERT on torch did not finish at all while the backbone's id check
    # still ran inside the compiled region.
    keras.utils.set_random_seed(0)
    classifier = tiny_classifier(model)
    x, y = tiny_batch(model), tiny_labels()
    classifier.compile(
        optimizer=keras.optimizers.AdamW(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    assert classifier.jit_compile is True
    before = [np.array(to_numpy(w)) for w in classifier.trainable_weights]
    history = classifier.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    loss = history.history["loss"][-1]
    assert np.isfinite(loss)
    after = [to_numpy(w) for w in classifier.trainable_weights]
    assert any(not np.allclose(a, b) for a, b in zip(before, after)), "no weight moved"
    compiled = classifier.predict(x, batch_size=4, verbose=0)
    eager = to_numpy(classifier(x, training=False))
    np.testing.assert_allclose(compiled, eager, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model", MODELS)
def test_int8_quantize_small_drift(model):
    keras.utils.set_random_seed(0)
    backbone = tiny_backbone(model, num_layers=2, hidden_dim=32, intermediate_dim=64)
    x = tiny_batch(model)
    reference = to_numpy(backbone(x)["sequence_output"])
    with warnings.catch_warnings():
        # Keras warns for every layer without int8 kernels (norms, dropout,
        # convolutions); those stay float32 by design.
        warnings.simplefilter("ignore")
        backbone.quantize("int8")
    int8_kernels = [
        w for w in backbone.weights if keras.backend.standardize_dtype(w.dtype) == "int8"
    ]
    assert len(int8_kernels) >= 6 * 2, "the attention and feed-forward kernels are int8"
    backbone.compile()
    out = to_numpy(backbone.predict_on_batch(x)["sequence_output"])
    assert out.shape == reference.shape
    drift = np.abs(out - reference)
    # Outputs are LayerNorm-ed (std ~1): int8 weights with per-channel scales
    # move them by a few hundredths at most.
    assert drift.max() < 0.1, drift.max()
    cosine = np.sum(out * reference) / (np.linalg.norm(out) * np.linalg.norm(reference))
    assert cosine > 0.999


@pytest.fixture
def unfrozen_process():
    """The process as a user's is: nothing frozen (the suite freezes what it
    imported; tests/conftest.py), frozen again afterwards."""
    gc.unfreeze()
    try:
        yield
    finally:
        gc.freeze()


@pytest.mark.parametrize("make", [tiny_backbone, tiny_classifier], ids=["backbone", "task"])
def test_quantize_freezes_what_exists_for_keras_collections_only(make, unfrozen_process, monkeypatch):
    """Keras collects after every kernel it replaces; those collections run
    with the process's objects frozen, the last one (ours) with them back,
    and the weights are those of Keras' own path."""
    counts = []
    collect = gc.collect

    def counting_collect(*args):
        counts.append(gc.get_freeze_count())
        return collect(*args)

    keras.utils.set_random_seed(0)
    ours = make("nezha", num_layers=2)
    keras.utils.set_random_seed(0)
    theirs = make("nezha", num_layers=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Keras' path, without the mixin; frozen, so that its collections
        # (0.3-0.5 s each in this process) do not take 20 s of the suite:
        # the weights do not depend on them.
        gc.freeze()
        try:
            keras.Model.quantize(theirs, "int8")
        finally:
            gc.unfreeze()
        assert gc.get_freeze_count() == 0
        monkeypatch.setattr(gc, "collect", counting_collect)
        ours.quantize("int8")
        monkeypatch.setattr(gc, "collect", collect)
    assert len(counts) >= 6 * 2 + 1, "one collection per replaced kernel, and ours"
    assert all(count > 0 for count in counts[:-1]), counts
    assert counts[-1] == 0 and gc.get_freeze_count() == 0, "the freeze is undone"
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    for a, b in zip(ours.weights, theirs.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.path)


def test_quantize_leaves_a_process_that_froze_objects_itself_frozen(monkeypatch):
    # The suite froze what it imported (tests/conftest.py), as a server may
    # before it forks: quantize must not unfreeze it.
    assert gc.get_freeze_count() > 0
    calls = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
    backbone = tiny_backbone("nezha")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backbone.quantize("int8")
    assert calls == []
    assert any(keras.backend.standardize_dtype(w.dtype) == "int8" for w in backbone.weights)
