"""A token classification (tagging, NER) head."""

import keras
import tensorflow as tf
from keras_hub.models import Task

from keras_encoders.decoding import entities
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

    `predict_labels(texts)` labels every word of raw texts and
    `predict_entities(texts)` returns the entity spans, with character
    offsets, decoded as the exported SavedModel decodes them.

    Example:
    >>> from keras_encoders import models
    >>> tokenizer = models.NezhaTokenizer(
    ...     vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "北", "京", "去"])
    >>> backbone = models.NezhaBackbone(vocabulary_size=8, num_layers=1,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16)
    >>> tagger = models.NezhaTokenClassifier(backbone, num_classes=3,
    ...     label_names=["O", "B-LOC", "I-LOC"],
    ...     preprocessor=models.NezhaTokenClassifierPreprocessor(
    ...         tokenizer, sequence_length=8))
    >>> words = tagger.predict_labels(["去北京"])[0]
    >>> [(w["text"], w["start"], w["end"]) for w in words]
    [('去', 0, 1), ('北', 1, 2), ('京', 2, 3)]
    >>> all(w["label"] in ("O", "B-LOC", "I-LOC") for w in words)
    True
    >>> found = tagger.predict_entities(["去北京"])[0]  # untrained: any spans
    >>> all(e["text"] == "去北京"[e["start"]:e["end"]] for e in found)
    True
    >>> all(e["label"] == "LOC" for e in found)
    True
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
        encoder_task.freeze_unused_pooler(backbone)

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

    # === Decoding ===
    def predict_labels(self, texts, batch_size=32):
        """A label for every word of each raw text, with its character span.

        Words are BERT-style: sub-word tokens of a word are joined, and every
        CJK character and punctuation mark is a word of its own (see
        `keras_encoders.decoding.entities`); a word's label and score come
        from its first token. Texts longer than the preprocessor's
        `sequence_length` are truncated. The exported SavedModel serves the
        same decoding (`word_*` outputs).

        Args:
            texts: a string or a list of strings.
            batch_size: int. Texts per forward pass.

        Returns:
            Per text, a list of `{"text", "label", "start", "end", "score"}`
            (`text == texts[i][start:end]`; `label` is the label name, or the
            class id without `label_names`; `score` its probability).

        See the class docstring for an example.
        """
        decoded = self.decode_texts(texts, batch_size)
        label = "word_label" if "word_label" in decoded[0] else "word_label_id"
        return [
            [
                {"text": t, "label": l, "start": a, "end": b, "score": p}
                for t, l, a, b, p in zip(*(row[k] for k in (
                    "word_text", label, "word_start", "word_end", "word_score")))
            ]
            for row in decoded
        ]

    def predict_entities(self, texts, batch_size=32):
        """The entities in each raw text, with character offsets.

        Label names in the BIO, BIOES (BMES, BILOU) or IO scheme are decoded
        into entity spans, leniently as conlleval does (an `I-` word after
        `O` begins an entity); see `keras_encoders.decoding.entities`. The
        exported SavedModel serves the same decoding (`entity_*` outputs).

        Args:
            texts: a string or a list of strings.
            batch_size: int. Texts per forward pass.

        Returns:
            Per text, a list of `{"text", "label", "start", "end", "score"}`:
            the entity's text (`texts[i][start:end]`), its type (e.g. "LOC")
            and the mean score of its words.

        See the class docstring for an example.
        """
        if not self.label_names:
            raise ValueError(
                f"{type(self).__name__} has no `label_names`, and entities are "
                "read from label names such as 'B-LOC'. Build the task with "
                "`label_names=[...]` (a fine-tuned checkpoint's `id2label` sets "
                "them), or use `predict_labels()` for class ids."
            )
        return [
            [
                {"text": t, "label": l, "start": a, "end": b, "score": p}
                for t, l, a, b, p in zip(*(row[k] for k in (
                    "entity_text", "entity_label", "entity_start", "entity_end", "entity_score")))
            ]
            for row in self.decode_texts(texts, batch_size)
        ]

    def decode_texts(self, texts, batch_size=32):
        """`keras_encoders.decoding.entities.decode_token_labels` on raw texts:
        per text, a dict of Python lists (strings decoded, numbers as int and
        float)."""
        if self.preprocessor is None:
            raise ValueError(
                f"{type(self).__name__} has no preprocessor, and decoding raw "
                "texts needs one. Build the task with `preprocessor=...` (or "
                "load it with `from_preset`)."
            )
        texts = [texts] if isinstance(texts, str) else list(texts)
        x, spans = self.preprocessor.call_with_offsets(tf.constant(texts, tf.string))
        x, spans = keras.tree.map_structure(keras.ops.convert_to_numpy, (x, spans))
        # Packed inputs (keras-hub's `predict` would preprocess them again).
        logits = self.predict_inputs(x, batch_size=batch_size)
        decoded = entities.decode_token_labels(
            logits, spans["token_start"], spans["token_end"], texts, self.label_names
        )
        rows = [{} for _ in texts]
        for name, values in decoded.items():
            for row, items in zip(rows, values.to_list()):
                row[name] = [
                    v.decode("utf-8") if isinstance(v, bytes) else v for v in items
                ]
        return rows

    def sparse_label_range(self, x):
        return (self.num_classes, "token labels", preprocessing.IGNORE_INDEX)

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
