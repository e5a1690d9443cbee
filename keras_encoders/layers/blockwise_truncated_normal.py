"""A truncated-normal initializer whose transient memory does not scale with the weight."""

import math

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="keras_encoders")
class BlockwiseTruncatedNormal(keras.initializers.TruncatedNormal):
    """`keras.initializers.TruncatedNormal`, drawn a block of rows at a time.

    Keras draws a whole weight at once, and some backends need several
    weight-sized temporaries to do it (the torch backend draws four normals
    per value and keeps the best; JAX and TensorFlow go through uniforms):
    ERNIE-M's 250k x 768 embedding then peaked at about 6 GB above the
    weights on torch. Here float32 weights larger than `block_size` values
    are filled block by block into one NumPy buffer, which the torch backend
    adopts without a copy, so the transient stays one block (JAX and
    TensorFlow copy the buffer once). Smaller weights and other dtypes are
    drawn exactly as by the Keras initializer.

    Args:
        mean: float. Mean of the normal before truncation.
        stddev: float. Its standard deviation (values beyond two are redrawn).
        seed: int, `keras.random.SeedGenerator` or None.
        block_size: int. Values drawn per block.

    Example:
    >>> from keras_encoders.layers import BlockwiseTruncatedNormal
    >>> init = BlockwiseTruncatedNormal(stddev=0.02, seed=1, block_size=1000)
    >>> values = init((3000, 4))
    >>> values.shape, bool(abs(values).max() <= 0.04)
    ((3000, 4), True)
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None, block_size=2**20):
        super().__init__(mean=mean, stddev=stddev, seed=seed)
        self.block_size = block_size

    def __call__(self, shape, dtype=None):
        shape = tuple(int(d) for d in shape)
        dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
        if dtype != "float32" or len(shape) < 1 or math.prod(shape) <= self.block_size:
            return super().__call__(shape, dtype=dtype)
        row = max(math.prod(shape[1:]), 1)
        rows = max(1, self.block_size // row)
        out = np.empty(shape, dtype="float32")
        for block, start in enumerate(range(0, shape[0], rows)):
            stop = min(start + rows, shape[0])
            seed = self.seed
            if isinstance(seed, int):
                # One independent stream per block, reproducible from the seed.
                seed = (seed + 7919 * block) % (2**31 - 1)
            out[start:stop] = keras.ops.convert_to_numpy(
                keras.random.truncated_normal(
                    (stop - start,) + shape[1:], mean=self.mean,
                    stddev=self.stddev, seed=seed, dtype="float32",
                )
            )
        return out

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}
