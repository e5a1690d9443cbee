"""Text helpers shared by the tokenizers (vocabulary files, offsets)."""

import os

import tensorflow as tf


def read_vocabulary(path):
    """Read a `vocab.txt` exactly as Hugging Face's `load_vocab` does.

    Universal newlines (so CRLF files such as ConvBERT's published vocabulary
    lose their `\\r`), one token per line, id = line index. Duplicated lines are
    kept so that ids stay line indices.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"Vocabulary file not found: {path}")
    with open(path, "r", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f.readlines()]


def write_vocabulary(tokens, path):
    with open(path, "w", encoding="utf-8") as f:
        for token in tokens:
            f.write(f"{token}\n")


def regex_escape(token):
    """Escape a literal for RE2 (tf.strings / tf_text regexes)."""
    return "".join("\\" + c if not c.isalnum() and c != "_" else c for c in token)


def byte_to_char_offsets(strings, starts, ends):
    """Convert ragged UTF-8 byte offsets into code point offsets.

    `strings` is a 1-D string tensor; `starts`/`ends` are ragged `[B, T]` byte
    offsets into those strings, on character boundaries.
    """
    _, char_starts = tf.strings.unicode_decode_with_offsets(
        strings, "UTF-8", errors="replace"
    )
    char_starts = tf.cast(char_starts, "int64")
    total = tf.cast(tf.strings.length(strings), "int64")[:, None]
    # A sentinel at the string's byte length maps an end offset to len(text).
    boundaries = tf.concat([char_starts, tf.RaggedTensor.from_tensor(total)], axis=1)
    boundaries = boundaries.to_tensor(default_value=tf.int64.max)

    def convert(offsets):
        offsets = tf.cast(offsets, "int64")
        dense = offsets.to_tensor(default_value=0)
        index = tf.searchsorted(boundaries, dense, side="left")
        return tf.RaggedTensor.from_tensor(
            tf.cast(index, "int32"), lengths=offsets.row_lengths()
        )

    return convert(starts), convert(ends)


def flat_previous(values, row_starts, fill):
    """`values` shifted right by one inside each row; `fill` at row starts."""
    shifted = tf.concat([tf.fill([1], fill), values[:-1]], axis=0)
    return tf.where(row_starts, tf.fill(tf.shape(values), fill), shifted)


def row_start_mask(ragged):
    """A flat bool mask, True at the first element of each non-empty row."""
    n = tf.shape(ragged.flat_values, out_type="int64")[0]
    starts = ragged.row_splits[:-1]
    starts = tf.boolean_mask(starts, ragged.row_lengths() > 0)
    return tf.scatter_nd(
        starts[:, None], tf.ones_like(starts, dtype=tf.bool), shape=[n]
    )
