"""What the three backbones share: input checks and initialization."""

import contextlib
import types

import keras
import numpy as np
from keras import ops
from keras_hub.models import Backbone

from keras_encoders.layers.blockwise_truncated_normal import BlockwiseTruncatedNormal
from keras_encoders.models.preset_folder import GuardsPresetFolder
from keras_encoders.models.quantization import Quantizable


def kernel_initializer(stddev=0.02):
    """The references' Normal(0, 0.02) initialization (truncated, as BERT's).

    Drawn block by block, so that building a 250k-row embedding does not
    need several embedding-sized temporaries.
    """
    return BlockwiseTruncatedNormal(stddev=stddev)


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
    if backend == "torch":
        import torch

        # Under torch.compile, reading values would break the graph (dynamo
        # cannot branch on data); tasks check host data before compiling.
        if torch.compiler.is_compiling():
            return None
    try:
        return ops.convert_to_numpy(x)
    except Exception:  # symbolic tensors of any backend
        return None


# Brackets the message of a failed `with_id_checks` inside TF's error text.
ID_CHECK_MARKER = "<id range> "


@contextlib.contextmanager
def refusing_bad_ids(model=None):
    """Re-raise a `tf.data` pipeline's failed `with_id_checks` as the
    `ValueError` that host data gets (TF wraps it in its own error text).

    With `model` (for `evaluate` and `predict`, which never change weights):
    on JAX, Keras takes the variables' values out of the model while its
    loop runs and puts them back only when the loop ends, so an error from
    the data leaves every variable empty. Their values are kept here (JAX
    arrays are immutable: references, no copies) and put back on any error.
    `fit` puts the latest values back itself.
    """
    import tensorflow as tf

    kept = None
    if model is not None and keras.config.backend() == "jax":
        kept = [(v, v.value) for v in model.variables]
    try:
        yield
    except Exception as error:
        if kept is not None:
            for variable, value in kept:
                variable.assign(value)
        parts = str(error).split(ID_CHECK_MARKER)
        if not isinstance(error, tf.errors.InvalidArgumentError) or len(parts) < 3:
            raise
        raise ValueError(parts[1]) from error


def host_array(value):
    """Host ids as something `check_id_ranges` reads: lists as arrays, eager
    TF tensors (e.g. preprocessor outputs, which other backends cannot read)
    as NumPy; anything else as it is."""
    import tensorflow as tf

    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    if isinstance(value, tf.Tensor) and tf.executing_eagerly():
        return value.numpy()
    return value


def static_shape(x):
    """The shape known at trace time, unknown dims as None (never tensors)."""
    shape = x.shape if hasattr(x, "shape") else np.shape(x)
    return tuple(d if isinstance(d, int) or d is None else None for d in shape)


def _dtype_name(x):
    dtype = x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype
    return keras.backend.standardize_dtype(dtype)


class EncoderBackbone(GuardsPresetFolder, Quantizable, Backbone):
    """Backbone base that refuses inputs which would give silently wrong numbers.

    Checked on every call: integer dtypes for ids, matching shapes, no
    sequences of length 0, sequences within the model's position limit.
    Checked whenever the values are available (eager calls): ids inside the
    vocabulary and the segment range. Inside compiled functions (JAX/TF jit)
    values cannot raise (JAX gives NaN, XLA clamps id -1), so `fit`,
    `evaluate` and `predict`, of the backbone and of every task, check the
    data before it reaches them: host arrays at once, `tf.data` batches in
    the pipeline (`with_id_checks`), generator batches as they are drawn;
    so do `train_on_batch`, `test_on_batch` and `predict_on_batch`. Only a
    backbone called inside the user's own `jax.jit` is unchecked.

    Example:
    >>> import numpy as np
    >>> from keras_encoders.models import EncoderBackbone, NezhaBackbone
    >>> backbone = NezhaBackbone(
    ...     vocabulary_size=10, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16)
    >>> isinstance(backbone, EncoderBackbone)
    True
    >>> x = {"token_ids": np.array([[2, 12, 3]]), "padding_mask": np.ones((1, 3), "int32"),
    ...      "segment_ids": np.zeros((1, 3), "int32")}
    >>> try:
    ...     backbone(x)  # id 12 is outside the 10-token vocabulary
    ... except ValueError:
    ...     print("refused")
    refused
    """

    @property
    def position_limit(self):
        """The longest sequence the position embeddings allow (None: any)."""
        return None

    @property
    def padding_invariant(self):
        """Whether the outputs at real tokens ignore the padding after them
        (attention masks it out), so that a batch may be cut after its
        longest row without changing them. Servers use it to skip padding."""
        return True

    def call(self, inputs, training=None, mask=None):
        self.check_inputs(inputs)
        return super().call(inputs, training=training, mask=mask)

    def serving_call(self, inputs):
        """The inference call that the exports trace, as for tasks
        (`EncoderTask.serving_call`): the backbone's outputs."""
        return self(inputs, training=False)

    @property
    def first_token_alone(self):
        """Whether `first_token_outputs` can compute the last layer for the
        first position alone (layers with `takes_query_rows`; ConvBERT's
        convolution heads cannot)."""
        return getattr(self.transformer_layers[-1], "takes_query_rows", False)

    def first_token_outputs(self, inputs):
        """The outputs at the first position only, for inference: a dict
        with `sequence_output` (B, 1, D) and, where the backbone has a
        pooler, `pooled_output` (B, D), the numbers of a full call within
        float32 rounding.

        The last layer computes that position alone (every position still
        a key), which saves most of the layer: a server of a pooled
        classifier needs nothing else of it (`EncoderTask.serving_call`).
        Everything before the last layer is the backbone's own functional
        graph.
        """
        if not self.first_token_alone:
            raise NotImplementedError(
                f"{type(self).__name__}'s layers compute every position together; "
                "call the backbone and take `sequence_output[:, :1]`."
            )
        self.check_inputs(inputs)
        last = self.transformer_layers[-1]
        # `last.input`: the hidden states and the mask the last layer is
        # given in the functional graph, computed by the graph before it.
        x, padding_mask = keras.Model(self.input, last.input)(inputs)
        x = last(x, padding_mask=padding_mask, training=False, query_rows=1)
        outputs = {"sequence_output": x}
        pooler = getattr(self, "pooled_dense", None)
        if pooler is not None:
            outputs["pooled_output"] = pooler(x[:, 0, :])
        return outputs

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
        ids_shape = static_shape(inputs["token_ids"])
        for name in expected - {"token_ids"}:
            shape = static_shape(inputs[name])
            if None not in shape and None not in ids_shape and shape != ids_shape:
                raise ValueError(
                    f"`{name}` has shape {shape} but `token_ids` has shape "
                    f"{ids_shape}; they must match."
                )
        limit = self.position_limit
        length = ids_shape[-1] if ids_shape else None
        if length == 0:
            raise ValueError(self.empty_sequence_message(ids_shape))
        if limit and length is not None and length > limit:
            raise ValueError(
                f"Sequence length {length} exceeds the maximum of {limit} "
                f"positions of this {self.__class__.__name__}. Truncate the "
                f"inputs (e.g. a preprocessor with sequence_length={limit})."
            )
        self.check_id_ranges(inputs)

    def id_ranges(self):
        """`{input name: number of valid ids}` for the id inputs it embeds."""
        ranges = {"token_ids": self.vocabulary_size}
        num_segments = getattr(self, "num_segments", None)
        if num_segments:
            ranges["segment_ids"] = num_segments
        return ranges

    def id_range_message(self, name, low, high):
        """The one error for ids outside `id_ranges()` (`low`/`high`: the
        smallest and largest id found, numbers or `{}` placeholders)."""
        bound = self.id_ranges()[name]
        hint = (
            f"the vocabulary of this {self.__class__.__name__}. Check that "
            "the tokenizer matches the model."
            if name == "token_ids"
            else f"the segments of this {self.__class__.__name__}."
        )
        return (
            f"`{name}` must be in [0, {bound}), {hint} Found ids in "
            f"[{low}, {high}]."
        )

    def empty_sequence_message(self, shape):
        return (
            f"`token_ids` has shape {shape}: sequences of length 0. "
            f"{self.__class__.__name__} needs at least one token per "
            "sequence (a preprocessor always packs [CLS] and [SEP])."
        )

    def check_id_ranges(self, inputs):
        """Raise if concrete `token_ids` / `segment_ids` are out of range.

        Tasks call it on host data before `fit`/`evaluate`/`predict`, where
        compiled functions cannot check values (an out-of-range id gives NaN
        or silently wrong numbers on JAX instead of an error).
        """
        for name in self.id_ranges():
            ids = concrete_value(inputs[name]) if name in inputs else None
            # Compiled steps traced for any length cannot see a length of 0.
            if name == "token_ids" and ids is not None and ids.ndim and not ids.shape[-1]:
                raise ValueError(self.empty_sequence_message(ids.shape))
            if ids is not None and ids.size:
                low, high = ids.min(), ids.max()
                if low < 0 or high >= self.id_ranges()[name]:
                    raise ValueError(self.id_range_message(name, low, high))

    def with_id_checks(self, inputs):
        """`inputs` (a dict of TF tensors) with the id range check attached.

        For `tf.data` pipelines, which run as TF graphs on the host on every
        backend: a batch with an out-of-range id fails when it is read, so it
        never reaches a compiled step (where JAX and XLA cannot raise and
        would give NaN or clamp). One min and max per id input and batch.
        Eager tensors are checked at once. `refusing_bad_ids()` turns the
        pipeline's failure into the same `ValueError`.
        """
        import tensorflow as tf

        if not isinstance(inputs, dict):
            return inputs
        if tf.executing_eagerly():
            self.check_id_ranges(inputs)
            return inputs
        checked = dict(inputs)
        for name in self.id_ranges():
            if name not in inputs or not isinstance(inputs[name], (tf.Tensor, tf.RaggedTensor)):
                continue
            ids = inputs[name]
            values = ids.flat_values if isinstance(ids, tf.RaggedTensor) else ids
            # Empty batches reduce to (max int, min int): in range, as on the host.
            low, high = tf.reduce_min(values), tf.reduce_max(values)
            in_range = tf.logical_and(low >= 0, high < self.id_ranges()[name])
            message = tf.strings.format(
                ID_CHECK_MARKER + self.id_range_message(name, "{}", "{}") + ID_CHECK_MARKER,
                (low, high),
            )
            checks = [tf.debugging.Assert(in_range, [message])]
            if name == "token_ids" and not isinstance(ids, tf.RaggedTensor):
                not_empty = tf.shape(ids)[-1] > 0
                message = ID_CHECK_MARKER + self.empty_sequence_message(
                    "(..., 0)") + ID_CHECK_MARKER
                checks.append(tf.debugging.Assert(not_empty, [message]))
            with tf.control_dependencies(checks):
                values = tf.identity(values)
            checked[name] = ids.with_flat_values(values) if isinstance(ids, tf.RaggedTensor) else values
        return checked

    def checked_data(self, x):
        """`x` as given to `fit`/`evaluate`/`predict`, with its ids checked:
        host data now, a `tf.data.Dataset` per batch as it is read
        (`with_id_checks`), a generator per batch as it is drawn."""
        import tensorflow as tf

        if isinstance(x, tf.data.Dataset):
            def check(*element):
                first = self.with_id_checks(element[0])
                return first if len(element) == 1 else (first,) + element[1:]

            return x.map(check)
        if isinstance(x, dict):
            self.check_id_ranges({k: host_array(v) for k, v in x.items()})
            return x
        if isinstance(x, types.GeneratorType):
            return (self.checked_batch(batch) for batch in x)
        return x

    def checked_batch(self, batch):
        """One host batch, `x` or `(x, y, ...)`, after `check_id_ranges`."""
        x = batch[0] if isinstance(batch, tuple) else batch
        if isinstance(x, dict):
            self.check_id_ranges(x)
        return batch

    def fit(self, x=None, *args, **kwargs):
        with refusing_bad_ids():
            return super().fit(self.checked_data(x), *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        with refusing_bad_ids(self):
            return super().evaluate(self.checked_data(x), *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        with refusing_bad_ids(self):
            return super().predict(self.checked_data(x), *args, **kwargs)

    def train_on_batch(self, x, *args, **kwargs):
        return super().train_on_batch(self.checked_data(x), *args, **kwargs)

    def test_on_batch(self, x, *args, **kwargs):
        return super().test_on_batch(self.checked_data(x), *args, **kwargs)

    def predict_on_batch(self, x):
        return super().predict_on_batch(self.checked_data(x))

    # === LoRA ===
    def default_lora_layer_names(self):
        """The sublayers `enable_lora(rank)` adapts by default.

        The attention query and value projections (`self_attention/query`,
        `self_attention/value` of every layer), the LoRA paper's choice.
        """
        return ["query", "value"]

    def enable_lora(self, rank, target_layer_names=None):
        """Freeze the backbone and add rank-`rank` LoRA factors to its targets.

        keras-hub's `enable_lora`, with one fix: it leaves the biases of the
        adapted layers trainable, but `save_lora_weights` stores only the LoRA
        factors, so a fine-tuned model would not reload to the same outputs.
        Here the biases are frozen too: the backbone's trainable weights are
        exactly the `lora_kernel_a` / `lora_kernel_b` pairs (a task's head
        stays trainable).

        Args:
            rank: int. Rank of the LoRA factorization.
            target_layer_names: names of the sublayers to adapt;
                `default_lora_layer_names()` if None.
        """
        super().enable_lora(rank, target_layer_names=target_layer_names)
        for layer in self._flatten_layers(include_self=False):
            if getattr(layer, "lora_enabled", False) and getattr(layer, "bias", None) is not None:
                layer.bias.trainable = False

    # === Distribution ===
    @classmethod
    def get_layout_map(
        cls,
        device_mesh,
        model_parallel_dim_name="model",
        data_parallel_dim_name="batch",
        **options,
    ):
        """A `keras.distribution.LayoutMap` for `keras.distribution.ModelParallel`.

        Megatron-style sharding of the encoder weights over the
        `model_parallel_dim_name` axis of `device_mesh` (attention q/k/v and
        the first feed-forward projection split by output features, the
        attention output and second feed-forward projection by input
        features, embeddings by hidden features), and, as keras-hub's Gemma
        layout does, of their other large dimension over the
        `data_parallel_dim_name` axis. Every other weight is replicated.
        Both axes must divide the widths they split (hidden, intermediate).
        Build the model inside the distribution's scope.

        Example:
        ```python
        mesh = keras.distribution.DeviceMesh(
            (2, 4), ("batch", "model"), keras.distribution.list_devices())
        layout_map = NezhaBackbone.get_layout_map(mesh)
        distribution = keras.distribution.ModelParallel(
            layout_map=layout_map, batch_dim_name="batch")
        with distribution.scope():
            classifier = NezhaTextClassifier.from_preset(
                "nezha_base_zh", num_classes=2)
        ```

        Args:
            device_mesh: a `keras.distribution.DeviceMesh`.
            model_parallel_dim_name: the mesh axis the weights are split on.
            data_parallel_dim_name: the mesh axis the batch is split on.
            **options: model-specific layout options (see the subclass).
        """
        if not isinstance(device_mesh, keras.distribution.DeviceMesh):
            raise ValueError(
                "`device_mesh` must be a `keras.distribution.DeviceMesh`; "
                f"received {type(device_mesh).__name__}."
            )
        for name in (model_parallel_dim_name, data_parallel_dim_name):
            if name not in device_mesh.axis_names:
                raise ValueError(
                    f"Axis {name!r} is not an axis of the device mesh "
                    f"{device_mesh.axis_names}; pass model_parallel_dim_name= "
                    "and data_parallel_dim_name= with the mesh's axis names."
                )
        layout_map = keras.distribution.LayoutMap(device_mesh)
        rules = cls.layout_rules(model_parallel_dim_name, data_parallel_dim_name, **options)
        for pattern, axes in rules.items():
            layout_map[pattern] = axes
        return layout_map

    @classmethod
    def layout_rules(cls, model, data):
        """`{variable path regex: mesh axes}` behind `get_layout_map`.

        Paths are matched in full (`re.fullmatch`), so that `output` does not
        catch `attention_output` and LoRA factors stay replicated.
        """
        block = r"(.*/)?transformer_layer_\d+/"
        return {
            r"(.*/)?token_embedding/embeddings": (None, model),
            block + r"self_attention/(query|key|value)/kernel": (data, model),
            block + r"attention_output/kernel": (model, data),
            block + r"intermediate/kernel": (data, model),
            block + r"output/kernel": (model, data),
            r"(.*/)?pooled_dense/kernel": (data, model),
        }
