"""ERNIE-M token classifier."""

import keras

from keras_encoders.models.token_classifier import TokenClassifier
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_token_classifier_preprocessor import ErnieMTokenClassifierPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMTokenClassifier(TokenClassifier):
    """ERNIE-M token classifier (`ErnieMForTokenClassification`).

    Example:
    ```python
    tagger = ErnieMTokenClassifier.from_preset("ernie_m_base_multi", num_classes=9)
    # Pre-split words (ragged), one label per word.
    words = tf.ragged.constant([["Angela", "Merkel", "besuchte", "Paris"]])
    tags = tf.ragged.constant([[1, 2, 0, 5]])
    tagger.fit(x=words, y=tags)
    ```

    See `TokenClassifier` for the arguments and behaviour.

    Example (a tiny random model; runs offline):
    >>> from keras_encoders.models import ErnieMBackbone, ErnieMTokenizer, ErnieMTokenClassifierPreprocessor, ErnieMTokenClassifier
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
    >>> preprocessor = ErnieMTokenClassifierPreprocessor(tokenizer, sequence_length=8)
    >>> tagger = ErnieMTokenClassifier(
    ...     backbone, num_classes=3, preprocessor=preprocessor, label_names=["O", "B", "I"])
    >>> x, y, sample_weight = preprocessor(x=[["the", "quick", "fox"]], y=[[0, 1, 2]])
    >>> tuple(tagger(x).shape)  # (batch, sequence_length, num_classes)
    (1, 8, 3)
    """

    backbone_cls = ErnieMBackbone
    preprocessor_cls = ErnieMTokenClassifierPreprocessor
    checkpoint_head = "ErnieMForTokenClassification"
