"""ConvBERT masked LM preprocessing."""

import keras

from keras_encoders.models.convbert.convbert_backbone import ConvBertBackbone
from keras_encoders.models.convbert.convbert_tokenizer import ConvBertTokenizer
from keras_encoders.models.encoder_masked_lm_preprocessor import EncoderMaskedLMPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertMaskedLMPreprocessor(EncoderMaskedLMPreprocessor):
    """ConvBERT masked LM preprocessing: strings to masked inputs and targets.

    See `EncoderMaskedLMPreprocessor` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import ConvBertMaskedLMPreprocessor, ConvBertTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox"]
    >>> tokenizer = ConvBertTokenizer(vocabulary=vocab)
    >>> preprocessor = ConvBertMaskedLMPreprocessor(tokenizer, sequence_length=8)
    >>> x, y, sample_weight = preprocessor(["the quick brown fox"])
    >>> sorted(x)[:2], tuple(x["token_ids"].shape)
    (['mask_positions', 'padding_mask'], (1, 8))
    """

    backbone_cls = ConvBertBackbone
    tokenizer_cls = ConvBertTokenizer
