"""The contract between a task and `export_saved_model`."""

import keras
import tensorflow as tf

from keras_encoders.models import preprocessing

# The symbolic size of each axis of the task inputs, by input name; JAX's
# shape polymorphism needs to know which unknown sizes are the same size.
_AXES = {2: ("batch", "sequence"), 3: ("batch", "choices", "sequence")}


def string_spec(name, rank=1):
    """A `tf.string` input of any batch size (and any inner sizes)."""
    return tf.TensorSpec((None,) * rank, tf.string, name=name)


class ServingSignature:
    """How a task is served from a SavedModel: raw strings in, answers out.

    `TASK_SIGNATURES` names the subclass that serves each task type, and
    `keras_encoders.export_saved_model` turns it into two signatures:

    - `serving_default`: the string inputs of `string_spec()` go through
      `preprocess()` (tokenization and packing, in the graph), the task, and
      `outputs()`;
    - `serve_token_ids`: the task's own integer inputs (`token_spec()`) go
      through the task and `outputs()`, for clients that tokenize themselves.

    `preprocess()` and `outputs()` are TensorFlow code: they run inside a
    `tf.function` on every backend. Only the task's forward pass goes through
    Keras' export machinery (jax2tf on JAX). A new task type is served by a
    subclass that overrides `string_spec`, `preprocess` and `outputs`, added
    to `TASK_SIGNATURES`.

    Args:
        task: the task to serve. It needs its preprocessor.
    """

    # Whether every served output is free of the sequence axis (one answer
    # per example): then `serving_default` runs the model on the batch cut
    # after its longest row instead of the full `sequence_length`, when the
    # backbone's outputs do not depend on padding (`padding_invariant`).
    sequence_free_outputs = False

    def __init__(self, task):
        if task.preprocessor is None:
            raise ValueError(
                f"{task.__class__.__name__} has no preprocessor, and the "
                "exported model tokenizes raw strings in the graph. Build the "
                "task with `preprocessor=...` (or load it with `from_preset`)."
            )
        self.task = task

    @property
    def preprocessor(self):
        return self.task.preprocessor

    @property
    def tokenizer(self):
        return self.task.preprocessor.tokenizer

    @property
    def sequence_length(self):
        return self.preprocessor.sequence_length

    # === Inputs ===
    def string_spec(self):
        """The `serving_default` inputs: name -> string `tf.TensorSpec`."""
        return {"text": string_spec("text")}

    def token_axes(self):
        """Axis names of each task input (same name: same size)."""
        return {
            name: ("batch", "masks") if name == "mask_positions" else _AXES[len(x.shape)]
            for name, x in self.task.input.items()
        }

    def token_spec(self):
        """The `serve_token_ids` inputs: the task's own inputs, as int32."""
        return {
            name: tf.TensorSpec((None,) * len(axes), tf.int32, name=name)
            for name, axes in self.token_axes().items()
        }

    def trims_padding(self):
        """Whether `serving_default` cuts the packed batch after its longest
        row (see `sequence_free_outputs`)."""
        return self.sequence_free_outputs and getattr(self.task.backbone, "padding_invariant", False)

    def trim_padding(self, inputs):
        """The task inputs cut after the batch's last real token.

        The preprocessor pads every row to `sequence_length`; a batch of
        short texts needs far fewer positions, and attention, the
        feed-forward layers and the position terms cost per position (the
        attention scores per position squared). Inputs without a sequence
        axis (`mask_positions`) are left as they are.
        """
        mask = tf.cast(inputs["padding_mask"], tf.int32)
        positions = tf.range(1, tf.shape(mask)[-1] + 1)
        # One position at least: an empty batch keeps a valid shape.
        longest = tf.maximum(tf.reduce_max(mask * positions), 1)
        axes = self.token_axes()
        return {name: value[..., :longest] if axes[name][-1] == "sequence" else value
                for name, value in inputs.items()}

    # === Computation ===
    def preprocess(self, inputs):
        """String tensors -> `(task inputs, extras for outputs())`.

        The default runs the task's own preprocessor on `inputs["text"]`, so
        the served model sees exactly what `task.predict(texts)` sees.
        """
        return self.preprocessor(inputs["text"]), {}

    def outputs(self, outputs, inputs, extras):
        """Task outputs -> the served dict of tensors.

        `inputs` are the task inputs; `extras` is what `preprocess()`
        returned next to them (empty for `serve_token_ids`).
        """
        raise NotImplementedError

    def resources(self):
        """TensorFlow resources the preprocessing uses (lookup tables,
        tokenizer models), which the SavedModel must carry."""
        found = []
        for owner in (self.preprocessor, self.tokenizer):
            for value in vars(owner).values():
                for item in value if isinstance(value, (list, tuple)) else [value]:
                    if isinstance(item, tf.__internal__.tracking.Trackable) and not isinstance(
                        item, (keras.layers.Layer, keras.Variable, tf.Variable)
                    ):
                        found.append(item)
        return found

    # === Helpers for subclasses ===
    def pack_per_token(self, segments, truncate="round_robin"):
        """Lay per-token values (e.g. character spans) out like packed ids.

        `segments` has one `(ids, values)` entry per segment the task packs:
        `ids` the segment's ragged `[B, T]` tokens, `values` a dict of ragged
        `[B, T]` values per token (or None). They are packed with ONE packer
        call (an index per token), however many values there are: a packer
        is a large graph. Returns dense `[B, L]` tensors: each value (-1 where
        the position holds no token of a segment with values) and "segment",
        the segment of each position's token (-1 for special tokens and
        padding).
        """
        separators = getattr(self.tokenizer, "pair_separator", 1)
        packer = preprocessing.make_packer(
            self.tokenizer,
            self.sequence_length,
            truncate,
            start_value=-1,
            end_value=-1,
            pad_value=-1,
            sep_value=[-1] * separators if separators > 1 else None,
        )
        # Token k of segment i is packed as i * _STRIDE + k.
        index = tuple(
            tf.ragged.range(ids.row_lengths(), dtype=tf.int64) + i * _STRIDE
            for i, (ids, _) in enumerate(segments)
        )
        packed, _ = packer(index)
        none = packed < 0
        segment = tf.where(none, tf.constant(-1, tf.int64), packed // _STRIDE)
        position = tf.where(none, tf.constant(0, tf.int64), packed % _STRIDE)
        out = {"segment": tf.cast(segment, tf.int32)}
        for i, (_, values) in enumerate(segments):
            here = segment == i
            # Other segments' positions may lie past this one's end.
            inside = tf.where(here, position, tf.zeros_like(position))
            for name, value in (values or {}).items():
                dense = tf.pad(value.to_tensor(-1), [[0, 0], [0, 1]], constant_values=-1)
                found = tf.gather(dense, inside, batch_dims=1)
                elsewhere = out[name] if name in out else tf.fill(tf.shape(found), tf.constant(-1, found.dtype))
                out[name] = tf.where(here, found, elsewhere)
        return out


_STRIDE = 1 << 32  # more tokens than any one string has


def class_outputs(logits, label_names=None, activation=None, multi_label=False):
    """`logits`, `probabilities`, `label_ids` and `label_names` (if known).

    `activation` is the one the task applied to its outputs (None: logits).
    Multi-label heads get sigmoid probabilities and no single label.
    """
    logits = tf.cast(logits, tf.float32)
    out = {"logits": logits}
    if activation in (None, keras.activations.linear):
        probabilities = tf.sigmoid(logits) if multi_label else tf.nn.softmax(logits)
    elif activation in (keras.activations.softmax, keras.activations.sigmoid):
        probabilities = logits
    else:
        return out
    out["probabilities"] = probabilities
    if multi_label:
        return out
    label_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
    out["label_ids"] = label_ids
    if label_names:
        out["label_names"] = tf.gather(tf.constant(list(label_names), tf.string), label_ids)
    return out

