"""NEZHA masked LM, decoder tied to the word embeddings."""

import keras

from keras_encoders.models.encoder_masked_lm import EncoderMaskedLM
from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.models.nezha.nezha_masked_lm_preprocessor import NezhaMaskedLMPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaMaskedLM(EncoderMaskedLM):
    """NEZHA masked LM, decoder tied to the word embeddings (`NezhaForMaskedLM`).

    See `EncoderMaskedLM` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import NezhaBackbone, NezhaTokenizer, NezhaMaskedLMPreprocessor, NezhaMaskedLM
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> backbone = NezhaBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16)
    >>> preprocessor = NezhaMaskedLMPreprocessor(tokenizer, sequence_length=8)
    >>> masked_lm = NezhaMaskedLM(backbone, preprocessor=preprocessor)
    >>> x, y, sample_weight = preprocessor(["我爱北京", "北京"])
    >>> logits = masked_lm(x)  # at x["mask_positions"]
    >>> tuple(logits.shape) == (2, preprocessor.mask_selection_length, len(vocab))
    True
    """

    backbone_cls = NezhaBackbone
    preprocessor_cls = NezhaMaskedLMPreprocessor
    checkpoint_head = "NezhaForMaskedLM"
