"""Helpers shared by the preprocessors (one TensorFlow path, as the tokenizers)."""

import tensorflow as tf
from keras_hub.layers import MultiSegmentPacker

IGNORE_INDEX = -100  # label of positions without a target (Hugging Face's)


def make_packer(tokenizer, sequence_length, truncate="round_robin", **overrides):
    """`[CLS] A [SEP] (B [SEP])` packing, in the tokenizer's pair convention.

    BERT-style tokenizers separate a pair with one `[SEP]`, ERNIE-M with two
    (`tokenizer.pair_separator`). "round_robin" truncation removes tokens from
    the longer segment first, which is Hugging Face's `longest_first`.
    """
    separators = getattr(tokenizer, "pair_separator", 1)
    options = dict(
        start_value=tokenizer.start_token_id,
        end_value=tokenizer.end_token_id,
        sep_value=[tokenizer.end_token_id] * separators if separators > 1 else None,
        pad_value=tokenizer.pad_token_id,
        truncate=truncate,
        sequence_length=sequence_length,
        # Our tokenizers have a single TF path; keep the packer on it too.
        _allow_python_workflow=False,
    )
    options.update(overrides)
    return MultiSegmentPacker(**options)


def model_inputs(tokenizer, token_ids, segment_ids):
    """The backbone input dict for packed ids (no segments for ERNIE-M)."""
    x = {
        "token_ids": tf.cast(token_ids, "int32"),
        "padding_mask": token_ids != tokenizer.pad_token_id,
    }
    if getattr(tokenizer, "uses_segment_ids", True):
        x["segment_ids"] = tf.cast(segment_ids, "int32")
    return x


def as_segments(x):
    """A single input or a tuple of inputs (segments) as a tuple."""
    return x if isinstance(x, tuple) else (x,)


def check_not_pair_rows(x, owner):
    """Raise a clear error for text pairs given as rows (a list of pairs, or
    a `(B, 2)` array): this preprocessor takes a pair as a tuple of two
    lists, `x=(first_texts, second_texts)`."""
    rows = None
    if isinstance(x, list) and x and isinstance(x[0], (list, tuple)):
        rows = f"a list of {len(x)} {type(x[0]).__name__}s"
    elif getattr(x, "shape", None) is not None and rank(x.shape) == 2:
        rows = f"an array of shape {tuple(x.shape)}"
    if rows is not None:
        raise ValueError(
            f"{owner} takes one text per example, or text pairs as a tuple of "
            f"two lists: x=(first_texts, second_texts). Received {rows}; for "
            "pairs as rows, pass x=tuple(map(list, zip(*pairs)))."
        )


def rank(shape):
    """The number of axes of a NumPy or TensorFlow shape (None: unknown)."""
    return getattr(shape, "rank", None) if hasattr(shape, "rank") else len(shape)


def ragged_if_nested(value):
    """Nested Python lists (pre-split words, per-word labels) as a ragged
    tensor: keras-hub slices in-memory data with `tf.data`, which cannot
    build a dense tensor from rows of different lengths."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple)):
        return tf.ragged.constant([list(row) for row in value])
    return value
