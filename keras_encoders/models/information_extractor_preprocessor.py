"""Universal information extraction (UIE) preprocessing: prompt + text pairs."""

import keras
import numpy as np
import tensorflow as tf
from keras_hub.models import Preprocessor
from keras_hub.src.utils.tensor_utils import preprocessing_function

from keras_encoders.models import preprocessing

# Windows are padded to a multiple of this (not to `sequence_length`): short
# texts stay cheap and the model sees few distinct shapes (fewer retraces).
_PAD_MULTIPLE = 16
# How the model inputs are laid out: see the class docstring.
CONVENTIONS = ("transformers", "paddlenlp")


@keras.saving.register_keras_serializable(package="keras_encoders")
class InformationExtractorPreprocessor(Preprocessor):
    """`(prompts, texts)` to `[CLS] prompt [SEP] text [SEP]` inputs (UIE).

    The prompt names what to extract ("时间", "Person", "谷爱凌的国籍",
    "Company of Steve"); the text is where to find it. Pairs are packed in
    the tokenizer's convention (ERNIE-M: `[CLS] prompt [SEP] [SEP] text
    [SEP]`, no segment ids). The prompt is cut to `max_prompt_length` tokens
    and the text truncated to fill `sequence_length`.

    Training targets come as `y = {"span_start": chars, "span_end": chars}`:
    per example, the character offsets (end exclusive) of every span of the
    text that answers the prompt: ragged lists or a `tf.RaggedTensor`, or a
    dense array padded with -1 (`fit()` on in-memory data needs one of the
    latter two). An example without spans (a negative prompt) has an empty
    row. They become multi-hot `{"start_logits": (B, L), "end_logits":
    (B, L)}` float targets that mark the first and the last token of every
    span, as PaddleNLP's UIE fine-tuning does; spans cut off by the
    truncation are dropped.

    `windows()` and `character_windows()` split long texts into windows for
    `extract()`.

    `convention` says which inputs the weights were trained on:

    - "transformers" (default): `padding_mask` masks `[PAD]`, as Hugging
      Face does; windows are padded to the longest (a multiple of 16).
    - "paddlenlp": PaddleNLP's UIE-M inputs (Taskflow and its fine-tuning
      pass no attention mask, so `ErnieMModel` masks the tokens of id 0,
      ERNIE-M's `[CLS]`, and attends every `[PAD]`): `padding_mask` is
      `token_ids != 0` and every row is padded to `sequence_length`, since
      the attended padding changes the outputs. The published UIE-M weights
      were fine-tuned that way (use it with an `ErnieMBackbone` whose
      `pad_position_id=0`, as PaddleNLP's tokenizer pads `position_ids`).

    Args:
        tokenizer: the model's tokenizer (must offer `tokenize_with_offsets`).
        sequence_length: int. Length of the packed inputs.
        max_prompt_length: int. Prompts are cut to this many tokens
            (`character_windows()`, Taskflow's, never cuts them).
        convention: "transformers" or "paddlenlp" (see above).

    Example:
    ```python
    preprocessor = ErnieMInformationExtractorPreprocessor.from_preset(preset)
    x, y = preprocessor(
        x=(["时间", "选手", "国籍"], ["2月8日上午谷爱凌夺冠"] * 3),
        y={"span_start": [[0], [6], []], "span_end": [[6], [9], []]},
    )
    y["start_logits"]  # (3, 512): 1.0 at the first token of each span
    ```
    """

    def __init__(self, tokenizer, sequence_length=512, max_prompt_length=64,
                 convention="transformers", **kwargs):
        if convention not in CONVENTIONS:
            raise ValueError(
                f"`convention` must be one of {CONVENTIONS}. Received: "
                f"convention={convention!r}"
            )
        super().__init__(_allow_python_workflow=False, **kwargs)
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.max_prompt_length = max_prompt_length
        self.convention = convention

    def build(self, input_shape):
        # Waterfall trimming keeps the (short) prompt and cuts the text.
        self.packer = preprocessing.make_packer(
            self.tokenizer, self.sequence_length, truncate="waterfall"
        )
        self.built = True

    @property
    def _separators(self):
        return getattr(self.tokenizer, "pair_separator", 1)

    def padding_mask(self, token_ids):
        """The `padding_mask` of packed `token_ids` (a tensor or an array)
        in this preprocessor's `convention`."""
        if self.convention == "paddlenlp":
            # PaddleNLP's `ErnieMModel` without an attention mask: `ids == 0`.
            return token_ids != 0
        return token_ids != self.tokenizer.pad_token_id

    @preprocessing_function
    def call(self, x, y=None, sample_weight=None):
        if not isinstance(x, (tuple, list)) or len(x) != 2:
            raise ValueError(
                "InformationExtractorPreprocessor expects `x = (prompts, texts)`; "
                "call it as `preprocessor(x=(prompts, texts), y=...)`."
            )
        prompts, texts = tf.convert_to_tensor(x[0]), tf.convert_to_tensor(x[1])
        # One tokenizer call for both halves: tracing the tokenizer dominates
        # the cost of building a `tf.data` pipeline.
        num = tf.shape(prompts)[0]
        ids, starts, ends = self.tokenizer.tokenize_with_offsets(
            tf.concat([prompts, texts], 0)
        )
        p_ids = ids[:num][:, : self.max_prompt_length]
        t_ids, t_start, t_end = ids[num:], starts[num:], ends[num:]
        token_ids, segment_ids = self.packer((p_ids, t_ids))
        inputs = preprocessing.model_inputs(self.tokenizer, token_ids, segment_ids)
        inputs["padding_mask"] = self.padding_mask(token_ids)
        if y is not None:
            y = self._span_targets(y, p_ids, t_ids, t_start, t_end)
        return keras.utils.pack_x_y_sample_weight(inputs, y, sample_weight)

    def _span_targets(self, y, p_ids, t_ids, t_start, t_end):
        """Character spans -> multi-hot start/end targets over the packed tokens."""
        if not isinstance(y, dict) or not {"span_start", "span_end"} <= set(y):
            raise ValueError(
                "Information extraction labels must be a dict with `span_start` "
                "and `span_end` (character offsets of the answer spans in the "
                f"text, one row per example). Received: {y!r}"
            )
        a0, a1 = _dense_spans(y["span_start"]), _dense_spans(y["span_end"])
        first = 1 + p_ids.row_lengths() + self._separators  # where the text starts
        kept = tf.minimum(t_ids.row_lengths(), self.sequence_length - first - 1)
        never = tf.constant(np.iinfo(np.int64).max, tf.int64)
        ends = tf.cast(t_end, tf.int64).to_tensor(default_value=never)[:, None, :]
        starts = tf.cast(t_start, tf.int64).to_tensor(default_value=never)[:, None, :]
        # First token ending after the span start; last token starting before its end.
        s_tok = tf.reduce_sum(tf.cast(ends <= a0[:, :, None], tf.int64), -1)
        e_tok = tf.reduce_sum(tf.cast(starts < a1[:, :, None], tf.int64), -1) - 1
        ok = (a0 >= 0) & (a1 > a0) & (s_tok <= e_tok) & (e_tok < kept[:, None])
        ok = tf.cast(ok, "float32")[:, :, None]

        def multi_hot(tok):
            hot = tf.one_hot(first[:, None] + tok, self.sequence_length) * ok
            return tf.minimum(tf.reduce_sum(hot, 1), 1.0)

        return {"start_logits": multi_hot(s_tok), "end_logits": multi_hot(e_tok)}

    def windows(self, prompts, texts, stride=None, sequence_length=None):
        """Features covering whole texts: windows of the text behind each prompt.

        Each `(prompt, text)` pair gives one or more rows
        `[CLS] prompt [SEP] window [SEP]`, where the windows are consecutive
        slices of the text's tokens that fill `sequence_length`; a new window
        starts every `stride` tokens (by default the full window, i.e. no
        overlap, as PaddleNLP Taskflow; a larger stride is capped to the
        window so that no token is skipped). Rows are padded to the longest
        one (rounded up to a multiple of 16).

        Returns a dict of numpy arrays: the backbone inputs; `example_index`
        (which pair each row comes from); `token_start`/`token_end` (the
        character span of each position in its prompt or text, -1 elsewhere);
        `part` (0 for prompt tokens, 1 for text tokens, -1 elsewhere) and
        `in_prompt`/`in_text` (the same as booleans).
        """
        prompts, texts = list(prompts), list(texts)
        if len(prompts) != len(texts):
            raise ValueError(
                f"Got {len(prompts)} prompts and {len(texts)} texts; pass one "
                "prompt per text."
            )
        length = sequence_length or self.sequence_length
        if stride is not None and stride < 1:
            raise ValueError(f"`stride` must be a positive number of tokens, got {stride}.")
        tok = self.tokenizer
        tokenized = _tokenize_unique(tok, prompts + texts)
        rows = _empty_rows()
        for i, (prompt, text) in enumerate(zip(prompts, texts)):
            p = [a[: self.max_prompt_length] for a in tokenized[prompt]]
            t = tokenized[text]
            budget = length - 2 - len(p[0]) - self._separators
            if budget < 1:
                raise ValueError(
                    f"sequence_length={length} leaves no room for the text after "
                    f"a prompt of {len(p[0])} tokens; use a longer "
                    "sequence_length or a shorter max_prompt_length."
                )
            step = budget if stride is None else min(stride, budget)
            begin = 0
            while True:
                stop = min(begin + budget, len(t[0]))
                _add_row(rows, tok, self._separators, i, p, [a[begin:stop] for a in t])
                if stop >= len(t[0]):
                    break
                begin += step
        return self._features(rows, length)

    def character_windows(self, prompts, texts, window_lengths, sequence_length=None):
        """Features covering whole texts, cut in characters as Taskflow does.

        Text `i` is cut into consecutive slices of `window_lengths[i]`
        characters (a text no longer than that stays whole, even empty);
        each slice gives a row `[CLS] prompt [SEP] slice [SEP]`. When the
        tokens do not fit `sequence_length`, tokens are dropped one at a
        time from the end of the longer of prompt and slice (the slice on a
        tie), which is the tokenizer truncation ("longest_first") Taskflow
        relies on. Prompts are not cut to `max_prompt_length`.

        Returns the dict of `windows()`, plus `window_offset` (the first
        character of each row's slice in its text) and `window_text` (the
        slice), and `prompt_length` (characters of each row's prompt).
        """
        prompts, texts = list(prompts), list(texts)
        if not len(prompts) == len(texts) == len(window_lengths):
            raise ValueError(
                f"Got {len(prompts)} prompts, {len(texts)} texts and "
                f"{len(window_lengths)} window lengths; pass one of each per pair."
            )
        length = sequence_length or self.sequence_length
        slices, offsets = [], []
        for text, size in zip(texts, window_lengths):
            if size < 1:
                raise ValueError(
                    f"sequence_length={length} leaves no characters of text next "
                    "to the prompt; use a longer sequence length or a shorter prompt."
                )
            starts = range(0, len(text), size) if len(text) > size else [0]
            slices.append([text[a: a + size] for a in starts])
            offsets.append(list(starts))
        tok = self.tokenizer
        tokenized = _tokenize_unique(tok, prompts + [s for row in slices for s in row])
        budget = length - 2 - self._separators
        rows = _empty_rows()
        extra = {"window_offset": [], "window_text": [], "prompt_length": []}
        for i, prompt in enumerate(prompts):
            for piece, offset in zip(slices[i], offsets[i]):
                p, t = [list(x) for x in tokenized[prompt]], [list(x) for x in tokenized[piece]]
                while len(p[0]) + len(t[0]) > budget:
                    for x in p if len(p[0]) > len(t[0]) else t:
                        x.pop()
                _add_row(rows, tok, self._separators, i, p, t)
                extra["window_offset"].append(offset)
                extra["window_text"].append(piece)
                extra["prompt_length"].append(len(prompt))
        out = self._features(rows, length)
        out["window_offset"] = np.asarray(extra["window_offset"], "int32")
        out["window_text"] = np.asarray(extra["window_text"], object)
        out["prompt_length"] = np.asarray(extra["prompt_length"], "int32")
        return out

    def _features(self, rows, length):
        """Rows of ids and per-token values as padded numpy arrays."""
        tok = self.tokenizer
        longest = max((len(r) for r in rows["token_ids"]), default=0)
        if self.convention == "paddlenlp":
            width = length  # the attended padding is part of the input
        else:
            width = min(length, -(-longest // _PAD_MULTIPLE) * _PAD_MULTIPLE)
        pads = {"token_ids": tok.pad_token_id, "token_start": -1, "token_end": -1, "part": -1}
        out = {"example_index": np.asarray(rows.pop("example_index"), "int32")}
        for key, values in rows.items():
            array = np.full((len(values), width), pads.get(key, 0), "int32")
            for r, row in enumerate(values):
                array[r, : len(row)] = row
            out[key] = array
        out["padding_mask"] = self.padding_mask(out["token_ids"]).astype("int32")
        out["in_prompt"] = out["part"] == 0
        out["in_text"] = out["part"] == 1
        if not getattr(tok, "uses_segment_ids", True):
            out.pop("segment_ids")
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "max_prompt_length": self.max_prompt_length,
                "convention": self.convention,
            }
        )
        return config


def _empty_rows():
    keys = ("token_ids", "segment_ids", "token_start", "token_end", "part", "example_index")
    return {k: [] for k in keys}


def _add_row(rows, tok, separators, example, prompt, text):
    """Append `[CLS] prompt [SEP]*separators text [SEP]` to `rows`;
    `prompt` and `text` are `(ids, starts, ends)` lists."""
    (p_ids, p_start, p_end), (t_ids, t_start, t_end) = prompt, text
    none = [-1] * separators
    head = 1 + len(p_ids) + separators
    rows["token_ids"].append(
        [tok.start_token_id, *p_ids, *[tok.end_token_id] * separators, *t_ids, tok.end_token_id]
    )
    rows["token_start"].append([-1, *p_start, *none, *t_start, -1])
    rows["token_end"].append([-1, *p_end, *none, *t_end, -1])
    rows["part"].append([-1] + [0] * len(p_ids) + none + [1] * len(t_ids) + [-1])
    rows["segment_ids"].append([0] * head + [1] * (len(t_ids) + 1))
    rows["example_index"].append(example)


def _dense_spans(offsets):
    """Span offsets as a dense int64 `[B, S]` tensor, -1 where there is none."""
    if isinstance(offsets, tf.RaggedTensor):
        offsets = offsets.to_tensor(default_value=-1)
    offsets = tf.cast(tf.convert_to_tensor(offsets), tf.int64)
    if offsets.shape.rank == 1:  # one span per example
        offsets = offsets[:, None]
    return offsets


def _tokenize_unique(tokenizer, strings):
    """`{string: (ids, starts, ends)}` as int lists, each string tokenized once."""
    unique = list(dict.fromkeys(strings))
    if not unique:
        return {}
    outputs = tokenizer.tokenize_with_offsets(tf.constant(unique, tf.string))
    ids, starts, ends = (_rows(x) for x in outputs)
    return {s: (ids[k], starts[k], ends[k]) for k, s in enumerate(unique)}


def _rows(batch):
    """A ragged batch (a `tf.RaggedTensor`, or nested lists off TensorFlow)
    as lists of ints."""
    if isinstance(batch, tf.RaggedTensor):
        batch = batch.to_list()
    return [[int(v) for v in np.asarray(row).reshape(-1)] for row in batch]
