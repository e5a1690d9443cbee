"""Text classification preprocessing for the three encoders."""

import keras
from keras_hub.models import TextClassifierPreprocessor
from keras_hub.src.utils.tensor_utils import preprocessing_function

from keras_encoders.models import preprocessing


@keras.saving.register_keras_serializable(package="keras_encoders")
class EncoderTextClassifierPreprocessor(TextClassifierPreprocessor):
    """Raw strings (or string pairs) to packed backbone inputs.

    Single texts become `[CLS] A [SEP]`, pairs `[CLS] A [SEP] B [SEP]` (ERNIE-M:
    `[CLS] A [SEP] [SEP] B [SEP]`), truncated like Hugging Face's
    `longest_first` and padded to `sequence_length`. Pass pairs as a tuple:
    `preprocessor(x=(first, second))` (a bare 2-tuple would be read as `(x, y)`,
    as everywhere in keras-hub). Labels and sample weights pass through.

    The same TensorFlow ops run in eager calls on every backend, in `tf.data`
    and in exported graphs.

    Example:
    >>> from keras_encoders.models import EncoderTextClassifierPreprocessor, NezhaTextClassifierPreprocessor
    >>> issubclass(NezhaTextClassifierPreprocessor, EncoderTextClassifierPreprocessor)  # the Nezha specialisation
    True
    >>> from keras_encoders.models import NezhaTextClassifierPreprocessor, NezhaTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> preprocessor = NezhaTextClassifierPreprocessor(tokenizer, sequence_length=8)
    >>> x = preprocessor(x=(["我爱北京"], ["北京"]))  # a pair; or one list
    >>> tuple(x["token_ids"].shape)
    (1, 8)
    """

    def __init__(self, tokenizer, sequence_length=512, truncate="round_robin", **kwargs):
        super().__init__(
            tokenizer=tokenizer,
            sequence_length=sequence_length,
            truncate=truncate,
            _allow_python_workflow=False,
            **kwargs,
        )

    def build(self, input_shape):
        self.packer = preprocessing.make_packer(
            self.tokenizer, self.sequence_length, self.truncate
        )
        self.built = True

    def check_inputs(self, x):
        """Host inputs in a shape this preprocessor reads (tasks call it
        before `fit`, `evaluate` and `predict` build a pipeline)."""
        for segment in preprocessing.as_segments(x):
            preprocessing.check_not_pair_rows(segment, type(self).__name__)

    @preprocessing_function
    def call(self, x, y=None, sample_weight=None):
        self.check_inputs(x)  # static shapes inside tf.data
        segments = tuple(self.tokenizer(s) for s in preprocessing.as_segments(x))
        token_ids, segment_ids = self.packer(segments)
        x = preprocessing.model_inputs(self.tokenizer, token_ids, segment_ids)
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
