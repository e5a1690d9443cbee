"""NEZHA token classification preprocessing."""

import keras

from keras_encoders.models.token_classifier_preprocessor import TokenClassifierPreprocessor
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_tokenizer import NezhaTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaTokenClassifierPreprocessor(TokenClassifierPreprocessor):
    """NEZHA token classification preprocessing: words and word labels to sub-word inputs.

    See `TokenClassifierPreprocessor` for the arguments and behaviour.
    """

    backbone_cls = NezhaBackbone
    tokenizer_cls = NezhaTokenizer
