"""SavedModel export: raw strings in, client-ready outputs out (TF-Serving).

`export_saved_model(task, path)` writes the SavedModel; each task type's
serving contract is a `ServingSignature` subclass, looked up by task type in
`TASK_SIGNATURES` (`signature_for(task)`); the task classes know nothing of
export. `python -m keras_encoders.export` exports a
saved preset from the command line.
"""

from keras_encoders.export.information_extractor_signature import InformationExtractorSignature
from keras_encoders.export.masked_lm_signature import MaskedLMSignature
from keras_encoders.export.multiple_choice_signature import MultipleChoiceSignature
from keras_encoders.export.question_answerer_signature import QuestionAnswererSignature
from keras_encoders.export.saved_model import export_saved_model
from keras_encoders.export.serving_signature import ServingSignature
from keras_encoders.export.text_classifier_signature import TextClassifierSignature
from keras_encoders.export.token_classifier_signature import TokenClassifierSignature
from keras_encoders.export.task_signatures import TASK_SIGNATURES
from keras_encoders.export.task_signatures import signature_for
