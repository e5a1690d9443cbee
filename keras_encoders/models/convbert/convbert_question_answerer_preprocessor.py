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

    Example:
    >>> from keras_encoders.models import ConvBertQuestionAnswererPreprocessor, ConvBertTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox"]
    >>> tokenizer = ConvBertTokenizer(vocabulary=vocab)
    >>> preprocessor = ConvBertQuestionAnswererPreprocessor(tokenizer, sequence_length=16, max_question_length=4)
    >>> context = "the quick brown fox"
    >>> x, y = preprocessor(x=(["the fox"], [context]),
    ...                     y={"answer_start": [4], "answer_end": [9]})
    >>> sorted(y)  # token positions of the answer
    ['end_logits', 'start_logits']
    """

    backbone_cls = ConvBertBackbone
    tokenizer_cls = ConvBertTokenizer
