"""NEZHA extractive question answering."""

import keras

from keras_encoders.models.question_answerer import QuestionAnswerer
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_question_answerer_preprocessor import NezhaQuestionAnswererPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaQuestionAnswerer(QuestionAnswerer):
    """NEZHA extractive question answering (`NezhaForQuestionAnswering`).

    See `QuestionAnswerer` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import NezhaBackbone, NezhaTokenizer, NezhaQuestionAnswererPreprocessor, NezhaQuestionAnswerer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> backbone = NezhaBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16)
    >>> preprocessor = NezhaQuestionAnswererPreprocessor(tokenizer, sequence_length=16, max_question_length=4)
    >>> answerer = NezhaQuestionAnswerer(backbone, preprocessor=preprocessor)
    >>> context = "我爱北京"
    >>> answer = answerer.answer(["谁爱北京"], [context], doc_stride=4)[0]
    >>> sorted(answer)
    ['end', 'score', 'start', 'text']
    >>> context[answer["start"]:answer["end"]] == answer["text"]
    True
    """

    backbone_cls = NezhaBackbone
    preprocessor_cls = NezhaQuestionAnswererPreprocessor
    checkpoint_head = "NezhaForQuestionAnswering"
