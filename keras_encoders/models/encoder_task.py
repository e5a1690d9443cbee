"""Pieces shared by every task head: feature selection and HF head configs."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_encoders.models.encoder_backbone import kernel_initializer

LOSS_TYPES = ("single_label_classification", "regression", "multi_label_classification")


def sequence_summary(backbone, outputs, summary_type):
    """One vector per sequence: the pooler, the first token, or the last one."""
    if summary_type == "pooled":
        if "pooled_output" not in outputs:
            raise ValueError(
                f"{backbone.__class__.__name__} has no pooler; use "
                "summary_type='first' or 'last'."
            )
        return outputs["pooled_output"]
    if summary_type == "first":
        return outputs["sequence_output"][:, 0, :]
    if summary_type == "last":
        return outputs["sequence_output"][:, -1, :]
    raise ValueError(
        f"summary_type must be 'pooled', 'first' or 'last', got {summary_type!r}"
    )


def check_no_summary(kwargs):
    if "summary" in kwargs:
        raise TypeError(
            "`summary` is now called `summary_type` (the old name hid "
            "`keras.Model.summary()`): pass "
            f"summary_type={kwargs['summary']!r}."
        )


def renamed_summary(config):
    """A task config saved before `summary` became `summary_type` (the old
    name hid `keras.Model.summary()`), in the current names."""
    config = dict(config)
    if "summary" in config:
        config.setdefault("summary_type", config.pop("summary"))
    return config


class EncoderTask:
    """Mixin for every task: preprocessing traced once, host ids checked.

    keras-hub maps `preprocess_samples` over a new `tf.data` pipeline in every
    `fit`, `evaluate` and `predict` call, and `tf.data` traces the mapped
    function each time. Here that function only calls one `tf.function` per
    preprocessor (traced on the first call, then reused for every pipeline
    with the same input structure), so raw strings are tokenized and packed
    by the same graph in every call.

    Host data (numpy arrays, lists, backend tensors) of token ids given to
    `fit`, `evaluate` and `predict` is checked against the backbone's
    vocabulary and segment range before anything is compiled: inside a
    compiled step an out-of-range id cannot raise (JAX gives NaN or wrong
    numbers), so the check runs once, on the whole input, on every backend.
    """

    def preprocess_samples(self, x, y=None, sample_weight=None):
        if self.preprocessor is None or tf.executing_eagerly():
            return super().preprocess_samples(x, y, sample_weight)
        return self.preprocessing_graph()(x, y, sample_weight)

    def preprocessing_graph(self):
        """The `tf.function` that `tf.data` pipelines call to preprocess.

        One per preprocessor; it retraces only for a new input structure or
        dtype (e.g. labels given or not), never for a new pipeline.
        """
        # A plain dict outside Keras/TF attribute tracking: a cache, not
        # state to save or export.
        cache = self.__dict__.setdefault("_preprocessing_graphs", {})
        key = id(self.preprocessor)
        if key not in cache:
            preprocess = super().preprocess_samples
            cache[key] = (
                self.preprocessor,  # keeps `key` from being reused
                tf.function(preprocess, autograph=False, reduce_retracing=True),
            )
        return cache[key][1]

    def check_host_inputs(self, x):
        """Raise a clear error for out-of-range ids in a dict of host data."""
        check = getattr(self.backbone, "check_id_ranges", None)
        if check is None or not isinstance(x, dict) or "token_ids" not in x:
            return
        if isinstance(x["token_ids"], (tf.Tensor, tf.RaggedTensor)) and not tf.executing_eagerly():
            return
        check({k: _host_array(v) for k, v in x.items() if k in ("token_ids", "segment_ids")})

    def fit(self, x=None, y=None, *args, **kwargs):
        self.check_host_inputs(x)
        validation = kwargs.get("validation_data")
        if isinstance(validation, (tuple, list)) and validation:
            self.check_host_inputs(validation[0])
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self.check_host_inputs(x)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self.check_host_inputs(x)
        return super().predict(x, *args, **kwargs)


def _host_array(value):
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    return value


class DerivesBackboneInputs:
    """Mixin for tasks: inputs the backbone can derive may be left out.

    ERNIE-M's backbone fills in a missing `padding_mask` from the pad id
    (`ErnieMBackbone.with_padding_mask`), as its reference does without an
    `attention_mask`. A task's functional graph lists the mask as an input
    and Keras checks the input dict before anything else runs, so the task
    fills it in first: in `__call__` (eager calls, `fit`, `predict`) and in
    `call`, which JAX's `stateless_call` uses directly. Backbones without
    that hook are left as they are.
    """

    def with_derived_inputs(self, inputs):
        derive = getattr(self.backbone, "with_padding_mask", None)
        return inputs if derive is None else derive(inputs)

    def __call__(self, inputs, *args, **kwargs):
        return super().__call__(self.with_derived_inputs(inputs), *args, **kwargs)

    def call(self, inputs, *args, **kwargs):
        return super().call(self.with_derived_inputs(inputs), *args, **kwargs)


def head_dense(units, name, dtype, activation=None):
    return keras.layers.Dense(
        units,
        activation=activation,
        kernel_initializer=kernel_initializer(),
        dtype=dtype,
        name=name,
    )


def label_names_from_hf(config):
    """`id2label` as a list, unless it holds only the default LABEL_i names."""
    id2label = config.get("id2label") or {}
    names = [id2label[k] for k in sorted(id2label, key=lambda k: int(k))]
    if all(n == f"LABEL_{i}" for i, n in enumerate(names)):
        return None
    return names


def num_labels_from_hf(config):
    if config.get("id2label"):
        return len(config["id2label"])
    return config.get("num_labels", 2)


def classification_loss(problem_type, num_classes):
    """Hugging Face's loss choice for sequence classification heads."""
    if problem_type is None:
        problem_type = "regression" if num_classes == 1 else "single_label_classification"
    if problem_type == "regression":
        return keras.losses.MeanSquaredError(), [keras.metrics.MeanSquaredError()]
    if problem_type == "multi_label_classification":
        return keras.losses.BinaryCrossentropy(from_logits=True), [
            keras.metrics.BinaryAccuracy(threshold=0.0)
        ]
    if problem_type == "single_label_classification":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True), [
            keras.metrics.SparseCategoricalAccuracy()
        ]
    raise ValueError(f"problem_type must be one of {LOSS_TYPES}, got {problem_type!r}")




def choice_compile_defaults(optimizer, loss, metrics):
    """keras-hub style defaults for heads that pick one class out of several."""
    if optimizer == "auto":
        optimizer = keras.optimizers.Adam(5e-5)
    if loss == "auto":
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if metrics == "auto":
        metrics = [keras.metrics.SparseCategoricalAccuracy()]
    return optimizer, loss, metrics
