"""NEZHA pre-training preprocessing."""

import keras

from keras_encoders.models.pre_trainer_preprocessor import PreTrainerPreprocessor
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_tokenizer import NezhaTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaPreTrainerPreprocessor(PreTrainerPreprocessor):
    """NEZHA pre-training preprocessing: sentence pairs to masked inputs, MLM and NSP targets.

    See `PreTrainerPreprocessor` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import NezhaPreTrainerPreprocessor, NezhaTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> import numpy as np
    >>> preprocessor = NezhaPreTrainerPreprocessor(tokenizer, sequence_length=8)
    >>> x, y = preprocessor(x=(["我爱北京"], ["北京"]), y=np.array([1]))
    >>> sorted(y)
    ['mlm_logits', 'nsp_logits']
    """

    backbone_cls = NezhaBackbone
    tokenizer_cls = NezhaTokenizer
