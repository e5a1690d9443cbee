"""ERNIE-M multiple choice preprocessing."""

import keras

from keras_encoders.models.multiple_choice_preprocessor import MultipleChoicePreprocessor
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_tokenizer import ErnieMTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMMultipleChoicePreprocessor(MultipleChoicePreprocessor):
    """ERNIE-M multiple choice preprocessing.

    Each choice becomes `[CLS] prompt [SEP] [SEP] choice [SEP]`, without segment ids.

    See `MultipleChoicePreprocessor` for the arguments and behaviour.
    """

    backbone_cls = ErnieMBackbone
    tokenizer_cls = ErnieMTokenizer
