"""NEZHA masked LM, decoder tied to the word embeddings."""

import keras

from keras_encoders.models.encoder_masked_lm import EncoderMaskedLM
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_masked_lm_preprocessor import NezhaMaskedLMPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaMaskedLM(EncoderMaskedLM):
    """NEZHA masked LM, decoder tied to the word embeddings (`NezhaForMaskedLM`).

    See `EncoderMaskedLM` for the arguments and behaviour.
    """

    backbone_cls = NezhaBackbone
    preprocessor_cls = NezhaMaskedLMPreprocessor
    checkpoint_head = "NezhaForMaskedLM"
