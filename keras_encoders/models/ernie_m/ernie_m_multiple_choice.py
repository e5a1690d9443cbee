"""ERNIE-M multiple choice."""

import keras

from keras_encoders.models.multiple_choice import MultipleChoice
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_multiple_choice_preprocessor import ErnieMMultipleChoicePreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMMultipleChoice(MultipleChoice):
    """ERNIE-M multiple choice (`ErnieMForMultipleChoice`, pooler summary).

    Example:
    ```python
    mc = ErnieMMultipleChoice.from_preset("ernie_m_base_multi")
    # prompts: (B,) strings; choices: (B, C) strings; labels: the right choice.
    mc.fit(x=(prompts, choices), y=labels)
    ```

    See `MultipleChoice` for the arguments and behaviour.
    """

    backbone_cls = ErnieMBackbone
    preprocessor_cls = ErnieMMultipleChoicePreprocessor
    checkpoint_head = "ErnieMForMultipleChoice"
