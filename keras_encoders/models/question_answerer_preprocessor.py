"""Extractive question answering preprocessing (SQuAD / CMRC style)."""

import keras
import numpy as np
import tensorflow as tf
from keras_hub.models import Preprocessor
from keras_hub.src.utils.tensor_utils import preprocessing_function

from keras_encoders.models import preprocessing


@keras.saving.register_keras_serializable(package="keras_encoders")
class QuestionAnswererPreprocessor(Preprocessor):
    """`(questions, contexts)` to `[CLS] question [SEP] context [SEP]` inputs.

    The question is cut to `max_question_length` tokens and the context
    truncated to fill `sequence_length` (Hugging Face's `only_second`).
    Answers come as `y = {"answer_start": chars, "answer_end": chars}`
    (character offsets into the context, end exclusive) and become
    `{"start_logits": token, "end_logits": token}` targets; an answer outside
    the kept context points at `[CLS]` (position 0), as in `run_qa.py`.

    `windows()` splits long contexts into overlapping windows (`doc_stride`)
    and keeps each token's character span, for training on long documents
    and for turning predicted logits back into answer strings.

    Example:
    >>> from keras_encoders.models import QuestionAnswererPreprocessor, NezhaQuestionAnswererPreprocessor
    >>> issubclass(NezhaQuestionAnswererPreprocessor, QuestionAnswererPreprocessor)  # the Nezha specialisation
    True
    >>> from keras_encoders.models import NezhaQuestionAnswererPreprocessor, NezhaTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> preprocessor = NezhaQuestionAnswererPreprocessor(tokenizer, sequence_length=16, max_question_length=4)
    >>> context = "我爱北京"
    >>> x, y = preprocessor(x=(["谁爱北京"], [context]),
    ...                     y={"answer_start": [4], "answer_end": [9]})
    >>> sorted(y)  # token positions of the answer
    ['end_logits', 'start_logits']
    """

    def __init__(self, tokenizer, sequence_length=384, max_question_length=64, **kwargs):
        super().__init__(_allow_python_workflow=False, **kwargs)
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.max_question_length = max_question_length

    def build(self, input_shape):
        # Waterfall trimming keeps the (short) question and cuts the context.
        self.packer = preprocessing.make_packer(
            self.tokenizer, self.sequence_length, truncate="waterfall"
        )
        self.built = True

    @property
    def _separators(self):
        return getattr(self.tokenizer, "pair_separator", 1)

    @preprocessing_function
    def call(self, x, y=None, sample_weight=None):
        questions, contexts = x
        q_ids = self.tokenizer(questions)[:, : self.max_question_length]
        c_ids, c_start, c_end = self.tokenizer.tokenize_with_offsets(contexts)
        token_ids, segment_ids = self.packer((q_ids, c_ids))
        inputs = preprocessing.model_inputs(self.tokenizer, token_ids, segment_ids)
        if y is not None:
            first = 1 + q_ids.row_lengths() + self._separators  # context offset
            kept = tf.minimum(
                c_ids.row_lengths(), self.sequence_length - first - 1
            )
            a_start = tf.cast(y["answer_start"], "int64")[:, None]
            a_end = tf.cast(y["answer_end"], "int64")[:, None]
            start_tok = tf.reduce_sum(tf.cast(tf.cast(c_end, "int64") <= a_start, "int64"), 1)
            end_tok = tf.reduce_sum(tf.cast(tf.cast(c_start, "int64") < a_end, "int64"), 1) - 1
            ok = (start_tok <= end_tok) & (end_tok < kept) & (a_end[:, 0] > a_start[:, 0])
            y = {
                "start_logits": tf.cast(tf.where(ok, first + start_tok, 0), "int32"),
                "end_logits": tf.cast(tf.where(ok, first + end_tok, 0), "int32"),
            }
        return keras.utils.pack_x_y_sample_weight(inputs, y, sample_weight)

    def windows(self, questions, contexts, answers=None, doc_stride=128):
        """Features for long contexts: overlapping windows of the context.

        Returns a dict of numpy arrays: the backbone inputs, `example_index`
        (which input each window comes from), `token_start`/`token_end` (the
        character span in the context of each position; -1 outside the
        context) and, when `answers` (`{"answer_start", "answer_end"}` lists)
        are given, `start_positions`/`end_positions` (0 where the window does
        not contain the answer).
        """
        questions, contexts = list(questions), list(contexts)
        q_ids = self.tokenizer(tf.constant(questions, tf.string))
        c_ids, c_start, c_end = self.tokenizer.tokenize_with_offsets(
            tf.constant(contexts, tf.string)
        )
        tok = self.tokenizer
        rows = {k: [] for k in ("token_ids", "segment_ids", "token_start", "token_end",
                                "example_index", "start_positions", "end_positions")}
        for i in range(len(questions)):
            q = [int(t) for t in np.asarray(q_ids[i])][: self.max_question_length]
            c = np.asarray(c_ids[i]).astype(np.int64)
            cs, ce = np.asarray(c_start[i]), np.asarray(c_end[i])
            head = [tok.start_token_id] + q + [tok.end_token_id] * self._separators
            budget = self.sequence_length - len(head) - 1
            if budget <= 0:
                raise ValueError("sequence_length too short for the question.")
            begin = 0
            while True:
                span = slice(begin, min(begin + budget, len(c)))
                ids = head + c[span].tolist() + [tok.end_token_id]
                pad = self.sequence_length - len(ids)
                ctx = len(head)
                starts = [-1] * ctx + cs[span].tolist() + [-1] * (pad + 1)
                ends = [-1] * ctx + ce[span].tolist() + [-1] * (pad + 1)
                rows["token_ids"].append(ids + [tok.pad_token_id] * pad)
                rows["segment_ids"].append([0] * ctx + [1] * (len(ids) - ctx) + [0] * pad)
                rows["token_start"].append(starts)
                rows["token_end"].append(ends)
                rows["example_index"].append(i)
                s_pos = e_pos = 0
                if answers is not None:
                    a0, a1 = answers["answer_start"][i], answers["answer_end"][i]
                    inside = [k for k in range(span.start, span.stop) if ce[k] > a0 and cs[k] < a1]
                    if inside and cs[inside[0]] <= a0 and ce[inside[-1]] >= a1:
                        s_pos = ctx + inside[0] - span.start
                        e_pos = ctx + inside[-1] - span.start
                rows["start_positions"].append(s_pos)
                rows["end_positions"].append(e_pos)
                if span.stop >= len(c):
                    break
                begin += doc_stride
        out = {k: np.asarray(v, dtype="int32") for k, v in rows.items()}
        out["padding_mask"] = out["token_ids"] != tok.pad_token_id
        if not getattr(tok, "uses_segment_ids", True):
            out.pop("segment_ids")
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "max_question_length": self.max_question_length,
            }
        )
        return config
