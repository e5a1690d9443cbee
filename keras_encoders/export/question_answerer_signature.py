"""Serving extractive question answering."""

import tensorflow as tf

from keras_encoders.export.serving_signature import ServingSignature
from keras_encoders.export.serving_signature import string_spec
from keras_encoders.models import preprocessing


class QuestionAnswererSignature(ServingSignature):
    """`question` and `context` -> the best answer span in the context.

    The context is truncated to what fits in one sequence (no sliding
    windows; `QuestionAnswerer.answer()` windows long contexts in Python).
    The best span maximizes `start_logit + end_logit` over context tokens
    with `start <= end < start + max_answer_length`, as `answer()` does.

    Outputs: `start_logits`, `end_logits` (B, L); `token_start`, `token_end`
    (B, L), each position's character span in the context (-1 outside it);
    `answer_text` (B,), `answer_start`, `answer_end` (character offsets into
    the context, end exclusive) and `answer_score` (B,); an empty answer with
    score -inf when no context token fits. `serve_token_ids` gives the logits
    only (the spans need the text).

    Args:
        task: a `QuestionAnswerer`.
        max_answer_length: int. The longest answer, in tokens.
    """

    def __init__(self, task, max_answer_length=30):
        super().__init__(task)
        self.max_answer_length = max_answer_length

    def string_spec(self):
        return {"question": string_spec("question"), "context": string_spec("context")}

    def preprocess(self, inputs):
        # The preprocessor's packing, keeping the context's character spans
        # (-1 at the question's places). One tokenizer call for both: its
        # graph is most of the exported graph.
        tokenizer = self.tokenizer
        questions, contexts = inputs["question"], inputs["context"]
        count = tf.shape(questions)[0]
        ids, starts, ends = tokenizer.tokenize_with_offsets(tf.concat([questions, contexts], 0))
        question = ids[:count][:, : self.preprocessor.max_question_length]
        packer = preprocessing.make_packer(tokenizer, self.sequence_length, truncate="waterfall")
        x = preprocessing.model_inputs(tokenizer, *packer((question, ids[count:])))
        context = {"token_start": starts[count:], "token_end": ends[count:]}
        spans = self.pack_per_token([(question, None), (ids[count:], context)], "waterfall")
        return x, {"context": contexts, "token_start": spans["token_start"], "token_end": spans["token_end"]}

    def outputs(self, outputs, inputs, extras):
        start = tf.cast(outputs["start_logits"], tf.float32)
        end = tf.cast(outputs["end_logits"], tf.float32)
        out = {"start_logits": start, "end_logits": end}
        if "context" not in extras:
            return out
        token_start, token_end = extras["token_start"], extras["token_end"]
        in_context = token_start >= 0
        length = tf.shape(start)[1]
        index = tf.range(length)
        gap = index[None, :] - index[:, None]  # end index - start index
        allowed = (
            in_context[:, :, None]
            & in_context[:, None, :]
            & ((gap >= 0) & (gap < self.max_answer_length))[None]
        )
        score = tf.where(allowed, start[:, :, None] + end[:, None, :], -float("inf"))
        score = tf.reshape(score, [tf.shape(score)[0], -1])
        best = tf.argmax(score, axis=-1, output_type=tf.int32)
        best_score = tf.reduce_max(score, axis=-1)
        found = best_score > -float("inf")
        a = tf.gather(token_start, best // length, batch_dims=1)
        b = tf.gather(token_end, best % length, batch_dims=1)
        a = tf.where(found, a, 0)
        b = tf.where(found, b, 0)
        out.update(
            token_start=token_start,
            token_end=token_end,
            answer_text=tf.strings.substr(extras["context"], a, b - a, unit="UTF8_CHAR"),
            answer_start=a,
            answer_end=b,
            answer_score=best_score,
        )
        return out
