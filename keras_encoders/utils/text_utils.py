"""Text helpers shared by the tokenizers (vocabulary files, offsets)."""

import io
import os
import re

import numpy as np

import tensorflow as tf
from tensorflow.python.ops import gen_string_ops
from tensorflow_text.python.ops.regex_split_ops import gen_regex_split_ops

from keras_encoders.utils.files import read_bounded_file


# The largest tokenizer file read: 50 times ERNIE-M's 250k-token vocabulary
# or SentencePiece model (~5 MB), and small next to the memory it would take
# to tokenize with it.
MAX_TOKENIZER_FILE_BYTES = 256 * 2**20


def resolves_inside(path, folder):
    """Whether `path`, links followed, is a file of `folder`.

    A folder of the Hugging Face hub cache (`.../snapshots/<revision>`)
    holds links into its repository's `blobs/`, which count as inside.
    """
    root = os.path.realpath(folder)
    real = os.path.realpath(path)
    roots = [root]
    if os.path.basename(os.path.dirname(root)) == "snapshots":
        roots.append(os.path.join(os.path.dirname(os.path.dirname(root)), "blobs"))
    return any(os.path.commonpath([r, real]) == r for r in roots)


def read_vocabulary(path):
    """Read a `vocab.txt` exactly as Hugging Face's `load_vocab` does.

    Universal newlines (so CRLF files such as ConvBERT's published vocabulary
    lose their `\\r`), one token per line, id = line index. Duplicated lines are
    kept so that ids stay line indices. The file is read with
    `read_bounded_file` (a regular file, bounded in size).
    """
    data = read_bounded_file(path, "vocabulary file", MAX_TOKENIZER_FILE_BYTES)
    try:
        # Decoded whole, so that an error's position is the file's (a text
        # stream decodes in chunks and counts from the chunk).
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"The vocabulary file {path} is not UTF-8 text (byte {e.start}: "
            f"{data[e.start:e.start + 4]!r}...): not a vocab.txt, or damaged. Pass the "
            "checkpoint's own vocab.txt, downloaded again."
        ) from None
    # newline=None: universal newlines, as the text file `load_vocab` opens.
    return [line.rstrip("\n") for line in io.StringIO(text, newline=None).readlines()]


def write_vocabulary(tokens, path):
    with open(path, "w", encoding="utf-8") as f:
        for token in tokens:
            f.write(f"{token}\n")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_lone_surrogates(inputs):
    """Python strings with lone surrogates, each replaced by U+FFFD.

    A Python `str` may hold surrogate code points, which are not Unicode
    characters and cannot be encoded as UTF-8 (TensorFlow refuses them). One
    replacement character per surrogate keeps character offsets indexing the
    original string. Lists, tuples and numpy arrays of strings are handled;
    anything else is returned as is.
    """
    if isinstance(inputs, str):
        return _LONE_SURROGATE.sub("\ufffd", inputs)
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(replace_lone_surrogates(x) for x in inputs)
    if isinstance(inputs, np.ndarray) and inputs.dtype.kind in "OU":
        return np.vectorize(replace_lone_surrogates, otypes=[inputs.dtype])(inputs)
    return inputs


def regex_escape(token):
    """Escape a literal for RE2 (tf.strings / tf_text regexes)."""
    return "".join("\\" + c if not c.isalnum() and c != "_" else c for c in token)


def row_ids(ragged):
    """`ragged.value_rowids()` from the row splits, in a handful of ops.

    TF's own version goes through `tf.repeat` (many ops; its eager kernel
    pads every row to the longest one).
    """
    return splits_to_row_ids(ragged.row_splits)


def splits_to_row_ids(splits):
    size = splits[-1]
    index = tf.range(size, dtype=splits.dtype)
    return tf.searchsorted(splits[1:], index, side="right", out_type=splits.dtype)


def mask_index(mask):
    """Indices where `mask` is True: `tf.gather(x, mask_index(m))` is
    `tf.boolean_mask(x, m)` without its shape bookkeeping (25 graph ops)."""
    return tf.where(mask)[:, 0]


def regex_split(strings, pattern):
    """tf-text's regex split (keeping the delimiters) as flat tensors.

    Returns the pieces, their byte starts and ends, and the row of each.
    The raw op skips the validated ragged tensors the public wrapper builds.
    """
    pattern = f"({pattern})"  # the op needs the delimiters in a group
    pieces, starts, ends, splits = gen_regex_split_ops.regex_split_with_offsets(
        strings, pattern, pattern
    )
    return pieces, starts, ends, splits_to_row_ids(splits)


def merge_chunks(tokens, special_id, chunks, num_rows):
    """Tokens of text chunks plus special-token chunks, back to input rows.

    `tokens` is `(ids, starts, ends, chunk)`, flat, sorted by chunk, with byte
    offsets inside each chunk; `special_id` is the id of each chunk that is a
    special token (else negative), and such a chunk is one token spanning
    it; `chunks` is `(lengths, starts, rows)` of every chunk in its input
    string. Returns ragged `[num_rows, tokens]` ids and byte offsets.
    """
    ids, starts, ends, token_chunk = tokens
    chunk_length, chunk_start, chunk_row = chunks
    special = mask_index(special_id >= 0)
    ids = tf.concat([ids, tf.gather(special_id, special)], 0)
    starts = tf.concat([starts, tf.zeros_like(special)], 0)
    ends = tf.concat([ends, tf.gather(chunk_length, special)], 0)
    # A stable sort keeps each chunk's tokens in order.
    token_chunk = tf.concat([token_chunk, special], 0)
    order = tf.argsort(token_chunk, stable=True)
    token_chunk = tf.gather(token_chunk, order)
    shift = tf.gather(chunk_start, token_chunk)
    rows = tf.gather(chunk_row, token_chunk)
    splits = tf.searchsorted(
        rows, tf.range(num_rows + 1), side="left", out_type=tf.int64
    )

    def to_rows(x, shift=0):
        return tf.RaggedTensor.from_row_splits(
            tf.gather(x, order) + shift, splits, validate=False
        )

    return to_rows(ids), to_rows(starts, shift), to_rows(ends, shift)


def encode_chars(code):
    """One UTF-8 string per code point."""
    code = tf.cast(code, tf.int32)
    splits = tf.range(tf.shape(code, out_type=tf.int64)[0] + 1)
    return gen_string_ops.unicode_encode(code, splits, "UTF-8", errors="replace")


def byte_to_char_offsets(strings, starts, ends):
    """Convert ragged UTF-8 byte offsets into code point offsets.

    `strings` is a 1-D string tensor; `starts`/`ends` are ragged `[B, T]` byte
    offsets into those strings, on character boundaries. Everything is done
    on flat tensors (one sorted search over the whole batch), which keeps the
    graph small and the memory linear in the batch's total length.
    """
    chars, char_starts = tf.strings.unicode_decode_with_offsets(
        strings, "UTF-8", errors="replace"
    )
    lengths = tf.cast(tf.strings.length(strings), "int64")
    byte_base = tf.cumsum(lengths, exclusive=True)
    # Global byte position of every character start, sorted.
    char_rows = row_ids(chars)
    global_starts = tf.cast(char_starts.flat_values, "int64") + tf.gather(
        byte_base, char_rows
    )
    char_base = chars.row_splits[:-1]

    def convert(offsets):
        rows = row_ids(offsets)
        position = tf.cast(offsets.flat_values, "int64") + tf.gather(byte_base, rows)
        index = tf.searchsorted(global_starts, position, side="left", out_type=tf.int64)
        return offsets.with_flat_values(
            tf.cast(index - tf.gather(char_base, rows), "int32")
        )

    return convert(starts), convert(ends)


def substrings(strings, rows, starts, lengths):
    """`strings[rows][starts:starts + lengths]` (bytes), in linear memory.

    `tf.strings.substr(tf.gather(strings, rows), ...)` first copies a whole
    string per substring, which is quadratic when one long string is cut into
    many pieces; here the bytes of each substring are gathered and joined.
    """
    data = tf.strings.bytes_split(strings)
    first = tf.gather(data.row_splits, rows) + tf.cast(starts, "int64")
    index = tf.ragged.range(first, first + tf.cast(lengths, "int64"))
    pieces = tf.gather(data.flat_values, index.flat_values)
    return tf.strings.reduce_join(
        tf.RaggedTensor.from_row_splits(pieces, index.row_splits, validate=False),
        axis=1,
    )


def flat_previous(values, row_starts, fill):
    """`values` shifted right by one inside each row; `fill` at row starts."""
    shifted = tf.concat([tf.fill([1], fill), values[:-1]], axis=0)
    return tf.where(row_starts, tf.fill(tf.shape(values), fill), shifted)


def row_start_mask(ragged):
    """A flat bool mask, True at the first element of each non-empty row."""
    n = tf.shape(ragged.flat_values, out_type="int64")[0]
    starts = ragged.row_splits[:-1]
    starts = tf.gather(starts, mask_index(ragged.row_lengths() > 0))
    return tf.scatter_nd(
        starts[:, None], tf.ones_like(starts, dtype=tf.bool), shape=[n]
    )
