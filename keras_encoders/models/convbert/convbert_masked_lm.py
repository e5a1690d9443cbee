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

    Example:
    >>> from keras_encoders.models import ConvBertBackbone, ConvBertTokenizer, ConvBertMaskedLMPreprocessor, ConvBertMaskedLM
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox"]
    >>> tokenizer = ConvBertTokenizer(vocabulary=vocab)
    >>> backbone = ConvBertBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, conv_kernel_size=3)
    >>> preprocessor = ConvBertMaskedLMPreprocessor(tokenizer, sequence_length=8)
    >>> masked_lm = ConvBertMaskedLM(backbone, preprocessor=preprocessor)
    >>> x, y, sample_weight = preprocessor(["the quick brown fox", "the fox"])
    >>> logits = masked_lm(x)  # at x["mask_positions"]
    >>> tuple(logits.shape) == (2, preprocessor.mask_selection_length, len(vocab))
    True
    """

    backbone_cls = ConvBertBackbone
    preprocessor_cls = ConvBertMaskedLMPreprocessor
    checkpoint_head = "ConvBertForMaskedLM"
