"""NEZHA token classifier."""

import keras

from keras_encoders.models.token_classifier import TokenClassifier
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_token_classifier_preprocessor import NezhaTokenClassifierPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaTokenClassifier(TokenClassifier):
    """NEZHA token classifier (`NezhaForTokenClassification`).

    See `TokenClassifier` for the arguments and behaviour.
    """

    backbone_cls = NezhaBackbone
    preprocessor_cls = NezhaTokenClassifierPreprocessor
    checkpoint_head = "NezhaForTokenClassification"
