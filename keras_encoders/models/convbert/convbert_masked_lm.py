"""ConvBERT masked LM (the ELECTRA-style generator head)."""

import keras

from keras_encoders.models.convbert.convbert_backbone import ConvBertBackbone
from keras_encoders.models.convbert.convbert_masked_lm_preprocessor import ConvBertMaskedLMPreprocessor
from keras_encoders.models.encoder_masked_lm import EncoderMaskedLM


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertMaskedLM(EncoderMaskedLM):
    """ConvBERT masked LM (`ConvBertForMaskedLM`).

    The generator head: `Dense(embedding_dim) -> GELU -> LayerNorm`, then
    logits against the (tied) word embeddings plus the head's own bias. The
    published YituTech checkpoints hold the discriminator body only, so this
    head starts from random weights unless the checkpoint is a
    `ConvBertForMaskedLM` one (as in Hugging Face).

    See `EncoderMaskedLM` for the arguments and behaviour.
    """

    backbone_cls = ConvBertBackbone
    preprocessor_cls = ConvBertMaskedLMPreprocessor
    checkpoint_head = "ConvBertForMaskedLM"
