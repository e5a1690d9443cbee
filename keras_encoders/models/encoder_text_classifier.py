"""A text classifier head for the three encoders."""

import keras
from keras_hub.models import TextClassifier

from keras_encoders.models import encoder_task


@keras.saving.register_keras_serializable(package="keras_encoders")
class EncoderTextClassifier(
    encoder_task.EncoderTask, encoder_task.DerivesBackboneInputs, TextClassifier
):
    """Sequence classification (or regression) on top of an encoder backbone.

    `summary_type -> Dropout -> [Dense(hidden_dim) -> activation -> Dropout] ->
    Dense(num_classes)`. NEZHA and ERNIE-M summarize with their tanh pooler and
    have no hidden layer (Hugging Face's `*ForSequenceClassification`);
    ConvBERT uses the first token and a GELU hidden layer
    (`ConvBertClassificationHead`). Model classes set those defaults.

    The loss follows Hugging Face's `problem_type`: one output means
    regression (MSE), several mean single-label classification (cross-entropy)
    unless `problem_type="multi_label_classification"` (sigmoid BCE).

    Args:
        backbone: the encoder backbone.
        num_classes: int. Number of outputs.
        preprocessor: the matching preprocessor, or None.
        summary_type: "pooled", "first" or "last": the vector classified
            (the pooler output, the first or the last token). Configs saved
            with its former name, `summary`, still load.
        hidden_dim: int or None. Width of an optional hidden layer.
        hidden_activation: activation of the hidden layer.
        dropout: float. Dropout before each dense layer.
        activation: activation of the outputs (None: logits).
        problem_type: None, "single_label_classification", "regression" or
            "multi_label_classification".
        label_names: optional list of class names (index = class id).

    Example:
    >>> from keras_encoders.models import EncoderTextClassifier, NezhaTextClassifier
    >>> issubclass(NezhaTextClassifier, EncoderTextClassifier)  # the Nezha specialisation
    True
    >>> from keras_encoders.models import NezhaBackbone, NezhaTokenizer, NezhaTextClassifierPreprocessor, NezhaTextClassifier
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> backbone = NezhaBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16)
    >>> preprocessor = NezhaTextClassifierPreprocessor(tokenizer, sequence_length=8)
    >>> classifier = NezhaTextClassifier(backbone, num_classes=2, preprocessor=preprocessor)
    >>> logits = classifier.predict(["我爱北京", "北京"], verbose=0)
    >>> logits.shape
    (2, 2)
    >>> # Sentence pairs are a tuple of two lists.
    >>> tuple(classifier(preprocessor(x=(["我爱北京"], ["北京"]))).shape)
    (1, 2)
    """

    summary_type = "pooled"
    hidden_activation = "gelu"

    def __init__(
        self,
        backbone,
        num_classes,
        preprocessor=None,
        summary_type=None,
        hidden_dim=None,
        dropout=0.1,
        activation=None,
        problem_type=None,
        label_names=None,
        **kwargs,
    ):
        encoder_task.check_no_summary(kwargs)
        summary_type = summary_type or type(self).summary_type
        if label_names is not None and len(label_names) != num_classes:
            raise ValueError(
                f"{len(label_names)} label_names for num_classes={num_classes}."
            )
        dtype = backbone.dtype_policy
        # Read by `compile()`, which the Task constructor calls.
        self.num_classes = num_classes
        self.problem_type = problem_type
        self.activation = keras.activations.get(activation)

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.output_dropout = keras.layers.Dropout(dropout, dtype=dtype, name="output_dropout")
        self.hidden_dense = None
        if hidden_dim:
            self.hidden_dense = encoder_task.head_dense(
                hidden_dim, "classifier_hidden", dtype, activation=type(self).hidden_activation
            )
            self.hidden_dropout = keras.layers.Dropout(dropout, dtype=dtype, name="hidden_dropout")
        self.output_dense = encoder_task.head_dense(
            num_classes, "logits", dtype, activation=activation
        )

        # === Functional Model ===
        inputs = backbone.input
        outputs = self.classify(encoder_task.sequence_summary(backbone, backbone(inputs), summary_type))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.summary_type = summary_type
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.label_names = list(label_names) if label_names else None

    def classify(self, summary, training=None):
        """The head: the outputs for the summary vectors (B, D)."""
        x = self.output_dropout(summary, training=training)
        if self.hidden_dense is not None:
            x = self.hidden_dropout(self.hidden_dense(x), training=training)
        return self.output_dense(x)

    def serving_call(self, inputs):
        """The task's outputs, with the last layer run for the first
        position alone where the summary reads only it."""
        if not encoder_task.reads_first_token(self.backbone, self.summary_type):
            return super().serving_call(inputs)
        outputs = self.backbone.first_token_outputs(self.with_derived_inputs(inputs))
        summary = encoder_task.sequence_summary(self.backbone, outputs, self.summary_type)
        return self.classify(summary, training=False)

    checkpoint_head = None  # e.g. "NezhaForSequenceClassification"

    @classmethod
    def task_config_from_hf(cls, config):
        problem_type = config.get("problem_type")
        return {
            "num_classes": encoder_task.num_labels_from_hf(config),
            "label_names": encoder_task.label_names_from_hf(config),
            **({"problem_type": problem_type} if problem_type else {}),
        }

    def sparse_label_range(self, x):
        single_label = self.problem_type == "single_label_classification" or (
            self.problem_type is None and self.num_classes > 1
        )
        return (self.num_classes, "labels", None) if single_label else None

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        auto_loss, auto_metrics = encoder_task.classification_loss(
            self.problem_type, self.num_classes
        )
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(5e-5)
        if loss == "auto":
            loss = auto_loss
            if self.activation not in (None, keras.activations.linear):
                loss.from_logits = False
        if metrics == "auto":
            metrics = auto_metrics
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    @classmethod
    def from_config(cls, config):
        return super().from_config(encoder_task.renamed_summary(config))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "summary_type": self.summary_type,
                "hidden_dim": self.hidden_dim,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "problem_type": self.problem_type,
                "label_names": self.label_names,
            }
        )
        return config
