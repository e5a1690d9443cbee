"""NEZHA next sentence prediction."""

import keras

from keras_encoders.models.next_sentence_predictor import NextSentencePredictor
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_next_sentence_predictor_preprocessor import NezhaNextSentencePredictorPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaNextSentencePredictor(NextSentencePredictor):
    """NEZHA next sentence prediction (`NezhaForNextSentencePrediction`).

    See `NextSentencePredictor` for the arguments and behaviour.
    """

    backbone_cls = NezhaBackbone
    preprocessor_cls = NezhaNextSentencePredictorPreprocessor
    checkpoint_head = "NezhaForNextSentencePrediction"
