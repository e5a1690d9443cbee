"""ERNIE-M text classifier."""

import keras

from keras_encoders.models.encoder_text_classifier import EncoderTextClassifier
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_text_classifier_preprocessor import ErnieMTextClassifierPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMTextClassifier(EncoderTextClassifier):
    """ERNIE-M text classifier: pooler, dropout, dense (`ErnieMForSequenceClassification`).

    Example:
    ```python
    # Fine-tune on XNLI-style pairs, `[CLS] premise [SEP] [SEP] hypothesis [SEP]`.
    classifier = ErnieMTextClassifier.from_preset("ernie_m_base_multi", num_classes=3)
    classifier.fit(x=(premises, hypotheses), y=labels, batch_size=16)
    classifier.predict((["Il pleut."], ["It is raining."]))
    ```

    See `EncoderTextClassifier` for the arguments and behaviour.

    Example (a tiny random model; runs offline):
    >>> from keras_encoders.models import ErnieMBackbone, ErnieMTokenizer, ErnieMTextClassifierPreprocessor, ErnieMTextClassifier
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
    >>> preprocessor = ErnieMTextClassifierPreprocessor(tokenizer, sequence_length=8)
    >>> classifier = ErnieMTextClassifier(backbone, num_classes=2, preprocessor=preprocessor)
    >>> logits = classifier.predict(["the quick brown fox", "the earth is round"], verbose=0)
    >>> logits.shape
    (2, 2)
    >>> # Sentence pairs are a tuple of two lists.
    >>> tuple(classifier(preprocessor(x=(["the quick brown fox"], ["the earth is round"]))).shape)
    (1, 2)
    """

    backbone_cls = ErnieMBackbone
    preprocessor_cls = ErnieMTextClassifierPreprocessor
    checkpoint_head = "ErnieMForSequenceClassification"
