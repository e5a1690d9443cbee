"""Serving token classifiers (tagging, NER)."""

from keras_encoders.export.serving_signature import ServingSignature
from keras_encoders.export.serving_signature import class_outputs
from keras_encoders.models import preprocessing


class TokenClassifierSignature(ServingSignature):
    """`text` -> a label for every token, with the token's span in the text.

    Outputs, per packed position (B, L): `logits` (B, L, num_classes),
    `probabilities`, `label_ids`, `label_names` (when the task has label
    names), and `token_start` / `token_end`, the token's character span in
    its input string (`text[start:end]`; -1 at `[CLS]`, `[SEP]` and
    padding). Raw text is tokenized whole (pre-split words are a training
    input only). `serve_token_ids` gives the same outputs without spans.

    Args:
        task: a `TokenClassifier`.
    """

    def preprocess(self, inputs):
        # The preprocessor's raw-text path, tokenizing once for ids and spans.
        tokenizer = self.tokenizer
        ids, starts, ends = tokenizer.tokenize_with_offsets(inputs["text"])
        packer = preprocessing.make_packer(tokenizer, self.sequence_length)
        x = preprocessing.model_inputs(tokenizer, *packer((ids,)))
        spans = self.pack_per_token([(ids, {"token_start": starts, "token_end": ends})])
        return x, {"token_start": spans["token_start"], "token_end": spans["token_end"]}

    def outputs(self, outputs, inputs, extras):
        out = class_outputs(outputs, getattr(self.task, "label_names", None))
        out.update(extras)
        return out
