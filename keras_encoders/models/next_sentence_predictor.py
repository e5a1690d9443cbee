"""Next sentence prediction head (BERT-style NSP)."""

import keras
from keras_hub.models import Task

from keras_encoders.models import encoder_task


@keras.saving.register_keras_serializable(package="keras_encoders")
class NextSentencePredictor(encoder_task.EncoderTask, Task):
    """Is B the continuation of A? `pooled_output -> Dense(2)`.

    Hugging Face's `*ForNextSentencePrediction` (label 0: B follows A, 1: B is
    random). No dropout, as in the reference head.

    Example:
    >>> from keras_encoders.models import NextSentencePredictor, NezhaNextSentencePredictor
    >>> issubclass(NezhaNextSentencePredictor, NextSentencePredictor)  # the Nezha specialisation
    True
    >>> from keras_encoders.models import NezhaBackbone, NezhaTokenizer, NezhaNextSentencePredictorPreprocessor, NezhaNextSentencePredictor
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> backbone = NezhaBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16)
    >>> preprocessor = NezhaNextSentencePredictorPreprocessor(tokenizer, sequence_length=8)
    >>> nsp = NezhaNextSentencePredictor(backbone, preprocessor=preprocessor)
    >>> tuple(nsp(preprocessor(x=(["我爱北京"], ["北京"]))).shape)
    (1, 2)
    """

    checkpoint_head = None

    def __init__(self, backbone, preprocessor=None, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.nsp_dense = encoder_task.head_dense(2, "nsp_logits", backbone.dtype_policy)

        # === Functional Model ===
        inputs = backbone.input
        outputs = self.nsp_dense(backbone(inputs)["pooled_output"])
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    def serving_call(self, inputs):
        """The task's outputs, with the last layer run for the first
        position alone (the pooler reads only it)."""
        if not encoder_task.reads_first_token(self.backbone, "pooled"):
            return super().serving_call(inputs)
        return self.nsp_dense(self.backbone.first_token_outputs(inputs)["pooled_output"])

    @classmethod
    def task_config_from_hf(cls, config):
        return {}

    def sparse_label_range(self, x):
        return (2, "labels (0: the second text follows the first, 1: it is random)", None)

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        optimizer, loss, metrics = encoder_task.choice_compile_defaults(
            optimizer, loss, metrics
        )
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
