"""NEZHA question answering preprocessing."""

import keras

from keras_encoders.models.question_answerer_preprocessor import QuestionAnswererPreprocessor
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_tokenizer import NezhaTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaQuestionAnswererPreprocessor(QuestionAnswererPreprocessor):
    """NEZHA question answering preprocessing (question + context, windows).

    See `QuestionAnswererPreprocessor` for the arguments and behaviour.
    """

    backbone_cls = NezhaBackbone
    tokenizer_cls = NezhaTokenizer
