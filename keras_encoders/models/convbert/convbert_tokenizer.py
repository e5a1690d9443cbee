"""ConvBERT tokenizer."""

import keras

from keras_encoders.models.convbert.convbert_backbone import ConvBertBackbone
from keras_encoders.tokenizers.bert_word_piece_tokenizer import BertWordPieceTokenizer


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertTokenizer(BertWordPieceTokenizer):
    """ConvBERT's tokenizer: uncased English WordPiece (Hugging Face `ConvBertTokenizer`).

    BERT's algorithm with `bert-base-uncased`-style settings: lowercases,
    strips accents, isolates CJK characters and punctuation, then applies
    WordPiece. Ids equal Hugging Face's `ConvBertTokenizer`;
    `tokenize_with_offsets` also gives each token's character span in the
    original text.

    The `vocab.txt` published with the YituTech checkpoints is damaged (CRLF
    line endings, non-ASCII entries garbled, 1008 duplicated lines). It is
    read as Hugging Face reads it: `\\r` dropped, a duplicated token maps to its
    last line. ASCII ids are those of bert-base-uncased, and every non-ASCII
    character (CJK, emoji, most symbols) becomes `[UNK]`, exactly as with the
    reference tokenizer, which is what the checkpoints were evaluated with.

    Args:
        vocabulary: list of tokens or path to a `vocab.txt`.
        lowercase: bool. Lowercase the text (`do_lower_case`, True).
        strip_accents: bool or None. `None` follows `lowercase`.
        split_on_cjk: bool. Isolate CJK ideographs.
        sequence_length: int. Pad/truncate `tokenize` outputs to this length.

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    ...          "the", "quick", "brown", "fox", "##es", "."]
    >>> tokenizer = ConvBertTokenizer(vocabulary=vocab)
    >>> [int(i) for i in tokenizer("The quick brown foxes.")]
    [5, 6, 7, 8, 9, 10]
    """

    backbone_cls = ConvBertBackbone

    def __init__(self, vocabulary=None, lowercase=True, **kwargs):
        super().__init__(vocabulary=vocabulary, lowercase=lowercase, **kwargs)
