"""Extractive question answering: the best answer span from start/end logits."""

import tensorflow as tf


def best_answer_spans(start_logits, end_logits, token_start, token_end, contexts,
                      max_answer_length=30):
    """The best answer span of each row, in characters of its context.

    The best span maximizes `start_logit + end_logit` over pairs of context
    tokens `i <= j < i + max_answer_length` (ties: the first in `(i, j)`
    order). Only `max_answer_length` end positions per start are scored, so
    memory is `B * L * max_answer_length`, not `B * L * L`.

    Args:
        start_logits, end_logits: `(B, L)` floats.
        token_start, token_end: `(B, L)` ints, each position's character
            span in its context (-1 outside the context: question, special
            tokens, padding).
        contexts: `(B,)` strings, the context of each row.
        max_answer_length: int. The longest answer, in tokens.

    Returns:
        A dict of `(B,)` tensors: `text`, `start` and `end` (int32 character
        offsets, end exclusive) and `score` (float32); an empty text at
        0..0 with score -inf where no context token fits.

    Example:
    >>> out = best_answer_spans(
    ...     [[0.0, 2.0, 1.0, 0.0]], [[0.0, 0.0, 3.0, 1.0]],
    ...     [[-1, 0, 3, 6]], [[-1, 2, 5, 8]], ["abcdefgh"])
    >>> out["text"].numpy()[0].decode(), int(out["start"][0]), int(out["end"][0])
    ('abcde', 0, 5)
    """
    start = tf.cast(start_logits, tf.float32)
    end = tf.cast(end_logits, tf.float32)
    token_start = tf.cast(token_start, tf.int32)
    token_end = tf.cast(token_end, tf.int32)
    length = tf.shape(start)[1]
    width = tf.maximum(tf.minimum(max_answer_length, length), 1)
    in_context = token_start >= 0
    # Candidate ends of start i: i + offset, offset < width.
    ends = tf.range(length)[:, None] + tf.range(width)[None, :]  # (L, W)
    inside = ends < length
    ends = tf.minimum(ends, length - 1)
    allowed = in_context[:, :, None] & tf.gather(in_context, ends, axis=1) & inside[None]
    score = tf.where(allowed, start[:, :, None] + tf.gather(end, ends, axis=1), -float("inf"))
    score = tf.reshape(score, [tf.shape(score)[0], -1])
    best = tf.argmax(score, axis=-1, output_type=tf.int32)
    best_score = tf.reduce_max(score, axis=-1)
    found = best_score > -float("inf")
    first = best // width
    last = tf.minimum(first + best % width, length - 1)
    a = tf.where(found, tf.gather(token_start, first, batch_dims=1), 0)
    b = tf.where(found, tf.gather(token_end, last, batch_dims=1), 0)
    text = tf.strings.substr(tf.convert_to_tensor(contexts, tf.string), a, b - a, unit="UTF8_CHAR")
    return {"text": text, "start": a, "end": b, "score": best_score}
