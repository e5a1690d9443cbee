"""ERNIE-M extractive question answering."""

import keras

from keras_encoders.models.question_answerer import QuestionAnswerer
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_question_answerer_preprocessor import ErnieMQuestionAnswererPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMQuestionAnswerer(QuestionAnswerer):
    """ERNIE-M extractive question answering (`ErnieMForQuestionAnswering`).

    Example:
    ```python
    qa = ErnieMQuestionAnswerer.from_preset("ernie_m_base_multi")
    qa.fit(x=(questions, contexts), y={"answer_start": starts, "answer_end": ends})
    qa.answer(["Wo wohnt sie?"], ["Sie wohnt in Berlin."])  # [{"text": ..., ...}]
    ```

    See `QuestionAnswerer` for the arguments and behaviour.
    """

    backbone_cls = ErnieMBackbone
    preprocessor_cls = ErnieMQuestionAnswererPreprocessor
    checkpoint_head = "ErnieMForQuestionAnswering"
