"""Pieces shared by every task head: feature selection and HF head configs."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_encoders.models import label_checks
from keras_encoders.models.backbone_checks import short_repr
from keras_encoders.models.encoder_backbone import host_array, kernel_initializer, refusing_bad_ids
from keras_encoders.models.preset_folder import GuardsPresetFolder
from keras_encoders.models.quantization import Quantizable

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


def reads_first_token(backbone, summary_type):
    """Whether a head with this summary reads the first position alone
    ("pooled" or "first") of a backbone that can compute it alone
    (`EncoderBackbone.first_token_alone`): the task's `serving_call` then
    runs the last layer for that position only."""
    return summary_type in ("pooled", "first") and backbone.first_token_alone


def freeze_unused_pooler(backbone):
    """Freeze the backbone's pooler (NEZHA, ERNIE-M) under a head that reads
    only `sequence_output` (token classification, question answering,
    information extraction).

    The pooler gets no gradient there, so Keras would warn at every `fit`
    that "gradients do not exist for variables ['pooled_dense/kernel', ...]",
    which reads as a bug in the head. Its weights are kept (and saved) as
    they are. A backbone shared with a classifier that does use the pooler
    needs `backbone.pooled_dense.trainable = True` again.
    """
    pooler = getattr(backbone, "pooled_dense", None)
    if pooler is not None:
        pooler.trainable = False


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


class EncoderTask(GuardsPresetFolder, Quantizable):
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

    Training on in-memory data and reloading saved tasks, without Keras'
    misleading warnings:
    - `fit` on lists, numpy arrays or tensors shuffles them each epoch
      (`shuffle=True`, Keras' default). keras-hub turns in-memory data into
      a `tf.data` pipeline before Keras sees it, so Keras would warn that
      `shuffle=True` is ignored and train in the same order every epoch.
      `validation_split` takes the last samples, before shuffling, as Keras.
    - A `.keras` file restores the optimizer state it was saved with: the
      custom `compile()` is called again from the saved compile config, and
      the optimizer is built before its variables load when it had been
      built (trained) when saved.
    - Presets hold the model, not the training state: `save_to_preset`
      writes no optimizer variables, and loading ignores those of presets
      that have them.
    - A quantized task (`task.quantize("int8")`) reloads from its preset or
      `.keras` file in int8: the config records the head's quantized layers
      (`head_quantization`), which keras-hub's task config leaves out.
    """

    def serving_call(self, inputs):
        """The inference call that `export_saved_model` traces: the task's
        outputs for a dict of model inputs, the numbers of
        `self(inputs, training=False)`. Tasks whose head reads only the
        first position override it to skip the rest of the last layer
        (`EncoderBackbone.first_token_outputs`)."""
        return self(inputs, training=False)

    def preprocess_samples(self, x, y=None, sample_weight=None):
        if self.preprocessor is None or tf.executing_eagerly():
            samples = super().preprocess_samples(x, y, sample_weight)
        else:
            # Inside `tf.data`: labels that host checks never saw (a dataset).
            label_range = self.sparse_label_range(x)
            if y is not None and label_range is not None:
                y = label_checks.assert_labels_in_graph(y, *label_range)
            samples = self.preprocessing_graph()(x, y, sample_weight)
        return self.with_id_checks(samples)

    def with_id_checks(self, samples):
        """Packed samples with the backbone's id range check attached.

        Every `fit`, `evaluate` and `predict` input (host data, `tf.data`,
        raw strings through a tokenizer larger than the backbone's
        vocabulary) passes here, in the pipeline that feeds the compiled
        steps: a batch with an out-of-range id is refused before it reaches
        them, so it can never give NaN outputs or write NaN into weights.
        """
        check = getattr(self.backbone, "with_id_checks", None)
        if check is None:
            return samples
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(samples)
        return keras.utils.pack_x_y_sample_weight(check(x), y, sample_weight)

    def sparse_label_range(self, x):
        """`(num_classes, what, ignore)` for the sparse labels that go with
        inputs `x` (labels must be in `[0, num_classes)`, or `ignore`), or
        None where labels are not class ids. Heads with classes override it."""
        return None

    def check_host_labels(self, x, y):
        """Raise a one-line error for a label outside the head's classes."""
        label_range = self.sparse_label_range(x)
        if y is not None and label_range is not None:
            label_checks.check_host_labels(y, *label_range)

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
        check({k: host_array(v) for k, v in x.items() if k in ("token_ids", "segment_ids")})

    def check_host_text(self, x):
        """Raise a clear error for raw inputs the preprocessor cannot read
        (e.g. text pairs as rows), before a pipeline buries it in a trace."""
        check = getattr(self.preprocessor, "check_inputs", None)
        if check is not None and not isinstance(x, dict) and in_memory(x):
            check(x)

    def fit(self, x=None, y=None, batch_size=None, sample_weight=None,
            validation_split=None, validation_data=None, shuffle=True, **kwargs):
        self.check_host_inputs(x)
        self.check_host_text(x)
        self.check_host_labels(x, y)
        if isinstance(validation_data, (tuple, list)) and validation_data:
            self.check_host_inputs(validation_data[0])
            if len(validation_data) > 1:
                self.check_host_labels(validation_data[0], validation_data[1])
        if not in_memory(x):
            # Keras never shuffles a `tf.data.Dataset` (it warns when asked
            # to, and `shuffle=True` is the default here).
            shuffle = shuffle and not isinstance(x, tf.data.Dataset)
            with refusing_bad_ids():
                return super().fit(x=x, y=y, batch_size=batch_size, sample_weight=sample_weight,
                                   validation_split=validation_split,
                                   validation_data=validation_data, shuffle=shuffle, **kwargs)
        samples = columns(keras.utils.pack_x_y_sample_weight(x, y, sample_weight))
        if validation_split and validation_data is None:
            count = tf.nest.flatten(samples)[0].shape[0]
            cut = int(count * (1.0 - validation_split))
            validation_data = tf.nest.map_structure(lambda v: v[cut:], samples)
            samples = tf.nest.map_structure(lambda v: v[:cut], samples)
        dataset = tf.data.Dataset.from_tensor_slices(samples)
        if shuffle:
            dataset = dataset.shuffle(dataset.cardinality(), reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size or 32)
        with refusing_bad_ids():
            return super().fit(dataset, validation_data=validation_data, shuffle=False, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self.check_host_inputs(x)
        self.check_host_text(x)
        self.check_host_labels(x, y)
        with refusing_bad_ids(self):
            return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        self.check_host_inputs(x)
        self.check_host_text(x)
        if empty_batch(x):
            return self.empty_outputs(x, batch_size=batch_size)
        with refusing_bad_ids(self):
            if steps is None and not callbacks and fits_one_batch(x, batch_size):
                return self.predict_one_batch(x)
            return super().predict(
                x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks
            )

    def predict_one_batch(self, x):
        """`predict` for in-memory data of at most one batch, in one call.

        Keras' `predict` builds a `tf.data` pipeline, an iterator, callbacks
        and a progress bar on every call: ~0.3 s, far more than a few short
        texts cost the model. Here raw inputs go through the traced
        preprocessing graph (the same one `tf.data` pipelines call) and then
        straight into the compiled predict step, as `predict_on_batch`.
        """
        if self.preprocessor is not None and not is_model_inputs(x):
            x = as_tensors(x)
            # The batch dimension left open, as in `tf.data` batches: one
            # trace serves every batch size, shared with `fit`/`predict`.
            specs = tf.nest.map_structure(batch_spec, x, expand_composites=False)
            graph = self.preprocessing_graph().get_concrete_function(specs, None, None)
            x, _, _ = keras.utils.unpack_x_y_sample_weight(graph(x, None, None))
        return self.predict_inputs(x)

    def predict_inputs(self, inputs, batch_size=None, verbose=0):
        """Predict on inputs that are model inputs already (ids, masks).

        keras-hub's `predict` would send them through the string
        preprocessor again, hence Keras' own loop, or one compiled step when
        they fit in one batch. Their ids are checked here: the one-batch
        step reads no `tf.data` pipeline, which checks them otherwise.
        """
        self.check_host_inputs(inputs)
        if fits_one_batch(inputs, batch_size):
            inputs = keras.tree.map_structure(ops.convert_to_tensor, inputs)
            self.build_preprocessing()
            return keras.Model.predict_on_batch(self, inputs)
        return keras.Model.predict(self, inputs, batch_size=batch_size, verbose=verbose)

    def build_preprocessing(self):
        """Mark the preprocessor and the layers it holds (tokenizer, packers)
        built: they hold no weights.

        Keras' JAX `predict_on_batch` runs the whole model eagerly, op by op,
        on every call while any layer the task tracks is unbuilt, before the
        compiled step: at base size that doubled `extract()`'s time. They
        are only built when called on strings, which model inputs (e.g.
        `extract()`'s windows) never are.
        """
        # This runs on every one-batch predict: below the preprocessor, only
        # the layers just built are searched (a built layer's sublayers were
        # built with it), so a tokenizer's vocabulary list is walked once.
        pending, seen = [self.preprocessor], set()
        while pending:
            layer = pending.pop()
            if not isinstance(layer, keras.layers.Layer) or id(layer) in seen:
                continue
            seen.add(id(layer))
            if layer.built and layer is not self.preprocessor:
                continue
            if not layer.built:
                layer.build(None)  # may create sublayers (a preprocessor's packer)
            for value in vars(layer).values():
                pending.extend(value if isinstance(value, (list, tuple)) else [value])

    def empty_outputs(self, x, *args, **kwargs):
        """What `predict` returns for an empty batch of texts: the outputs of
        one placeholder text, cut to zero rows (so their structure, trailing
        shapes and dtypes are those of any other batch)."""
        placeholder = tuple([""] for _ in x) if isinstance(x, tuple) else [""]
        kwargs["verbose"] = 0
        outputs = super().predict(placeholder, *args, **kwargs)
        return tf.nest.map_structure(lambda v: v[:0], outputs)

    def get_compile_config(self):
        config = super().get_compile_config()
        optimizer = getattr(self, "optimizer", None)
        if config is not None and optimizer is not None:
            config = {**config, "optimizer_built": bool(optimizer.built)}
        return config

    def compile_from_config(self, config):
        config = dict(config)
        optimizer_built = config.pop("optimizer_built", False)
        self.compile(**keras.saving.deserialize_keras_object(config))
        if optimizer_built and self.built:
            self.optimizer.build(self.trainable_variables)

    def head_quantization(self):
        """`{path: serialized policy}` of the head's quantized layers (after
        `task.quantize`); the backbone's are in its own config."""
        backbone = {id(layer) for layer in self.backbone._flatten_layers()}
        found = {}
        for layer in self._flatten_layers(include_self=False):
            if id(layer) in backbone or not getattr(layer, "quantization_mode", None):
                continue
            policy = layer.dtype_policy
            if isinstance(policy, keras.dtype_policies.DTypePolicyMap):
                policy = policy[layer.path]  # a head built by hand with a policy map
            found[layer.path] = keras.saving.serialize_keras_object(policy)
        return found

    def get_config(self):
        # keras-hub's task config leaves out how the head was quantized, and
        # a quantized task's preset or `.keras` file would rebuild a float
        # head that refuses its own int8 weights.
        config = super().get_config()
        quantized = self.head_quantization()
        if quantized:
            config["head_quantization"] = quantized
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        quantized = config.pop("head_quantization", None)
        if not quantized:
            return super().from_config(config)
        if not isinstance(quantized, dict) or not isinstance(config.get("backbone"), dict):
            raise ValueError(
                "`head_quantization` needs a mapping of layer paths to policies and a "
                f"serialized backbone; got {short_repr(quantized)}."
            )
        # Every head layer is built with the backbone's dtype policy: in a
        # policy map holding the head's paths, they are built quantized, and
        # the weights loaded next fill them.
        backbone = dict(config["backbone"])
        backbone["config"] = dict(backbone["config"])
        policy = keras.dtype_policies.get(backbone["config"].get("dtype"))
        if not isinstance(policy, keras.dtype_policies.DTypePolicyMap):
            policy = keras.dtype_policies.DTypePolicyMap(default_policy=policy)
        for path, layer_policy in quantized.items():
            if path in policy:  # a reloaded task's backbone saved the map with them
                del policy[path]
            policy[path] = keras.dtype_policies.get(layer_policy)
        backbone["config"]["dtype"] = keras.saving.serialize_keras_object(policy)
        config["backbone"] = backbone
        task = super().from_config(config)
        built = task.head_quantization()
        if sorted(built) != sorted(quantized):
            raise ValueError(
                f"`head_quantization` names {short_repr(sorted(quantized))}, but "
                f"{cls.__name__}'s head has quantized {short_repr(sorted(built))}: the "
                "configuration does not match the task."
            )
        return task

    def save_task_weights(self, filepath):
        keras.saving.save_weights(self, filepath, objects_to_skip=self.not_task_weights())

    def load_task_weights(self, filepath):
        keras.saving.load_weights(self, filepath, objects_to_skip=self.not_task_weights())

    def not_task_weights(self):
        """What a preset's task weights leave out: the backbone (saved on
        its own) and the optimizer."""
        skip = list(self.backbone._flatten_layers())
        if getattr(self, "optimizer", None) is not None:
            skip.append(self.optimizer)
        return skip


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


# Work longer than this many `predict` batches shows a progress bar by
# default (`verbose="auto"` of the helpers that run many windows: `answer()`,
# `extract()`); shorter work stays silent, as in their docstring examples.
LONG_WORK_BATCHES = 8


def progress_verbose(verbose, rows, batch_size):
    """Keras' `verbose` for a helper's `predict` over `rows` inputs."""
    if verbose == "auto":
        return 1 if -(-rows // batch_size) > LONG_WORK_BATCHES else 0
    if verbose not in (0, 1, 2, False, True):
        raise ValueError(f'verbose must be 0, 1, 2 or "auto", got {verbose!r}.')
    return int(verbose)


def empty_batch(x):
    """An empty list or 1-D array of texts (or a tuple of them, for pairs)."""
    if isinstance(x, tuple):
        return bool(x) and all(empty_batch(v) for v in x)
    if isinstance(x, list):
        return not x
    shape = getattr(x, "shape", None)
    return isinstance(x, np.ndarray) and shape == (0,)


def in_memory(x):
    """Data that keras-hub would slice into batches itself: lists, arrays
    and tensors (not a dataset, generator or `keras.utils.PyDataset`)."""
    if isinstance(x, dict):
        return bool(x) and all(in_memory(v) for v in x.values())
    if isinstance(x, tuple):
        return bool(x) and all(in_memory(v) for v in x)
    return isinstance(x, (list, tf.Tensor, tf.RaggedTensor)) or hasattr(x, "__array__")


def fits_one_batch(x, batch_size=None):
    """In-memory data of 1 to `batch_size` (Keras' default 32) samples."""
    if not in_memory(x):
        return False
    first = x
    while isinstance(first, (dict, tuple)):  # a list is a column, not nesting
        first = next(iter(first.values())) if isinstance(first, dict) else first[0]
    rows = len(first) if isinstance(first, list) else first.shape[0]
    return rows is not None and 0 < rows <= (batch_size or 32)


def is_model_inputs(x):
    """A dict with `token_ids`: packed inputs, past any preprocessor."""
    return isinstance(x, dict) and "token_ids" in x


def batch_spec(tensor):
    """The spec of `tensor` with its batch dimension unknown."""
    if isinstance(tensor, tf.RaggedTensor):
        return tf.RaggedTensorSpec(
            [None] + tensor.shape[1:], tensor.dtype, tensor.ragged_rank, tensor.row_splits.dtype
        )
    return tf.TensorSpec([None] + tensor.shape[1:], tensor.dtype)


def as_tensors(x):
    """Lists and arrays as TensorFlow tensors, so that a traced function
    sees tensors (a Python string would be a constant: one trace per text)."""
    x = columns(x)
    return tf.nest.map_structure(
        lambda v: v if isinstance(v, tf.RaggedTensor) else tf.convert_to_tensor(v), x
    )


def columns(data):
    """Nested dicts and tuples of samples with every list as an array (rows
    of different lengths as a ragged tensor), ready for `tf.data` slicing."""
    if isinstance(data, dict):
        return {k: columns(v) for k, v in data.items()}
    if isinstance(data, tuple):
        return tuple(columns(v) for v in data)
    if isinstance(data, list):
        if data and isinstance(data[0], (list, tuple)):
            return tf.ragged.constant([list(row) for row in data])
        return np.asarray(data)
    if hasattr(data, "__array__") and not isinstance(data, (tf.Tensor, tf.RaggedTensor)):
        return np.asarray(data)  # also JAX and torch tensors
    return data


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
