"""ERNIE-M question answering preprocessing."""

import keras

from keras_encoders.models.question_answerer_preprocessor import QuestionAnswererPreprocessor
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_tokenizer import ErnieMTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMQuestionAnswererPreprocessor(QuestionAnswererPreprocessor):
    """ERNIE-M question answering preprocessing (question + context, windows).

    Inputs are `[CLS] question [SEP] [SEP] context [SEP]`, without segment ids.

    See `QuestionAnswererPreprocessor` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import ErnieMQuestionAnswererPreprocessor, ErnieMTokenizer
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
    >>> preprocessor = ErnieMQuestionAnswererPreprocessor(tokenizer, sequence_length=16, max_question_length=4)
    >>> context = "the quick brown fox"
    >>> x, y = preprocessor(x=(["the fox"], [context]),
    ...                     y={"answer_start": [4], "answer_end": [9]})
    >>> sorted(y)  # token positions of the answer
    ['end_logits', 'start_logits']
    """

    backbone_cls = ErnieMBackbone
    tokenizer_cls = ErnieMTokenizer
