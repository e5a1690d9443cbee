"""ConvBERT token classifier."""

import keras

from keras_encoders.models.convbert.convbert_backbone import ConvBertBackbone
from keras_encoders.models.convbert.convbert_token_classifier_preprocessor import (
    ConvBertTokenClassifierPreprocessor,
)
from keras_encoders.models.token_classifier import TokenClassifier


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertTokenClassifier(TokenClassifier):
    """ConvBERT token classifier (`ConvBertForTokenClassification`).

    See `TokenClassifier` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import ConvBertBackbone, ConvBertTokenizer, ConvBertTokenClassifierPreprocessor, ConvBertTokenClassifier
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox"]
    >>> tokenizer = ConvBertTokenizer(vocabulary=vocab)
    >>> backbone = ConvBertBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, conv_kernel_size=3)
    >>> preprocessor = ConvBertTokenClassifierPreprocessor(tokenizer, sequence_length=8)
    >>> tagger = ConvBertTokenClassifier(
    ...     backbone, num_classes=3, preprocessor=preprocessor, label_names=["O", "B", "I"])
    >>> x, y, sample_weight = preprocessor(x=[["the", "quick", "fox"]], y=[[0, 1, 2]])
    >>> tuple(tagger(x).shape)  # (batch, sequence_length, num_classes)
    (1, 8, 3)
    """

    backbone_cls = ConvBertBackbone
    preprocessor_cls = ConvBertTokenClassifierPreprocessor
    checkpoint_head = "ConvBertForTokenClassification"
