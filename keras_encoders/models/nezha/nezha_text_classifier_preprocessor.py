"""NEZHA text classification preprocessing."""

import keras

from keras_encoders.models.encoder_text_classifier_preprocessor import EncoderTextClassifierPreprocessor
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_tokenizer import NezhaTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaTextClassifierPreprocessor(EncoderTextClassifierPreprocessor):
    """NEZHA text classification preprocessing: strings or string pairs to packed inputs.

    See `EncoderTextClassifierPreprocessor` for the arguments and behaviour.
    """

    backbone_cls = NezhaBackbone
    tokenizer_cls = NezhaTokenizer
