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

    `windows()` splits long texts into windows for `extract()`.

    Args:
        tokenizer: the model's tokenizer (must offer `tokenize_with_offsets`).
        sequence_length: int. Length of the packed inputs.
        max_prompt_length: int. Prompts are cut to this many tokens.

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

    def __init__(self, tokenizer, sequence_length=512, max_prompt_length=64, **kwargs):
        super().__init__(_allow_python_workflow=False, **kwargs)
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.max_prompt_length = max_prompt_length

    def build(self, input_shape):
        # Waterfall trimming keeps the (short) prompt and cuts the text.
        self.packer = preprocessing.make_packer(
            self.tokenizer, self.sequence_length, truncate="waterfall"
        )
        self.built = True

    @property
    def _separators(self):
        return getattr(self.tokenizer, "pair_separator", 1)

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
        `in_prompt`/`in_text` (which positions hold prompt or text tokens).
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
        rows = {k: [] for k in ("token_ids", "segment_ids", "token_start", "token_end",
                                "in_prompt", "in_text", "example_index")}
        for i, (prompt, text) in enumerate(zip(prompts, texts)):
            p_ids, p_start, p_end = (a[: self.max_prompt_length] for a in tokenized[prompt])
            t_ids, t_start, t_end = tokenized[text]
            head = 1 + len(p_ids) + self._separators
            budget = length - head - 1
            if budget < 1:
                raise ValueError(
                    f"sequence_length={length} leaves no room for the text after "
                    f"a prompt of {len(p_ids)} tokens; use a longer "
                    "sequence_length or a shorter max_prompt_length."
                )
            step = budget if stride is None else min(stride, budget)
            begin = 0
            while True:
                stop = min(begin + budget, len(t_ids))
                n = stop - begin
                window = slice(begin, stop)
                none = [-1] * self._separators
                rows["token_ids"].append(
                    [tok.start_token_id, *p_ids, *[tok.end_token_id] * self._separators,
                     *t_ids[window], tok.end_token_id]
                )
                rows["token_start"].append([-1, *p_start, *none, *t_start[window], -1])
                rows["token_end"].append([-1, *p_end, *none, *t_end[window], -1])
                rows["in_prompt"].append([0] + [1] * len(p_ids) + [0] * (self._separators + n + 1))
                rows["in_text"].append([0] * head + [1] * n + [0])
                rows["segment_ids"].append([0] * head + [1] * (n + 1))
                rows["example_index"].append(i)
                if stop >= len(t_ids):
                    break
                begin += step
        longest = max((len(r) for r in rows["token_ids"]), default=0)
        width = min(length, -(-longest // _PAD_MULTIPLE) * _PAD_MULTIPLE)
        pads = {"token_ids": tok.pad_token_id, "token_start": -1, "token_end": -1}
        out = {"example_index": np.asarray(rows.pop("example_index"), "int32")}
        for key, values in rows.items():
            array = np.full((len(values), width), pads.get(key, 0), "int32")
            for r, row in enumerate(values):
                array[r, : len(row)] = row
            out[key] = array
        out["padding_mask"] = (out["token_ids"] != tok.pad_token_id).astype("int32")
        out["in_prompt"] = out["in_prompt"].astype(bool)
        out["in_text"] = out["in_text"].astype(bool)
        if not getattr(tok, "uses_segment_ids", True):
            out.pop("segment_ids")
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "max_prompt_length": self.max_prompt_length,
            }
        )
        return config


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
