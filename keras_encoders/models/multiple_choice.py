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

    Example:
    >>> from keras_encoders.models import MultipleChoice, NezhaMultipleChoice
    >>> issubclass(NezhaMultipleChoice, MultipleChoice)  # the Nezha specialisation
    True
    >>> from keras_encoders.models import NezhaBackbone, NezhaTokenizer, NezhaMultipleChoicePreprocessor, NezhaMultipleChoice
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> backbone = NezhaBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16)
    >>> import numpy as np
    >>> preprocessor = NezhaMultipleChoicePreprocessor(tokenizer, sequence_length=8)
    >>> chooser = NezhaMultipleChoice(backbone, preprocessor=preprocessor)
    >>> x = preprocessor(x=(["北京"], np.array([["北京", "我"]])))
    >>> tuple(x["token_ids"].shape)  # (batch, choices, sequence_length)
    (1, 2, 8)
    >>> tuple(chooser(x).shape)  # one logit per choice
    (1, 2)
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
        outputs = self.score_choices(x, inputs["token_ids"])
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.summary_type = summary_type
        self.dropout = dropout

    def score_choices(self, summary, token_ids, training=None):
        """The head: (B, C) logits for the (B*C, D) summary vectors of the
        choices of `token_ids` (B, C, L)."""
        scores = self.output_dense(self.output_dropout(summary, training=training))
        return self.choice_scores(scores, token_ids)

    def serving_call(self, inputs):
        """The task's outputs, with the last layer run for the first
        position alone where the summary reads only it."""
        if not encoder_task.reads_first_token(self.backbone, self.summary_type):
            return super().serving_call(inputs)
        inputs = self.with_derived_inputs(inputs)
        flat = {k: self.flatten_choices(v) for k, v in inputs.items()}
        outputs = self.backbone.first_token_outputs(flat)
        summary = encoder_task.sequence_summary(self.backbone, outputs, self.summary_type)
        return self.score_choices(summary, inputs["token_ids"], training=False)

    @classmethod
    def task_config_from_hf(cls, config):
        return {}

    def sparse_label_range(self, x):
        """Labels index the choices: `(B, C)` choice strings or `(B, C, L)` ids."""
        if isinstance(x, dict):
            choices = x.get("token_ids")
        elif isinstance(x, (tuple, list)) and len(x) == 2:
            choices = x[1]
        else:
            return None
        shape = getattr(choices, "shape", None)
        if shape is None and isinstance(choices, list) and choices and isinstance(choices[0], (list, tuple)):
            shape = (len(choices), len(choices[0]))
        if shape is None or len(shape) < 2 or shape[1] is None:
            return None
        return (int(shape[1]), "labels (the index of the right choice)", None)

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
