"""Serving extractive question answering."""

import tensorflow as tf

from keras_encoders.decoding import spans
from keras_encoders.export.serving_signature import ServingSignature
from keras_encoders.export.serving_signature import string_spec
from keras_encoders.models import preprocessing


class QuestionAnswererSignature(ServingSignature):
    """`question` and `context` -> the best answer span in the context.

    The context is truncated to what fits in one sequence (no sliding
    windows; `QuestionAnswerer.answer()` windows long contexts in Python).
    The best span maximizes `start_logit + end_logit` over context tokens
    with `start <= end < start + max_answer_length`: `answer()`'s decoding,
    `keras_encoders.decoding.spans.best_answer_spans`.

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
        answer = spans.best_answer_spans(
            start, end, token_start, token_end, extras["context"], self.max_answer_length
        )
        out.update(
            token_start=token_start,
            token_end=token_end,
            answer_text=answer["text"],
            answer_start=answer["start"],
            answer_end=answer["end"],
            answer_score=answer["score"],
        )
        return out
