"""A token classification (tagging, NER) head."""

import keras
from keras_hub.models import Task

from keras_encoders.models import encoder_task
from keras_encoders.models import preprocessing


@keras.saving.register_keras_serializable(package="keras_encoders")
class TokenClassifier(encoder_task.EncoderTask, encoder_task.DerivesBackboneInputs, Task):
    """Per-token classification: `sequence_output -> Dropout -> Dense(num_classes)`.

    Hugging Face's `*ForTokenClassification`. The loss is cross-entropy
    averaged over labelled tokens (label -100 is ignored), as in the reference.

    Args:
        backbone: the encoder backbone.
        num_classes: int. Number of tags.
        preprocessor: a `TokenClassifierPreprocessor` or None.
        dropout: float. Dropout before the classifier.
        label_names: optional list of tag names (index = tag id).

    Example:
    >>> from keras_encoders.models import TokenClassifier, NezhaTokenClassifier
    >>> issubclass(NezhaTokenClassifier, TokenClassifier)  # the Nezha specialisation
    True
    >>> from keras_encoders.models import NezhaBackbone, NezhaTokenizer, NezhaTokenClassifierPreprocessor, NezhaTokenClassifier
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> backbone = NezhaBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16)
    >>> preprocessor = NezhaTokenClassifierPreprocessor(tokenizer, sequence_length=8)
    >>> tagger = NezhaTokenClassifier(
    ...     backbone, num_classes=3, preprocessor=preprocessor, label_names=["O", "B", "I"])
    >>> x, y, sample_weight = preprocessor(x=[["我", "爱", "北", "京"]], y=[[0, 1, 2, 0]])
    >>> tuple(tagger(x).shape)  # (batch, sequence_length, num_classes)
    (1, 8, 3)
    """

    checkpoint_head = None

    def __init__(self, backbone, num_classes, preprocessor=None, dropout=0.1,
                 label_names=None, **kwargs):
        dtype = backbone.dtype_policy
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.output_dropout = keras.layers.Dropout(dropout, dtype=dtype, name="output_dropout")
        self.output_dense = encoder_task.head_dense(num_classes, "logits", dtype)

        # === Functional Model ===
        inputs = backbone.input
        x = backbone(inputs)["sequence_output"]
        outputs = self.output_dense(self.output_dropout(x))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.dropout = dropout
        self.label_names = list(label_names) if label_names else None

    # Pre-split words and per-word labels are rows of different lengths.
    def fit(self, x=None, y=None, *args, **kwargs):
        x, y = preprocessing.ragged_if_nested(x), preprocessing.ragged_if_nested(y)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x, y = preprocessing.ragged_if_nested(x), preprocessing.ragged_if_nested(y)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        return super().predict(preprocessing.ragged_if_nested(x), *args, **kwargs)

    @classmethod
    def task_config_from_hf(cls, config):
        return {
            "num_classes": encoder_task.num_labels_from_hf(config),
            "label_names": encoder_task.label_names_from_hf(config),
        }

    def serving_signature(self, **options):
        """How `keras_encoders.export_saved_model` serves this task from raw
        strings: a label and a character span for every token (see `TokenClassifierSignature`)."""
        # Imported here: the export package imports the models package.
        from keras_encoders.export import TokenClassifierSignature

        return TokenClassifierSignature(self, **options)

    def compile(self, optimizer="auto", loss="auto", *, weighted_metrics="auto", **kwargs):
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(5e-5)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, ignore_class=preprocessing.IGNORE_INDEX
            )
        if weighted_metrics == "auto":
            weighted_metrics = [keras.metrics.SparseCategoricalAccuracy()]
        super().compile(
            optimizer=optimizer, loss=loss, weighted_metrics=weighted_metrics, **kwargs
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "dropout": self.dropout,
                "label_names": self.label_names,
            }
        )
        return config
