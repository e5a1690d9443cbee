"""A masked language model head for the encoders."""

import keras
from keras_hub.layers import MaskedLMHead
from keras_hub.models import MaskedLM

from keras_encoders.models import encoder_task, preprocessing
from keras_encoders.models.encoder_backbone import kernel_initializer


def mlm_head(backbone, name="mlm_head"):
    """BERT's MLM transform tied to the word embeddings, with its own bias:
    Dense(embedding width) -> GELU -> LayerNorm -> embeddings^T + bias."""
    return MaskedLMHead(
        vocabulary_size=backbone.vocabulary_size,
        token_embedding=backbone.token_embedding,
        intermediate_activation="gelu",
        layer_norm_epsilon=backbone.layer_norm_epsilon,
        kernel_initializer=kernel_initializer(),
        dtype=backbone.dtype_policy,
        name=name,
    )


def masked_lm_loss():
    """Cross-entropy averaged over real targets (labels -100 are ignored)."""
    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=preprocessing.IGNORE_INDEX
    )


@keras.saving.register_keras_serializable(package="keras_encoders")
class EncoderMaskedLM(encoder_task.EncoderTask, MaskedLM):
    """Masked token prediction with the decoder tied to the word embeddings.

    Called on the backbone inputs plus `mask_positions` (B, P), returns logits
    (B, P, vocabulary_size) at those positions. The loss is the mean
    cross-entropy over real targets, as Hugging Face's `*ForMaskedLM`.
    """

    checkpoint_head = None

    def __init__(self, backbone, preprocessor=None, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.masked_lm_head = mlm_head(backbone)

        # === Functional Model ===
        inputs = {
            **backbone.input,
            "mask_positions": keras.Input(shape=(None,), dtype="int32", name="mask_positions"),
        }
        backbone_inputs = {k: v for k, v in inputs.items() if k != "mask_positions"}
        sequence = backbone(backbone_inputs)["sequence_output"]
        outputs = self.masked_lm_head(sequence, mask_positions=inputs["mask_positions"])
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    @classmethod
    def task_config_from_hf(cls, config):
        return {}

    def compile(self, optimizer="auto", loss="auto", *, weighted_metrics="auto", **kwargs):
        super().compile(
            optimizer=optimizer,
            loss=masked_lm_loss() if loss == "auto" else loss,
            weighted_metrics=weighted_metrics,
            **kwargs,
        )
