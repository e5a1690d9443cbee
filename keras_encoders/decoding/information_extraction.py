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
# What `str.isspace()` calls whitespace, for `blank_texts`.
WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(
    map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
# Special tokens Taskflow reserves next to prompt and text when it sizes
# windows (ERNIE-M packs 4: see `InformationExtractor.extract`).
TASKFLOW_SPECIAL_TOKENS = 3


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


def blank_texts(strings):
    """Whether each string is empty or whitespace only (`not text.strip()`
    in Python), in TF ops: `extract()` and the SavedModel's "tokens"
    decoding find nothing in such a text.

    >>> blank_texts(["", " \u3000", "a "]).numpy().tolist()
    [True, True, False]
    """
    whitespace = "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE)
    return tf.strings.regex_full_match(strings, f"[{whitespace}]*")


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


def largest_string_length(strings):
    """The length in characters of the lexicographically largest of `strings`
    (a 1-D string tensor; Python's `len(max(strings))`: code point order), in
    TF ops; 0 for no strings.

    One pass per character position keeps the strings that carry the largest
    code point there among those still kept; a string that has ended sorts
    below any character, as in Python.
    """
    codes = tf.strings.unicode_decode(strings, "UTF-8")
    # -1 after the end (one column more than the longest: never empty).
    dense = tf.pad(codes.to_tensor(-1), [[0, 0], [0, 1]], constant_values=-1)

    def step(k, alive):
        column = dense[:, k]
        best = tf.reduce_max(tf.where(alive, column, -2))
        return k + 1, alive & (column == best)

    _, alive = tf.while_loop(
        lambda k, alive: k < tf.shape(dense)[1], step,
        (tf.constant(0), tf.ones(tf.shape(dense)[:1], tf.bool)),
    )
    lengths = tf.cast(codes.row_lengths(), tf.int32)
    return tf.reduce_max(tf.concat([tf.boolean_mask(lengths, alive), [0]], 0))


def window_lengths(prompts, max_seq_len, decoding, special_tokens):
    """Characters per text window of each `(prompt, text)` row, in TF ops.

    - "taskflow": PaddleNLP Taskflow's `max_seq_len - len(max(prompts)) - 3`
      for every row, `max(prompts)` the lexicographically largest prompt of
      the rows asked together (Taskflow asks one schema type at a time);
    - "taskflow_corrected": `max_seq_len - len(prompt) - special_tokens`,
      per row (no character is lost to truncation).

    Args:
        prompts: `(B,)` strings (already `half_width`).
        max_seq_len: int (a Python value or a scalar tensor).
        decoding: "taskflow" or "taskflow_corrected".
        special_tokens: int. The special tokens the tokenizer packs.

    Returns:
        `(B,)` int32.
    """
    prompts = tf.convert_to_tensor(prompts, tf.string)
    max_seq_len = tf.cast(max_seq_len, tf.int32)
    if decoding == "taskflow":
        size = max_seq_len - largest_string_length(prompts) - TASKFLOW_SPECIAL_TOKENS
        return tf.fill(tf.shape(prompts), size)
    if decoding == "taskflow_corrected":
        return max_seq_len - tf.strings.length(prompts, unit="UTF8_CHAR") - special_tokens
    raise ValueError(
        f"Character windows are for 'taskflow' and 'taskflow_corrected' decoding; "
        f"got decoding={decoding!r}."
    )


def longest_first(first_length, second_length, budget):
    """Token counts kept by "longest_first" truncation of a pair, in TF ops.

    The tokenizer truncation Taskflow relies on drops one token at a time
    from the end of the longer of the two (the second on a tie) until both
    fit `budget`. In closed form: the excess comes off the longer one alone
    while it stays at least as long as the other; otherwise both end at
    half the budget, the first keeping the odd token.

    Args:
        first_length, second_length: int tensors of one shape.
        budget: int (tensor), the tokens both may hold together.

    Returns:
        `(first kept, second kept)`.
    """
    p, t = first_length, second_length
    budget = tf.maximum(tf.cast(budget, p.dtype), 0)
    excess = tf.maximum(p + t - budget, 0)
    half = budget // 2
    kept_p = tf.where(p - t >= excess, p - excess, tf.where(t - p >= excess, p, budget - half))
    kept_t = tf.where(p - t >= excess, t, tf.where(t - p >= excess, t - excess, half))
    return kept_p, kept_t


def join_windows(spans, window_row, window_offset, window_text, window_prompt, rows):
    """Taskflow's `_auto_joiner`: the spans of each row from its windows', in TF ops.

    Windows come in row order (all windows of row 0 first, in text order).
    If the first window with any span (over all rows) starts with a prompt
    span, the prompt is a classification one: each row gets one answer, the
    text of the first span of each of its windows voted on, the most
    frequent winning (ties: the higher summed probability, then the first
    seen), with its mean probability. Otherwise each window's text spans are
    shifted by the window's offset and all are concatenated, duplicates
    included.

    Args:
        spans: `decode_spans` output for the `(W, L)` windows.
        window_row: `(W,)` ints, the row of each window.
        window_offset: `(W,)` ints, its first character in the row's text.
        window_text: `(W,)` strings, the window's text.
        window_prompt: `(W,)` strings, its prompt.
        rows: int (tensor), the number of rows B.

    Returns:
        A dict of `(B, None)` `tf.RaggedTensor`s: `text`, `start`, `end`
        (characters of the row's text, or of the prompt when `in_prompt`;
        -1 for a voted answer), `in_prompt`, `probability` and `voted`.
    """
    window_row = tf.cast(window_row, tf.int32)
    window_offset = tf.cast(window_offset, tf.int32)
    rows = tf.cast(rows, tf.int32)
    window = tf.cast(spans["start"].value_rowids(), tf.int32)  # of each span
    count = tf.cast(spans["start"].row_lengths(), tf.int32)  # spans per window
    a, b = spans["start"].flat_values, spans["end"].flat_values
    in_prompt = spans["in_prompt"].flat_values
    probability = spans["probability"].flat_values
    source = tf.where(in_prompt, tf.gather(window_prompt, window), tf.gather(window_text, window))
    text = python_slice(source, a, b)
    shift = tf.where(in_prompt, 0, tf.gather(window_offset, window))
    # The first span of each window that has one (its row-splits entry).
    has = count > 0
    first = tf.boolean_mask(spans["start"].row_splits[:-1], has)
    classification = tf.reduce_any(tf.gather(in_prompt, first[:1]))
    vote_row = tf.boolean_mask(window_row, has)
    vote = _vote(tf.gather(text, first), tf.gather(probability, first), vote_row, rows)
    vote.update(
        in_prompt=tf.gather(in_prompt, tf.gather(first, vote.pop("first"))),
        start=tf.fill(tf.shape(vote["text"]), -1),
        end=tf.fill(tf.shape(vote["text"]), -1),
        voted=tf.ones(tf.shape(vote["text"]), tf.bool),
    )
    plain = {
        "text": text,
        "start": a + shift,
        "end": b + shift,
        "in_prompt": in_prompt,
        "probability": probability,
        "voted": tf.zeros(tf.shape(text), tf.bool),
        "lengths": tf.math.unsorted_segment_sum(count, window_row, rows),
    }
    # Either the votes or the concatenation, without a branch in the graph.
    lengths = tf.where(classification, vote.pop("lengths"), plain.pop("lengths"))
    keep = tf.concat([tf.fill(tf.shape(text), ~classification),
                      tf.fill(tf.shape(vote["text"]), classification)], 0)
    return {
        key: tf.RaggedTensor.from_row_lengths(
            tf.boolean_mask(tf.concat([plain[key], tf.cast(vote[key], plain[key].dtype)], 0), keep),
            lengths,
        )
        for key in plain
    }


def _vote(text, probability, row, rows):
    """Per row, the most frequent of its `text` votes (ties: the higher
    summed probability, then the first cast), with its mean probability.

    Returns a dict of the winners, in row order: `text`, `probability`,
    `first` (the index of its first vote) and `lengths` (`(rows,)`, 1 for
    a row with votes, else 0).
    """
    # One key per (row, text); unique ids come in order of first appearance.
    _, text_id = tf.unique(text)
    key = tf.cast(row, tf.int64) * tf.cast(tf.size(text) + 1, tf.int64) + tf.cast(text_id, tf.int64)
    _, key_id = tf.unique(key)
    keys = tf.reduce_max(tf.concat([key_id + 1, [0]], 0))
    votes = tf.math.unsorted_segment_sum(tf.ones_like(key_id), key_id, keys)
    total = tf.math.unsorted_segment_sum(probability, key_id, keys)
    first = tf.math.unsorted_segment_min(tf.range(tf.size(key_id)), key_id, keys)
    owner = tf.gather(row, first)

    def best(values, among, pick=tf.math.unsorted_segment_max):
        # Among `among`, those whose value is their row's best.
        fill = values.dtype.min if pick is tf.math.unsorted_segment_max else values.dtype.max
        chosen = pick(tf.where(among, values, fill), owner, rows)
        return among & (values == tf.gather(chosen, owner))

    winner = best(votes, tf.ones_like(votes, tf.bool))
    winner = best(total, winner)
    winner = best(first, winner, tf.math.unsorted_segment_min)
    return {
        "text": tf.boolean_mask(tf.gather(text, first), winner),
        "probability": tf.boolean_mask(total / tf.cast(votes, total.dtype), winner),
        "first": tf.boolean_mask(first, winner),
        "lengths": tf.math.unsorted_segment_sum(tf.cast(winner, tf.int32), owner, rows),
    }
