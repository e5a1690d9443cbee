"""NEZHA pre-training, MLM + NSP."""

import keras

from keras_encoders.models.pre_trainer import PreTrainer
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_pre_trainer_preprocessor import NezhaPreTrainerPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaPreTrainer(PreTrainer):
    """NEZHA pre-training, MLM + NSP (`NezhaForPreTraining`).

    See `PreTrainer` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import NezhaBackbone, NezhaTokenizer, NezhaPreTrainerPreprocessor, NezhaPreTrainer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> backbone = NezhaBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16)
    >>> import numpy as np
    >>> preprocessor = NezhaPreTrainerPreprocessor(tokenizer, sequence_length=8)
    >>> pre_trainer = NezhaPreTrainer(backbone, preprocessor=preprocessor)
    >>> x, y = preprocessor(x=(["我爱北京"], ["北京"]), y=np.array([1]))
    >>> sorted(pre_trainer(x))
    ['mlm_logits', 'nsp_logits']
    """

    backbone_cls = NezhaBackbone
    preprocessor_cls = NezhaPreTrainerPreprocessor
    checkpoint_head = "NezhaForPreTraining"
