"""Multiple choice preprocessing: one `[CLS] prompt [SEP] choice [SEP]` per choice."""

import keras
import tensorflow as tf
from keras_hub.models import Preprocessor
from keras_hub.src.utils.tensor_utils import preprocessing_function

from keras_encoders.models import preprocessing


@keras.saving.register_keras_serializable(package="keras_encoders")
class MultipleChoicePreprocessor(Preprocessor):
    """`(prompts [B], choices [B, C])` to inputs of shape `(B, C, L)`.

    Each choice is paired with its prompt (SWAG-style); `y` is the index of the
    right choice and passes through.

    Example:
    >>> from keras_encoders.models import MultipleChoicePreprocessor, NezhaMultipleChoicePreprocessor
    >>> issubclass(NezhaMultipleChoicePreprocessor, MultipleChoicePreprocessor)  # the Nezha specialisation
    True
    >>> from keras_encoders.models import NezhaMultipleChoicePreprocessor, NezhaTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> import numpy as np
    >>> preprocessor = NezhaMultipleChoicePreprocessor(tokenizer, sequence_length=8)
    >>> x = preprocessor(x=(["北京"], np.array([["北京", "我"]])))
    >>> tuple(x["token_ids"].shape)  # (batch, choices, sequence_length)
    (1, 2, 8)
    """

    def __init__(self, tokenizer, sequence_length=256, **kwargs):
        super().__init__(_allow_python_workflow=False, **kwargs)
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length

    def build(self, input_shape):
        self.packer = preprocessing.make_packer(self.tokenizer, self.sequence_length)
        self.built = True

    @preprocessing_function
    def call(self, x, y=None, sample_weight=None):
        prompts, choices = x
        choices = tf.convert_to_tensor(choices)
        num_choices = tf.shape(choices)[-1]
        flat_prompts = tf.repeat(prompts, num_choices)
        flat_choices = tf.reshape(choices, [-1])
        token_ids, segment_ids = self.packer(
            (self.tokenizer(flat_prompts), self.tokenizer(flat_choices))
        )
        inputs = preprocessing.model_inputs(self.tokenizer, token_ids, segment_ids)
        shape = [-1, num_choices, self.sequence_length]
        inputs = {k: tf.reshape(v, shape) for k, v in inputs.items()}
        return keras.utils.pack_x_y_sample_weight(inputs, y, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update({"sequence_length": self.sequence_length})
        return config
