"""ERNIE-M question answering preprocessing."""

import keras

from keras_encoders.models.question_answerer_preprocessor import QuestionAnswererPreprocessor
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_tokenizer import ErnieMTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMQuestionAnswererPreprocessor(QuestionAnswererPreprocessor):
    """ERNIE-M question answering preprocessing (question + context, windows).

    Inputs are `[CLS] question [SEP] [SEP] context [SEP]`, without segment ids.

    See `QuestionAnswererPreprocessor` for the arguments and behaviour.
    """

    backbone_cls = ErnieMBackbone
    tokenizer_cls = ErnieMTokenizer
