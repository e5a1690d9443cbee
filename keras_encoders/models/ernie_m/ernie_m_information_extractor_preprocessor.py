"""ERNIE-M (UIE-M) information extraction preprocessing."""

import keras

from keras_encoders.models.information_extractor_preprocessor import InformationExtractorPreprocessor
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_tokenizer import ErnieMTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMInformationExtractorPreprocessor(InformationExtractorPreprocessor):
    """UIE-M preprocessing: `(prompts, texts)` with span targets, windows.

    Inputs are `[CLS] prompt [SEP] [SEP] text [SEP]`, without segment ids.

    See `InformationExtractorPreprocessor` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import ErnieMInformationExtractorPreprocessor, ErnieMTokenizer
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
    >>> preprocessor = ErnieMInformationExtractorPreprocessor(tokenizer, sequence_length=16, max_prompt_length=4)
    >>> x, y = preprocessor(x=(["fox"], ["the quick brown fox"]),
    ...                     y={"span_start": [[16]], "span_end": [[19]]})
    >>> tuple(y["start_logits"].shape)  # 1.0 at the first token of each span
    (1, 16)
    """

    backbone_cls = ErnieMBackbone
    tokenizer_cls = ErnieMTokenizer
