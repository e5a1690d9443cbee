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

    Example:
    >>> from keras_encoders.models import ConvBertBackbone, ConvBertTokenizer, ConvBertQuestionAnswererPreprocessor, ConvBertQuestionAnswerer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox"]
    >>> tokenizer = ConvBertTokenizer(vocabulary=vocab)
    >>> backbone = ConvBertBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, conv_kernel_size=3)
    >>> preprocessor = ConvBertQuestionAnswererPreprocessor(tokenizer, sequence_length=16, max_question_length=4)
    >>> answerer = ConvBertQuestionAnswerer(backbone, preprocessor=preprocessor)
    >>> context = "the quick brown fox"
    >>> answer = answerer.answer(["the fox"], [context], doc_stride=4)[0]
    >>> sorted(answer)
    ['end', 'score', 'start', 'text']
    >>> context[answer["start"]:answer["end"]] == answer["text"]
    True
    """

    backbone_cls = ConvBertBackbone
    preprocessor_cls = ConvBertQuestionAnswererPreprocessor
    checkpoint_head = "ConvBertForQuestionAnswering"
