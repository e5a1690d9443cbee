"""Universal information extraction (UIE): spans from start/end probabilities.

`decode_spans` is written once in TensorFlow ops: `InformationExtractor.extract()`
runs it eagerly on its windows and the exported SavedModel
(`keras_encoders.export.InformationExtractorSignature`) runs it in its graph,
so both find the same spans. The rest of this module is the schema handling
of `extract()` (plain Python), in PaddleNLP Taskflow's manner.

Decodings (`DECODINGS`):

- "taskflow": PaddleNLP 2.8.1 `Taskflow("information_extraction")` as it
  is, bugs included (see `InformationExtractor.extract`);
- "taskflow_corrected": Taskflow's character windows and result layout,
  without its bugs;
- "tokens": windows of tokens, thresholds on prompt and text tokens only,
  the same span from overlapping windows kept once (the best).
"""

import re

import tensorflow as tf

SCHEMA_LANGUAGES = ("zh", "en")
DECODINGS = ("taskflow", "taskflow_corrected", "tokens")
# Bounds on what one extract() call asks (see `schema_tree`): PaddleNLP's
# schemas are a few types two or three levels deep.
MAX_SCHEMA_DEPTH = 16
MAX_SCHEMA_TYPES = 512
# Each span found asks every child type again: at most this many prompts per
# text in one call (a threshold near 0 finds a span at almost every token).
MAX_PROMPTS_PER_TEXT = 2048

# What a position of a packed `[CLS] prompt [SEP] text [SEP]` row holds.
SPECIAL, PROMPT, TEXT = -1, 0, 1


def decode_spans(start_probs, end_probs, part, token_start, token_end, prompt_length,
                 threshold=0.5, taskflow_offsets=False):
    """The spans of each row: pairs of start/end positions above `threshold`.

    Positions whose start (end) probability exceeds `threshold` are start
    (end) candidates, and they are paired as PaddleNLP's `get_span`: each
    end candidate takes the last start candidate at or before it and after
    the previous end candidate; ends without one, and starts no end takes,
    are dropped. A span's probability is `P(start) * P(end)`.

    With `taskflow_offsets=False`, only prompt and text tokens are
    candidates and a span must lie within the prompt or within the text;
    its characters are `token_start[start]..token_end[end]` of that string.

    With `taskflow_offsets=True`, every position is a candidate (`[CLS]`,
    `[SEP]` and padding too) and characters come from Taskflow's arithmetic
    (`get_id_and_prob`, `_convert_ids_to_results`): special positions count
    as characters 0..0, prompt offsets are shifted down by the end of the
    last prompt token plus one, a span starting below 0 and ending at or
    above 0 is dropped, one ending below 0 is a prompt span shifted back up
    by `len(prompt) + 1`. Such spans can be empty or misplaced; the
    `start`/`end` numbers are then Python slice bounds (negative ones count
    from the end, see `python_slice`).

    Args:
        start_probs, end_probs: `(B, L)` floats.
        part: `(B, L)` ints: `PROMPT` (0), `TEXT` (1) or `SPECIAL` (-1).
        token_start, token_end: `(B, L)` ints: each prompt or text token's
            character span in its string (anything elsewhere).
        prompt_length: `(B,)` ints: the prompt's length in characters.
        threshold: float.
        taskflow_offsets: bool (a Python value).

    Returns:
        A dict of `(B, None)` `tf.RaggedTensor`s, one entry per span in
        position order: `start_token`, `end_token`, `start`, `end` (int32
        characters, end exclusive), `in_prompt` (bool: characters of the
        prompt, not of the text) and `probability`.

    Example:
    >>> spans = decode_spans([[0.1, 0.9, 0.2, 0.1]], [[0.1, 0.2, 0.8, 0.1]],
    ...     [[-1, 1, 1, -1]], [[-1, 0, 4, -1]], [[-1, 3, 7, -1]], [0])
    >>> spans["start"].to_list(), spans["end"].to_list()
    ([[0]], [[7]])
    """
    start_probs = tf.convert_to_tensor(start_probs)
    end_probs = tf.cast(end_probs, start_probs.dtype)
    part = tf.cast(part, tf.int32)
    token_start = tf.cast(token_start, tf.int32)
    token_end = tf.cast(token_end, tf.int32)
    prompt_length = tf.cast(prompt_length, tf.int32)

    candidates = tf.ones_like(part, tf.bool) if taskflow_offsets else part >= 0
    is_start = candidates & (start_probs > threshold)
    is_end = candidates & (end_probs > threshold)
    last_start = _last_index(is_start)
    previous_end = tf.pad(_last_index(is_end)[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
    keep = is_end & (last_start > previous_end)
    first = tf.maximum(last_start, 0)
    positions = tf.broadcast_to(tf.range(tf.shape(part)[1]), tf.shape(part))

    if taskflow_offsets:
        in_prompt_token = part == PROMPT
        # The end of the last prompt token, + 1 (1 without prompt tokens).
        last_end = tf.reduce_max(tf.where(in_prompt_token, token_end, -1), axis=1)
        bias = tf.where(last_end >= 0, last_end + 1, 1)[:, None]
        zero = tf.zeros_like(token_start)
        offset_start = tf.where(part == TEXT, token_start,
                                tf.where(in_prompt_token, token_start - bias, zero))
        offset_end = tf.where(part == TEXT, token_end,
                              tf.where(in_prompt_token, token_end - bias, zero))
        a = tf.gather(offset_start, first, batch_dims=1)
        b = offset_end
        keep &= ~((a < 0) & (b >= 0))
        in_prompt = b < 0
        shift = tf.where(in_prompt, prompt_length[:, None] + 1, 0)
        a, b = a + shift, b + shift
    else:
        same_part = tf.gather(part, first, batch_dims=1) == part
        keep &= same_part
        in_prompt = part == PROMPT
        a = tf.gather(token_start, first, batch_dims=1)
        b = token_end

    probability = tf.gather(start_probs, first, batch_dims=1) * end_probs

    def select(values):
        return tf.ragged.boolean_mask(values, keep)

    return {
        "start_token": select(first),
        "end_token": select(positions),
        "start": select(a),
        "end": select(b),
        "in_prompt": select(in_prompt),
        "probability": select(probability),
    }


def python_slice(strings, start, end):
    """`strings[i][start:end]` in characters, with Python's slice rules
    (negative bounds count from the end, bounds are clipped), in TF ops.

    Args:
        strings: `(B, 1)` or `(B, S)` strings.
        start, end: `(B, S)` ints.
    """
    strings = tf.broadcast_to(strings, tf.shape(start))
    length = tf.strings.length(strings, unit="UTF8_CHAR")

    def clip(bound):
        bound = tf.cast(bound, length.dtype)
        return tf.clip_by_value(tf.where(bound < 0, bound + length, bound), 0, length)

    a, b = clip(start), clip(end)
    return tf.strings.substr(strings, a, tf.maximum(b - a, 0), unit="UTF8_CHAR")


def _last_index(mask):
    """For each position, the last position at or before it where `mask`
    holds (-1 if none), in linear time."""
    positions = tf.broadcast_to(tf.range(tf.shape(mask)[1]), tf.shape(mask))
    found = tf.ragged.boolean_mask(positions, mask).to_tensor(-1)
    found = tf.pad(found, [[0, 0], [0, 1]], constant_values=-1)  # never empty
    seen = tf.cumsum(tf.cast(mask, tf.int32), axis=1)
    return tf.where(seen > 0, tf.gather(found, tf.maximum(seen - 1, 0), batch_dims=1), -1)


def half_width(text):
    """Full-width ASCII forms (U+FF01..U+FF5E) to ASCII, as PaddleNLP's
    `dbc2sbc` does to every prompt (its ideographic-space branch never fires)."""
    return "".join(chr(ord(c) - 0xFEE0) if 0xFF01 <= ord(c) <= 0xFF5E else c for c in text)


def half_width_tf(strings):
    """`half_width` of a string tensor, in TF ops."""
    codes = tf.strings.unicode_decode(strings, "UTF-8")
    codes = tf.ragged.map_flat_values(
        lambda c: tf.where((c >= 0xFF01) & (c <= 0xFF5E), c - 0xFEE0, c), codes
    )
    return tf.strings.unicode_encode(codes, "UTF-8")


def relation_prompt(subject, relation, schema_lang="zh"):
    """The prompt asking for `relation` of an extracted `subject` span.

    PaddleNLP's phrasing: "<subject>的<relation>" in Chinese,
    "<relation> of <subject>" in English, where a classification relation
    "<name> [options]" becomes "<name> of <subject> [options]".
    """
    if schema_lang == "en":
        options = re.search(r"\[.*?\]$", relation)
        if options:
            name = relation[: relation.find("[", 1)].strip()
            return f"{name} of {subject} {options.group()}"
        return f"{relation} of {subject}"
    return f"{subject}的{relation}"


class SchemaNode:
    """One type of a schema and the types asked about each of its spans."""

    def __init__(self, name, children=()):
        self.name = name
        self.children = list(children)


def schema_tree(schema):
    """Top-level nodes of a schema: names, lists, `{name: children}` dicts.

    Read without recursion, and bounded: at most `MAX_SCHEMA_DEPTH` levels
    of types and `MAX_SCHEMA_TYPES` types in all (each type is asked of
    every text, and each child type again of every span found).
    """
    top = []
    # (entries of one list in the schema, the list of nodes they go to, depth)
    pending = [(_schema_entries(schema, None), top, 1)]
    count = 0
    while pending:
        entries, nodes, depth = pending.pop()
        if depth > MAX_SCHEMA_DEPTH:
            raise ValueError(
                f"`schema` nests types more than {MAX_SCHEMA_DEPTH} levels deep; "
                f"extract() allows at most {MAX_SCHEMA_DEPTH} (MAX_SCHEMA_DEPTH)."
            )
        for item in entries:
            if isinstance(item, str):
                named = [(item, None)]
            elif isinstance(item, dict):
                named = list(item.items())
            else:
                raise TypeError(
                    "Schema entries must be type names or {type: [child types]} "
                    f"dicts; got a {type(item).__name__}."
                )
            for name, children in named:
                if not isinstance(name, str):
                    raise TypeError(f"Schema types must be strings; got {_short(name)}.")
                count += 1
                if count > MAX_SCHEMA_TYPES:
                    raise ValueError(
                        f"`schema` has more than {MAX_SCHEMA_TYPES} types; extract() "
                        f"allows at most {MAX_SCHEMA_TYPES} (MAX_SCHEMA_TYPES), since "
                        "each is asked of every text. Split it over several calls."
                    )
                node = SchemaNode(name)
                nodes.append(node)
                if children is not None:
                    pending.append((_schema_entries(children, name), node.children, depth + 1))
    return top


def _schema_entries(value, parent):
    """The entries of one level of a schema: a list, or one name or dict."""
    if isinstance(value, (str, dict)):
        return [value]
    if isinstance(value, (list, tuple)):
        return value
    if parent is None:
        raise TypeError(
            "`schema` must be a type name, a list of them, or a dict "
            f"{{type: [child types]}}; got a {type(value).__name__}."
        )
    raise TypeError(
        f"The children of schema type {_short(parent)} must be a name, "
        f"a list or a dict; got a {type(value).__name__}."
    )


def _short(value, limit=80):
    """`repr(value)`, cut for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def join_windows(window_spans, window_offsets):
    """Taskflow's `_auto_joiner`: the spans of each text from its windows'.

    Args:
        window_spans: per text, per window, the window's span dicts (text
            spans with window-relative `start`/`end`).
        window_offsets: per text, per window, its first character's offset.

    If the first window with any span (over all texts) starts with a prompt
    span (no `start`), the prompt is a classification one: each text gets
    the first span of each window voted on, the most frequent text winning
    (ties: the higher summed probability, then the first seen), with its mean
    probability. Otherwise each window's text spans are shifted by its
    offset and all are concatenated, duplicates included.
    """
    first = next((spans for windows in window_spans for spans in windows if spans), None)
    classification = first is not None and "start" not in first[0]
    joined = []
    for windows, offsets in zip(window_spans, window_offsets):
        if classification:
            votes = {}
            for spans in windows:
                if spans:
                    count, total = votes.get(spans[0]["text"], (0, 0.0))
                    votes[spans[0]["text"]] = (count + 1, total + spans[0]["probability"])
            if votes:
                text, (count, total) = max(votes.items(), key=lambda item: item[1])
                joined.append([{"text": text, "probability": total / count}])
            else:
                joined.append([])
            continue
        spans_of_text = []
        for spans, offset in zip(windows, offsets):
            for span in spans:
                if "start" in span:
                    span["start"] += offset
                    span["end"] += offset
                spans_of_text.append(span)
        joined.append(spans_of_text)
    return joined
