"""NEZHA tokenizer."""

import keras

from keras_encoders.models.nezha.nezha_backbone import NezhaBackbone
from keras_encoders.tokenizers.bert_word_piece_tokenizer import BertWordPieceTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaTokenizer(BertWordPieceTokenizer):
    """NEZHA's tokenizer: BERT's Chinese WordPiece (`BertTokenizer` in Hugging Face).

    Lowercases, strips accents, isolates CJK characters and punctuation, then
    applies WordPiece with the `bert-base-chinese` vocabulary (21,128 tokens).
    Ids equal Hugging Face's `BertTokenizer`; `tokenize_with_offsets` also gives
    each token's character span in the original text.

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> [int(i) for i in tokenizer("我爱北京")]
    [5, 6, 7, 8]
    """

    backbone_cls = NezhaBackbone
