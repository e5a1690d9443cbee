"""Masked language modeling preprocessing for the encoders."""

import keras
import tensorflow as tf
from keras_hub.layers import MaskedLMMaskGenerator
from keras_hub.models import MaskedLMPreprocessor
from keras_hub.src.utils.tensor_utils import preprocessing_function

from keras_encoders.models import preprocessing


@keras.saving.register_keras_serializable(package="keras_encoders")
class EncoderMaskedLMPreprocessor(MaskedLMPreprocessor):
    """Raw strings to masked inputs and targets (BERT's 80/10/10 masking).

    Outputs `(x, y, sample_weight)`: `x` holds the backbone inputs plus
    `mask_positions`; `y` the original ids at those positions, with
    `-100` in unused slots (Hugging Face's ignore index, so the loss is the mean
    over real targets); `sample_weight` is 1 for real targets.

    Example:
    >>> from keras_encoders.models import EncoderMaskedLMPreprocessor, NezhaMaskedLMPreprocessor
    >>> issubclass(NezhaMaskedLMPreprocessor, EncoderMaskedLMPreprocessor)  # the Nezha specialisation
    True
    >>> from keras_encoders.models import NezhaMaskedLMPreprocessor, NezhaTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> preprocessor = NezhaMaskedLMPreprocessor(tokenizer, sequence_length=8)
    >>> x, y, sample_weight = preprocessor(["我爱北京"])
    >>> sorted(x)[:2], tuple(x["token_ids"].shape)
    (['mask_positions', 'padding_mask'], (1, 8))
    """

    def __init__(self, tokenizer, sequence_length=512, **kwargs):
        super().__init__(
            tokenizer=tokenizer,
            sequence_length=sequence_length,
            _allow_python_workflow=False,
            **kwargs,
        )

    def build(self, input_shape):
        self.packer = preprocessing.make_packer(
            self.tokenizer, self.sequence_length, self.truncate
        )
        self.masker = MaskedLMMaskGenerator(
            mask_selection_rate=self.mask_selection_rate,
            mask_selection_length=self.mask_selection_length,
            mask_token_rate=self.mask_token_rate,
            random_token_rate=self.random_token_rate,
            vocabulary_size=self.tokenizer.vocabulary_size(),
            mask_token_id=self.tokenizer.mask_token_id,
            unselectable_token_ids=self.tokenizer.special_token_ids,
            _allow_python_workflow=False,
        )
        self.built = True

    def mask(self, segments):
        """Pack and mask tokenized segments: (inputs, labels, weights)."""
        token_ids, segment_ids = self.packer(segments)
        masked = self.masker(token_ids)
        x = preprocessing.model_inputs(self.tokenizer, token_ids, segment_ids)
        x["token_ids"] = tf.cast(masked["token_ids"], "int32")
        x["mask_positions"] = tf.cast(masked["mask_positions"], "int32")
        weights = tf.cast(masked["mask_weights"], "float32")
        labels = tf.where(
            weights > 0,
            tf.cast(masked["mask_ids"], "int32"),
            preprocessing.IGNORE_INDEX,
        )
        return x, labels, weights

    @preprocessing_function
    def call(self, x, y=None, sample_weight=None):
        segments = tuple(self.tokenizer(s) for s in preprocessing.as_segments(x))
        x, labels, weights = self.mask(segments)
        return keras.utils.pack_x_y_sample_weight(x, labels, weights)
