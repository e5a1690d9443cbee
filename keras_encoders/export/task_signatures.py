"""The map from task type to serving signature: export owns it, so that the
task classes never import `keras_encoders.export`."""

from keras_encoders.export.information_extractor_signature import InformationExtractorSignature
from keras_encoders.export.masked_lm_signature import MaskedLMSignature
from keras_encoders.export.multiple_choice_signature import MultipleChoiceSignature
from keras_encoders.export.question_answerer_signature import QuestionAnswererSignature
from keras_encoders.export.text_classifier_signature import TextClassifierSignature
from keras_encoders.export.token_classifier_signature import TokenClassifierSignature
from keras_encoders.models.encoder_masked_lm import EncoderMaskedLM
from keras_encoders.models.encoder_text_classifier import EncoderTextClassifier
from keras_encoders.models.information_extractor import InformationExtractor
from keras_encoders.models.multiple_choice import MultipleChoice
from keras_encoders.models.next_sentence_predictor import NextSentencePredictor
from keras_encoders.models.question_answerer import QuestionAnswerer
from keras_encoders.models.token_classifier import TokenClassifier

# Generic task base -> (signature class, its default options). Model classes
# (`NezhaTextClassifier`, ...) find their base's entry through their MRO.
TASK_SIGNATURES = {
    EncoderTextClassifier: (TextClassifierSignature, {}),
    NextSentencePredictor: (
        TextClassifierSignature,
        {"text_pair": True, "label_names": ("is_next", "is_random")},
    ),
    TokenClassifier: (TokenClassifierSignature, {}),
    QuestionAnswerer: (QuestionAnswererSignature, {}),
    MultipleChoice: (MultipleChoiceSignature, {}),
    EncoderMaskedLM: (MaskedLMSignature, {}),
    InformationExtractor: (InformationExtractorSignature, {}),
}


def signature_for(task, **options):
    """The `ServingSignature` that serves `task` from raw strings.

    The first class of `type(task).__mro__` listed in `TASK_SIGNATURES`
    decides; `options` override that entry's defaults (e.g. `top_k=3` for a
    masked LM, `text_pair=True` for a classifier).
    """
    for cls in type(task).__mro__:
        if cls in TASK_SIGNATURES:
            signature_cls, defaults = TASK_SIGNATURES[cls]
            return signature_cls(task, **{**defaults, **options})
    supported = ", ".join(sorted(cls.__name__ for cls in TASK_SIGNATURES))
    raise ValueError(
        f"{type(task).__name__} has no serving signature: SavedModel export "
        f"serves subclasses of {supported}. To serve another task type, "
        "write a `keras_encoders.export.ServingSignature` subclass and add "
        "it to `keras_encoders.export.TASK_SIGNATURES`."
    )
