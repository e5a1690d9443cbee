"""Sparse labels checked against the classes a head has, before training.

A label outside `[0, num_classes)` trains silently on JAX (its gathers clamp)
and fails deep inside a compiled step on TensorFlow (a 9,700-character
message ending in the useful line). Host data is checked once, in NumPy,
before anything is compiled; `tf.data` pipelines that a task preprocesses
get a graph assertion with the same one-line message (cheap: two reductions
per batch).
"""

import numpy as np
import tensorflow as tf


def host_values(labels):
    """Every label of host data (list, array, eager or backend tensor,
    ragged rows) as a flat NumPy array, or None for other kinds of data."""
    if isinstance(labels, tf.RaggedTensor):
        labels = labels.flat_values
    if isinstance(labels, tf.Tensor):
        return labels.numpy().ravel() if tf.executing_eagerly() else None
    if isinstance(labels, (list, tuple)):
        flat = []
        stack = [labels]
        while stack:
            item = stack.pop()
            if isinstance(item, (list, tuple)):
                stack.extend(item)
            else:
                flat.append(item)
        labels = np.asarray(flat)
    if hasattr(labels, "detach"):  # torch
        labels = labels.detach().cpu().numpy()
    if not hasattr(labels, "__array__"):
        return None
    return np.asarray(labels).ravel()


def message(value, num_classes, what, ignore):
    also = f" (or {ignore} for positions without a label)" if ignore is not None else ""
    return (
        f"Label {value} is out of range: {what} must be class ids in "
        f"[0, {num_classes}){also}. Check the labels, or build the head with "
        "more classes."
    )


def check_host_labels(labels, num_classes, what="labels", ignore=None):
    """Raise a one-line ValueError naming the first label outside
    `[0, num_classes)` (`ignore`, e.g. -100, allowed)."""
    values = host_values(labels)
    if values is None or values.size == 0 or num_classes is None:
        return
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
        return
    bad = (values < 0) | (values >= num_classes) | (values != np.round(values))
    if ignore is not None:
        bad &= values != ignore
    if bad.any():
        value = values[np.argmax(bad)]
        value = int(value) if float(value).is_integer() else float(value)
        raise ValueError(message(value, num_classes, what, ignore))


def assert_labels_in_graph(labels, num_classes, what="labels", ignore=None):
    """`labels` behind a graph assertion of the same check (for `tf.data`)."""
    if not isinstance(labels, (tf.Tensor, tf.RaggedTensor)) or not labels.dtype.is_integer:
        return labels
    values = labels.flat_values if isinstance(labels, tf.RaggedTensor) else labels
    values = tf.reshape(values, [-1])
    bad = (values < 0) | (values >= num_classes)
    if ignore is not None:
        bad &= values != ignore
    first = tf.gather(values, tf.argmax(tf.cast(bad, "int32"), output_type="int32"))
    check = tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(bad)),
        [tf.strings.format(message("{}", num_classes, what, ignore), first)],
    )
    with tf.control_dependencies([check]):
        if isinstance(labels, tf.RaggedTensor):
            return labels.with_flat_values(tf.identity(labels.flat_values))
        return tf.identity(labels)
