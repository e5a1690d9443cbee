"""NEZHA masked LM preprocessing."""

import keras

from keras_encoders.models.encoder_masked_lm_preprocessor import EncoderMaskedLMPreprocessor
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_tokenizer import NezhaTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaMaskedLMPreprocessor(EncoderMaskedLMPreprocessor):
    """NEZHA masked LM preprocessing: strings to masked inputs and targets.

    See `EncoderMaskedLMPreprocessor` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import NezhaMaskedLMPreprocessor, NezhaTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> preprocessor = NezhaMaskedLMPreprocessor(tokenizer, sequence_length=8)
    >>> x, y, sample_weight = preprocessor(["我爱北京"])
    >>> sorted(x)[:2], tuple(x["token_ids"].shape)
    (['mask_positions', 'padding_mask'], (1, 8))
    """

    backbone_cls = NezhaBackbone
    tokenizer_cls = NezhaTokenizer
