"""Serving token classifiers (tagging, NER)."""

from keras_encoders.decoding import entities
from keras_encoders.export.serving_signature import ServingSignature
from keras_encoders.export.serving_signature import class_outputs

# Padding of the per-word and per-entity outputs.
_DEFAULTS = {"text": "", "label": "", "start": -1, "end": -1, "label_id": -1, "score": 0.0}


class TokenClassifierSignature(ServingSignature):
    """`text` -> a label for every token and word, and the entity spans.

    Outputs, per packed position (B, L): `logits` (B, L, num_classes),
    `probabilities`, `label_ids`, `label_names` (when the task has label
    names), and `token_start` / `token_end`, the token's character span in
    its input string (`text[start:end]`; -1 at `[CLS]`, `[SEP]` and
    padding). Per word, with W the most words of a row: `word_text`,
    `word_start`, `word_end`, `word_label_id`, `word_score` and `word_label`
    (B, W); per entity (with label names), with E the most entities of a
    row: `entity_text`, `entity_label`, `entity_start`, `entity_end`,
    `entity_score` (B, E); padded with "", -1 and 0. Words and entities are
    decoded by `keras_encoders.decoding.entities`, as
    `TokenClassifier.predict_labels()` / `predict_entities()` do. Raw text
    is tokenized whole (pre-split words are a training input only).
    `serve_token_ids` gives the per-position outputs without spans.

    Args:
        task: a `TokenClassifier`.
    """

    def preprocess(self, inputs):
        x, spans = self.preprocessor.call_with_offsets(inputs["text"])
        return x, {"text": inputs["text"], **spans}

    def outputs(self, outputs, inputs, extras):
        label_names = getattr(self.task, "label_names", None)
        out = class_outputs(outputs, label_names)
        if "text" not in extras:
            return out
        out.update(token_start=extras["token_start"], token_end=extras["token_end"])
        decoded = entities.decode_token_labels(
            outputs, extras["token_start"], extras["token_end"], extras["text"], label_names
        )
        for name, values in decoded.items():
            out[name] = values.to_tensor(_DEFAULTS[name.split("_", 1)[1]])
        return out
