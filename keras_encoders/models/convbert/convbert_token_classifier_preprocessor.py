"""ConvBERT token classification preprocessing."""

import keras

from keras_encoders.models.convbert.convbert_backbone import ConvBertBackbone
from keras_encoders.models.convbert.convbert_tokenizer import ConvBertTokenizer
from keras_encoders.models.token_classifier_preprocessor import TokenClassifierPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertTokenClassifierPreprocessor(TokenClassifierPreprocessor):
    """ConvBERT token classification preprocessing: words and word labels
    to packed inputs and per-token targets.

    See `TokenClassifierPreprocessor` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import ConvBertTokenClassifierPreprocessor, ConvBertTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox"]
    >>> tokenizer = ConvBertTokenizer(vocabulary=vocab)
    >>> preprocessor = ConvBertTokenClassifierPreprocessor(tokenizer, sequence_length=8)
    >>> x, y, sample_weight = preprocessor(x=[["the", "quick", "fox"]], y=[[0, 1, 2]])
    >>> tuple(y.shape)  # labels on first sub-tokens, -100 elsewhere
    (1, 8)
    """

    backbone_cls = ConvBertBackbone
    tokenizer_cls = ConvBertTokenizer
