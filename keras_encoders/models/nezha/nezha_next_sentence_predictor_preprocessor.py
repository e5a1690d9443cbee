"""NEZHA next sentence prediction preprocessing."""

import keras

from keras_encoders.models.encoder_text_classifier_preprocessor import EncoderTextClassifierPreprocessor
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_tokenizer import NezhaTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaNextSentencePredictorPreprocessor(EncoderTextClassifierPreprocessor):
    """NEZHA next sentence prediction preprocessing: sentence pairs to packed inputs.

    See `EncoderTextClassifierPreprocessor` for the arguments and behaviour.
    """

    backbone_cls = NezhaBackbone
    tokenizer_cls = NezhaTokenizer
