"""Serving universal information extraction (UIE): spans answering a prompt."""

import tensorflow as tf

from keras_encoders.decoding import information_extraction as uie
from keras_encoders.export.serving_signature import ServingSignature
from keras_encoders.export.serving_signature import string_spec
from keras_encoders.models import preprocessing


class InformationExtractorSignature(ServingSignature):
    """`prompt` and `text` -> the spans of the text that answer the prompt.

    One `(prompt, text)` pair per row, decoded as `InformationExtractor.extract`
    decodes one prompt on one window, with the same function
    (`keras_encoders.decoding.information_extraction.decode_spans`) and the
    task's `decoding`: full-width ASCII in prompts becomes ASCII first;
    positions whose start (end) probability exceeds `threshold` are
    candidates, each end candidate takes the last start candidate after the
    previous end candidate. With `decoding="tokens"` or
    "taskflow_corrected", only prompt and text tokens are candidates and
    spans across the prompt and the text are dropped; with "taskflow",
    every position is, with Taskflow's character arithmetic (see
    `decode_spans`). Inputs follow the preprocessor's `convention`. A client
    runs a schema by sending one prompt per type (relations: prompts such as
    "谷爱凌的国籍" built from earlier answers). Texts longer than the
    sequence are truncated (`extract()` windows them); prompts are cut to
    the preprocessor's `max_prompt_length` with `decoding="tokens"` only.

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
        prompts, texts = uie.half_width_tf(inputs["prompt"]), inputs["text"]
        count = tf.shape(prompts)[0]
        ids, starts, ends = tokenizer.tokenize_with_offsets(tf.concat([prompts, texts], 0))
        cut = self.preprocessor.max_prompt_length if self.task.decoding == "tokens" else None
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
        prompts, texts = extras["prompt"], extras["text"]
        spans = uie.decode_spans(
            p_start, p_end, extras["segment"], extras["token_start"], extras["token_end"],
            tf.strings.length(prompts, unit="UTF8_CHAR"), self.threshold,
            taskflow_offsets=self.task.decoding == "taskflow",
        )
        a, b = spans["start"].to_tensor(-1), spans["end"].to_tensor(-1)
        in_prompt = spans["in_prompt"].to_tensor(False)
        source = tf.where(in_prompt, prompts[:, None], texts[:, None])
        present = tf.sequence_mask(spans["start"].row_lengths(), tf.shape(a)[1])
        out.update(
            token_start=extras["token_start"],
            token_end=extras["token_end"],
            span_text=tf.where(present, uie.python_slice(source, a, b), ""),
            span_start=a,
            span_end=b,
            span_probability=spans["probability"].to_tensor(0.0),
            span_in_prompt=in_prompt,
        )
        return out
