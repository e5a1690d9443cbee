"""ConvBERT text classifier."""

import keras

from keras_encoders.models.convbert.convbert_backbone import ConvBertBackbone
from keras_encoders.models.convbert.convbert_text_classifier_preprocessor import (
    ConvBertTextClassifierPreprocessor,
)
from keras_encoders.models.encoder_text_classifier import EncoderTextClassifier


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertTextClassifier(EncoderTextClassifier):
    """ConvBERT text classifier (`ConvBertForSequenceClassification`).

    ConvBERT has no pooler; like the reference's `ConvBertClassificationHead`
    this classifies the first token (`[CLS]`) through a hidden layer:
    `h[:, 0] -> Dropout -> Dense(hidden_dim) -> GELU (exact, erf) -> Dropout
    -> Dense(num_classes)`. The hidden layer's weights (`classifier.dense`) and
    the output layer's (`classifier.out_proj`) load from fine-tuned checkpoints.

    Args:
        backbone: a `ConvBertBackbone`.
        num_classes: int. Number of outputs (1: regression).
        preprocessor: a `ConvBertTextClassifierPreprocessor` or None.
        hidden_dim: int, None or "auto". Width of the hidden layer; "auto"
            (the default) is the backbone's `hidden_dim`, as in the reference;
            None drops the hidden layer.
        **kwargs: `summary_type` ("first" by default), `dropout`, `activation`,
            `problem_type`, `label_names`; see `EncoderTextClassifier`.

    Example:
    >>> import numpy as np
    >>> backbone = ConvBertBackbone(vocabulary_size=100, num_layers=1,
    ...     num_heads=2, hidden_dim=16, intermediate_dim=32,
    ...     conv_kernel_size=3, max_sequence_length=8)
    >>> classifier = ConvBertTextClassifier(backbone, num_classes=3)
    >>> x = {"token_ids": np.array([[2, 5, 7, 3]], "int32"),
    ...      "segment_ids": np.zeros((1, 4), "int32"),
    ...      "padding_mask": np.ones((1, 4), "int32")}
    >>> tuple(classifier(x).shape)
    (1, 3)
    """

    backbone_cls = ConvBertBackbone
    preprocessor_cls = ConvBertTextClassifierPreprocessor
    checkpoint_head = "ConvBertForSequenceClassification"
    summary_type = "first"
    hidden_activation = "gelu"  # Keras' "gelu" is the exact form, as HF's.

    def __init__(self, backbone, num_classes, preprocessor=None, hidden_dim="auto", **kwargs):
        if hidden_dim == "auto":
            hidden_dim = backbone.hidden_dim
        super().__init__(
            backbone, num_classes, preprocessor=preprocessor, hidden_dim=hidden_dim, **kwargs
        )
