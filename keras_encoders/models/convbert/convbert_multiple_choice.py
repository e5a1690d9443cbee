"""ConvBERT multiple choice."""

import keras

from keras_encoders.models.convbert.convbert_backbone import ConvBertBackbone
from keras_encoders.models.convbert.convbert_multiple_choice_preprocessor import (
    ConvBertMultipleChoicePreprocessor,
)
from keras_encoders.models.multiple_choice import MultipleChoice


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertMultipleChoice(MultipleChoice):
    """ConvBERT multiple choice (`ConvBertForMultipleChoice`).

    Each choice is summarized by its LAST position (`summary_type="last"`), then
    scored by `Dense(1)`, with no dropout (`dropout=0.0`). Both defaults are
    the reference's: `ConvBertSequenceSummary` reads `summary_type` and
    `summary_*_dropout` from the config, which `ConvBertConfig` does not
    define, so Hugging Face falls back to the last token and no
    projection, activation or dropout (the summary has no weights). Fine-tuned
    `ConvBertForMultipleChoice` checkpoints were trained that way, so keep the
    default to use them.

    With the preprocessor's right padding the last position is usually
    `[PAD]` (its features still depend on the whole choice). For training
    from scratch `summary_type="first"` (the `[CLS]` token) is available.

    Args:
        backbone: a `ConvBertBackbone`.
        preprocessor: a `ConvBertMultipleChoicePreprocessor` or None.
        summary_type: "last" (default, the reference's) or "first".
        dropout: float. Dropout before the scorer (0.0, as the reference).
    """

    backbone_cls = ConvBertBackbone
    preprocessor_cls = ConvBertMultipleChoicePreprocessor
    checkpoint_head = "ConvBertForMultipleChoice"
    summary_type = "last"

    def __init__(self, backbone, preprocessor=None, summary_type=None, dropout=0.0, **kwargs):
        super().__init__(
            backbone, preprocessor=preprocessor, summary_type=summary_type, dropout=dropout,
            **kwargs
        )
