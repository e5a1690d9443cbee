"""Span P/R/F1 of an information extractor on examples, as PaddleNLP's `evaluate.py`.

Each example (`{"content", "result_list", "prompt"}`) is cut as PaddleNLP's
`reader` cuts it (pieces of `max_seq_len - len(prompt) - 3` characters,
moved back so that no gold span is split), each piece is one row
`[CLS] prompt [SEP] piece [SEP]` truncated to `max_seq_len` tokens, and
gold character spans become the token positions PaddleNLP's
`convert_example` marks (the first token covering a span's first
character, the token covering its last; a prompt span is looked up in the
prompt). Predicted positions are the row's tokens whose start / end
probability exceeds `limit`. Counting is `metrics.span_counts`.

One difference: PaddleNLP also thresholds its batch padding (rows are padded
to the longest of the batch); here only the row's own tokens are read, so a
score does not depend on the batch the row fell in.
"""

import copy

import numpy as np

from keras_encoders.models import ErnieMInformationExtractor
from keras_encoders.uie import annotations
from keras_encoders.uie import metrics

# Special tokens PaddleNLP's reader reserves next to prompt and text.
READER_SPECIAL_TOKENS = 3
PROMPT, TEXT = 0, 1


def split_example(example, max_seq_len):
    """The pieces PaddleNLP's `reader` makes of one example (copies)."""
    example = copy.deepcopy(example)
    content, prompt = example["content"].strip(), example["prompt"]
    if max_seq_len <= len(prompt) + READER_SPECIAL_TOKENS:
        raise ValueError(
            f"max_seq_len={max_seq_len} leaves no room for the text next to the prompt "
            f"{prompt!r} ({len(prompt)} characters); use a larger max_seq_len."
        )
    size = max_seq_len - len(prompt) - READER_SPECIAL_TOKENS
    if len(content) <= size:
        return [example]  # unstripped, as the reader yields it
    results, pieces = example["result_list"], []
    while True:
        for result in results:
            # Cut before a span that would straddle the cut (if it fits a piece).
            if result["start"] + 1 <= size < result["end"] and result["end"] - result["start"] <= size:
                size = result["start"]
                break
        piece, rest = content[:size], content[size:]
        taken = []
        while results:
            if results[0]["end"] > size:
                break
            if results[0]["end"] > 0:
                taken.append(results.pop(0))
            else:  # prompt spans (classification) go with every piece
                taken = list(results)
                break
        pieces.append({"content": piece, "result_list": taken, "prompt": prompt})
        for result in results:
            if result["end"] <= 0:
                break
            result["start"] -= size
            result["end"] -= size
        size = max_seq_len - len(prompt) - READER_SPECIAL_TOKENS
        if not rest:
            break
        if len(rest) < size:
            pieces.append({"content": rest, "result_list": results, "prompt": prompt})
            break
        content = rest
    return pieces


def _covering(starts, ends, parts, char, part):
    for position, (a, b, p) in enumerate(zip(starts, ends, parts)):
        if p == part and a <= char < b:
            return position
    return None


def gold_positions(row, result_list, missing=-1):
    """Gold start and end token positions of one row's spans, as PaddleNLP's
    `convert_example` marks them.

    `row` holds the row's `token_start`, `token_end` (character offsets of
    text tokens in the text, of prompt tokens in the prompt) and `part`. A
    prompt (classification) span's offsets count back from the end of
    `prompt + " "`; PaddleNLP adds the end of the last prompt token kept + 1.
    A character no token covers (cut off, or a skipped space) gets
    `missing`: PaddleNLP's -1 (the last position of a `max_seq_len` row),
    or None to leave the span out.
    """
    starts, ends, parts = row["token_start"], row["token_end"], row["part"]
    prompt_ends = [b for b, p in zip(ends, parts) if p == PROMPT]
    bias = (max(prompt_ends) if prompt_ends else 0) + 1
    gold_starts, gold_ends = [], []
    for result in result_list:
        if result["start"] >= 0:
            part, first, last = TEXT, result["start"], result["end"] - 1
        else:
            part, first, last = PROMPT, result["start"] + bias, result["end"] - 1 + bias
        for char, out in ((first, gold_starts), (last, gold_ends)):
            position = _covering(starts, ends, parts, char, part)
            out.append(missing if position is None else position)
    return gold_starts, gold_ends


def example_counts(extractor, examples, max_seq_len=512, batch_size=16, limit=0.5):
    """`SpanEvaluator` counts `(correct, inferred, labelled)` per example."""
    preprocessor = extractor.preprocessor
    if preprocessor is None:
        raise ValueError("Evaluating needs the extractor's preprocessor; load it with `from_preset()`.")
    pieces, owners = [], []
    for k, example in enumerate(examples):
        for piece in split_example(example, max_seq_len):
            pieces.append(piece)
            owners.append(k)
    counts = [metrics.SpanCounts() for _ in examples]
    if not pieces:
        return counts
    features = preprocessor.character_windows(
        [p["prompt"] for p in pieces], [p["content"] for p in pieces],
        [max(1, len(p["content"])) for p in pieces], max_seq_len,
    )
    inputs = {name: features[name] for name in extractor.backbone.input}
    logits = extractor.predict(inputs, batch_size=batch_size, verbose=0)
    # sigmoid(logit) > limit, read on the logits.
    with np.errstate(divide="ignore"):
        cut = np.log(limit) - np.log1p(-limit)
    start_logits, end_logits = np.asarray(logits["start_logits"]), np.asarray(logits["end_logits"])
    pad = preprocessor.tokenizer.pad_token_id
    for r, piece in enumerate(pieces):
        length = int(np.sum(np.asarray(features["token_ids"][r]) != pad))
        row = {key: features[key][r].tolist() for key in ("token_start", "token_end", "part")}
        gold = gold_positions(row, piece["result_list"], missing=max_seq_len - 1)
        predicted_starts = np.flatnonzero(start_logits[r, :length] > cut).tolist()
        predicted_ends = np.flatnonzero(end_logits[r, :length] > cut).tolist()
        counts[owners[r]].add(metrics.span_counts(predicted_starts, predicted_ends, *gold))
    return counts


def evaluate(extractor, examples, max_seq_len=512, batch_size=16, limit=0.5, debug=False, schema_lang="ch"):
    """Span precision, recall and F1 of `extractor` on `examples`.

    Args:
        extractor: an `InformationExtractor` with its preprocessor, in the
            convention it was trained with (the `uie_m_*` presets are set
            up for PaddleNLP's).
        examples: PaddleNLP-format examples, or the path of such a file.
        max_seq_len, batch_size: as PaddleNLP's `evaluate.py`.
        limit: the probability a start / end must exceed.
        debug: also score each type (`metrics.type_groups`, positive
            examples only), as `evaluate.py --debug`.
        schema_lang: "ch" or "en", how relation prompts are phrased.

    Returns:
        `{"all_classes": scores, type: scores, ...}`, each scores dict with
        precision, recall, f1 and the three counts.
    """
    if isinstance(examples, str):
        examples = annotations.read_examples(examples)
    counts = example_counts(extractor, examples, max_seq_len, batch_size, limit)
    total = metrics.SpanCounts()
    for c in counts:
        total.add((c.correct, c.inferred, c.labelled))
    report = {"all_classes": total.as_dict()}
    if debug:
        index = {id(example): k for k, example in enumerate(examples)}
        for name, members in metrics.type_groups(examples, schema_lang).items():
            group = metrics.SpanCounts()
            for example in members:
                c = counts[index[id(example)]]
                group.add((c.correct, c.inferred, c.labelled))
            report[name] = group.as_dict()
    return report


def evaluate_preset(model_path, test_path, **kwargs):
    """`evaluate()` for an `ErnieMInformationExtractor` preset or folder."""
    # The file first: a bad file fails before the model loads.
    examples = annotations.read_examples(test_path)
    return evaluate(ErnieMInformationExtractor.from_preset(model_path), examples, **kwargs)
