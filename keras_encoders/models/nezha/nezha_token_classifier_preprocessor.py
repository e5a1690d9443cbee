"""NEZHA token classification preprocessing."""

import keras

from keras_encoders.models.token_classifier_preprocessor import TokenClassifierPreprocessor
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_tokenizer import NezhaTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaTokenClassifierPreprocessor(TokenClassifierPreprocessor):
    """NEZHA token classification preprocessing: words and word labels to sub-word inputs.

    See `TokenClassifierPreprocessor` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import NezhaTokenClassifierPreprocessor, NezhaTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> preprocessor = NezhaTokenClassifierPreprocessor(tokenizer, sequence_length=8)
    >>> x, y, sample_weight = preprocessor(x=[["我", "爱", "北", "京"]], y=[[0, 1, 2, 0]])
    >>> tuple(y.shape)  # labels on first sub-tokens, -100 elsewhere
    (1, 8)
    """

    backbone_cls = NezhaBackbone
    tokenizer_cls = NezhaTokenizer
