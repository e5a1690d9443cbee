"""Serving universal information extraction (UIE): spans answering a prompt."""

import tensorflow as tf

from keras_encoders.export.serving_signature import ServingSignature
from keras_encoders.export.serving_signature import string_spec
from keras_encoders.models import preprocessing

class InformationExtractorSignature(ServingSignature):
    """`prompt` and `text` -> the spans of the text that answer the prompt.

    One `(prompt, text)` pair per row, decoded as `InformationExtractor.extract`
    decodes one prompt on one window: prompt and text tokens whose start
    (end) probability exceeds `threshold` are candidates, each end candidate
    takes the last start candidate after the previous end candidate, spans
    across the prompt and the text are dropped; full-width ASCII in prompts
    becomes ASCII first, as in `extract()`. A client runs a schema by
    sending one prompt per type (relations: prompts such as "谷爱凌的国籍"
    built from earlier answers); texts longer than the sequence are
    truncated (`extract()` windows them).

    Outputs: `start_logits`, `end_logits`, `start_probabilities`,
    `end_probabilities` (B, L); `token_start`, `token_end` (B, L), each
    position's character span in its prompt or text (-1 elsewhere); and, with
    S the most spans of a row in the batch, `span_text` (B, S),
    `span_start`, `span_end` (character offsets, end exclusive; into the
    prompt when `span_in_prompt`, as for classification prompts such as
    "情感倾向[正向，负向]"), `span_probability` (`P(start) * P(end)`) and
    `span_in_prompt`, padded with "", -1, -1, 0 and False.
    `serve_token_ids` gives logits and probabilities only.

    Args:
        task: an `InformationExtractor`.
        threshold: float. Minimum start and end probability.
    """

    def __init__(self, task, threshold=0.5):
        super().__init__(task)
        self.threshold = threshold

    def string_spec(self):
        return {"prompt": string_spec("prompt"), "text": string_spec("text")}

    def preprocess(self, inputs):
        # The preprocessor's packing, keeping every token's span and segment.
        tokenizer = self.tokenizer
        prompts, texts = _half_width(inputs["prompt"]), inputs["text"]
        count = tf.shape(prompts)[0]
        ids, starts, ends = tokenizer.tokenize_with_offsets(tf.concat([prompts, texts], 0))
        cut = self.preprocessor.max_prompt_length
        prompt = [x[:count][:, :cut] for x in (ids, starts, ends)]
        text = [x[count:] for x in (ids, starts, ends)]
        packer = preprocessing.make_packer(tokenizer, self.sequence_length, truncate="waterfall")
        x = preprocessing.model_inputs(tokenizer, *packer((prompt[0], text[0])))
        spans = self.pack_per_token(
            [
                (prompt[0], {"token_start": prompt[1], "token_end": prompt[2]}),
                (text[0], {"token_start": text[1], "token_end": text[2]}),
            ],
            "waterfall",
        )
        extras = {"prompt": prompts, "text": texts, **spans}
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
        if "segment" not in extras:
            return out
        part, token_start, token_end = extras["segment"], extras["token_start"], extras["token_end"]
        is_start = (part >= 0) & (p_start > self.threshold)
        is_end = (part >= 0) & (p_end > self.threshold)
        # Each end takes the last start candidate after the previous end
        # candidate (PaddleNLP's `get_span` pairing).
        last_start = _last_index(is_start)
        previous_end = tf.pad(_last_index(is_end)[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
        first = tf.maximum(last_start, 0)
        # Both ends in the prompt (segment 0) or both in the text (1).
        same_part = tf.gather(part, first, batch_dims=1) == part
        keep = is_end & (last_start > previous_end) & same_part

        def spans(values, default):
            return tf.ragged.boolean_mask(values, keep).to_tensor(default)

        # Offsets of kept spans (0 elsewhere, where they may mix sources).
        a = tf.where(keep, tf.gather(token_start, first, batch_dims=1), 0)
        b = tf.where(keep, token_end, 0)
        in_prompt = part == 0
        source = tf.where(in_prompt, extras["prompt"][:, None], extras["text"][:, None])
        text = tf.strings.substr(source, a, b - a, unit="UTF8_CHAR")
        probability = tf.gather(p_start, first, batch_dims=1) * p_end
        out.update(
            token_start=token_start,
            token_end=token_end,
            span_text=spans(text, ""),
            span_start=spans(a, -1),
            span_end=spans(b, -1),
            span_probability=spans(probability, 0.0),
            span_in_prompt=spans(in_prompt, False),
        )
        return out


def _half_width(strings):
    """Full-width ASCII forms (U+FF01..U+FF5E) to ASCII, as `extract()` (and
    PaddleNLP) does to every prompt."""
    codes = tf.strings.unicode_decode(strings, "UTF-8")
    codes = tf.ragged.map_flat_values(
        lambda c: tf.where((c >= 0xFF01) & (c <= 0xFF5E), c - 0xFEE0, c), codes
    )
    return tf.strings.unicode_encode(codes, "UTF-8")


def _last_index(mask):
    """For each position, the last position at or before it where `mask`
    holds (-1 if none), in linear time."""
    positions = tf.broadcast_to(tf.range(tf.shape(mask)[1]), tf.shape(mask))
    found = tf.ragged.boolean_mask(positions, mask).to_tensor(-1)
    found = tf.pad(found, [[0, 0], [0, 1]], constant_values=-1)  # never empty
    seen = tf.cumsum(tf.cast(mask, tf.int32), axis=1)
    return tf.where(seen > 0, tf.gather(found, tf.maximum(seen - 1, 0), batch_dims=1), -1)
