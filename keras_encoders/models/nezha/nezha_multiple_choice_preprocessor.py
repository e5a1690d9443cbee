"""NEZHA multiple choice preprocessing.."""

import keras

from keras_encoders.models.multiple_choice_preprocessor import MultipleChoicePreprocessor
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_tokenizer import NezhaTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaMultipleChoicePreprocessor(MultipleChoicePreprocessor):
    """NEZHA multiple choice preprocessing.

    See `MultipleChoicePreprocessor` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import NezhaMultipleChoicePreprocessor, NezhaTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> import numpy as np
    >>> preprocessor = NezhaMultipleChoicePreprocessor(tokenizer, sequence_length=8)
    >>> x = preprocessor(x=(["北京"], np.array([["北京", "我"]])))
    >>> tuple(x["token_ids"].shape)  # (batch, choices, sequence_length)
    (1, 2, 8)
    """

    backbone_cls = NezhaBackbone
    tokenizer_cls = NezhaTokenizer
