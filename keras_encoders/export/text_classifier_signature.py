"""Serving text classifiers (and sentence-pair heads such as NSP)."""

import tensorflow as tf

from keras_encoders.export.serving_signature import ServingSignature
from keras_encoders.export.serving_signature import class_outputs
from keras_encoders.export.serving_signature import string_spec


class TextClassifierSignature(ServingSignature):
    """`text` (and `text_pair`) -> class logits, probabilities and labels.

    Outputs: `logits` (B, num_classes); `probabilities` (softmax, or sigmoid
    for multi-label heads); `label_ids` (B,) (argmax) and `label_names` (B,)
    when the task has label names. Regression heads give `logits` only.

    Args:
        task: an `EncoderTextClassifier` (or any head with class logits).
        text_pair: bool. Take a second string input, `text_pair`, and
            classify `(text, text_pair)` pairs.
        label_names: names for the class ids; the task's own by default.
    """

    sequence_free_outputs = True

    def __init__(self, task, text_pair=False, label_names=None):
        super().__init__(task)
        self.text_pair = text_pair
        self.label_names = label_names or getattr(task, "label_names", None)

    def string_spec(self):
        spec = super().string_spec()
        if self.text_pair:
            spec["text_pair"] = string_spec("text_pair")
        return spec

    def preprocess(self, inputs):
        if self.text_pair:
            return self.preprocessor(x=(inputs["text"], inputs["text_pair"])), {}
        return self.preprocessor(inputs["text"]), {}

    def outputs(self, outputs, inputs, extras):
        problem_type = getattr(self.task, "problem_type", None)
        num_classes = outputs.shape[-1]
        if problem_type == "regression" or (problem_type is None and num_classes == 1):
            return {"logits": tf.cast(outputs, tf.float32)}
        return class_outputs(
            outputs,
            self.label_names,
            activation=getattr(self.task, "activation", None),
            multi_label=problem_type == "multi_label_classification",
        )
