"""ERNIE-M universal information extraction (UIE-M)."""

import keras

from keras_encoders.models.information_extractor import InformationExtractor
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_information_extractor_preprocessor import ErnieMInformationExtractorPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMInformationExtractor(InformationExtractor):
    """UIE-M: ERNIE-M prompt-based span extraction
    (`ErnieMForInformationExtraction`, PaddleNLP `UIEM`).

    Outputs raw `start_logits`/`end_logits`, as Hugging Face does (PaddleNLP's
    `UIEM` returns their sigmoid); `extract()` applies the sigmoid.

    The `uie_m_*` presets are set up as PaddleNLP Taskflow runs UIE-M
    (`with_convention("paddlenlp")`: PaddleNLP tokenization, `[CLS]` masked
    and padding attended as the weights were fine-tuned, Taskflow's
    character windows and decoding), so that they give Taskflow's answers;
    `extract(..., decoding="taskflow_corrected")` keeps that but fixes
    Taskflow's bugs. Models fine-tuned here default to Hugging Face's inputs
    and `decoding="tokens"` (`with_convention("transformers")`).

    See `InformationExtractor` for the arguments and behaviour.

    Example:
    >>> from keras_encoders.models import ErnieMBackbone, ErnieMTokenizer, ErnieMInformationExtractorPreprocessor, ErnieMInformationExtractor
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
    >>> preprocessor = ErnieMInformationExtractorPreprocessor(tokenizer, sequence_length=16, max_prompt_length=4)
    >>> extractor = ErnieMInformationExtractor(backbone, preprocessor=preprocessor)
    >>> results = extractor.extract(["the quick brown fox"], schema=["fox"], threshold=0.0)
    >>> list(results[0])  # a random model: spans, but meaningless
    ['fox']
    """

    backbone_cls = ErnieMBackbone
    preprocessor_cls = ErnieMInformationExtractorPreprocessor
    checkpoint_head = "ErnieMForInformationExtraction"
