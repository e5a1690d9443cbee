"""ERNIE-M (UIE-M) information extraction preprocessing."""

import keras

from keras_encoders.models.information_extractor_preprocessor import InformationExtractorPreprocessor
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_tokenizer import ErnieMTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMInformationExtractorPreprocessor(InformationExtractorPreprocessor):
    """UIE-M preprocessing: `(prompts, texts)` with span targets, windows.

    Inputs are `[CLS] prompt [SEP] [SEP] text [SEP]`, without segment ids.

    See `InformationExtractorPreprocessor` for the arguments and behaviour.
    """

    backbone_cls = ErnieMBackbone
    tokenizer_cls = ErnieMTokenizer
