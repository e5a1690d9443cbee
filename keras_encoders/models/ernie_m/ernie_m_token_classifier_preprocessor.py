"""ERNIE-M token classification preprocessing."""

import keras

from keras_encoders.models.token_classifier_preprocessor import TokenClassifierPreprocessor
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_tokenizer import ErnieMTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMTokenClassifierPreprocessor(TokenClassifierPreprocessor):
    """ERNIE-M token classification preprocessing: words and word labels to sub-word inputs.

    Each word is tokenized on its own (SentencePiece adds its "▁" word
    prefix, ERNIE-M's splitting may cut a word into several tokens); the
    word's label goes to its first token.

    See `TokenClassifierPreprocessor` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import ErnieMTokenClassifierPreprocessor, ErnieMTokenizer
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
    >>> preprocessor = ErnieMTokenClassifierPreprocessor(tokenizer, sequence_length=8)
    >>> x, y, sample_weight = preprocessor(x=[["the", "quick", "fox"]], y=[[0, 1, 2]])
    >>> tuple(y.shape)  # labels on first sub-tokens, -100 elsewhere
    (1, 8)
    """

    backbone_cls = ErnieMBackbone
    tokenizer_cls = ErnieMTokenizer
