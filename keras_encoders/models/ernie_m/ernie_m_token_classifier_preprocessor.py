"""ERNIE-M token classification preprocessing."""

import keras

from keras_encoders.models.token_classifier_preprocessor import TokenClassifierPreprocessor
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_tokenizer import ErnieMTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMTokenClassifierPreprocessor(TokenClassifierPreprocessor):
    """ERNIE-M token classification preprocessing: words and word labels to sub-word inputs.

    Each word is tokenized on its own (SentencePiece adds its "▁" word
    prefix, ERNIE-M's splitting may cut a word into several tokens); the
    word's label goes to its first token.

    See `TokenClassifierPreprocessor` for the arguments and behaviour.
    """

    backbone_cls = ErnieMBackbone
    tokenizer_cls = ErnieMTokenizer
