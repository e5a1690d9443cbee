"""NEZHA multiple choice preprocessing.."""

import keras

from keras_encoders.models.multiple_choice_preprocessor import MultipleChoicePreprocessor
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_tokenizer import NezhaTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaMultipleChoicePreprocessor(MultipleChoicePreprocessor):
    """NEZHA multiple choice preprocessing.

    See `MultipleChoicePreprocessor` for the arguments and behaviour.
    """

    backbone_cls = NezhaBackbone
    tokenizer_cls = NezhaTokenizer
