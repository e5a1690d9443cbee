"""Universal information extraction (UIE) preprocessing: prompt + text pairs."""

import keras
import numpy as np
import tensorflow as tf
from keras_hub.models import Preprocessor
from keras_hub.src.utils.tensor_utils import no_convert_scope
from keras_hub.src.utils.tensor_utils import preprocessing_function

from keras_encoders.decoding import information_extraction as uie
from keras_encoders.models import preprocessing
from keras_encoders.utils import text_utils

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

    Example (a tiny random model; runs offline):
    >>> from keras_encoders.models import InformationExtractorPreprocessor, ErnieMInformationExtractorPreprocessor
    >>> issubclass(ErnieMInformationExtractorPreprocessor, InformationExtractorPreprocessor)  # the ErnieM specialisation
    True
    >>> from keras_encoders.models import ErnieMInformationExtractorPreprocessor, ErnieMTokenizer
    >>> import io
    >>> import sentencepiece
    >>> proto = io.BytesIO()
    >>> sentencepiece.SentencePieceTrainer.train(
    ...     sentence_iterator=iter(["the quick brown fox", "the earth is round"]),
    ...     model_writer=proto, vocab_size=13, model_type="WORD", pad_id=0, unk_id=1,
    ...     bos_id=2, eos_id=3, pad_piece="[PAD]", unk_piece="[UNK]", bos_piece="[CLS]",
    ...     eos_piece="[SEP]", user_defined_symbols="[MASK]", minloglevel=2)
    >>> spm = sentencepiece.SentencePieceProcessor(model_proto=proto.getvalue())
    >>> vocab = [spm.id_to_piece(i) for i in range(spm.get_piece_size())]
    >>> tokenizer = ErnieMTokenizer(proto=proto.getvalue(), vocabulary=vocab)
    >>> preprocessor = ErnieMInformationExtractorPreprocessor(tokenizer, sequence_length=16, max_prompt_length=4)
    >>> x, y = preprocessor(x=(["fox"], ["the quick brown fox"]),
    ...                     y={"span_start": [[16]], "span_end": [[19]]})
    >>> tuple(y["start_logits"].shape)  # 1.0 at the first token of each span
    (1, 16)
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

        This is `character_window_tensors` (TF ops, which the exported
        SavedModel runs in its graph) run eagerly, as numpy arrays.

        Returns the dict of `windows()`, plus `window_offset` (the first
        character of each row's slice in its text) and `window_text` (the
        slice), and `prompt_length` (characters of each row's prompt).
        """
        prompts, texts = list(prompts), list(texts)
        window_lengths = np.asarray(window_lengths, "int64").reshape(-1)
        if not len(prompts) == len(texts) == len(window_lengths):
            raise ValueError(
                f"Got {len(prompts)} prompts, {len(texts)} texts and "
                f"{len(window_lengths)} window lengths; pass one of each per pair."
            )
        length = sequence_length or self.sequence_length
        if np.any(window_lengths < 1):
            raise ValueError(
                f"sequence_length={length} leaves no characters of text next "
                "to the prompt; use a longer sequence length or a shorter prompt."
            )
        strings = [tf.constant(text_utils.replace_lone_surrogates(s), tf.string)
                   for s in (prompts, texts)]
        with tf.device("cpu"), no_convert_scope():
            out = self.character_window_tensors(*strings, window_lengths, length)
        out = {key: value.numpy() for key, value in out.items()}
        out["window_text"] = np.asarray([s.decode("utf-8") for s in out["window_text"]], object)
        out["padding_mask"] = out["padding_mask"].astype("int32")
        out["in_prompt"] = out["part"] == 0
        out["in_text"] = out["part"] == 1
        return out

    def character_window_tensors(self, prompts, texts, window_lengths, sequence_length):
        """`character_windows` in TF ops (eager or in a graph), one row per
        window, windows in row order.

        Args:
            prompts, texts: `(B,)` strings.
            window_lengths: `(B,)` ints, each at least 1.
            sequence_length: int (tensor). Tokens per window, at most.

        Returns:
            A dict of tensors: the backbone inputs and `token_start`,
            `token_end`, `part` `(W, L)` (L: `sequence_length` in the
            "paddlenlp" convention, else the longest row rounded up to a
            multiple of 16); `example_index`, `window_offset`,
            `prompt_length` and `window_text` `(W,)`.
        """
        tok = self.tokenizer
        separators = self._separators
        sizes = tf.cast(window_lengths, tf.int32)
        characters = tf.strings.length(texts, unit="UTF8_CHAR")
        # A text no longer than its window is one window, even an empty one.
        counts = tf.maximum((characters + sizes - 1) // sizes, 1)
        row = tf.repeat(tf.range(tf.size(counts)), counts)
        offset = tf.cast(tf.ragged.range(counts).flat_values, tf.int32) * tf.gather(sizes, row)
        window_text = tf.strings.substr(
            tf.gather(texts, row), offset, tf.gather(sizes, row), unit="UTF8_CHAR"
        )
        # One tokenizer call for prompts and slices.
        ids, starts, ends = tok.tokenize_with_offsets(tf.concat([prompts, window_text], 0))
        count = tf.size(prompts)

        def dense(values, start, stop, gather=None):
            # Ragged rows as a dense array with one column more than needed
            # (so that clipped indices always land on something).
            values = tf.cast(values[start:stop].to_tensor(-1), tf.int32)
            values = tf.pad(values, [[0, 0], [0, 1]], constant_values=-1)
            return values if gather is None else tf.gather(values, gather)

        prompt = [dense(x, 0, count, row) for x in (ids, starts, ends)]
        text = [dense(x, count, None) for x in (ids, starts, ends)]
        prompt_tokens = tf.gather(tf.cast(ids[:count].row_lengths(), tf.int32), row)
        text_tokens = tf.cast(ids[count:].row_lengths(), tf.int32)
        p, t = uie.longest_first(prompt_tokens, text_tokens, sequence_length - 2 - separators)
        used = 2 + separators + p + t
        longest = tf.reduce_max(tf.concat([used, [0]], 0))
        if self.convention == "paddlenlp":
            width = tf.cast(sequence_length, tf.int32)  # the attended padding is an input
        else:
            width = tf.minimum(tf.cast(sequence_length, tf.int32),
                               -(-longest // _PAD_MULTIPLE) * _PAD_MULTIPLE)
        # [CLS] prompt [SEP]*separators text [SEP] [PAD]..., position by position.
        j = tf.range(width)[None, :]
        p, t = p[:, None], t[:, None]
        text_begin = 1 + p + separators
        in_prompt = (j >= 1) & (j < 1 + p)
        in_text = (j >= text_begin) & (j < text_begin + t)
        prompt_at = tf.clip_by_value(j - 1 + 0 * p, 0, tf.shape(prompt[0])[1] - 1)
        text_at = tf.clip_by_value(j - text_begin, 0, tf.shape(text[0])[1] - 1)

        def lay_out(prompt_values, text_values, special):
            return tf.where(in_prompt, tf.gather(prompt_values, prompt_at, batch_dims=1),
                            tf.where(in_text, tf.gather(text_values, text_at, batch_dims=1), special))

        last = text_begin + t
        special_ids = tf.where(j == 0, tok.start_token_id,
                               tf.where((j < text_begin) | (j == last), tok.end_token_id,
                                        tok.pad_token_id))
        token_ids = lay_out(prompt[0], text[0], special_ids)
        none = tf.fill(tf.shape(token_ids), -1)
        part = tf.where(in_prompt, 0, tf.where(in_text, 1, -1))
        segment_ids = tf.cast((j >= text_begin) & (j <= last), tf.int32)
        out = {
            **preprocessing.model_inputs(tok, token_ids, segment_ids),
            "padding_mask": self.padding_mask(token_ids),
            "token_start": lay_out(prompt[1], text[1], none),
            "token_end": lay_out(prompt[2], text[2], none),
            "part": part,
            "example_index": row,
            "window_offset": offset,
            "window_text": window_text,
            "prompt_length": tf.gather(tf.strings.length(prompts, unit="UTF8_CHAR"), row),
        }
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
