"""NEZHA question answering preprocessing."""

import keras

from keras_encoders.models.question_answerer_preprocessor import QuestionAnswererPreprocessor
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_tokenizer import NezhaTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaQuestionAnswererPreprocessor(QuestionAnswererPreprocessor):
    """NEZHA question answering preprocessing (question + context, windows).

    See `QuestionAnswererPreprocessor` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import NezhaQuestionAnswererPreprocessor, NezhaTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> preprocessor = NezhaQuestionAnswererPreprocessor(tokenizer, sequence_length=16, max_question_length=4)
    >>> context = "我爱北京"
    >>> x, y = preprocessor(x=(["谁爱北京"], [context]),
    ...                     y={"answer_start": [4], "answer_end": [9]})
    >>> sorted(y)  # token positions of the answer
    ['end_logits', 'start_logits']
    """

    backbone_cls = NezhaBackbone
    tokenizer_cls = NezhaTokenizer
