"""Pre-training preprocessing: masked LM + next sentence prediction."""

import keras
from keras_hub.src.utils.tensor_utils import preprocessing_function

from keras_encoders.models import preprocessing
from keras_encoders.models.encoder_masked_lm_preprocessor import EncoderMaskedLMPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class PreTrainerPreprocessor(EncoderMaskedLMPreprocessor):
    """Sentence pairs `(A, B)` and NSP labels to masked inputs and both targets.

    `y` becomes `{"mlm_logits": masked token ids (-100 where unused),
    "nsp_logits": the NSP label}`.

    Example:
    >>> from keras_encoders.models import PreTrainerPreprocessor, NezhaPreTrainerPreprocessor
    >>> issubclass(NezhaPreTrainerPreprocessor, PreTrainerPreprocessor)  # the Nezha specialisation
    True
    >>> from keras_encoders.models import NezhaPreTrainerPreprocessor, NezhaTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> import numpy as np
    >>> preprocessor = NezhaPreTrainerPreprocessor(tokenizer, sequence_length=8)
    >>> x, y = preprocessor(x=(["我爱北京"], ["北京"]), y=np.array([1]))
    >>> sorted(y)
    ['mlm_logits', 'nsp_logits']
    """

    @preprocessing_function
    def call(self, x, y=None, sample_weight=None):
        segments = tuple(self.tokenizer(s) for s in preprocessing.as_segments(x))
        x, labels, _ = self.mask(segments)
        targets = {"mlm_logits": labels}
        if y is not None:
            targets["nsp_logits"] = y
        return keras.utils.pack_x_y_sample_weight(x, targets, sample_weight)
