"""ERNIE-M universal information extraction (UIE-M)."""

import keras

from keras_encoders.models.information_extractor import InformationExtractor
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_information_extractor_preprocessor import ErnieMInformationExtractorPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMInformationExtractor(InformationExtractor):
    """UIE-M: ERNIE-M prompt-based span extraction
    (`ErnieMForInformationExtraction`, PaddleNLP `UIEM`).

    Outputs raw `start_logits`/`end_logits`, as Hugging Face does (PaddleNLP's
    `UIEM` returns their sigmoid); `extract()` applies the sigmoid.

    The `uie_m_*` presets are set up as PaddleNLP Taskflow runs UIE-M
    (`with_convention("paddlenlp")`: PaddleNLP tokenization, `[CLS]` masked
    and padding attended as the weights were fine-tuned, Taskflow's
    character windows and decoding), so that they give Taskflow's answers;
    `extract(..., decoding="taskflow_corrected")` keeps that but fixes
    Taskflow's bugs. Models fine-tuned here default to Hugging Face's inputs
    and `decoding="tokens"` (`with_convention("transformers")`).

    See `InformationExtractor` for the arguments and behaviour.
    """

    backbone_cls = ErnieMBackbone
    preprocessor_cls = ErnieMInformationExtractorPreprocessor
    checkpoint_head = "ErnieMForInformationExtraction"
