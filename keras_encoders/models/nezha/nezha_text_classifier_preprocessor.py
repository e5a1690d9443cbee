"""NEZHA text classification preprocessing."""

import keras

from keras_encoders.models.encoder_text_classifier_preprocessor import EncoderTextClassifierPreprocessor
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_tokenizer import NezhaTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaTextClassifierPreprocessor(EncoderTextClassifierPreprocessor):
    """NEZHA text classification preprocessing: strings or string pairs to packed inputs.

    See `EncoderTextClassifierPreprocessor` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import NezhaTextClassifierPreprocessor, NezhaTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> preprocessor = NezhaTextClassifierPreprocessor(tokenizer, sequence_length=8)
    >>> x = preprocessor(x=(["我爱北京"], ["北京"]))  # a pair; or one list
    >>> tuple(x["token_ids"].shape)
    (1, 8)
    """

    backbone_cls = NezhaBackbone
    tokenizer_cls = NezhaTokenizer
