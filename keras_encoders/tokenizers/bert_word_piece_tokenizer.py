"""BERT's basic tokenization + WordPiece, in TensorFlow ops, with offsets."""

import functools
import unicodedata

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from keras_encoders.tokenizers.encoder_tokenizer import EncoderTokenizer
from keras_encoders.utils import text_utils

# Hugging Face `BasicTokenizer._is_chinese_char` ranges.
_CJK = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)
# BERT's `max_input_chars_per_word`: longer words become [UNK] as a whole.
MAX_CHARS_PER_WORD = 100
# Bits of the per-code-point class table.
_SPACE, _DROP, _ALONE = 1, 2, 4


def _is_punctuation(char):
    """Hugging Face's `_is_punctuation`: ASCII symbols and category P."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


@functools.lru_cache(maxsize=None)
def _char_tables(lowercase, strip_accents, split_on_cjk):
    """What BERT's basic tokenizer does with every code point, on its own.

    Returns a `uint8` class per code point (`_SPACE`: separates words,
    `_DROP`: removed like Hugging Face's `_clean_text` removes NUL, U+FFFD and
    category C, unassigned code points included; `_ALONE`: a word of its own,
    CJK or punctuation) and the code points whose text changes, with their
    new text (lowercased, accents stripped). Computed with the running
    interpreter's `unicodedata`, as Hugging Face does, and only once.
    """
    classes = np.zeros(0x110000, np.uint8)
    # A first entry no code point matches: a lookup table cannot be empty.
    codes, texts = [-1], [b""]
    for low, high in _CJK if split_on_cjk else ():
        classes[low : high + 1] = _ALONE
    for code in range(0x110000):
        char = chr(code)
        category = unicodedata.category(char)
        if code in (0, 0xFFFD) or (category[0] == "C" and char not in "\t\n\r"):
            classes[code] = _DROP
            continue
        # `_is_whitespace`, plus what `str.split()` splits on (U+2028...).
        if category == "Zs" or char.isspace():
            classes[code] = _SPACE
            continue
        text = char.lower() if lowercase else char
        # Most characters (all of CJK) are unchanged: skip the slow path.
        if strip_accents and not (
            text == char and unicodedata.is_normalized("NFD", char)
        ):
            text = "".join(
                c for c in unicodedata.normalize("NFD", text)
                if unicodedata.category(c) != "Mn"
            )
        if text == char:
            if category[0] == "P" or (code < 128 and _is_punctuation(char)):
                classes[code] |= _ALONE
            continue
        if text and all(_is_punctuation(c) for c in text):
            classes[code] |= _ALONE
        codes.append(code)
        texts.append(text.encode("utf-8"))
    return classes, codes, texts


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
        classes, codes, texts = _char_tables(
            bool(self.lowercase), bool(self._strip), bool(self.split_on_cjk)
        )
        self._char_class = tf.constant(classes)
        self._normal_index = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(codes, tf.int64), tf.range(len(codes), dtype=tf.int64)
            ),
            default_value=-1,
        )
        self._normal_texts = tf.constant(texts, tf.string)
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
        # Flat tensors plus explicit row ids throughout: ragged arithmetic,
        # concatenation and padding add shape checks that make the traced
        # graph (and its first trace) several times larger.
        # 1. Cut out special tokens written in the text; they bypass the rest.
        if self.special_tokens_in_strings:
            # NUL ends strings inside tf-text's regex split; \x01 is dropped
            # like NUL, and keeps every offset in place.
            # The chunks keep the \x01: it is dropped like NUL, and no special
            # token contains either.
            safe = tf.strings.regex_replace(strings, "\x00", "\x01")
            chunks, chunk_start, chunk_end, chunk_row = text_utils.regex_split(
                safe, self._special_pattern
            )
            chunk_length = chunk_end - chunk_start
            special_id = self._special_ids.lookup(chunks)
        else:
            chunks = strings
            chunk_row = tf.range(tf.shape(strings, out_type=tf.int64)[0])
            chunk_start = tf.zeros_like(chunk_row)
            chunk_length = tf.cast(tf.strings.length(strings), tf.int64)
            special_id = -tf.ones_like(chunk_row)
        is_special = special_id >= 0
        ids, starts, ends, token_chunk = self._word_pieces(
            tf.where(is_special, "", chunks)
        )
        # Each special chunk is one token spanning the chunk; merge them in
        # chunk order (a stable sort keeps each chunk's tokens in order).
        special_chunk = text_utils.mask_index(is_special)
        ids = tf.concat([ids, tf.gather(special_id, special_chunk)], 0)
        starts = tf.concat([starts, tf.zeros_like(special_chunk)], 0)
        ends = tf.concat([ends, tf.gather(chunk_length, special_chunk)], 0)
        token_chunk = tf.concat([token_chunk, special_chunk], 0)
        order = tf.argsort(token_chunk, stable=True)
        token_chunk = tf.gather(token_chunk, order)
        # 2. Back to one row per input string, offsets relative to the string.
        shift = tf.gather(chunk_start, token_chunk)
        rows = tf.gather(chunk_row, token_chunk)
        num_rows = tf.shape(strings, out_type=tf.int64)[0]

        splits = tf.searchsorted(rows, tf.range(num_rows + 1), side="left")

        def to_rows(x, shift=0):
            return tf.RaggedTensor.from_row_splits(
                tf.gather(x, order) + shift, splits, validate=False
            )

        return to_rows(ids), to_rows(starts, shift), to_rows(ends, shift)

    def _word_pieces(self, chunks):
        """Basic tokenization + WordPiece of a 1-D batch of chunks.

        Returns flat token ids, byte offsets in the chunk and chunk indices.
        """
        codes, char_start = tf.strings.unicode_decode_with_offsets(
            chunks, "UTF-8", errors="replace"
        )
        code = tf.cast(codes.flat_values, tf.int64)
        char_row = text_utils.row_ids(codes)
        char_start = char_start.flat_values
        char_end = char_start + _utf8_length(code)
        char_class = tf.gather(self._char_class, tf.clip_by_value(code, 0, 0x10FFFF))
        is_space = _has(char_class, _SPACE)
        is_alone = _has(char_class, _ALONE)
        # Each character's normalized text: its own, or the table's.
        index = self._normal_index.lookup(code)
        norm = tf.where(
            index >= 0,
            tf.gather(self._normal_texts, tf.maximum(index, 0)),
            text_utils.encode_chars(code),
        )
        norm = tf.where(_has(char_class, _DROP), "", norm)

        # A word starts at a chunk start, at an isolated character, or right
        # after an isolated character or a space. Spaces belong to no word.
        first = text_utils.row_start_mask(codes)
        starts_word = (
            first
            | is_alone
            | text_utils.flat_previous(is_alone, first, True)
            | text_utils.flat_previous(is_space, first, True)
        ) & ~is_space
        # Words that normalize to nothing (only controls/accents) vanish, so
        # characters are grouped first, then empty words dropped.
        word_of_char = tf.cumsum(tf.cast(starts_word, tf.int64)) - 1
        keep = text_utils.mask_index(~is_space & (word_of_char >= 0))
        word_of_char = tf.gather(word_of_char, keep)
        norm = tf.gather(norm, keep)
        char_start = tf.gather(char_start, keep)
        char_end = tf.gather(char_end, keep)
        word_first = text_utils.mask_index(starts_word)
        num_words = tf.shape(word_first, out_type=tf.int64)[0]
        words = tf.strings.unsorted_segment_join(norm, word_of_char, num_words)
        word_chunk = tf.gather(char_row, word_first)
        norm_length = tf.cast(tf.strings.length(norm), tf.int64)
        # Normalized byte position of every character's end, over the batch.
        norm_end = tf.cumsum(norm_length)
        word_base = tf.math.unsorted_segment_min(
            norm_end - norm_length, word_of_char, num_words
        )
        word_length = tf.cast(tf.strings.length(words), tf.int64)
        nonempty = word_length > 0
        # BERT's 100-character rule: such a word is one [UNK] (tf-text's
        # WordPiece counts bytes, so it is applied here).
        too_long = tf.strings.length(words, unit="UTF8_CHAR") > MAX_CHARS_PER_WORD
        words = tf.where(too_long, self.unk_token, words)

        nonempty = text_utils.mask_index(nonempty)
        pieces, p_start, p_end = self._word_piece.tokenize_with_offsets(
            tf.gather(words, nonempty)
        )
        piece_word = tf.gather(nonempty, text_utils.row_ids(pieces))
        piece = pieces.flat_values
        p_start = tf.cast(p_start.flat_values, tf.int64)
        p_end = tf.cast(p_end.flat_values, tf.int64)
        long_piece = tf.gather(too_long, piece_word)
        p_start = tf.where(long_piece, tf.zeros_like(p_start), p_start)
        p_end = tf.where(long_piece, tf.gather(word_length, piece_word), p_end)
        unk_id = tf.constant(self._token_to_id[self.unk_token], tf.int64)
        ids = tf.where(
            piece < 0, unk_id, tf.gather(self._piece_to_line, tf.maximum(piece, 0))
        )
        # A piece starts at the first character whose normalized bytes reach
        # past its start, and ends with the character that completes it.
        base = tf.gather(word_base, piece_word)
        first_char = tf.searchsorted(norm_end, base + p_start, side="right", out_type=tf.int64)
        last_char = tf.searchsorted(norm_end, base + p_end, side="left", out_type=tf.int64)
        return (
            ids,
            tf.gather(char_start, first_char),
            tf.gather(char_end, last_char),
            tf.gather(word_chunk, piece_word),
        )

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


def _has(classes, bit):
    return tf.not_equal(tf.bitwise.bitwise_and(classes, bit), 0)


def _utf8_length(code):
    """Byte length of the UTF-8 encoding of each code point."""
    return (
        1
        + tf.cast(code >= 0x80, tf.int64)
        + tf.cast(code >= 0x800, tf.int64)
        + tf.cast(code >= 0x10000, tf.int64)
    )
