"""ConvBERT question answering preprocessing."""

import keras

from keras_encoders.models.convbert.convbert_backbone import ConvBertBackbone
from keras_encoders.models.convbert.convbert_tokenizer import ConvBertTokenizer
from keras_encoders.models.question_answerer_preprocessor import QuestionAnswererPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertQuestionAnswererPreprocessor(QuestionAnswererPreprocessor):
    """ConvBERT question answering preprocessing: (question, context) pairs
    and character spans to packed inputs and token targets.

    See `QuestionAnswererPreprocessor` for the arguments and behaviour.
    """

    backbone_cls = ConvBertBackbone
    tokenizer_cls = ConvBertTokenizer
