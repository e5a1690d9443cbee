"""NEZHA text classifier."""

import keras

from keras_encoders.models.encoder_text_classifier import EncoderTextClassifier
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_text_classifier_preprocessor import NezhaTextClassifierPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaTextClassifier(EncoderTextClassifier):
    """NEZHA text classifier: pooler, dropout, dense (`NezhaForSequenceClassification`).

    See `EncoderTextClassifier` for the arguments and behaviour.
    """

    backbone_cls = NezhaBackbone
    preprocessor_cls = NezhaTextClassifierPreprocessor
    checkpoint_head = "NezhaForSequenceClassification"
