"""ERNIE-M's tokenizer: SentencePiece plus ERNIE-M's piece splitting, in TF ops.

Hugging Face's `ErnieMTokenizer` runs SentencePiece, then splits every piece
again (CJK ideographs and some punctuation become tokens of their own, runs of
digits are separated from their neighbours) and looks the resulting strings up
in a separate `vocab.txt`. This module reproduces that id for id with
TensorFlow and tensorflow-text ops only, and reports the span of the original
text every token came from.

One difference is outside this module's reach: where two segmentations of a
word score exactly the same (e.g. "o" + "oo" and "oo" + "o"), the SentencePiece
build inside tensorflow-text may pick the other one than the `sentencepiece`
Python package that Hugging Face calls.
"""

import functools
import hashlib
import unicodedata

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.python.ops import sentencepiece_tokenizer as tf_text_spm

from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.tokenizers.encoder_tokenizer import EncoderTokenizer
from keras_encoders.utils import files
from keras_encoders.utils import text_utils

# Whose ErnieMTokenizer to agree with (see the class docstring).
REFERENCES = ("transformers", "paddlenlp")
_UNDERLINE = "\u2581"  # SentencePiece's word-boundary marker "▁".
# ERNIE-M's `is_ch_char` range and `is_punct` characters: each is a token.
_CJK_FIRST, _CJK_LAST = 0x4E00, 0x9FFF
_PUNCT = ",;:.?!~，；：。？！《》【】"
# Per-row keys of the flat searches below: row * _ROW_STRIDE + byte offset
# is sorted across a whole batch when the offsets are sorted within rows.
_ROW_STRIDE = 1 << 32


# Bits of the per-code-point class table. `_SPACE` marks what SentencePiece
# turns into "▁" or drops (whitespace, some controls...), never the content
# of a token: a literal "▁" always, the rest is measured per model.
_DIGIT, _ALONE, _SPACE = 1, 2, 4
# A character that normalization keeps as it is, alone and next to its
# neighbours (see `_inert_chars`), and one of those in no piece of the model.
_STARTER, _UNKNOWN = 8, 16
# Any character in no piece of the model (and not a space to it).
_UNSEEN = 32
# Inside a run of `_UNKNOWN` characters the text is cut into parts of this
# many characters before SentencePiece (see `_sentence_pieces`).
_UNKNOWN_RUN_PART = 512
# Runs of other characters the model does not know are cut only when longer
# than this (see `_forced_cuts`).
_UNKNOWN_RUN_LIMIT = 8192


@functools.lru_cache(maxsize=None)
def _char_classes():
    """A `uint8` class for every code point: digit and isolated bits.

    Hugging Face tests digits with `str.isdigit`, which is wider than
    `\\p{Nd}` (superscripts, circled digits, ...) and follows the
    interpreter's Unicode version, so the table is derived from the running
    interpreter. A table lookup is also much cheaper than regexes.
    """
    table = np.zeros(0x110000, np.uint8)
    table[[c for c in range(0x110000) if chr(c).isdigit()]] |= _DIGIT
    table[_CJK_FIRST : _CJK_LAST + 1] |= _ALONE
    table[[ord(c) for c in _PUNCT]] |= _ALONE
    table[ord(_UNDERLINE)] |= _SPACE
    return table


@functools.lru_cache(maxsize=None)
def _invisible_chars():
    """Control, format and separator code points (categories Cc, Cf, Z*)."""
    return [
        code
        for code in range(0x110000)
        if unicodedata.category(chr(code)) in ("Cc", "Cf", "Zs", "Zl", "Zp")
    ]


@functools.lru_cache(maxsize=None)
def _inert_chars():
    """A bool per code point: normalization leaves it and its neighbours be.

    Its own NFKC form, no combining mark (nothing is reordered across it),
    never the second half of a canonical composition or a Hangul vowel or
    trailing jamo (it never merges into the character before it), and not a
    control, format, separator, surrogate, unassigned or replacement
    character (which `nmt_nfkc` may drop or map to a space, or which a newer
    Unicode version may define differently).
    """
    table = np.zeros(0x110000, bool)
    second = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
    for code in range(0x110000):
        char = chr(code)
        decomposition = unicodedata.decomposition(char)
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2:
                second.add(int(parts[1], 16))
        table[code] = (
            unicodedata.category(char)
            not in ("Cc", "Cf", "Cs", "Cn", "Zs", "Zl", "Zp")
            and not unicodedata.combining(char)
            and unicodedata.normalize("NFKC", char) == char
        )
    table[list(second)] = False
    table[0xFFFD] = False  # what invalid UTF-8 decodes to
    return table


@functools.lru_cache(maxsize=None)
def _lowercase_table():
    """Every code point that Python's `str.lower` changes, and its lowercase.

    Hugging Face lowercases one character at a time with `str.lower` (full
    case mapping, e.g. "İ" -> "i̇", no final-sigma context). `tf.strings.lower`
    follows an older ICU and drops NUL, so Python's own mapping is used.
    """
    codes, lowered = [], []
    for code in range(0x110000):
        if 0xD800 <= code < 0xE000:
            continue  # surrogates are not characters of valid UTF-8 text
        char = chr(code)
        low = char.lower()
        if low != char:
            codes.append(code)
            lowered.append(low.encode("utf-8"))
    return codes, lowered


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMTokenizer(EncoderTokenizer):
    """ERNIE-M tokenizer, id-for-id with Hugging Face's `ErnieMTokenizer`.

    The text is (optionally) lowercased, cut at special tokens written in it
    (`[CLS]`, `[SEP]`, ... stay whole, as in Hugging Face), and each remaining
    chunk is encoded by SentencePiece (whose `nmt_nfkc` normalizer maps
    full-width characters to half-width, collapses whitespace, ...). Each
    piece is then split again exactly as ERNIE-M does:

    - a piece that is only "▁" is kept iff it is not the chunk's first piece
      and the next piece does not start with "▁" (Hugging Face's rule,
      `reference="transformers"`); with `reference="paddlenlp"` it is always
      dropped, as PaddleNLP's `ErnieMTokenizer` does;
    - every CJK ideograph (U+4E00..U+9FFF) and every character of
      `,;:.?!~，；：。？！《》【】` becomes a token of its own;
    - digits are split from non-digits (`str.isdigit`, so "model2000year"
      gives "model", "2000", "year");
    - a bare "▁" left before such a split is dropped ("▁9" -> "9").

    The resulting strings are looked up in `vocabulary` (ids are line indices
    of ERNIE-M's `vocab.txt`, not SentencePiece ids); unknown strings map to
    `unk_token`.

    `tokenize_with_offsets` gives, for each token, the character span of the
    original text it came from (before lowercasing and SentencePiece's
    normalization); a "▁" prefix covers no character, and a character that
    normalization expands ("…" -> "...") spans every token made from it.

    Args:
        proto: path to, or bytes of, the SentencePiece model
            (`sentencepiece.bpe.model`).
        vocabulary: list of tokens or path to `vocab.txt` (id = line index).
        lowercase: bool. Lowercase the text first (`do_lower_case`; special
            tokens written in the text are left as they are).
        reference: `"transformers"` (default) or `"paddlenlp"`: whose
            tokenizer to agree with. They differ only in a SentencePiece
            piece that is just "▁": Hugging Face keeps it before a piece that
            does not start a word ("world Hello" -> "▁world", "▁", "H",
            "ello"), PaddleNLP always drops it. Checkpoints fine-tuned with
            PaddleNLP (e.g. UIE-M) saw PaddleNLP's ids.
        sequence_length: int. Pad/truncate `tokenize` outputs to this length.
        unk_token, sep_token, pad_token, cls_token, mask_token: the special
            tokens; all must be in `vocabulary`. `cls_token` and `sep_token`
            are also the `start_token` and `end_token` used by keras-hub
            preprocessors.

    Example:
    >>> import io
    >>> import sentencepiece
    >>> from keras_encoders.models import ErnieMTokenizer
    >>> model = io.BytesIO()
    >>> sentencepiece.SentencePieceTrainer.train(
    ...     sentence_iterator=iter(["the quick brown fox", "the earth is round"]),
    ...     model_writer=model, vocab_size=13, model_type="WORD", pad_id=0, unk_id=1,
    ...     bos_id=2, eos_id=3, pad_piece="[PAD]", unk_piece="[UNK]", bos_piece="[CLS]",
    ...     eos_piece="[SEP]", user_defined_symbols="[MASK]", minloglevel=2)
    >>> proto = model.getvalue()
    >>> spm = sentencepiece.SentencePieceProcessor(model_proto=proto)
    >>> vocabulary = [spm.id_to_piece(i) for i in range(spm.get_piece_size())]
    >>> tokenizer = ErnieMTokenizer(proto=proto, vocabulary=vocabulary)
    >>> [int(i) for i in tokenizer("the quick brown fox")]
    [6, 11, 7, 9]
    >>> [[int(i) for i in row] for row in tokenizer(["the earth is round", "the fox"])]
    [[6, 8, 10, 12], [6, 9]]
    >>> tokenizer.detokenize([6, 11, 7, 9])
    'the quick brown fox'
    >>> ids, starts, ends = tokenizer.tokenize_with_offsets("the fox")
    >>> [int(i) for i in starts], [int(i) for i in ends]
    ([0, 4], [3, 7])
    """

    backbone_cls = ErnieMBackbone
    proto_asset = "vocabulary.spm"
    # Read by the shared preprocessors: ERNIE-M packs a pair as
    # `[CLS] A [SEP] [SEP] B [SEP]` and has no segment (token type) input.
    pair_separator = 2
    uses_segment_ids = False

    def __init__(
        self,
        proto=None,
        vocabulary=None,
        lowercase=False,
        reference="transformers",
        sequence_length=None,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        **kwargs,
    ):
        if reference not in REFERENCES:
            raise ValueError(
                f"`reference` must be one of {REFERENCES}. "
                f"Received: reference={reference!r}"
            )
        self.lowercase = lowercase
        self.reference = reference
        # Set before the base class builds the tables from the vocabulary.
        self.proto = _read_proto(proto)
        self._add_special_token(unk_token, "unk_token")
        self._add_special_token(sep_token, "sep_token")
        self._add_special_token(pad_token, "pad_token")
        self._add_special_token(cls_token, "cls_token")
        self._add_special_token(mask_token, "mask_token")
        # keras-hub preprocessors pack with `start_token` / `end_token`.
        self._add_special_token(cls_token, "start_token")
        self._add_special_token(sep_token, "end_token")
        super().__init__(
            vocabulary=vocabulary, sequence_length=sequence_length, **kwargs
        )
        self.file_assets = [self.vocabulary_asset, self.proto_asset]

    # === Assets ===
    def set_proto(self, proto):
        """Set the SentencePiece model from a path or serialized bytes."""
        self.proto = _read_proto(proto)
        if self.vocabulary is not None:
            self._build_tables()
            self.reset_tokenize_graph()

    def _run(self, inputs):
        # The vocabulary alone serves the id <-> token helpers; tokenizing
        # also needs the SentencePiece model.
        if self.proto is None:
            raise ValueError(
                f"No SentencePiece model has been set for "
                f"{self.__class__.__name__}. Pass `proto=` (a path or bytes), "
                "or load the tokenizer with `from_preset()`."
            )
        return super()._run(inputs)

    def save_assets(self, dir_path):
        super().save_assets(dir_path)
        with open(f"{dir_path}/{self.proto_asset}", "wb") as f:
            f.write(self.proto)

    def load_assets(self, dir_path):
        # The proto first, so that the tables are built once, with both.
        self.proto = _read_proto(f"{dir_path}/{self.proto_asset}")
        super().load_assets(dir_path)

    def _build_tables(self):
        if self.proto is None:
            return  # built once the proto is set too
        unk_id = self._token_to_id[self.unk_token]
        try:
            self._sentence_piece = tf_text.SentencepieceTokenizer(
                model=self.proto, out_type=tf.string
            )
            # Created now, eagerly (not inside a `tf.data` map), and shared.
            self._sentence_piece._model_resource = _SharedSentencepieceModel(self.proto)
        except tf.errors.OpError:
            # SentencePiece's own words are a source line and the failed
            # call ("ParseFromArray(...)"), which tell a user nothing.
            raise ValueError(
                f"{type(self).__name__}: the SentencePiece model ({len(self.proto)} "
                "bytes) cannot be parsed; the file is truncated or corrupt, or is not "
                "a SentencePiece model. Pass the checkpoint's own model file "
                "(`sentencepiece.bpe.model` for ERNIE-M), downloaded again."
            ) from None
        tokens = list(self._token_to_id)
        self._piece_ids = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(tokens, tf.string),
                tf.constant([self._token_to_id[t] for t in tokens], tf.int64),
            ),
            default_value=unk_id,
        )
        specials = sorted(
            {t for t in self.special_tokens if t in self._token_to_id},
            key=len,
            reverse=True,
        )
        self._special_pattern = "|".join(
            text_utils.regex_escape(t) for t in specials
        )
        self._special_ids = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(specials, tf.string),
                tf.constant([self._token_to_id[t] for t in specials], tf.int64),
            ),
            default_value=-1,
        )
        self._char_class = tf.constant(self._classes_for_model())
        if self.lowercase:
            codes, lowered = _lowercase_table()
            self._lower_index = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(codes, tf.int64),
                    tf.range(len(codes), dtype=tf.int64),
                ),
                default_value=-1,
            )
            self._lower_values = tf.constant(lowered, tf.string)

    def _classes_for_model(self):
        """The class table, plus what this model's normalizer blanks out.

        SentencePiece's normalizer (e.g. `nmt_nfkc`) turns whitespace into
        "▁" and deletes some control and format characters (U+200B, ...) or
        maps them to spaces; which ones depends on the model, so each
        candidate is run through the model once, between two letters. They
        count as spaces when aligning pieces with the text.
        """
        table = _char_classes().copy()
        candidates = _invisible_chars()
        probes = tf.constant([f"a{chr(c)}a".encode("utf-8") for c in candidates])
        normalized = tf.strings.reduce_join(
            self._sentence_piece.tokenize(probes), axis=1
        ).numpy()
        for code, text in zip(candidates, normalized):
            text = text.decode("utf-8", errors="replace")
            middle = text[len(_UNDERLINE) + 1 : -1]
            if text.startswith(_UNDERLINE + "a") and not middle.strip(_UNDERLINE):
                table[code] |= _SPACE
        # Characters in no piece of the model: SentencePiece turns a run of
        # them into one unknown piece (see `_sentence_pieces`).
        size = self._sentence_piece.vocab_size()
        pieces = self._sentence_piece.id_to_string(tf.range(size)).numpy()
        known = np.zeros(0x110000, bool)
        for piece in pieces:
            known[[ord(c) for c in piece.decode("utf-8", errors="replace")]] = True
        table[_inert_chars()] |= _STARTER
        table[_inert_chars() & ~known] |= _UNKNOWN
        unseen = ~known & ((table & _SPACE) == 0)
        unseen[[0xFFFD, ord(_UNDERLINE)]] = False
        unseen[0xD800:0xE000] = False
        table[unseen] |= _UNSEEN
        return table

    # === Tokenization ===
    def _tokenize_with_offsets_tf(self, strings):
        # Everything below works on flat tensors plus explicit row ids:
        # ragged arithmetic and concatenation would add shape assertions that
        # make `tf.function` / `tf.data` traces slow.
        lowered = None
        text = strings
        if self.lowercase:
            text, lowered = self._lowercase(strings)

        # 1. Cut out special tokens written in the text; they bypass the rest.
        chunks, chunk_start, chunk_row = self._split_specials(text)
        special_id = self._special_ids.lookup(chunks)
        tokens = self._ernie_pieces(tf.where(special_id >= 0, "", chunks))
        # 2. Back to one row per input string, offsets relative to the string.
        ids, starts, ends = text_utils.merge_chunks(
            tokens,
            special_id,
            (_byte_length(chunks), chunk_start, chunk_row),
            tf.shape(strings, out_type=tf.int64)[0],
        )
        if lowered is not None:
            starts, ends = lowered(starts, ends)
        return ids, starts, ends

    def _split_specials(self, text):
        """Chunks of `text` (flat), their byte starts and their rows."""
        # tf-text's regex split stops at NUL; "\x01" keeps every offset, and
        # the chunks are then cut from the real text.
        safe = tf.strings.regex_replace(text, "\x00", "\x01")
        _, starts, ends = tf_text.regex_split_with_offsets(
            safe, self._special_pattern, self._special_pattern
        )
        rows = text_utils.row_ids(starts)
        flat_start = starts.flat_values
        chunks = text_utils.substrings(
            text, rows, flat_start, ends.flat_values - flat_start
        )
        return chunks, flat_start, rows

    def _ernie_pieces(self, chunks):
        """SentencePiece + ERNIE-M's re-splitting of a 1-D batch of chunks.

        Returns flat token ids, byte offsets in the chunk and chunk indices.
        """
        pieces, piece_start, piece_end = self._sentence_pieces(chunks)
        piece = pieces.flat_values
        piece_row = text_utils.row_ids(pieces)
        num_pieces = tf.shape(piece, out_type=tf.int64)[0]

        # A lone "▁" survives only between pieces, before a piece that does
        # not start a word (Hugging Face's rule; at a chunk's end, where
        # Hugging Face would index past the list, it is dropped).
        position = tf.range(num_pieces) - tf.gather(pieces.row_splits, piece_row)
        has_next = position + 1 < tf.gather(pieces.row_lengths(), piece_row)
        next_piece = tf.concat([piece[1:], [""]], axis=0)[:num_pieces]
        next_is_word = tf.strings.substr(next_piece, 0, len(_UNDERLINE.encode()))
        next_is_word = tf.equal(next_is_word, _UNDERLINE)
        keep_lone = (position > 0) & has_next & ~next_is_word
        if self.reference == "paddlenlp":
            keep_lone = tf.zeros_like(keep_lone)
        is_lone = tf.equal(piece, _UNDERLINE)

        # Split every piece into segments at character level.
        codes = tf.strings.unicode_decode(piece, "UTF-8")
        code = codes.flat_values
        char_piece = text_utils.row_ids(codes)
        first = text_utils.row_start_mask(codes)
        underline = tf.equal(code, ord(_UNDERLINE))
        char_class = self._classes(code)
        alone = tf.not_equal(tf.bitwise.bitwise_and(char_class, _ALONE), 0)
        digit = tf.not_equal(tf.bitwise.bitwise_and(char_class, _DIGIT), 0)
        # A segment starts at an isolated character, right after one, or at a
        # digit/non-digit change (Hugging Face compares each character with
        # the one before, "▁" counting as a non-digit), except that a "▁"
        # never starts a segment itself.
        begins = (
            first
            | alone
            | text_utils.flat_previous(alone, first, False)
            | (
                ~underline
                & tf.not_equal(digit, text_utils.flat_previous(digit, first, False))
            )
        )
        char_segment = tf.cumsum(tf.cast(begins, tf.int64)) - 1
        num_segments = tf.reduce_sum(tf.cast(begins, tf.int64))
        segment_piece = tf.boolean_mask(char_piece, begins)
        segment = tf.strings.unicode_encode(
            tf.RaggedTensor.from_value_rowids(
                code, char_segment, num_segments, validate=False
            ),
            "UTF-8",
        )
        next_segment_piece = tf.concat([segment_piece[1:], [-1]], 0)[:num_segments]
        last_in_piece = tf.not_equal(segment_piece, next_segment_piece)
        # A bare "▁" before a split is dropped; at a piece's end it stays.
        keep = tf.where(
            tf.gather(is_lone, segment_piece),
            tf.gather(keep_lone, segment_piece),
            ~(tf.equal(segment, _UNDERLINE) & ~last_in_piece),
        )

        starts, ends = self._segment_spans(
            chunks,
            piece_row,
            piece_start,
            piece_end,
            code,
            char_piece,
            char_segment,
            num_segments,
            segment_piece,
            num_pieces,
        )
        ids = self._piece_ids.lookup(segment)
        chunk = tf.gather(piece_row, segment_piece)
        return (
            tf.boolean_mask(ids, keep),
            tf.boolean_mask(starts, keep),
            tf.boolean_mask(ends, keep),
            tf.boolean_mask(chunk, keep),
        )

    def _sentence_pieces(self, chunks):
        """SentencePiece on `chunks`, in time linear in their length.

        tf-text's SentencePiece takes time quadratic in the length of a run
        of characters the model does not know (it merges them into one
        piece). Such runs are cut every `_UNKNOWN_RUN_PART` characters and
        the parts encoded separately, which gives exactly the pieces of the
        whole chunk: the normalized characters on both sides of a cut are in
        no piece, so no piece spans the cut and the best segmentation of the
        chunk is that of its parts; and the cut falls before a character
        that normalization leaves as it is and merges into nothing before it
        (`_inert_chars`), so normalizing the parts gives the normalized
        whole. Of what SentencePiece adds, a later part's dummy prefix "▁" is
        removed, and the unknown piece that part starts with is merged into
        the one the part before ends with, as it is in the whole.

        The cuts are found with Unicode NFKC, which is what `nmt_nfkc`
        applies to such characters; a model with other normalization rules
        for unknown characters could in principle differ from Hugging Face
        inside runs of over `_UNKNOWN_RUN_PART` unknown characters only.
        Runs of other unknown characters (bare combining marks, unassigned
        code points) are cut too, but only when over `_UNKNOWN_RUN_LIMIT`
        characters long (`_forced_cuts`).

        Returns the pieces (ragged, one row per chunk) and their flat byte
        starts and ends in the chunk.
        """
        codes, char_starts = tf.strings.unicode_decode_with_offsets(
            chunks, "UTF-8", errors="replace"
        )
        code = codes.flat_values
        char_row = text_utils.row_ids(codes)
        char_start = tf.cast(char_starts.flat_values, tf.int64)
        num_chars = tf.shape(code, out_type=tf.int64)[0]
        first = tf.equal(
            tf.range(num_chars), tf.gather(codes.row_splits, char_row)
        )
        # Where to cut is decided on the NFKC form (what SentencePiece sees:
        # "a" + U+0301 is "á"), every `_UNKNOWN_RUN_PART` characters inside
        # a run of unknown ones, then taken back to the text: the cut must
        # fall before a character that starts a normalization of its own.
        # tf-text's offset search rejects an empty batch: one extra string.
        normal, offset_map = tf_text.normalize_utf8_with_offsets_map(
            tf.concat([chunks, ["a"]], axis=0), "NFKC"
        )
        n_codes, n_starts = tf.strings.unicode_decode_with_offsets(
            normal[:-1], "UTF-8", errors="replace"
        )
        n_row = text_utils.row_ids(n_codes)
        n_position = tf.range(
            tf.shape(n_row, out_type=tf.int64)[0]
        ) - tf.gather(n_codes.row_splits, n_row)
        n_first = tf.equal(n_position, 0)
        n_unknown = self._has_class(n_codes.flat_values, _UNKNOWN)
        exact = (
            n_unknown
            & text_utils.flat_previous(n_unknown, n_first, False)
            & tf.equal(n_position % _UNKNOWN_RUN_PART, 0)
        )
        forced = self._forced_cuts(n_codes.flat_values, n_first)
        is_candidate = exact | forced
        candidate = text_utils.mask_index(is_candidate)
        candidate_forced = tf.boolean_mask(forced & ~exact, is_candidate)
        candidate_row = tf.gather(n_row, candidate)
        n_start = tf.cast(n_starts.flat_values, tf.int64)
        num_chunks = tf.shape(chunks, out_type=tf.int64)[0]

        # It also rejects a row without offsets: each row gets a 0 as well.
        all_rows = tf.concat([candidate_row, tf.range(num_chunks + 1)], axis=0)
        order = tf.argsort(all_rows, stable=True)
        num_candidates = tf.shape(candidate, out_type=tf.int64)[0]

        def to_source(offsets):
            offsets = tf.concat([offsets, tf.zeros([num_chunks + 1], tf.int64)], 0)
            found = tf_text.find_source_offsets(
                offset_map,
                tf.RaggedTensor.from_value_rowids(
                    tf.gather(offsets, order),
                    tf.gather(all_rows, order),
                    num_chunks + 1,
                    validate=False,
                ),
            )
            found = tf.gather(found.flat_values, tf.math.invert_permutation(order))
            return found[:num_candidates]

        at_source = to_source(tf.gather(n_start, candidate))
        before_source = to_source(tf.gather(n_start, candidate - 1))
        keys = char_row * _ROW_STRIDE + char_start
        query = candidate_row * _ROW_STRIDE + at_source
        char = tf.minimum(_search(keys, query, "left"), num_chars - 1)
        valid = (
            tf.equal(tf.gather(keys, char), query)
            & (before_source < at_source)
            & (self._has_class(tf.gather(code, char), _STARTER) | candidate_forced)
        )
        char = tf.boolean_mask(char, valid)
        cut = tf.scatter_nd(
            char[:, None], tf.ones_like(char, dtype=tf.bool), num_chars[None]
        )
        begins = first | cut
        part_row = tf.boolean_mask(char_row, begins)
        part_start = tf.boolean_mask(char_start, begins)
        part_later = tf.boolean_mask(cut, begins)
        num_parts = tf.shape(part_row, out_type=tf.int64)[0]
        next_row = tf.concat([part_row[1:], [-1]], 0)[:num_parts]
        next_start = tf.concat([part_start[1:], [0]], 0)[:num_parts]
        part_end = tf.where(
            tf.equal(next_row, part_row),
            next_start,
            tf.gather(_byte_length(chunks), part_row),
        )
        parts = text_utils.substrings(
            chunks, part_row, part_start, part_end - part_start
        )

        pieces, starts, ends = self._sentence_piece.tokenize_with_offsets(parts)
        piece = pieces.flat_values
        piece_part = text_utils.row_ids(pieces)
        shift = tf.gather(part_start, piece_part)
        starts = tf.cast(starts.flat_values, tf.int64) + shift
        ends = tf.cast(ends.flat_values, tf.int64) + shift
        in_part = tf.range(
            tf.shape(piece, out_type=tf.int64)[0]
        ) - tf.gather(pieces.row_splits, piece_part)
        later = tf.gather(part_later, piece_part)
        # A later part starts with the dummy "▁", alone or (when "▁" is not
        # a piece of the model) at the front of the unknown piece.
        prefix = len(_UNDERLINE.encode())
        prefixed = (
            later
            & tf.equal(in_part, 0)
            & tf.equal(tf.strings.substr(piece, 0, prefix), _UNDERLINE)
        )
        piece = tf.strings.substr(
            piece, tf.where(prefixed, prefix, 0), tf.strings.length(piece)
        )
        dropped = prefixed & tf.equal(piece, "")
        after_dropped = tf.concat([[False], dropped[:-1]], 0)
        joins = later & (
            (tf.equal(in_part, 0) & ~dropped)
            | (tf.equal(in_part, 1) & after_dropped)
        )
        keep = ~dropped
        piece = tf.boolean_mask(piece, keep)
        starts = tf.boolean_mask(starts, keep)
        ends = tf.boolean_mask(ends, keep)
        joins = tf.boolean_mask(joins, keep)
        row = tf.boolean_mask(tf.gather(part_row, piece_part), keep)
        group = tf.cumsum(tf.cast(~joins, tf.int64)) - 1
        num_groups = tf.reduce_sum(tf.cast(~joins, tf.int64))
        merged = tf.strings.unsorted_segment_join(piece, group, num_groups)
        starts = tf.math.unsorted_segment_min(starts, group, num_groups)
        ends = tf.math.unsorted_segment_max(ends, group, num_groups)
        row = tf.boolean_mask(row, ~joins)
        pieces = tf.RaggedTensor.from_value_rowids(
            merged, row, tf.shape(chunks, out_type=tf.int64)[0], validate=False
        )
        return pieces, starts, ends

    def _forced_cuts(self, code, first):
        """Cuts every `_UNKNOWN_RUN_PART` characters inside runs of over
        `_UNKNOWN_RUN_LIMIT` normalized characters in no piece of the model.

        These cover the unknown characters that `_inert_chars` leaves out
        (bare combining marks, code points unassigned in this Python's
        Unicode...), where normalization could in principle act across the
        cut, so only runs far longer than any text has are cut there.
        """
        unseen = self._has_class(code, _UNSEEN)
        begins = unseen & ~text_utils.flat_previous(unseen, first, False)
        run = tf.where(unseen, tf.cumsum(tf.cast(begins, tf.int64)) - 1, -1)
        num_runs = tf.reduce_sum(tf.cast(begins, tf.int64))
        index = tf.range(tf.shape(code, out_type=tf.int64)[0])
        run_start = tf.math.unsorted_segment_min(index, run, num_runs)
        run_length = tf.math.unsorted_segment_sum(
            tf.cast(unseen, tf.int64), run, num_runs
        )
        # A trailing entry answers the (masked) lookups when there is no run.
        run_start = tf.concat([run_start, [0]], axis=0)
        run_length = tf.concat([run_length, [0]], axis=0)
        at = tf.where(unseen, run, num_runs)
        in_run = index - tf.gather(run_start, at)
        return (
            unseen
            & (in_run > 0)
            & tf.equal(in_run % _UNKNOWN_RUN_PART, 0)
            & (tf.gather(run_length, at) > _UNKNOWN_RUN_LIMIT)
        )

    def _segment_spans(
        self,
        chunks,
        piece_row,
        piece_start,
        piece_end,
        code,
        char_piece,
        char_segment,
        num_segments,
        segment_piece,
        num_pieces,
    ):
        """Byte span in its chunk of every segment of every piece.

        SentencePiece only gives the span of a whole piece (with the space
        before it). Inside a piece, the characters other than "▁" are matched
        in order with the non-space characters of the NFKC form of the span,
        and tf-text's NFKC offset map leads back to the original bytes, then
        to whole original characters.
        """
        # Content characters of every piece ("▁" covers no character).
        content = tf.not_equal(code, ord(_UNDERLINE))
        content_i = tf.cast(content, tf.int64)
        rank = tf.cumsum(content_i) - content_i
        first_rank = tf.math.unsorted_segment_min(
            tf.where(content, rank, tf.int64.max), char_segment, num_segments
        )
        last_rank = tf.math.unsorted_segment_max(
            tf.where(content, rank, -1), char_segment, num_segments
        )
        per_piece = tf.math.unsorted_segment_sum(content_i, char_piece, num_pieces)
        piece_base = tf.gather(tf.cumsum(per_piece) - per_piece, segment_piece)

        # Content characters of the NFKC form of every piece's source span.
        source = text_utils.substrings(
            chunks, piece_row, piece_start, piece_end - piece_start
        )
        # tf-text's `find_source_offsets` crashes on an empty batch and
        # rejects empty rows: one extra string (with one offset, below) keeps
        # every call well-formed; every piece has a segment.
        normal, offset_map = tf_text.normalize_utf8_with_offsets_map(
            tf.concat([source, ["a"]], axis=0), "NFKC"
        )
        normal = normal[:-1]
        n_codes, n_starts = tf.strings.unicode_decode_with_offsets(
            normal, "UTF-8", errors="replace"
        )
        n_code = n_codes.flat_values
        n_start = tf.cast(n_starts.flat_values, tf.int64)
        n_end = n_start + _utf8_length(n_code)
        n_content = tf.equal(
            tf.bitwise.bitwise_and(self._classes(n_code), _SPACE), 0
        )
        n_content_i = tf.cast(n_content, tf.int64)
        n_per_piece = tf.math.unsorted_segment_sum(
            n_content_i, text_utils.row_ids(n_codes), num_pieces
        )
        n_base = tf.gather(tf.cumsum(n_per_piece) - n_per_piece, segment_piece)
        n_count = tf.gather(n_per_piece, segment_piece)
        # Flat index of every content character; a trailing 0 (`nothing`)
        # absorbs the lookups of segments that have no match.
        n_index = tf.boolean_mask(
            tf.range(tf.shape(n_code, out_type=tf.int64)[0]), n_content
        )
        n_index = tf.concat([n_index, [0]], axis=0)
        n_start = tf.concat([n_start, [0]], axis=0)
        n_end = tf.concat([n_end, [0]], axis=0)
        nothing = tf.shape(n_index, out_type=tf.int64)[0] - 1

        # SentencePiece gives an expanding source character ("…" -> "...")
        # to the last piece holding part of its expansion. So a piece can
        # start inside an expansion (its span has extra normalized characters
        # in front: align right) or end inside one (characters beyond its
        # span, even an empty span: they come from the character after it).
        has_content = last_rank >= 0
        skew = tf.maximum(n_count - tf.gather(per_piece, segment_piece), 0)
        first_local = first_rank - piece_base + skew
        last_local = last_rank - piece_base + skew
        first_over = first_local >= n_count
        last_over = last_local >= n_count
        first_char = tf.where(
            has_content & ~first_over, n_base + first_local, nothing
        )
        last_char = tf.where(has_content & ~last_over, n_base + last_local, nothing)
        first_char = tf.gather(n_index, first_char)
        last_char = tf.gather(n_index, last_char)

        extra_rows = tf.concat([segment_piece, num_pieces[None]], axis=0)

        def to_source(offsets):
            offsets = tf.RaggedTensor.from_value_rowids(
                tf.concat([offsets, [0]], axis=0),
                extra_rows,
                num_pieces + 1,
                validate=False,
            )
            found = tf_text.find_source_offsets(offset_map, offsets)
            return found.flat_values[:-1]

        first_start = to_source(tf.gather(n_start, first_char))
        first_end = to_source(tf.gather(n_end, first_char))
        last_end = to_source(tf.gather(n_end, last_char))
        # Snap to whole characters of the source. In an expansion ("㍿" ->
        # "株式会社") only the first output character maps to a non-empty
        # source range; the others take the source character where their
        # range collapses.
        s_codes, s_starts = tf.strings.unicode_decode_with_offsets(
            source, "UTF-8", errors="replace"
        )
        s_bounds, s_rows = _with_row_ends(
            s_codes.row_splits,
            text_utils.row_ids(s_codes),
            tf.cast(s_starts.flat_values, tf.int64),
            _byte_length(source),
        )
        s_keys = s_rows * _ROW_STRIDE + s_bounds
        last = tf.shape(s_keys, out_type=tf.int64)[0] - 1

        def containing(byte):
            """Start and end of the source character holding `byte`."""
            query = segment_piece * _ROW_STRIDE + tf.maximum(byte, 0)
            at = tf.clip_by_value(_search(s_keys, query, "right") - 1, 0, last)
            after = tf.minimum(at + 1, last)
            return tf.gather(s_bounds, at), tf.gather(s_bounds, after)

        collapsed = first_end <= first_start
        start = tf.where(
            collapsed,
            containing(first_end - 1)[0],
            containing(first_start)[0],
        )
        end = tf.maximum(containing(last_end - 1)[1], start)

        # Past the span: the character right after it (4 bytes hold it).
        room = tf.gather(_byte_length(chunks), piece_row) - piece_end
        after = text_utils.substrings(
            chunks, piece_row, piece_end, tf.clip_by_value(room, 0, 4)
        )
        after = tf.strings.unicode_decode(after, "UTF-8", errors="replace")
        has_after = after.row_lengths() > 0
        after_code = tf.gather(
            tf.concat([after.flat_values, [0]], 0),
            tf.where(has_after, after.row_splits[:-1], after.row_splits[-1]),
        )
        after_length = tf.where(has_after, _utf8_length(after_code), 0)
        after_length = tf.gather(after_length, segment_piece)
        span_start = tf.gather(piece_start, segment_piece)
        span_end = tf.gather(piece_end, segment_piece)
        span = span_end - span_start
        start = tf.where(first_over, span, start)
        end = tf.maximum(tf.where(last_over, span + after_length, end), start)
        # Segments without content ("▁") get an empty span after the piece.
        start = tf.where(has_content, span_start + start, span_end)
        end = tf.where(has_content, span_start + end, span_end)
        return start, end

    def _classes(self, code):
        return tf.gather(self._char_class, tf.clip_by_value(code, 0, 0x10FFFF))

    def _has_class(self, code, bit):
        return tf.not_equal(tf.bitwise.bitwise_and(self._classes(code), bit), 0)

    def _lowercase(self, strings):
        """Lowercase like Hugging Face, keeping a map back to the input.

        Returns the lowercased strings and a function mapping ragged byte
        offsets in them back to byte offsets in `strings`.
        """
        codes, char_starts = tf.strings.unicode_decode_with_offsets(
            strings, "UTF-8", errors="replace"
        )
        splits = codes.row_splits
        rows = text_utils.row_ids(codes)
        start = tf.cast(char_starts.flat_values, tf.int64)
        total = _byte_length(strings)
        num_chars = tf.shape(start, out_type=tf.int64)[0]
        # A character ends where the next one starts, or at its string's end.
        is_last = tf.equal(tf.range(num_chars), tf.gather(splits, rows + 1) - 1)
        next_start = tf.concat([start[1:], [0]], 0)[:num_chars]
        length = tf.where(is_last, tf.gather(total, rows), next_start) - start
        chars = text_utils.substrings(strings, rows, start, length)

        # Special tokens written in the text are not lowercased.
        sp_text, sp_start, sp_rows = self._split_specials(strings)
        sp_is_special = tf.concat(
            [self._special_ids.lookup(sp_text) >= 0, [False]], axis=0
        )
        sp_keys = sp_rows * _ROW_STRIDE + sp_start
        owner = _search(sp_keys, rows * _ROW_STRIDE + start, "right") - 1
        owner = tf.where(owner >= 0, owner, tf.shape(sp_keys, out_type=tf.int64)[0])
        in_special = tf.gather(sp_is_special, owner)

        index = self._lower_index.lookup(tf.cast(codes.flat_values, tf.int64))
        lower = tf.gather(self._lower_values, tf.maximum(index, 0))
        new_chars = tf.where((index >= 0) & ~in_special, lower, chars)
        text = tf.strings.reduce_join(
            tf.RaggedTensor.from_row_splits(new_chars, splits, validate=False),
            axis=1,
        )
        # Character bounds in the lowercased text, same layout.
        running = tf.concat([[0], tf.cumsum(_byte_length(new_chars))], axis=0)
        row_base = tf.gather(running, splits[:-1])
        new_start = running[:-1] - tf.gather(row_base, rows)
        new_total = tf.gather(running, splits[1:]) - row_base

        # Per string: every character's bounds then one at the string's end,
        # as one flat, sorted search table.
        new_bounds, bound_rows = _with_row_ends(splits, rows, new_start, new_total)
        keys = bound_rows * _ROW_STRIDE + new_bounds
        values, _ = _with_row_ends(splits, rows, start, total)

        def to_input(starts, ends):
            def convert(offsets, side, shift):
                query = text_utils.row_ids(offsets) * _ROW_STRIDE + offsets.flat_values
                found = _search(keys, query, side) + shift
                return offsets.with_flat_values(tf.gather(values, found))

            # A start inside a lowercased character moves to its start, an
            # end inside one to its end.
            return convert(starts, "right", -1), convert(ends, "left", 0)

        return text, to_input

    @tf.autograph.experimental.do_not_convert
    def _detokenize_tf(self, tokens):
        # Hugging Face's `convert_tokens_to_string`: join, "▁" -> " ", strip.
        text = tf.strings.reduce_join(tokens, separator="", axis=-1)
        text = tf.strings.regex_replace(text, _UNDERLINE, " ")
        return tf.strings.regex_replace(text, r"^\s+|\s+$", "")

    def get_config(self):
        config = super().get_config()
        # The proto is saved as an asset, like the vocabulary.
        config.update(
            {
                "proto": None,
                "lowercase": self.lowercase,
                "reference": self.reference,
                "unk_token": self.unk_token,
                "sep_token": self.sep_token,
                "pad_token": self.pad_token,
                "cls_token": self.cls_token,
                "mask_token": self.mask_token,
            }
        )
        return config


class _SharedSentencepieceModel(tf.saved_model.experimental.TrackableResource):
    """tf-text's SentencePiece model resource, registered under a shared name.

    tf-text makes the model a resource private to the op's kernel, so it is
    deleted whenever TensorFlow clears its eager kernel cache, which
    `tf.random.set_seed` (and so `keras.utils.set_random_seed`) does; the
    tokenizer then fails with "Resource ... SentencepieceOp does not exist".
    Under a shared name (derived from the model bytes, so equal models share
    it) the resource lives in the resource manager instead.
    """

    def __init__(self, model):
        super().__init__()
        self._model = model
        digest = hashlib.sha256(model).hexdigest()[:32]
        self._shared_name = f"keras_encoders_sentencepiece_{digest}"
        _ = self.resource_handle  # creates the resource, eagerly

    def _create_resource(self):
        return tf_text_spm.gen_sentencepiece_tokenizer.sentencepiece_op(
            model=self._model, shared_name=self._shared_name
        )


def _read_proto(proto):
    if proto is None or isinstance(proto, bytes):
        return proto
    if isinstance(proto, str):
        return files.read_bounded_file(proto, "SentencePiece model", text_utils.MAX_TOKENIZER_FILE_BYTES)
    raise ValueError(
        "`proto` must be a path to a SentencePiece model or its serialized "
        f"bytes. Received: {type(proto)}"
    )


def _with_row_ends(splits, rows, values, row_ends):
    """Per row, its `values` (one per element) followed by its `row_ends`
    entry, flattened; and the row of every entry."""
    num_values = tf.shape(values, out_type=tf.int64)[0]
    num_rows = tf.shape(row_ends, out_type=tf.int64)[0]
    row_range = tf.range(num_rows)
    at = tf.concat([tf.range(num_values) + rows, splits[1:] + row_range], 0)
    at = at[:, None]
    size = (num_values + num_rows)[None]
    flat = tf.scatter_nd(at, tf.concat([values, row_ends], 0), size)
    row_of = tf.scatter_nd(at, tf.concat([rows, row_range], 0), size)
    return flat, row_of


def _search(sorted_values, queries, side):
    return tf.searchsorted(sorted_values, queries, side=side, out_type=tf.int64)


def _byte_length(strings):
    return tf.cast(tf.strings.length(strings), tf.int64)


def _utf8_length(code):
    """Byte length of the UTF-8 encoding of each code point."""
    code = tf.cast(code, tf.int64)
    return (
        1
        + tf.cast(code >= 0x80, tf.int64)
        + tf.cast(code >= 0x800, tf.int64)
        + tf.cast(code >= 0x10000, tf.int64)
    )
