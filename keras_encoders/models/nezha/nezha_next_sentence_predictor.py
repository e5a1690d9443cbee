"""NEZHA next sentence prediction."""

import keras

from keras_encoders.models.next_sentence_predictor import NextSentencePredictor
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_next_sentence_predictor_preprocessor import NezhaNextSentencePredictorPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaNextSentencePredictor(NextSentencePredictor):
    """NEZHA next sentence prediction (`NezhaForNextSentencePrediction`).

    See `NextSentencePredictor` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import NezhaBackbone, NezhaTokenizer, NezhaNextSentencePredictorPreprocessor, NezhaNextSentencePredictor
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> backbone = NezhaBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16)
    >>> preprocessor = NezhaNextSentencePredictorPreprocessor(tokenizer, sequence_length=8)
    >>> nsp = NezhaNextSentencePredictor(backbone, preprocessor=preprocessor)
    >>> tuple(nsp(preprocessor(x=(["我爱北京"], ["北京"]))).shape)
    (1, 2)
    """

    backbone_cls = NezhaBackbone
    preprocessor_cls = NezhaNextSentencePredictorPreprocessor
    checkpoint_head = "NezhaForNextSentencePrediction"
