"""NEZHA masked LM preprocessing."""

import keras

from keras_encoders.models.encoder_masked_lm_preprocessor import EncoderMaskedLMPreprocessor
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_tokenizer import NezhaTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaMaskedLMPreprocessor(EncoderMaskedLMPreprocessor):
    """NEZHA masked LM preprocessing: strings to masked inputs and targets.

    See `EncoderMaskedLMPreprocessor` for the arguments and behaviour.
    """

    backbone_cls = NezhaBackbone
    tokenizer_cls = NezhaTokenizer
