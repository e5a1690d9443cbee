"""BERT-style pre-training: masked LM and next sentence prediction together."""

import keras
from keras_hub.models import Task

from keras_encoders.models import encoder_task
from keras_encoders.models.encoder_masked_lm import masked_lm_loss
from keras_encoders.models.encoder_masked_lm import mlm_head


@keras.saving.register_keras_serializable(package="keras_encoders")
class PreTrainer(encoder_task.EncoderTask, Task):
    """Hugging Face's `*ForPreTraining`: `{"mlm_logits", "nsp_logits"}`.

    The loss is masked-LM cross-entropy (mean over real targets) plus NSP
    cross-entropy, the reference's `total_loss`.
    """

    checkpoint_head = None

    def __init__(self, backbone, preprocessor=None, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.masked_lm_head = mlm_head(backbone)
        self.nsp_dense = encoder_task.head_dense(2, "nsp_logits", backbone.dtype_policy)

        # === Functional Model ===
        inputs = {
            **backbone.input,
            "mask_positions": keras.Input(shape=(None,), dtype="int32", name="mask_positions"),
        }
        outputs = backbone({k: v for k, v in inputs.items() if k != "mask_positions"})
        mlm = self.masked_lm_head(outputs["sequence_output"], mask_positions=inputs["mask_positions"])
        nsp = self.nsp_dense(outputs["pooled_output"])
        super().__init__(
            inputs=inputs,
            outputs={
                "mlm_logits": keras.layers.Identity(name="mlm_logits")(mlm),
                "nsp_logits": keras.layers.Identity(name="nsp_logits_out")(nsp),
            },
            **kwargs,
        )

    @classmethod
    def task_config_from_hf(cls, config):
        return {}

    def compile(self, optimizer="auto", loss="auto", *, weighted_metrics="auto", **kwargs):
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(5e-5)
        if loss == "auto":
            loss = {
                "mlm_logits": masked_lm_loss(),
                "nsp_logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            }
        if weighted_metrics == "auto":
            weighted_metrics = None
        super().compile(
            optimizer=optimizer, loss=loss, weighted_metrics=weighted_metrics, **kwargs
        )
