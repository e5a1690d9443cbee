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
    """

    backbone_cls = ConvBertBackbone
    tokenizer_cls = ConvBertTokenizer
