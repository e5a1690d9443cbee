"""ConvBERT token classification preprocessing."""

import keras

from keras_encoders.models.convbert.convbert_backbone import ConvBertBackbone
from keras_encoders.models.convbert.convbert_tokenizer import ConvBertTokenizer
from keras_encoders.models.token_classifier_preprocessor import TokenClassifierPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertTokenClassifierPreprocessor(TokenClassifierPreprocessor):
    """ConvBERT token classification preprocessing: words and word labels
    to packed inputs and per-token targets.

    See `TokenClassifierPreprocessor` for the arguments and behaviour.
    """

    backbone_cls = ConvBertBackbone
    tokenizer_cls = ConvBertTokenizer
