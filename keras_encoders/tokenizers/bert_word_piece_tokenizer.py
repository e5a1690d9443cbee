"""BERT's basic tokenization + WordPiece, in TensorFlow ops, with offsets."""

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from keras_encoders.tokenizers.encoder_tokenizer import EncoderTokenizer
from keras_encoders.utils import text_utils

# Hugging Face `BasicTokenizer._is_chinese_char` ranges.
_CJK = (
    r"\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
    r"\x{2B740}-\x{2B81F}\x{2B820}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}"
)
# `_is_punctuation`: the four ASCII symbol ranges plus Unicode category P.
_PUNCT = r"[!-/:-@\[-`{-~\p{P}]"
# `_is_whitespace` (Zs and \t\n\r) plus Zl/Zp, which `str.split()` splits on.
_SPACE = r"[\t\n\r\p{Z}]"
# `_is_control` (category C except \t\n\r) plus NUL and U+FFFD: removed.
_CONTROL = r"[\p{C}\x{FFFD}]"
# BERT's `max_input_chars_per_word`: longer words become [UNK] as a whole.
MAX_CHARS_PER_WORD = 100


@keras.saving.register_keras_serializable(package="keras_encoders")
class BertWordPieceTokenizer(EncoderTokenizer):
    """BERT-style WordPiece tokenizer, id-for-id with Hugging Face's BertTokenizer.

    The pipeline is Hugging Face's `BasicTokenizer` followed by `WordpieceTokenizer`:
    control characters (and NUL, U+FFFD) are dropped, whitespace separates
    words, every CJK ideograph and every punctuation character is a word of its
    own, words are lowercased and stripped of accents (NFD, then combining
    marks removed; no NFKC, so full-width letters stay full-width), and each
    word is split greedily into the longest matching pieces (`##` marks a
    continuation); a word that cannot be split, or is longer than 100
    characters, becomes `[UNK]`. Special tokens written in the text (`[MASK]`,
    `[SEP]`...) are kept whole, as `BertTokenizer` does.

    The normalization runs character by character so that each token keeps
    the exact span of the original text it came from (see
    `tokenize_with_offsets`).

    Args:
        vocabulary: list of tokens or path to a `vocab.txt`.
        lowercase: bool. Lowercase the text (`do_lower_case`).
        strip_accents: bool or None. Strip accents; `None` follows `lowercase`,
            as in Hugging Face.
        split_on_cjk: bool. Isolate CJK ideographs (`tokenize_chinese_chars`).
        special_tokens_in_strings: bool. Keep special tokens written in the text.
        sequence_length: int. Pad/truncate `tokenize` outputs to this length.

    Example:
    >>> from keras_encoders.tokenizers import BertWordPieceTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox", "##es"]
    >>> tokenizer = BertWordPieceTokenizer(vocabulary=vocab)
    >>> [int(i) for i in tokenizer("The quick brown foxes")]
    [5, 6, 7, 8, 9]
    >>> ids, starts, ends = tokenizer.tokenize_with_offsets("The foxes")
    >>> [int(i) for i in starts], [int(i) for i in ends]
    ([0, 4, 7], [3, 7, 9])
    """

    def __init__(
        self,
        vocabulary=None,
        lowercase=True,
        strip_accents=None,
        split_on_cjk=True,
        special_tokens_in_strings=True,
        sequence_length=None,
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        **kwargs,
    ):
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.split_on_cjk = split_on_cjk
        self.special_tokens_in_strings = special_tokens_in_strings
        self._add_special_token(unk_token, "unk_token")
        self._add_special_token(cls_token, "cls_token")
        self._add_special_token(sep_token, "sep_token")
        self._add_special_token(pad_token, "pad_token")
        self._add_special_token(mask_token, "mask_token")
        # keras-hub preprocessors pack with `start_token` / `end_token`.
        self._add_special_token(cls_token, "start_token")
        self._add_special_token(sep_token, "end_token")
        super().__init__(
            vocabulary=vocabulary, sequence_length=sequence_length, **kwargs
        )

    def _build_tables(self):
        # tf-text's WordPiece needs unique, non-empty tokens; ids are mapped
        # back to line indices (last occurrence of a duplicated line).
        unique = [t for t in dict.fromkeys(self.vocabulary) if t]
        if self.unk_token not in unique:
            raise ValueError(
                f"The vocabulary has no unknown token `{self.unk_token}`."
            )
        self._word_piece = tf_text.FastWordpieceTokenizer(
            vocab=unique,
            suffix_indicator="##",
            unknown_token=self.unk_token,
            max_bytes_per_word=1 << 20,  # the 100-character rule is ours
            token_out_type=tf.int64,
            no_pretokenization=True,
            support_detokenization=False,
        )
        self._piece_to_line = tf.constant(
            [self._token_to_id[t] for t in unique], dtype=tf.int64
        )
        specials = sorted(set(self.special_tokens), key=len, reverse=True)
        self._special_pattern = "|".join(text_utils.regex_escape(t) for t in specials)
        self._special_ids = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(specials),
                tf.constant([self._token_to_id[t] for t in specials], tf.int64),
            ),
            default_value=-1,
        )

    @property
    def _strip(self):
        return self.lowercase if self.strip_accents is None else self.strip_accents

    def _tokenize_with_offsets_tf(self, strings):
        # NUL ends strings inside tf-text's regex split; \x01 is dropped as a
        # control character just like NUL, and keeps every offset in place.
        strings = tf.strings.regex_replace(strings, "\x00", "\x01")
        # 1. Cut out special tokens written in the text; they bypass the rest.
        if self.special_tokens_in_strings:
            pieces, p_start, _ = tf_text.regex_split_with_offsets(
                strings, self._special_pattern, self._special_pattern
            )
        else:
            pieces = tf.RaggedTensor.from_tensor(strings[:, None])
            p_start = tf.zeros_like(pieces, dtype=tf.int64)
        flat = pieces.flat_values
        special_id = self._special_ids.lookup(flat)
        is_special = special_id >= 0
        ids, starts, ends = self._word_pieces(tf.where(is_special, "", flat))
        # Each special piece is exactly one token spanning the piece.
        one = tf.RaggedTensor.from_row_lengths(
            tf.boolean_mask(special_id, is_special),
            tf.cast(is_special, tf.int64), validate=False)
        span = tf.RaggedTensor.from_row_lengths(
            tf.boolean_mask(_byte_length(flat), is_special),
            tf.cast(is_special, tf.int64), validate=False)
        ids = tf.concat([ids, one], axis=1)
        starts = tf.concat([starts, tf.zeros_like(span)], axis=1)
        ends = tf.concat([ends, span], axis=1)
        # 2. Back to one row per input string, offsets relative to the string.
        shift = p_start.flat_values[:, None]
        starts, ends = starts + shift, ends + shift

        def regroup(x):
            x = tf.RaggedTensor.from_row_splits(x, pieces.row_splits, validate=False)
            return x.merge_dims(1, 2)

        return regroup(ids), regroup(starts), regroup(ends)

    def _word_pieces(self, strings):
        """Basic tokenization + WordPiece of a 1-D batch; byte offsets."""
        cps, byte_start = tf.strings.unicode_decode_with_offsets(
            strings, "UTF-8", errors="replace"
        )
        cp = cps.flat_values
        chars = tf.strings.unicode_encode(cp[:, None], "UTF-8")
        byte_start = byte_start.flat_values
        byte_end = byte_start + _byte_length(chars)
        is_space = tf.strings.regex_full_match(chars, _SPACE)
        is_control = tf.strings.regex_full_match(chars, _CONTROL) & ~is_space
        is_alone = tf.strings.regex_full_match(chars, _PUNCT)
        if self.split_on_cjk:
            is_alone |= tf.strings.regex_full_match(chars, f"[{_CJK}]")

        # Normalize each character on its own, so every output byte knows the
        # input character it came from. Controls normalize to nothing.
        norm = chars
        if self.lowercase:
            norm = tf.strings.lower(norm, encoding="utf-8")
        if self._strip:
            norm = tf_text.normalize_utf8(norm, "NFD")
            norm = tf.strings.regex_replace(norm, r"\p{Mn}", "")
        norm = tf.where(is_control, "", norm)

        # A word starts at a row start, at an isolated character, or right
        # after an isolated character or a space. Spaces belong to no word.
        first = text_utils.row_start_mask(cps)
        starts_word = (
            first
            | is_alone
            | text_utils.flat_previous(is_alone, first, True)
            | text_utils.flat_previous(is_space, first, True)
        )
        keep = ~is_space
        starts_word = tf.boolean_mask(starts_word, keep)
        norm = tf.boolean_mask(norm, keep)
        byte_start = tf.boolean_mask(byte_start, keep)
        byte_end = tf.boolean_mask(byte_end, keep)
        row_of_char = tf.boolean_mask(cps.value_rowids(), keep)
        word_of_char = tf.cumsum(tf.cast(starts_word, tf.int64)) - 1
        num_words = tf.reduce_sum(tf.cast(starts_word, tf.int64))
        num_rows = cps.nrows()

        words = tf.strings.unsorted_segment_join(norm, word_of_char, num_words)
        row_of_word = tf.boolean_mask(row_of_char, starts_word)
        # Words that normalized to nothing (only controls/accents) vanish.
        nonempty = tf.strings.length(words) > 0
        words = tf.boolean_mask(words, nonempty)
        row_of_word = tf.boolean_mask(row_of_word, nonempty)
        char_kept = tf.gather(nonempty, word_of_char)
        renumber = tf.cumsum(tf.cast(nonempty, tf.int64)) - 1
        word_of_char = tf.boolean_mask(tf.gather(renumber, word_of_char), char_kept)
        num_words = tf.reduce_sum(tf.cast(nonempty, tf.int64))

        def per_word(values):
            """Flat per-character values -> ragged `[word, char]`."""
            return tf.RaggedTensor.from_value_rowids(
                tf.boolean_mask(values, char_kept), word_of_char, num_words, validate=False
            )

        # Per word: normalized byte ends of its characters, and the original
        # byte span of each character.
        norm_end = tf.cumsum(per_word(_byte_length(norm)), axis=1)
        orig_start = per_word(byte_start)
        orig_end = per_word(byte_end)

        piece_ids, p_start, p_end = self._word_piece.tokenize_with_offsets(words)
        too_long = tf.strings.length(words, unit="UTF8_CHAR") > MAX_CHARS_PER_WORD
        word_bytes = _byte_length(words)
        piece_ids = _where_rows(too_long, piece_ids, tf.fill(tf.shape(words), tf.cast(-1, tf.int64)))
        p_start = _where_rows(too_long, p_start, tf.zeros_like(word_bytes))
        p_end = _where_rows(too_long, p_end, word_bytes)
        piece_ids = tf.ragged.map_flat_values(
            lambda i: tf.where(
                i < 0,
                tf.cast(self._token_to_id[self.unk_token], tf.int64),
                tf.gather(self._piece_to_line, tf.maximum(i, 0)),
            ),
            piece_ids,
        )

        # Map piece byte offsets (in the normalized word) to the original text:
        # a piece starts at the first character whose normalized bytes reach
        # past its start, and ends with the character that completes it.
        bounds = norm_end.to_tensor(default_value=tf.int64.max)
        dense_start = p_start.to_tensor(default_value=0)
        dense_end = p_end.to_tensor(default_value=0)
        first_char = tf.searchsorted(bounds, dense_start, side="right")
        last_char = tf.searchsorted(bounds, dense_end, side="left")
        first_char = tf.minimum(first_char, tf.cast(norm_end.row_lengths()[:, None] - 1, first_char.dtype))
        last_char = tf.minimum(last_char, tf.cast(norm_end.row_lengths()[:, None] - 1, last_char.dtype))
        src_start = tf.gather(orig_start.to_tensor(), first_char, batch_dims=1)
        src_end = tf.gather(orig_end.to_tensor(), last_char, batch_dims=1)
        lengths = piece_ids.row_lengths()
        src_start = tf.RaggedTensor.from_tensor(src_start, lengths=lengths)
        src_end = tf.RaggedTensor.from_tensor(src_end, lengths=lengths)

        rowids = tf.gather(row_of_word, piece_ids.value_rowids())

        def to_rows(x):
            return tf.RaggedTensor.from_value_rowids(x.flat_values, rowids, num_rows, validate=False)

        return to_rows(piece_ids), to_rows(src_start), to_rows(src_end)

    def _detokenize_tf(self, tokens):
        text = tf.strings.reduce_join(tokens, separator=" ", axis=-1)
        return tf.strings.regex_replace(text, " ##", "")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "lowercase": self.lowercase,
                "strip_accents": self.strip_accents,
                "split_on_cjk": self.split_on_cjk,
                "special_tokens_in_strings": self.special_tokens_in_strings,
                "unk_token": self.unk_token,
                "cls_token": self.cls_token,
                "sep_token": self.sep_token,
                "pad_token": self.pad_token,
                "mask_token": self.mask_token,
            }
        )
        return config


def _byte_length(strings):
    return tf.cast(tf.strings.length(strings), tf.int64)


def _where_rows(condition, ragged, replacement):
    """Replace the rows of `ragged` where `condition` with one value each."""
    lengths = tf.where(condition, tf.ones_like(ragged.row_lengths()), ragged.row_lengths())
    keep = tf.repeat(~condition, ragged.row_lengths())
    kept = tf.boolean_mask(ragged.flat_values, keep)
    # Interleave kept values and replacements in row order.
    take_new = tf.repeat(condition, lengths)
    new_vals = tf.boolean_mask(replacement, condition)
    positions = tf.range(tf.reduce_sum(lengths))
    old_pos = tf.boolean_mask(positions, ~take_new)
    new_pos = tf.boolean_mask(positions, take_new)
    values = tf.dynamic_stitch(
        [tf.cast(old_pos, tf.int32), tf.cast(new_pos, tf.int32)], [kept, new_vals]
    )
    return tf.RaggedTensor.from_row_lengths(values, lengths, validate=False)
