"""Scale-out on existing engines: one SGD step under
`keras.distribution.DataParallel` / `ModelParallel` (each backbone's
`get_layout_map`) on 4 virtual JAX CPU devices, and under
`tf.distribute.MirroredStrategy` on 4 logical TF CPU devices, equals the
single-device step.

Virtual devices must be configured before JAX / TensorFlow initialise, so
each check runs this file as a script in a fresh process (one per backend).
"""

import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.tiny_models import MODELS, tiny_backbone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVICES = 4
TOL = 1e-5
BACKBONES = {
    "nezha": "NezhaBackbone",
    "convbert": "ConvBertBackbone",
    "ernie_m": "ErnieMBackbone",
}


def _layout_options(model):
    # The tiny ConvBERT has a grouped feed-forward (medium-small layout).
    return {"num_groups": 2} if model == "convbert" else {}


def _run_worker(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT)
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={DEVICES}"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.test_distribution", backend],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-5000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.skipif(keras.config.backend() != "jax", reason="keras.distribution runs on JAX")
def test_jax_data_and_model_parallel_step_matches_single_device():
    results = _run_worker("jax")
    assert results["devices"] == DEVICES
    for model in MODELS:
        assert results[model]["ModelParallel"] <= TOL, results
        # The layout map was applied: weights really are split over "model".
        assert results[model]["sharded"] >= 8, results
    assert results["nezha"]["DataParallel"] <= TOL, results
    assert min(r["moved"] for r in results.values() if isinstance(r, dict)) > 1e-3


@pytest.mark.skipif(keras.config.backend() != "tensorflow", reason="tf.distribute needs TensorFlow")
def test_tf_mirrored_strategy_step_matches_single_device():
    results = _run_worker("tensorflow")
    assert results["devices"] == DEVICES
    for model in MODELS:
        assert results[model]["MirroredStrategy"] <= TOL, results
        assert results[model]["moved"] > 1e-3, results


@pytest.mark.parametrize("model", MODELS)
def test_layout_rules_cover_the_big_kernels_with_the_right_rank(model):
    """Checked without devices on every backend: each variable matches at most
    one rule (as `LayoutMap` requires), a rule's axes fit the variable's rank,
    and every projection kernel and the token embedding are sharded."""
    from keras_encoders import models

    backbone = tiny_backbone(model)
    backbone.enable_lora(2)  # LoRA factors must stay replicated
    rules = getattr(models, BACKBONES[model]).layout_rules("model", "batch", **_layout_options(model))
    sharded = set()
    for variable in backbone.weights:
        hits = [p for p in rules if re.fullmatch(p, variable.path)]
        assert len(hits) <= 1, (variable.path, hits)
        if hits:
            axes = rules[hits[0]]
            assert len(axes) == len(variable.shape), (variable.path, axes)
            assert "model" in axes
            sharded.add(variable.path)
    must = r".*(token_embedding/embeddings|(query|key|value|conv_out|attention_output|intermediate|output)/kernel)"
    expected = {v.path for v in backbone.weights if re.fullmatch(must, v.path)}
    assert expected and expected <= sharded, expected - sharded
    assert not any("lora" in path for path in sharded)


def test_layout_map_rejects_unknown_axes():
    if keras.config.backend() != "jax":
        pytest.skip("DeviceMesh needs keras.distribution's JAX devices")
    from keras_encoders import models

    devices = keras.distribution.list_devices()[:1]
    mesh = keras.distribution.DeviceMesh((1, 1), ("data", "model"), devices)
    with pytest.raises(ValueError, match="'batch' is not an axis"):
        models.NezhaBackbone.get_layout_map(mesh)
    layout = models.NezhaBackbone.get_layout_map(mesh, data_parallel_dim_name="data")
    assert layout["transformer_layer_0/self_attention/query/kernel"].axes == ("data", "model")


# === Workers (run as `python -m tests.test_distribution <backend>`) ===


def _train_step(task, x, y):
    task.fit(x, y, batch_size=len(y), epochs=1, shuffle=False, verbose=0)
    return [np.asarray(keras.ops.convert_to_numpy(w)) for w in task.weights]


def _max_diff(a, b):
    return max(float(np.max(np.abs(u - v))) for u, v in zip(a, b))


def _make(model, run_eagerly=False):
    from tests.tiny_models import tiny_classifier

    task = tiny_classifier(model)
    task.compile(optimizer=keras.optimizers.SGD(0.5), run_eagerly=run_eagerly)
    return task


def _reference(model):
    """Initial weights, weights after one single-device step, and the data."""
    from tests.tiny_models import tiny_batch, tiny_labels

    keras.utils.set_random_seed(0)
    # Eager is cheaper than tracing a step for TF; JAX compiles faster than
    # it runs op by op.
    task = _make(model, run_eagerly=keras.config.backend() == "tensorflow")
    initial = task.get_weights()
    x, y = tiny_batch(model, batch=DEVICES), tiny_labels(DEVICES)
    after = _train_step(task, x, y)
    return initial, after, x, y


def _jax_worker():
    from keras_encoders import models

    devices = keras.distribution.list_devices()
    results = {"devices": len(devices)}
    mesh = keras.distribution.DeviceMesh((2, 2), ("batch", "model"), devices)
    for model in MODELS:
        initial, want, x, y = _reference(model)
        results[model] = {"moved": _max_diff(initial, want)}
        layout_map = getattr(models, BACKBONES[model]).get_layout_map(mesh, **_layout_options(model))
        distributions = {"ModelParallel": keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")}
        if model == "nezha":  # data parallelism does not depend on the model
            distributions["DataParallel"] = keras.distribution.DataParallel(devices=devices)
        for name, distribution in distributions.items():
            with distribution.scope():
                task = _make(model)
                task.set_weights(initial)
                got = _train_step(task, x, y)
                if name == "ModelParallel":
                    results[model]["sharded"] = sum(
                        "model" in str(w.value.sharding.spec) for w in task.weights
                    )
            results[model][name] = _max_diff(got, want)
    return results


def _tf_worker():
    import tensorflow as tf

    devices = [f"/cpu:{i}" for i in range(DEVICES)]
    strategy = tf.distribute.MirroredStrategy(devices)
    results = {"devices": strategy.num_replicas_in_sync}
    for model in MODELS:
        initial, want, x, y = _reference(model)
        with strategy.scope():
            task = _make(model)
            task.set_weights(initial)
        assert "Mirrored" in type(task.trainable_weights[0].value).__name__
        got = _train_step(task, x, y)  # one example per replica
        results[model] = {"moved": _max_diff(initial, want), "MirroredStrategy": _max_diff(got, want)}
    return results


if __name__ == "__main__":
    backend = sys.argv[1]
    if backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * DEVICES
        )
        print("RESULT " + json.dumps(_tf_worker()))
    else:
        print("RESULT " + json.dumps(_jax_worker()))
