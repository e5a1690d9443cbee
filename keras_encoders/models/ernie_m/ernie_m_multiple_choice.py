"""ERNIE-M multiple choice."""

import keras

from keras_encoders.models.multiple_choice import MultipleChoice
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_multiple_choice_preprocessor import ErnieMMultipleChoicePreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMMultipleChoice(MultipleChoice):
    """ERNIE-M multiple choice (`ErnieMForMultipleChoice`, pooler summary).

    Example:
    ```python
    mc = ErnieMMultipleChoice.from_preset("ernie_m_base_multi")
    # prompts: (B,) strings; choices: (B, C) strings; labels: the right choice.
    mc.fit(x=(prompts, choices), y=labels)
    ```

    See `MultipleChoice` for the arguments and behaviour.

    Example (a tiny random model; runs offline):
    >>> from keras_encoders.models import ErnieMBackbone, ErnieMTokenizer, ErnieMMultipleChoicePreprocessor, ErnieMMultipleChoice
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
    >>> import numpy as np
    >>> preprocessor = ErnieMMultipleChoicePreprocessor(tokenizer, sequence_length=8)
    >>> chooser = ErnieMMultipleChoice(backbone, preprocessor=preprocessor)
    >>> x = preprocessor(x=(["the earth is round"], np.array([["the fox", "round"]])))
    >>> tuple(x["token_ids"].shape)  # (batch, choices, sequence_length)
    (1, 2, 8)
    >>> tuple(chooser(x).shape)  # one logit per choice
    (1, 2)
    """

    backbone_cls = ErnieMBackbone
    preprocessor_cls = ErnieMMultipleChoicePreprocessor
    checkpoint_head = "ErnieMForMultipleChoice"
