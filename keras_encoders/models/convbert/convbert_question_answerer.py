"""ConvBERT extractive question answering."""

import keras

from keras_encoders.models.convbert.convbert_backbone import ConvBertBackbone
from keras_encoders.models.convbert.convbert_question_answerer_preprocessor import (
    ConvBertQuestionAnswererPreprocessor,
)
from keras_encoders.models.question_answerer import QuestionAnswerer


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertQuestionAnswerer(QuestionAnswerer):
    """ConvBERT extractive question answering (`ConvBertForQuestionAnswering`).

    See `QuestionAnswerer` for the arguments and behaviour.
    """

    backbone_cls = ConvBertBackbone
    preprocessor_cls = ConvBertQuestionAnswererPreprocessor
    checkpoint_head = "ConvBertForQuestionAnswering"
