"""ConvBERT text classification preprocessing."""

import keras

from keras_encoders.models.convbert.convbert_backbone import ConvBertBackbone
from keras_encoders.models.convbert.convbert_tokenizer import ConvBertTokenizer
from keras_encoders.models.encoder_text_classifier_preprocessor import EncoderTextClassifierPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertTextClassifierPreprocessor(EncoderTextClassifierPreprocessor):
    """ConvBERT text classification preprocessing: strings or string pairs to
    packed inputs.

    See `EncoderTextClassifierPreprocessor` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import ConvBertTextClassifierPreprocessor, ConvBertTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox"]
    >>> tokenizer = ConvBertTokenizer(vocabulary=vocab)
    >>> preprocessor = ConvBertTextClassifierPreprocessor(tokenizer, sequence_length=8)
    >>> x = preprocessor(x=(["the quick brown fox"], ["the fox"]))  # a pair; or one list
    >>> tuple(x["token_ids"].shape)
    (1, 8)
    """

    backbone_cls = ConvBertBackbone
    tokenizer_cls = ConvBertTokenizer
