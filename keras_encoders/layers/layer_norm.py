"""Layer normalization over the features, in fewer passes on TensorFlow."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_encoders")
class LayerNorm(keras.layers.LayerNormalization):
    """Keras' `LayerNormalization` over the last axis, computed as

        y = (x - mean) * rsqrt(variance + epsilon) * gamma + beta

    (the references' order) instead of Keras' generic
    `x * inv + (beta - mean * inv)` with `inv = rsqrt(variance + epsilon) *
    gamma`. The numbers are the same to float32 rounding (a few ulps).

    Why: TensorFlow runs each elementwise op as its own pass over the
    (tokens, features) matrix. In TensorFlow's optimized graph Keras' form
    makes six such passes besides the two means (its `inv` is already full
    size, and its variance is a broadcasting SquaredDifference, four times
    the cost of a Square), this one five; on a base encoder's SavedModel that
    was 3-4% of a 1-text call (1-3% at 8 texts), in interleaved A/Bs on all
    three models. JAX computes the same form (under `jit`, XLA fuses either one).
    On torch, Keras calls `torch.nn.functional.layer_norm`, one fused
    kernel, and this layer leaves it to Keras.

    The weights, their names and the config are Keras' (`gamma`, `beta`):
    checkpoints and saved models load unchanged. Only the default layout is
    taken (last axis, `center`, `scale`, no `rms_scaling`).

    Example:
    >>> import keras
    >>> import numpy as np
    >>> from keras_encoders.layers import LayerNorm
    >>> x = np.random.uniform(size=(2, 3, 8)).astype("float32")
    >>> y = keras.ops.convert_to_numpy(LayerNorm(epsilon=1e-12)(x))
    >>> bool(np.allclose(y.mean(-1), 0.0, atol=1e-6))
    True
    """

    def __init__(self, axis=-1, center=True, scale=True, **kwargs):
        rms_scaling = kwargs.get("rms_scaling", False)
        if axis not in (-1, [-1], (-1,)) or not center or not scale or rms_scaling:
            raise ValueError(
                "LayerNorm normalizes the last axis with a scale and a shift "
                f"(got axis={axis}, center={center}, scale={scale}, "
                f"rms_scaling={rms_scaling}); use keras.layers.LayerNormalization "
                "for other layouts."
            )
        super().__init__(axis=axis, center=center, scale=scale, **kwargs)

    def call(self, inputs):
        if keras.backend.backend() == "torch":
            return super().call(inputs)
        # In at least float32, as Keras does (float16 and bfloat16 inputs).
        dtype = keras.backend.result_type(inputs.dtype, "float32")
        x = ops.cast(inputs, dtype)
        centered = x - ops.mean(x, axis=-1, keepdims=True)
        variance = ops.mean(ops.square(centered), axis=-1, keepdims=True)
        normed = centered * ops.rsqrt(variance + self.epsilon)
        outputs = normed * ops.cast(self.gamma, dtype) + ops.cast(self.beta, dtype)
        return ops.cast(outputs, self.compute_dtype)
