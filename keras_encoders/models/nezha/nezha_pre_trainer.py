"""NEZHA pre-training, MLM + NSP."""

import keras

from keras_encoders.models.pre_trainer import PreTrainer
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_pre_trainer_preprocessor import NezhaPreTrainerPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaPreTrainer(PreTrainer):
    """NEZHA pre-training, MLM + NSP (`NezhaForPreTraining`).

    See `PreTrainer` for the arguments and behaviour.
    """

    backbone_cls = NezhaBackbone
    preprocessor_cls = NezhaPreTrainerPreprocessor
    checkpoint_head = "NezhaForPreTraining"
