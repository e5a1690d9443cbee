"""NEZHA multiple choice."""

import keras

from keras_encoders.models.multiple_choice import MultipleChoice
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_multiple_choice_preprocessor import NezhaMultipleChoicePreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaMultipleChoice(MultipleChoice):
    """NEZHA multiple choice (`NezhaForMultipleChoice`, pooler summary).

    See `MultipleChoice` for the arguments and behaviour.
    """

    backbone_cls = NezhaBackbone
    preprocessor_cls = NezhaMultipleChoicePreprocessor
    checkpoint_head = "NezhaForMultipleChoice"
