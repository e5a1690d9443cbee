"""Serving multiple choice heads."""

import tensorflow as tf

from keras_encoders.export.serving_signature import ServingSignature
from keras_encoders.export.serving_signature import class_outputs
from keras_encoders.export.serving_signature import string_spec
from keras_encoders.models import preprocessing


class MultipleChoiceSignature(ServingSignature):
    """`text` (B,) prompts and `choices` (B, C) -> the best choice.

    Each choice is paired with its prompt and packed as the task's
    `MultipleChoicePreprocessor` packs it. Outputs: `logits`
    and `probabilities` (B, C), `label_ids` (B,) the index of the best choice
    and `best_choice` (B,) its text (only from strings).

    Args:
        task: a `MultipleChoice` task.
    """

    sequence_free_outputs = True

    def string_spec(self):
        return {"text": string_spec("text"), "choices": string_spec("choices", rank=2)}

    def preprocess(self, inputs):
        # The preprocessor's packing, with one tokenizer call for prompts and
        # choices (its graph is most of the exported graph), each prompt
        # tokenized once rather than once per choice.
        tokenizer = self.tokenizer
        prompts, choices = inputs["text"], inputs["choices"]
        count, num_choices = tf.shape(prompts)[0], tf.shape(choices)[1]
        ids = tokenizer(tf.concat([prompts, tf.reshape(choices, [-1])], 0))
        prompt = tf.gather(ids[:count], tf.repeat(tf.range(count), num_choices))
        packer = preprocessing.make_packer(tokenizer, self.sequence_length)
        x = preprocessing.model_inputs(tokenizer, *packer((prompt, ids[count:])))
        shape = [-1, num_choices, self.sequence_length]
        x = {name: tf.reshape(value, shape) for name, value in x.items()}
        return x, {"choices": choices}

    def outputs(self, outputs, inputs, extras):
        out = class_outputs(outputs)
        if "choices" in extras:
            out["best_choice"] = tf.gather(extras["choices"], out["label_ids"], batch_dims=1)
        return out
