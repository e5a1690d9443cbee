"""Serving masked language models: fill in `[MASK]` tokens."""

import tensorflow as tf

from keras_encoders.export.serving_signature import ServingSignature
from keras_encoders.models import preprocessing


class MaskedLMSignature(ServingSignature):
    """Text with `[MASK]` tokens -> the top-k fillers of every mask.

    The masks are the mask tokens written in the text (no random masking).
    Outputs, with P the largest number of masks in the batch:
    `mask_positions` (B, P) int32, their positions in the packed sequence (0
    where a row has fewer masks); `mask_valid` (B, P) bool; `logits`
    (B, P, vocabulary_size) at the masks; `top_k_ids`, `top_k_tokens` and
    `top_k_probabilities` (B, P, top_k). `serve_token_ids` takes
    `mask_positions` as an input, like the task itself.

    Args:
        task: an `EncoderMaskedLM`.
        top_k: int. How many candidates to return per mask.
    """

    sequence_free_outputs = True

    def __init__(self, task, top_k=5):
        super().__init__(task)
        self.top_k = top_k

    def preprocess(self, inputs):
        tokenizer = self.tokenizer
        # The preprocessor's own call masks at random (for training): pack
        # the text the same way, and keep the masks the text has.
        packer = preprocessing.make_packer(
            tokenizer, self.sequence_length, self.preprocessor.truncate
        )
        token_ids, segment_ids = packer((tokenizer(inputs["text"]),))
        x = preprocessing.model_inputs(tokenizer, token_ids, segment_ids)
        is_mask = x["token_ids"] == tokenizer.mask_token_id
        positions = tf.broadcast_to(
            tf.range(tf.shape(is_mask)[1], dtype=tf.int32), tf.shape(is_mask)
        )
        x["mask_positions"] = tf.ragged.boolean_mask(positions, is_mask).to_tensor(0)
        valid = tf.ragged.boolean_mask(is_mask, is_mask).to_tensor(False)
        return x, {"mask_valid": valid}

    def outputs(self, outputs, inputs, extras):
        logits = tf.cast(outputs, tf.float32)
        k = min(self.top_k, logits.shape[-1])
        probabilities, ids = tf.math.top_k(tf.nn.softmax(logits), k=k)
        vocabulary = tf.constant(self.tokenizer.get_vocabulary(), tf.string)
        out = {
            "mask_positions": tf.cast(inputs["mask_positions"], tf.int32),
            "logits": logits,
            "top_k_ids": ids,
            "top_k_tokens": tf.gather(vocabulary, ids),
            "top_k_probabilities": probabilities,
        }
        if "mask_valid" in extras:
            out["mask_valid"] = extras["mask_valid"]
        return out
