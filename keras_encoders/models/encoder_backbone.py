"""What the three backbones share: input checks and initialization."""

import keras
import numpy as np
from keras import ops
from keras_hub.models import Backbone


def kernel_initializer(stddev=0.02):
    """The references' Normal(0, 0.02) initialization (truncated, as BERT's)."""
    return keras.initializers.TruncatedNormal(stddev=stddev)


def concrete_value(x):
    """`x` as numpy when it holds actual values (eager), else None (traced)."""
    if x is None or isinstance(x, keras.KerasTensor):
        return None
    if isinstance(x, np.ndarray):
        return x
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        if isinstance(x, jax.core.Tracer):
            return None
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            return None
    try:
        return ops.convert_to_numpy(x)
    except Exception:  # symbolic tensors of any backend
        return None


def _dtype_name(x):
    dtype = x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype
    return keras.backend.standardize_dtype(dtype)


class EncoderBackbone(Backbone):
    """Backbone base that refuses inputs which would give silently wrong numbers.

    Checked on every call: integer dtypes for ids, matching shapes. Checked
    whenever the values are available (eager calls, and `fit`/`predict` on the
    torch backend): ids inside the vocabulary and the segment range, and
    sequences within the model's position limit. Inside compiled functions
    (JAX/TF jit) only dtypes and static shapes can be checked; the
    preprocessors never produce out-of-range ids.
    """

    @property
    def position_limit(self):
        """The longest sequence the position embeddings allow (None: any)."""
        return None

    def call(self, inputs, training=None, mask=None):
        self.check_inputs(inputs)
        return super().call(inputs, training=training, mask=mask)

    def check_inputs(self, inputs):
        if not isinstance(inputs, dict):
            raise ValueError(
                f"{self.__class__.__name__} expects a dict of inputs with keys "
                f"{sorted(self.input.keys()) if isinstance(self.input, dict) else ''}. "
                f"Received: {type(inputs).__name__}."
            )
        expected = set(self.input.keys()) if isinstance(self.input, dict) else set()
        missing = expected - set(inputs)
        if missing:
            raise ValueError(
                f"{self.__class__.__name__} is missing inputs {sorted(missing)}; "
                f"it takes {sorted(expected)}."
            )
        for name in ("token_ids", "segment_ids"):
            if name in inputs and name in expected:
                dtype = _dtype_name(inputs[name])
                if not ("int" in dtype):
                    raise TypeError(
                        f"`{name}` must be an integer tensor (int32), got "
                        f"dtype {dtype}. Cast the ids, or feed raw strings "
                        "through the task's preprocessor."
                    )
        ids_shape = tuple(ops.shape(inputs["token_ids"]))
        for name in expected - {"token_ids"}:
            shape = tuple(ops.shape(inputs[name]))
            if None not in shape and None not in ids_shape and shape != ids_shape:
                raise ValueError(
                    f"`{name}` has shape {shape} but `token_ids` has shape "
                    f"{ids_shape}; they must match."
                )
        limit = self.position_limit
        length = ids_shape[-1] if ids_shape else None
        if limit and length is not None and not isinstance(length, keras.KerasTensor):
            try:
                length = int(length)
            except TypeError:
                length = None
            if length is not None and length > limit:
                raise ValueError(
                    f"Sequence length {length} exceeds the maximum of {limit} "
                    f"positions of this {self.__class__.__name__}. Truncate the "
                    f"inputs (e.g. a preprocessor with sequence_length={limit})."
                )
        ids = concrete_value(inputs["token_ids"])
        if ids is not None and ids.size:
            if ids.min() < 0 or ids.max() >= self.vocabulary_size:
                raise ValueError(
                    f"`token_ids` must be in [0, {self.vocabulary_size}), the "
                    f"vocabulary of this {self.__class__.__name__}; found ids in "
                    f"[{ids.min()}, {ids.max()}]. Check that the tokenizer "
                    "matches the model."
                )
        num_segments = getattr(self, "num_segments", None)
        if num_segments and "segment_ids" in inputs:
            seg = concrete_value(inputs["segment_ids"])
            if seg is not None and seg.size and (seg.min() < 0 or seg.max() >= num_segments):
                raise ValueError(
                    f"`segment_ids` must be in [0, {num_segments}); found "
                    f"[{seg.min()}, {seg.max()}]."
                )
