"""NEZHA pre-training preprocessing."""

import keras

from keras_encoders.models.pre_trainer_preprocessor import PreTrainerPreprocessor
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_tokenizer import NezhaTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaPreTrainerPreprocessor(PreTrainerPreprocessor):
    """NEZHA pre-training preprocessing: sentence pairs to masked inputs, MLM and NSP targets.

    See `PreTrainerPreprocessor` for the arguments and behaviour.
    """

    backbone_cls = NezhaBackbone
    tokenizer_cls = NezhaTokenizer
