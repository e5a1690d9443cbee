"""Fine-tuning inputs from PaddleNLP-format examples, in `extract()`'s windows.

`training_data(extractor, examples)` turns `{"content", "result_list",
"prompt"}` examples (a converted `train.txt`, as is) into model inputs and
multi-hot start/end targets, ready for `extractor.fit(x, y)`. Each example is
cut into the windows `extract()` reads it in, in the extractor's `decoding`
and preprocessor `convention` (so a `uie_m_*` preset trains on Taskflow's
inputs and windows, and what it learns is what `extract()` sees):

- "taskflow" / "taskflow_corrected": slices of `max_seq_len - len(prompt) -
  3` characters (Taskflow, asking one prompt at a time) or `- len(prompt) -
  specials` (corrected), each packed as `[CLS] prompt [SEP] slice [SEP]`;
- "tokens": windows of `max_seq_len` tokens.

A span's targets are the token covering its first character and the token
covering its last, in the window holding both; a span cut by a window edge
or by truncation is left out of that window (a partial span would teach a
wrong boundary). Classification answers (in the prompt's options) are
targets in every window of their example.
"""

import os

import numpy as np

from keras_encoders.decoding import information_extraction as uie
from keras_encoders.models import information_extractor
from keras_encoders.uie import annotations
from keras_encoders.uie import evaluation


def windows_of(extractor, prompts, texts, max_seq_len, decoding):
    """The windows of each `(prompt, text)`: the preprocessor's features,
    with `window_offset` (0 for token windows).

    Character windows are sized from each example's own prompt, as
    PaddleNLP's fine-tuning reader cuts them (`max_seq_len - len(prompt) - 3`
    in the Taskflow convention), not from the largest prompt of a group as
    `uie.window_lengths` does for Taskflow's inference: the two agree for
    rows that share their prompt, which is how `extract()` asks every
    schema type."""
    preprocessor = extractor.preprocessor
    if decoding == "tokens":
        features = preprocessor.windows(prompts, texts, sequence_length=max_seq_len)
        features["window_offset"] = np.zeros_like(features["example_index"])
        return features
    specials = uie.TASKFLOW_SPECIAL_TOKENS if decoding == "taskflow" else (
        2 + getattr(preprocessor.tokenizer, "pair_separator", 1))
    sizes = [max_seq_len - len(prompt) - specials for prompt in prompts]
    return preprocessor.character_windows(prompts, texts, sizes, max_seq_len)


def training_data(extractor, examples, max_seq_len=None, decoding=None):
    """`(x, y)` for `extractor.fit`: inputs and targets of every window.

    Args:
        extractor: an `InformationExtractor` with its preprocessor.
        examples: PaddleNLP-format examples, or the path of such a file
            (checked: a bad line raises `AnnotationError` naming it).
        max_seq_len: tokens per window (default: the preprocessor's
            `sequence_length`).
        decoding: whose windows ("taskflow", "taskflow_corrected",
            "tokens"); default: the extractor's `decoding`.

    Returns:
        `x`, a dict of the backbone's inputs `(N, L)`, and `y`,
        `{"start_logits", "end_logits"}` float32 `(N, L)` multi-hot targets.
    """
    if extractor.preprocessor is None:
        raise ValueError("training_data() needs the extractor's preprocessor; load it with `from_preset()`.")
    if isinstance(examples, (str, os.PathLike)):
        examples = annotations.read_examples(os.fspath(examples))
    else:
        examples = list(examples)
        for k, example in enumerate(examples):
            annotations.check_example(example, f"example {k}")
    if not examples:
        raise ValueError("No examples to train on.")
    decoding = decoding or extractor.decoding
    length = max_seq_len or extractor.preprocessor.sequence_length
    features = windows_of(extractor, [e["prompt"] for e in examples], [e["content"] for e in examples],
                          length, decoding)
    width = features["token_ids"].shape[1]
    y = {name: np.zeros((len(features["example_index"]), width), "float32")
         for name in ("start_logits", "end_logits")}
    for r, k in enumerate(features["example_index"]):
        example, offset = examples[k], int(features["window_offset"][r])
        row = {key: features[key][r].tolist() for key in ("token_start", "token_end", "part")}
        row["token_start"] = [a + offset if p == evaluation.TEXT else a
                              for a, p in zip(row["token_start"], row["part"])]
        row["token_end"] = [b + offset if p == evaluation.TEXT else b
                            for b, p in zip(row["token_end"], row["part"])]
        starts, ends = evaluation.gold_positions(row, example["result_list"], missing=None)
        for a, b in zip(starts, ends):
            if a is not None and b is not None and a <= b:
                y["start_logits"][r, a] = 1.0
                y["end_logits"][r, b] = 1.0
    x = {name: features[name] for name in extractor.backbone.input}
    return x, y


# `extractor.fit("train.txt")` and `validation_data="dev.txt"` read example
# files with `training_data` (models sit below this package and never import it).
information_extractor.register_example_reader(training_data)
