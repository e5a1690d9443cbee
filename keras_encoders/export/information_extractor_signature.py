"""Serving universal information extraction (UIE): spans answering a prompt."""

import tensorflow as tf

from keras_encoders.decoding import information_extraction as uie
from keras_encoders.export.serving_signature import ServingSignature
from keras_encoders.export.serving_signature import string_spec
from keras_encoders.models import preprocessing


class InformationExtractorSignature(ServingSignature):
    """`prompt` and `text` -> the spans of the text that answer the prompt.

    One `(prompt, text)` pair per row, decoded as `InformationExtractor.extract`
    decodes one prompt, with the same functions
    (`keras_encoders.decoding.information_extraction`) and the task's
    `decoding`: full-width ASCII in prompts becomes ASCII first; positions
    whose start (end) probability exceeds `threshold` are candidates, each
    end candidate takes the last start candidate after the previous end
    candidate.

    With `decoding="taskflow"` or "taskflow_corrected" (the `uie_m_*`
    presets), texts are read whole, in `extract()`'s character windows:
    each text is cut into windows (`window_lengths`), each window is packed
    with its prompt (`character_window_tensors`, Taskflow's "longest_first"
    truncation), decoded, and the windows of each row are joined
    (`join_windows`), so the spans are those `extract(..., max_seq_len=
    max_seq_len)` finds. As in Taskflow, the rows of one request are asked
    together: with "taskflow", every window is sized from the
    lexicographically largest prompt of the request, and if the first
    window with any span starts with a span of its prompt, every row of the
    request gets one voted answer (a classification prompt such as
    "情感倾向[正向，负向]"). A client therefore sends one schema type's
    prompts together, as `extract()` asks them (relations: one child type's
    prompts, such as "谷爱凌的国籍", built from earlier answers), and
    other types in other requests.

    With `decoding="tokens"`, each row is one window: texts longer than the
    sequence are truncated (`extract()` windows them by tokens and keeps
    each span once, which needs overlapping windows a server cannot size
    for every client), and prompts are cut to the preprocessor's
    `max_prompt_length`; only prompt and text tokens are candidates.

    Outputs, with W windows (W = B with "tokens"): `start_logits`,
    `end_logits`, `start_probabilities`, `end_probabilities` (W, L);
    `token_start`, `token_end` (W, L), each position's character span in its
    prompt or in its window's text (-1 elsewhere); `window_row` (W,), the
    input row of each window, and `window_offset` (W,), the character of
    the row's text where the window starts. Spans, per input row, with S the
    most spans of a row in the request: `span_count` (B,) and `span_text`
    (B, S), `span_start`, `span_end` (characters of the row's text, end
    exclusive; of the prompt when `span_in_prompt`), `span_probability`
    (`P(start) * P(end)`; a voted answer's mean), `span_in_prompt` and
    `span_voted` (a classification answer voted over windows: no offsets,
    as `extract()` gives none), padded with "", -1, -1, 0, False and False.
    `serve_token_ids` takes packed rows and gives logits and probabilities
    only.

    Args:
        task: an `InformationExtractor`.
        threshold: float. Minimum start and end probability.
        max_seq_len: int. Tokens per window, prompt included (`extract()`'s
            `max_seq_len`); default: the preprocessor's `sequence_length`.
    """

    def __init__(self, task, threshold=0.5, max_seq_len=None):
        super().__init__(task)
        self.threshold = threshold
        limit = getattr(task.backbone, "max_sequence_length", None)
        self.max_seq_len = max_seq_len or self.preprocessor.sequence_length
        if limit and self.max_seq_len > limit:
            raise ValueError(
                f"max_seq_len={self.max_seq_len} exceeds the {limit} positions of "
                f"{task.backbone.__class__.__name__}; use at most {limit}."
            )
        self.windowed = task.decoding != "tokens"

    @property
    def sequence_length(self):
        return self.max_seq_len

    def string_spec(self):
        return {"prompt": string_spec("prompt"), "text": string_spec("text")}

    def preprocess(self, inputs):
        prompts, texts = uie.half_width_tf(inputs["prompt"]), inputs["text"]
        if self.windowed:
            return self._windows(prompts, texts)
        # One window per row: the preprocessor's packing, keeping every
        # token's span and segment.
        tokenizer = self.tokenizer
        count = tf.shape(prompts)[0]
        ids, starts, ends = tokenizer.tokenize_with_offsets(tf.concat([prompts, texts], 0))
        cut = self.preprocessor.max_prompt_length
        prompt = [x[:count][:, :cut] for x in (ids, starts, ends)]
        text = [x[count:] for x in (ids, starts, ends)]
        packer = preprocessing.make_packer(tokenizer, self.sequence_length, truncate="waterfall")
        token_ids, segment_ids = packer((prompt[0], text[0]))
        x = preprocessing.model_inputs(tokenizer, token_ids, segment_ids)
        x["padding_mask"] = self.preprocessor.padding_mask(token_ids)
        spans = self.pack_per_token(
            [
                (prompt[0], {"token_start": prompt[1], "token_end": prompt[2]}),
                (text[0], {"token_start": text[1], "token_end": text[2]}),
            ],
            "waterfall",
        )
        extras = {
            "prompt": prompts,
            "text": texts,
            "window_row": tf.range(count),
            "window_offset": tf.zeros([count], tf.int32),
            "prompt_length": tf.strings.length(prompts, unit="UTF8_CHAR"),
            # A blank text gives no spans, as in `extract()`.
            "part": tf.where(uie.blank_texts(texts)[:, None], uie.SPECIAL, spans.pop("segment")),
            **spans,
        }
        return x, extras

    def _windows(self, prompts, texts):
        """`extract()`'s character windows of every row, in the graph."""
        specials = 2 + getattr(self.tokenizer, "pair_separator", 1)
        sizes = uie.window_lengths(prompts, self.max_seq_len, self.task.decoding, specials)
        check = tf.debugging.assert_positive(
            sizes,
            message=(f"max_seq_len={self.max_seq_len} leaves no characters of text next to "
                     "a prompt of the request; send shorter prompts or export with a "
                     "larger max_seq_len"),
        )
        with tf.control_dependencies([check]):
            sizes = tf.identity(sizes)
        features = self.preprocessor.character_window_tensors(prompts, texts, sizes, self.max_seq_len)
        x = {name: features.pop(name) for name in self.task.input}
        extras = {
            "prompt": prompts,
            "text": texts,
            "window_row": features.pop("example_index"),
            **features,
        }
        return x, extras

    def outputs(self, outputs, inputs, extras):
        start = tf.cast(outputs["start_logits"], tf.float32)
        end = tf.cast(outputs["end_logits"], tf.float32)
        p_start, p_end = tf.sigmoid(start), tf.sigmoid(end)
        out = {
            "start_logits": start,
            "end_logits": end,
            "start_probabilities": p_start,
            "end_probabilities": p_end,
        }
        if "part" not in extras:
            return out
        prompts, texts, row = extras["prompt"], extras["text"], extras["window_row"]
        spans = uie.decode_spans(
            p_start, p_end, extras["part"], extras["token_start"], extras["token_end"],
            extras["prompt_length"], self.threshold,
            taskflow_offsets=self.task.decoding == "taskflow",
        )
        if self.windowed:
            found = uie.join_windows(
                spans, row, extras["window_offset"], extras["window_text"],
                tf.gather(prompts, row), tf.shape(prompts)[0],
            )
        else:
            rows = spans["start"].value_rowids()
            in_prompt = spans["in_prompt"]
            source = tf.where(in_prompt.flat_values, tf.gather(prompts, rows), tf.gather(texts, rows))
            text = uie.python_slice(source, spans["start"].flat_values, spans["end"].flat_values)
            found = {
                "text": in_prompt.with_flat_values(text),
                "voted": in_prompt.with_flat_values(tf.zeros_like(in_prompt.flat_values)),
                **{k: spans[k] for k in ("start", "end", "in_prompt", "probability")},
            }
        out.update(
            token_start=extras["token_start"],
            token_end=extras["token_end"],
            window_row=row,
            window_offset=extras["window_offset"],
            span_count=tf.cast(found["start"].row_lengths(), tf.int32),
            span_text=found["text"].to_tensor(""),
            span_start=found["start"].to_tensor(-1),
            span_end=found["end"].to_tensor(-1),
            span_probability=tf.cast(found["probability"].to_tensor(0.0), tf.float32),
            span_in_prompt=found["in_prompt"].to_tensor(False),
            span_voted=found["voted"].to_tensor(False),
        )
        return out
