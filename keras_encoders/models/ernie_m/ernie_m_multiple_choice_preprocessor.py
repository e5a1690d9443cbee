"""ERNIE-M multiple choice preprocessing."""

import keras

from keras_encoders.models.multiple_choice_preprocessor import MultipleChoicePreprocessor
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_tokenizer import ErnieMTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMMultipleChoicePreprocessor(MultipleChoicePreprocessor):
    """ERNIE-M multiple choice preprocessing.

    Each choice becomes `[CLS] prompt [SEP] [SEP] choice [SEP]`, without segment ids.

    See `MultipleChoicePreprocessor` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import ErnieMMultipleChoicePreprocessor, ErnieMTokenizer
    >>> import io
    >>> import sentencepiece
    >>> proto = io.BytesIO()
    >>> sentencepiece.SentencePieceTrainer.train(
    ...     sentence_iterator=iter(["the quick brown fox", "the earth is round"]),
    ...     model_writer=proto, vocab_size=13, model_type="WORD", pad_id=0, unk_id=1,
    ...     bos_id=2, eos_id=3, pad_piece="[PAD]", unk_piece="[UNK]", bos_piece="[CLS]",
    ...     eos_piece="[SEP]", user_defined_symbols="[MASK]", minloglevel=2)
    >>> spm = sentencepiece.SentencePieceProcessor(model_proto=proto.getvalue())
    >>> vocab = [spm.id_to_piece(i) for i in range(spm.get_piece_size())]
    >>> tokenizer = ErnieMTokenizer(proto=proto.getvalue(), vocabulary=vocab)
    >>> import numpy as np
    >>> preprocessor = ErnieMMultipleChoicePreprocessor(tokenizer, sequence_length=8)
    >>> x = preprocessor(x=(["the earth is round"], np.array([["the fox", "round"]])))
    >>> tuple(x["token_ids"].shape)  # (batch, choices, sequence_length)
    (1, 2, 8)
    """

    backbone_cls = ErnieMBackbone
    tokenizer_cls = ErnieMTokenizer
