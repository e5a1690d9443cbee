"""ConvBERT multiple choice preprocessing."""

import keras

from keras_encoders.models.convbert.convbert_backbone import ConvBertBackbone
from keras_encoders.models.convbert.convbert_tokenizer import ConvBertTokenizer
from keras_encoders.models.multiple_choice_preprocessor import MultipleChoicePreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertMultipleChoicePreprocessor(MultipleChoicePreprocessor):
    """ConvBERT multiple choice preprocessing: a prompt and C choices to (B, C, L) inputs.

    See `MultipleChoicePreprocessor` for the arguments and behaviour.
    """

    backbone_cls = ConvBertBackbone
    tokenizer_cls = ConvBertTokenizer
