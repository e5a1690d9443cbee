"""ConvBERT token classifier."""

import keras

from keras_encoders.models.convbert.convbert_backbone import ConvBertBackbone
from keras_encoders.models.convbert.convbert_token_classifier_preprocessor import (
    ConvBertTokenClassifierPreprocessor,
)
from keras_encoders.models.token_classifier import TokenClassifier


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertTokenClassifier(TokenClassifier):
    """ConvBERT token classifier (`ConvBertForTokenClassification`).

    See `TokenClassifier` for the arguments and behaviour.
    """

    backbone_cls = ConvBertBackbone
    preprocessor_cls = ConvBertTokenClassifierPreprocessor
    checkpoint_head = "ConvBertForTokenClassification"
