"""Building a large embedding: the initializer's extra memory is bounded by the weight.

Keras' own TruncatedNormal needs several weight-sized temporaries (the torch
backend draws four normals per value), which made ERNIE-M's 250k-row
embedding peak at ~7.7 GB on torch. The measurement runs in a fresh
subprocess (peak resident memory sees every allocator).
"""

import json
import os
import subprocess
import sys

import numpy as np

from keras_encoders.layers import BlockwiseTruncatedNormal

ROWS, WIDTH = 400_000, 64  # 100 MiB of float32

WORKER = r"""
import json, resource, sys
import keras
from keras_encoders.layers import BlockwiseTruncatedNormal
import numpy as np
rows, width = int(sys.argv[1]), int(sys.argv[2])
keras.layers.Embedding(10, 4).build((None,))  # backend warm-up outside the measurement
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
layer = keras.layers.Embedding(rows, width, embeddings_initializer=BlockwiseTruncatedNormal(stddev=0.02, seed=3))
layer.build((None,))
extra = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
w = keras.ops.convert_to_numpy(layer.embeddings)
print(json.dumps({"extra_mib": extra, "std": float(w.std()), "beyond": float(np.mean(np.abs(w) > 0.04)),
                  "mean": float(w.mean()), "distinct_blocks": bool(not np.allclose(w[:10], w[-10:]))}))
"""


def test_large_embedding_builds_within_two_copies_of_its_size():
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(ROWS), str(WIDTH)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    weight_mib = ROWS * WIDTH * 4 / 2**20
    # The weight itself, at most one copy of it (JAX and TensorFlow copy the
    # host buffer into their own), and a few blocks.
    assert result["extra_mib"] < 2 * weight_mib + 64, result
    # A truncated normal at +-2 stddev: std 0.02 * 0.88, (almost) nothing
    # beyond 0.04 (Keras' torch backend keeps the first of four draws when
    # all four fall outside, a few values in a million).
    assert abs(result["std"] - 0.0176) < 0.0005, result
    assert result["beyond"] < 1e-4 and abs(result["mean"]) < 1e-3, result
    assert result["distinct_blocks"], result


def test_small_weights_match_keras_truncated_normal_and_config_round_trips():
    import keras

    init = BlockwiseTruncatedNormal(stddev=0.02, seed=7, block_size=1000)
    same = keras.initializers.TruncatedNormal(stddev=0.02, seed=7)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(init((10, 4))), keras.ops.convert_to_numpy(same((10, 4)))
    )
    again = BlockwiseTruncatedNormal.from_config(init.get_config())
    assert again.block_size == 1000 and again.stddev == 0.02
    big = again((3000, 4))
    assert big.shape == (3000, 4) and np.mean(np.abs(big) > 0.04) < 1e-3
    np.testing.assert_array_equal(big, init((3000, 4)))  # seeded: reproducible
