"""NEZHA extractive question answering."""

import keras

from keras_encoders.models.question_answerer import QuestionAnswerer
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_question_answerer_preprocessor import NezhaQuestionAnswererPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaQuestionAnswerer(QuestionAnswerer):
    """NEZHA extractive question answering (`NezhaForQuestionAnswering`).

    See `QuestionAnswerer` for the arguments and behaviour.
    """

    backbone_cls = NezhaBackbone
    preprocessor_cls = NezhaQuestionAnswererPreprocessor
    checkpoint_head = "NezhaForQuestionAnswering"
