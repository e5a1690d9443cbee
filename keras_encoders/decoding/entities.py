"""Token classification: per-token labels to labelled words and entity spans.

Tokens are grouped into words as BERT's basic tokenizer splits text: a token
continues the previous word when it touches it (no character in between)
and both sides of the join are letters, digits or marks outside CJK
ideographs. So `"Shang" "##hai"` is one word, while every Chinese character,
punctuation mark and whitespace-separated token is a word of its own. A
word's label and score are those of its first token (the token trained on:
`TokenClassifierPreprocessor` labels first sub-tokens).

Label names follow the BIO (IOB2), BIOES (also BMES, BILOU) or IO schemes:
`"O"` is outside, `"B-LOC"` / `"I-LOC"` / `"E-LOC"` / `"S-LOC"` (or
`"B_LOC"`...) begin, continue, end or are a whole `LOC` entity, and a name
without prefix (`"LOC"`) continues its type (IO). Decoding is lenient, as
conlleval: an `I-`/`E-` word after a word of another type (or after `O`,
an `E-` or an `S-` word) begins an entity.
"""

import re

import tensorflow as tf

OUTSIDE, BEGIN, INSIDE, END, SINGLE = range(5)
_PREFIXES = {"B": BEGIN, "I": INSIDE, "M": INSIDE, "E": END, "L": END, "S": SINGLE, "U": SINGLE}
_TAGGED = re.compile(r"^([BIMELSU])[-_](.+)$")
# Characters that glue touching tokens into one word; CJK ideographs are
# words of their own, as in BERT's basic tokenizer.
_WORD_CHARACTER = r"[\p{L}\p{N}\p{M}]"
_IDEOGRAPH = r"\p{Han}"


def parse_label_names(label_names):
    """`(prefixes, types, type_names)`: each label's scheme prefix (OUTSIDE,
    BEGIN, INSIDE, END, SINGLE), its entity type index (-1 for "O") and the
    entity type names in order of first appearance.

    >>> parse_label_names(["O", "B-PER", "I-PER", "S-LOC", "MISC"])
    ([0, 1, 2, 4, 2], [-1, 0, 0, 1, 2], ['PER', 'LOC', 'MISC'])
    """
    prefixes, types, type_names = [], [], []
    for name in label_names:
        if name == "O":
            prefixes.append(OUTSIDE)
            types.append(-1)
            continue
        match = _TAGGED.match(name)
        prefix, kind = (_PREFIXES[match.group(1)], match.group(2)) if match else (INSIDE, name)
        if kind not in type_names:
            type_names.append(kind)
        prefixes.append(prefix)
        types.append(type_names.index(kind))
    return prefixes, types, type_names


def decode_token_labels(logits, token_start, token_end, texts, label_names=None):
    """Per-token logits -> labelled words and entity spans, per text.

    Args:
        logits: `(B, L, num_classes)` token classifier outputs.
        token_start, token_end: `(B, L)` ints, each position's character
            span in its text (-1 at special tokens and padding).
        texts: `(B,)` strings.
        label_names: the class names (index = class id), or None (then no
            label names and no entities).

    Returns:
        A dict of ragged `(B, None)` tensors. Words: `word_text`,
        `word_start`, `word_end` (int32 character offsets, end exclusive),
        `word_label_id`, `word_score` (the label's softmax probability) and,
        with label names, `word_label`. Entities (with label names):
        `entity_text`, `entity_label` (the type, e.g. "LOC"), `entity_start`,
        `entity_end` and `entity_score` (the mean of its words' scores).

    Example:
    >>> import numpy as np
    >>> names = ["O", "B-LOC", "I-LOC"]
    >>> logits = np.eye(3)[[[0, 0, 1, 2, 0]]] * 5  # O O B-LOC I-LOC O
    >>> out = decode_token_labels(logits, [[-1, 0, 1, 2, -1]],
    ...     [[-1, 1, 2, 3, -1]], ["去北京"], names)
    >>> [label.decode() for label in out["word_label"][0].numpy()]
    ['O', 'B-LOC', 'I-LOC']
    >>> out["entity_text"][0, 0].numpy().decode(), int(out["entity_start"][0, 0])
    ('北京', 1)
    """
    logits = tf.cast(logits, tf.float32)
    token_start = tf.cast(token_start, tf.int32)
    token_end = tf.cast(token_end, tf.int32)
    texts = tf.convert_to_tensor(texts, tf.string)
    batch = tf.shape(token_start)[0]
    label_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
    scores = tf.reduce_max(tf.nn.softmax(logits), axis=-1)

    # === Tokens (text positions only, flat, in order) ===
    is_token = token_start >= 0
    rows = tf.broadcast_to(tf.range(batch)[:, None], tf.shape(token_start))
    row, start, end, label, score = (
        tf.boolean_mask(x, is_token) for x in (rows, token_start, token_end, label_ids, scores)
    )
    text = tf.gather(texts, row)
    one = tf.ones_like(start)
    first_character = tf.strings.substr(text, start, one, unit="UTF8_CHAR")
    last_character = tf.strings.substr(text, tf.maximum(end - 1, 0), one, unit="UTF8_CHAR")

    # === Words ===
    joins = (
        (row == _previous(row, -1))
        & (start == _previous(end, -1))
        & _is_word_character(_previous(last_character, ""))
        & _is_word_character(first_character)
    )
    begins_word = ~joins
    word_index = tf.cumsum(tf.cast(begins_word, tf.int32)) - 1
    num_words = tf.reduce_sum(tf.cast(begins_word, tf.int32))
    word_row = tf.boolean_mask(row, begins_word)
    word_start = tf.boolean_mask(start, begins_word)
    word_end = tf.math.unsorted_segment_max(end, word_index, num_words)
    word_label = tf.boolean_mask(label, begins_word)
    word_score = tf.boolean_mask(score, begins_word)

    def per_row(values, value_rows):
        return tf.RaggedTensor.from_value_rowids(values, value_rows, nrows=batch)

    def substrings(value_rows, a, b):
        return tf.strings.substr(tf.gather(texts, value_rows), a, b - a, unit="UTF8_CHAR")

    out = {
        "word_text": per_row(substrings(word_row, word_start, word_end), word_row),
        "word_start": per_row(word_start, word_row),
        "word_end": per_row(word_end, word_row),
        "word_label_id": per_row(word_label, word_row),
        "word_score": per_row(word_score, word_row),
    }
    if not label_names:
        return out
    names = tf.constant(list(label_names), tf.string)
    out["word_label"] = per_row(tf.gather(names, word_label), word_row)

    # === Entities ===
    prefixes, types, type_names = parse_label_names(label_names)
    prefix = tf.gather(tf.constant(prefixes, tf.int32), word_label)
    kind = tf.gather(tf.constant(types, tf.int32), word_label)
    previous_kind = tf.where(word_row == _previous(word_row, -1), _previous(kind, -1), -1)
    previous_prefix = _previous(prefix, OUTSIDE)
    in_entity = kind >= 0
    begins_entity = in_entity & (
        (prefix == BEGIN)
        | (prefix == SINGLE)
        | (previous_kind != kind)
        | (previous_prefix == END)
        | (previous_prefix == SINGLE)
    )
    # A word that does not begin an entity continues its predecessor's.
    entity_index = tf.boolean_mask(tf.cumsum(tf.cast(begins_entity, tf.int32)) - 1, in_entity)
    num_entities = tf.reduce_sum(tf.cast(begins_entity, tf.int32))

    def per_entity(segment_op, values):
        return segment_op(tf.boolean_mask(values, in_entity), entity_index, num_entities)

    entity_row = tf.boolean_mask(word_row, begins_entity)
    entity_start = per_entity(tf.math.unsorted_segment_min, word_start)
    entity_end = per_entity(tf.math.unsorted_segment_max, word_end)
    total = per_entity(tf.math.unsorted_segment_sum, word_score)
    count = per_entity(tf.math.unsorted_segment_sum, tf.ones_like(word_score))
    entity_type = tf.gather(tf.constant(type_names or [""], tf.string),
                            tf.boolean_mask(kind, begins_entity))
    out.update(
        entity_text=per_row(substrings(entity_row, entity_start, entity_end), entity_row),
        entity_label=per_row(entity_type, entity_row),
        entity_start=per_row(entity_start, entity_row),
        entity_end=per_row(entity_end, entity_row),
        entity_score=per_row(total / count, entity_row),
    )
    return out


def _previous(values, fill):
    """`values` shifted one place right, `fill` first."""
    head = tf.fill([1], tf.constant(fill, values.dtype))
    return tf.concat([head, values], 0)[:-1]


def _is_word_character(characters):
    return tf.strings.regex_full_match(characters, _WORD_CHARACTER) & ~tf.strings.regex_full_match(
        characters, _IDEOGRAPH
    )
