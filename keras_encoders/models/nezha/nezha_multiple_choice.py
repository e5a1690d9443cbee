"""NEZHA multiple choice."""

import keras

from keras_encoders.models.multiple_choice import MultipleChoice
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_multiple_choice_preprocessor import NezhaMultipleChoicePreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaMultipleChoice(MultipleChoice):
    """NEZHA multiple choice (`NezhaForMultipleChoice`, pooler summary).

    See `MultipleChoice` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import NezhaBackbone, NezhaTokenizer, NezhaMultipleChoicePreprocessor, NezhaMultipleChoice
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> backbone = NezhaBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16)
    >>> import numpy as np
    >>> preprocessor = NezhaMultipleChoicePreprocessor(tokenizer, sequence_length=8)
    >>> chooser = NezhaMultipleChoice(backbone, preprocessor=preprocessor)
    >>> x = preprocessor(x=(["北京"], np.array([["北京", "我"]])))
    >>> tuple(x["token_ids"].shape)  # (batch, choices, sequence_length)
    (1, 2, 8)
    >>> tuple(chooser(x).shape)  # one logit per choice
    (1, 2)
    """

    backbone_cls = NezhaBackbone
    preprocessor_cls = NezhaMultipleChoicePreprocessor
    checkpoint_head = "NezhaForMultipleChoice"
