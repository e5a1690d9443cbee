"""ERNIE-M extractive question answering."""

import keras

from keras_encoders.models.question_answerer import QuestionAnswerer
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_question_answerer_preprocessor import ErnieMQuestionAnswererPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMQuestionAnswerer(QuestionAnswerer):
    """ERNIE-M extractive question answering (`ErnieMForQuestionAnswering`).

    Example:
    ```python
    qa = ErnieMQuestionAnswerer.from_preset("ernie_m_base_multi")
    qa.fit(x=(questions, contexts), y={"answer_start": starts, "answer_end": ends})
    qa.answer(["Wo wohnt sie?"], ["Sie wohnt in Berlin."])  # [{"text": ..., ...}]
    ```

    See `QuestionAnswerer` for the arguments and behaviour.

    Example (a tiny random model; runs offline):
    >>> from keras_encoders.models import ErnieMBackbone, ErnieMTokenizer, ErnieMQuestionAnswererPreprocessor, ErnieMQuestionAnswerer
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
    >>> backbone = ErnieMBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=32)
    >>> preprocessor = ErnieMQuestionAnswererPreprocessor(tokenizer, sequence_length=16, max_question_length=4)
    >>> answerer = ErnieMQuestionAnswerer(backbone, preprocessor=preprocessor)
    >>> context = "the quick brown fox"
    >>> answer = answerer.answer(["the fox"], [context], doc_stride=4)[0]
    >>> sorted(answer)
    ['end', 'score', 'start', 'text']
    >>> context[answer["start"]:answer["end"]] == answer["text"]
    True
    """

    backbone_cls = ErnieMBackbone
    preprocessor_cls = ErnieMQuestionAnswererPreprocessor
    checkpoint_head = "ErnieMForQuestionAnswering"
