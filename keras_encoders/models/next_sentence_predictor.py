"""Next sentence prediction head (BERT-style NSP)."""

import keras
from keras_hub.models import Task

from keras_encoders.models import encoder_task


@keras.saving.register_keras_serializable(package="keras_encoders")
class NextSentencePredictor(encoder_task.EncoderTask, Task):
    """Is B the continuation of A? `pooled_output -> Dense(2)`.

    Hugging Face's `*ForNextSentencePrediction` (label 0: B follows A, 1: B is
    random). No dropout, as in the reference head.
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

    @classmethod
    def task_config_from_hf(cls, config):
        return {}

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        optimizer, loss, metrics = encoder_task.choice_compile_defaults(
            optimizer, loss, metrics
        )
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
