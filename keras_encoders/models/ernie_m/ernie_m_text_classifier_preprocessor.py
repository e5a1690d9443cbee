"""ERNIE-M text classification preprocessing."""

import keras

from keras_encoders.models.encoder_text_classifier_preprocessor import EncoderTextClassifierPreprocessor
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_tokenizer import ErnieMTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMTextClassifierPreprocessor(EncoderTextClassifierPreprocessor):
    """ERNIE-M text classification preprocessing: strings or string pairs to packed inputs.

    Pairs are packed `[CLS] A [SEP] [SEP] B [SEP]`; there are no segment ids.

    See `EncoderTextClassifierPreprocessor` for the arguments and behaviour.
    """

    backbone_cls = ErnieMBackbone
    tokenizer_cls = ErnieMTokenizer
