"""A multiple choice head."""

import keras
from keras import ops
from keras_hub.models import Task

from keras_encoders.models import encoder_task


@keras.saving.register_keras_serializable(package="keras_encoders")
class _FlattenChoices(keras.layers.Layer):
    """(B, C, L) -> (B*C, L), with the sizes read at call time."""

    def call(self, x):
        return ops.reshape(x, (-1, ops.shape(x)[-1]))

    def compute_output_shape(self, shape):
        return (None, shape[-1])


@keras.saving.register_keras_serializable(package="keras_encoders")
class _ChoiceScores(keras.layers.Layer):
    """(B*C, 1) scores back to (B, C), C read from the inputs at call time."""

    def call(self, scores, token_ids):
        return ops.reshape(scores, (-1, ops.shape(token_ids)[1]))

    def compute_output_shape(self, scores_shape, token_ids_shape):
        return (token_ids_shape[0], token_ids_shape[1])


@keras.saving.register_keras_serializable(package="keras_encoders")
class MultipleChoice(encoder_task.EncoderTask, encoder_task.DerivesBackboneInputs, Task):
    """Scores C candidate continuations: Hugging Face's `*ForMultipleChoice`.

    Inputs have shape `(B, C, L)`; each choice is encoded separately,
    summarized (pooler for NEZHA and ERNIE-M; ConvBERT's reference summarizes
    by the LAST token), passed through dropout and `Dense(1)`, and the scores
    form `(B, C)` logits trained with cross-entropy over the choices.

    Args:
        backbone: the encoder backbone.
        preprocessor: a `MultipleChoicePreprocessor` or None.
        summary_type: "pooled", "first" or "last". Configs saved with its
            former name, `summary`, still load.
        dropout: float. Dropout before the scorer.
    """

    checkpoint_head = None
    summary_type = "pooled"

    def __init__(self, backbone, preprocessor=None, summary_type=None, dropout=0.1, **kwargs):
        encoder_task.check_no_summary(kwargs)
        summary_type = summary_type or type(self).summary_type
        dtype = backbone.dtype_policy
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.output_dropout = keras.layers.Dropout(dropout, dtype=dtype, name="output_dropout")
        self.output_dense = encoder_task.head_dense(1, "logits", dtype)
        self.flatten_choices = _FlattenChoices(dtype=dtype, name="flatten_choices")
        self.choice_scores = _ChoiceScores(dtype=dtype, name="choice_scores")

        # === Functional Model ===
        inputs = {
            k: keras.Input(shape=(None, None), dtype="int32", name=k)
            for k in backbone.input
        }
        flat = {k: self.flatten_choices(v) for k, v in inputs.items()}
        x = encoder_task.sequence_summary(backbone, backbone(flat), summary_type)
        scores = self.output_dense(self.output_dropout(x))
        outputs = self.choice_scores(scores, inputs["token_ids"])
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.summary_type = summary_type
        self.dropout = dropout

    @classmethod
    def task_config_from_hf(cls, config):
        return {}

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        optimizer, loss, metrics = encoder_task.choice_compile_defaults(
            optimizer, loss, metrics
        )
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    @classmethod
    def from_config(cls, config):
        return super().from_config(encoder_task.renamed_summary(config))

    def get_config(self):
        config = super().get_config()
        config.update({"summary_type": self.summary_type, "dropout": self.dropout})
        return config
