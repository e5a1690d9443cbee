"""ConvBERT multiple choice preprocessing."""

import keras

from keras_encoders.models.convbert.convbert_backbone import ConvBertBackbone
from keras_encoders.models.convbert.convbert_tokenizer import ConvBertTokenizer
from keras_encoders.models.multiple_choice_preprocessor import MultipleChoicePreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertMultipleChoicePreprocessor(MultipleChoicePreprocessor):
    """ConvBERT multiple choice preprocessing: a prompt and C choices to (B, C, L) inputs.

    See `MultipleChoicePreprocessor` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import ConvBertMultipleChoicePreprocessor, ConvBertTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox"]
    >>> tokenizer = ConvBertTokenizer(vocabulary=vocab)
    >>> import numpy as np
    >>> preprocessor = ConvBertMultipleChoicePreprocessor(tokenizer, sequence_length=8)
    >>> x = preprocessor(x=(["the fox"], np.array([["the fox", "brown"]])))
    >>> tuple(x["token_ids"].shape)  # (batch, choices, sequence_length)
    (1, 2, 8)
    """

    backbone_cls = ConvBertBackbone
    tokenizer_cls = ConvBertTokenizer
