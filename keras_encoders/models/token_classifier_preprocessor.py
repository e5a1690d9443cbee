"""Token classification preprocessing: word-level labels to sub-word tokens."""

import keras
import tensorflow as tf
from keras_hub.models import Preprocessor
from keras_hub.src.utils.tensor_utils import preprocessing_function

from keras_encoders.models import preprocessing


@keras.saving.register_keras_serializable(package="keras_encoders")
class TokenClassifierPreprocessor(Preprocessor):
    """Words (or raw text) to packed inputs, with labels on first sub-tokens.

    `x` is either a batch of pre-split words (a ragged `[B, W]` string tensor
    or a list of word lists, e.g. the characters of an MSRA NER sentence) with
    optional word labels `y` of the same shape, or a batch of raw strings
    (inference only). Each word is tokenized on its own, as Hugging Face does
    with `is_split_into_words=True`; a word's label goes to its first
    sub-token and every other position gets -100 (ignored by the loss, and
    weight 0 in `sample_weight`).
    """

    def __init__(self, tokenizer, sequence_length=512, **kwargs):
        super().__init__(_allow_python_workflow=False, **kwargs)
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length

    def build(self, input_shape):
        self.packer = preprocessing.make_packer(self.tokenizer, self.sequence_length)
        ignore = preprocessing.IGNORE_INDEX
        self.label_packer = preprocessing.make_packer(
            self.tokenizer,
            self.sequence_length,
            start_value=ignore,
            end_value=ignore,
            pad_value=ignore,
            sep_value=None,
        )
        self.built = True

    @preprocessing_function
    def call(self, x, y=None, sample_weight=None):
        if isinstance(x, tf.RaggedTensor) or x.shape.rank == 2:
            if not isinstance(x, tf.RaggedTensor):
                x = tf.RaggedTensor.from_tensor(x)
            word_ids = self.tokenizer(x.flat_values)  # [N words, pieces]
            ids = _regroup(word_ids, x.row_splits)
            token_ids, segment_ids = self.packer((ids,))
            if y is not None:
                y = y if isinstance(y, tf.RaggedTensor) else tf.RaggedTensor.from_tensor(y)
                piece = tf.range(tf.shape(word_ids.flat_values, out_type=tf.int64)[0])
                first = piece == tf.repeat(word_ids.row_starts(), word_ids.row_lengths())
                labels = tf.where(
                    first,
                    tf.repeat(tf.cast(y.flat_values, "int32"), word_ids.row_lengths()),
                    preprocessing.IGNORE_INDEX,
                )
                labels = _regroup(word_ids.with_flat_values(labels), x.row_splits)
                y, _ = self.label_packer((labels,))
                sample_weight = tf.cast(y != preprocessing.IGNORE_INDEX, "float32")
        else:
            if y is not None:
                raise ValueError(
                    "Labels for token classification must be word labels with "
                    "pre-split words as inputs (a list of words per example)."
                )
            token_ids, segment_ids = self.packer((self.tokenizer(x),))
        inputs = preprocessing.model_inputs(self.tokenizer, token_ids, segment_ids)
        return keras.utils.pack_x_y_sample_weight(inputs, y, sample_weight)

    def call_with_offsets(self, x):
        """Raw strings -> `(inputs, spans)`: the inputs `call(x)` packs, and
        `spans = {"token_start", "token_end"}`, each position's character
        span in its string (`(B, sequence_length)`, -1 at special tokens and
        padding). TensorFlow ops: runs eagerly and in a `tf.function`.
        """
        if not self.built:
            self.build(None)
        ids, starts, ends = self.tokenizer.tokenize_with_offsets(x)
        token_ids, segment_ids = self.packer((ids,))
        # Both offsets in one int64 per token: a packer is a large graph.
        packer = preprocessing.make_packer(
            self.tokenizer, self.sequence_length, start_value=-1, end_value=-1,
            pad_value=-1, sep_value=None,
        )
        stride = tf.constant(1 << 32, tf.int64)
        packed, _ = packer((tf.cast(starts, tf.int64) * stride + tf.cast(ends, tf.int64),))
        none = packed < 0
        spans = {
            "token_start": tf.cast(tf.where(none, -1, packed // stride), "int32"),
            "token_end": tf.cast(tf.where(none, -1, packed % stride), "int32"),
        }
        return preprocessing.model_inputs(self.tokenizer, token_ids, segment_ids), spans

    def get_config(self):
        config = super().get_config()
        config.update({"sequence_length": self.sequence_length})
        return config


def _regroup(per_word, row_splits):
    """Pieces per word `[N, S]` -> pieces per example `[B, T]`."""
    return tf.RaggedTensor.from_row_splits(per_word, row_splits, validate=False).merge_dims(1, 2)
