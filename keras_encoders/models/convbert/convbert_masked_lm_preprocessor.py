"""ConvBERT masked LM preprocessing."""

import keras

from keras_encoders.models.convbert.convbert_backbone import ConvBertBackbone
from keras_encoders.models.convbert.convbert_tokenizer import ConvBertTokenizer
from keras_encoders.models.encoder_masked_lm_preprocessor import EncoderMaskedLMPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertMaskedLMPreprocessor(EncoderMaskedLMPreprocessor):
    """ConvBERT masked LM preprocessing: strings to masked inputs and targets.

    See `EncoderMaskedLMPreprocessor` for the arguments and behaviour.
    """

    backbone_cls = ConvBertBackbone
    tokenizer_cls = ConvBertTokenizer
