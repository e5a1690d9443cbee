"""NEZHA token classifier."""

import keras

from keras_encoders.models.token_classifier import TokenClassifier
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_token_classifier_preprocessor import NezhaTokenClassifierPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaTokenClassifier(TokenClassifier):
    """NEZHA token classifier (`NezhaForTokenClassification`).

    See `TokenClassifier` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import NezhaBackbone, NezhaTokenizer, NezhaTokenClassifierPreprocessor, NezhaTokenClassifier
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> backbone = NezhaBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16)
    >>> preprocessor = NezhaTokenClassifierPreprocessor(tokenizer, sequence_length=8)
    >>> tagger = NezhaTokenClassifier(
    ...     backbone, num_classes=3, preprocessor=preprocessor, label_names=["O", "B", "I"])
    >>> x, y, sample_weight = preprocessor(x=[["我", "爱", "北", "京"]], y=[[0, 1, 2, 0]])
    >>> tuple(tagger(x).shape)  # (batch, sequence_length, num_classes)
    (1, 8, 3)
    """

    backbone_cls = NezhaBackbone
    preprocessor_cls = NezhaTokenClassifierPreprocessor
    checkpoint_head = "NezhaForTokenClassification"
