"""NEZHA text classifier."""

import keras

from keras_encoders.models.encoder_text_classifier import EncoderTextClassifier
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_text_classifier_preprocessor import NezhaTextClassifierPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaTextClassifier(EncoderTextClassifier):
    """NEZHA text classifier: pooler, dropout, dense (`NezhaForSequenceClassification`).

    See `EncoderTextClassifier` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import NezhaBackbone, NezhaTokenizer, NezhaTextClassifierPreprocessor, NezhaTextClassifier
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> backbone = NezhaBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16)
    >>> preprocessor = NezhaTextClassifierPreprocessor(tokenizer, sequence_length=8)
    >>> classifier = NezhaTextClassifier(backbone, num_classes=2, preprocessor=preprocessor)
    >>> logits = classifier.predict(["我爱北京", "北京"], verbose=0)
    >>> logits.shape
    (2, 2)
    >>> # Sentence pairs are a tuple of two lists.
    >>> tuple(classifier(preprocessor(x=(["我爱北京"], ["北京"]))).shape)
    (1, 2)
    """

    backbone_cls = NezhaBackbone
    preprocessor_cls = NezhaTextClassifierPreprocessor
    checkpoint_head = "NezhaForSequenceClassification"
