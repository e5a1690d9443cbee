"""Base class of the keras_encoders tokenizers: one TensorFlow code path."""

import os

import keras
import tensorflow as tf
from keras_hub.tokenizers import Tokenizer
from keras_hub.src.utils.preset_utils import ASSET_DIR
from keras_hub.src.utils.tensor_utils import preprocessing_function

from keras_encoders.utils import text_utils


@keras.saving.register_keras_serializable(package="keras_encoders")
class EncoderTokenizer(Tokenizer):
    """A tokenizer whose whole algorithm is written once, in TensorFlow ops.

    keras-hub tokenizers keep a TensorFlow path (for `tf.data` and SavedModel
    graphs) and a pure-Python path (eager calls) that must be kept in sync by
    hand. Here the TensorFlow path is the only path: eager calls on the JAX and
    torch backends run the same TF ops on the CPU and convert the result, so
    eager, `tf.data` and exported graphs give identical ids by construction.

    Subclasses implement `_tokenize_with_offsets_tf(strings)`, which maps a 1-D
    string tensor to three ragged tensors: token ids and the start/end byte
    offsets of every token in its input string (UTF-8 bytes). This class
    handles batching, padding to `sequence_length`, offset conversion to
    character offsets, the vocabulary bookkeeping and special tokens.

    Args:
        vocabulary: list of tokens, or a path to a file with one token per
            line (id = line index). Duplicated tokens map to their LAST line,
            as Hugging Face's `load_vocab` does.
        sequence_length: int. If set, `tokenize` pads or truncates its output
            to this length.
        dtype: the output id dtype, `"int32"` by default.

    Example:
    >>> from keras_encoders.tokenizers import BertWordPieceTokenizer, EncoderTokenizer
    >>> tokenizer = BertWordPieceTokenizer(vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "fox"])
    >>> isinstance(tokenizer, EncoderTokenizer)
    True
    >>> tokenizer.token_to_id(tokenizer.pad_token), tokenizer.token_to_id(tokenizer.cls_token)
    (0, 2)
    """

    vocabulary_asset = "vocabulary.txt"

    def __init__(self, vocabulary=None, sequence_length=None, dtype="int32", **kwargs):
        super().__init__(dtype=dtype, **kwargs)
        self.sequence_length = sequence_length
        self.vocabulary = None
        self.file_assets = [self.vocabulary_asset]
        self.reset_tokenize_graph()
        self.set_vocabulary(vocabulary)

    # === Vocabulary ===
    def set_vocabulary(self, vocabulary):
        """Set the vocabulary from a list of tokens or a `vocab.txt` path."""
        if vocabulary is None:
            self.vocabulary = None
            return
        if isinstance(vocabulary, str):
            vocabulary = text_utils.read_vocabulary(vocabulary)
        self.vocabulary = list(vocabulary)
        # Last occurrence wins for duplicated lines, like HF's `load_vocab`.
        self._token_to_id = {token: i for i, token in enumerate(self.vocabulary)}
        self._id_to_token_table = tf.constant(self.vocabulary, dtype=tf.string)
        # Before the tables, which look the special tokens up: a vocabulary
        # without one gets keras-hub's message naming it, not a KeyError.
        self._update_special_token_ids()
        self._build_tables()
        self.reset_tokenize_graph()

    def _build_tables(self):
        """Build the TF lookup structures; called eagerly, outside `tf.data`."""

    def _check_vocabulary(self):
        if self.vocabulary is None:
            raise ValueError(
                f"No vocabulary has been set for {self.__class__.__name__}. "
                "Pass `vocabulary=` (a list or a vocab.txt path), or load the "
                "tokenizer with `from_preset()`."
            )

    def get_vocabulary(self):
        self._check_vocabulary()
        return list(self.vocabulary)

    def vocabulary_size(self):
        """The size of the id space (the number of vocabulary lines)."""
        self._check_vocabulary()
        return len(self.vocabulary)

    def id_to_token(self, id):
        self._check_vocabulary()
        if not 0 <= id < len(self.vocabulary):
            raise ValueError(
                f"`id` must be in range [0, {len(self.vocabulary) - 1}]. "
                f"Received: {id}"
            )
        return self.vocabulary[id]

    def token_to_id(self, token):
        self._check_vocabulary()
        if token not in self._token_to_id:
            raise ValueError(f"Token '{token}' is not in the vocabulary.")
        return self._token_to_id[token]

    def save_assets(self, dir_path):
        text_utils.write_vocabulary(
            self.vocabulary, f"{dir_path}/{self.vocabulary_asset}"
        )

    def load_assets(self, dir_path):
        self.set_vocabulary(f"{dir_path}/{self.vocabulary_asset}")

    def load_preset_assets(self, preset):
        """keras-hub's asset loading, refusing assets from outside a local preset.

        Each asset of a preset folder must resolve inside it: a link to
        `/dev/zero` or to any file elsewhere is refused, with the file named,
        before anything is read (the files themselves are then read with
        `files.read_bounded_file`: regular files, bounded in size).
        """
        if os.path.isdir(preset):
            folder = os.path.join(preset, ASSET_DIR, self.config_file.split(".")[0])
            for asset in self.file_assets:
                path = os.path.join(folder, asset)
                if not text_utils.resolves_inside(path, preset):
                    raise ValueError(
                        f"The tokenizer asset {path} resolves to "
                        f"{os.path.realpath(path)}, outside the preset folder "
                        f"{preset}; a preset reads its assets only from inside it."
                    )
        super().load_preset_assets(preset)

    # === Tokenization ===
    def _tokenize_with_offsets_tf(self, strings):
        raise NotImplementedError

    def _ids_and_char_offsets(self, strings):
        ids, starts, ends = self._tokenize_with_offsets_tf(strings)
        starts, ends = text_utils.byte_to_char_offsets(strings, starts, ends)
        return ids, starts, ends

    def tokenize_graph(self):
        """The tokenization graph: a `tf.function` traced once per tokenizer.

        It maps a 1-D string tensor (any batch size) to ragged token ids and
        character offsets. Every call goes through it: eager calls run the
        traced graph, and `tf.data` maps, preprocessors and exported
        SavedModels call it as one function op, so no `predict`, `fit` or
        `evaluate` traces the tokenizer again and ids and offsets cannot
        differ between those paths.
        """
        graph = self._graph_holder.get("tokenize")
        if graph is None:
            graph = tf.function(
                self._ids_and_char_offsets,
                input_signature=[tf.TensorSpec([None], tf.string)],
                autograph=False,
            )
            self._graph_holder["tokenize"] = graph
        return graph

    def reset_tokenize_graph(self):
        """Drop the traced graph; the next call traces again (used when the
        vocabulary or another table it captures changes)."""
        # A plain dict kept out of Keras/TF attribute tracking: the cache is
        # not state to save, and a tracked `tf.function` would be exported.
        self.__dict__["_graph_holder"] = {}

    def _run(self, inputs):
        self._check_vocabulary()
        inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype != tf.string and inputs.shape.num_elements() == 0:
            # An empty list becomes a float tensor on its way here: an empty
            # batch of texts, not numbers.
            inputs = tf.zeros(tf.shape(inputs), tf.string)
        if inputs.dtype != tf.string:
            raise ValueError(
                f"{self.__class__.__name__} expects strings. Received a "
                f"tensor of dtype {inputs.dtype.name}."
            )
        unbatched = inputs.shape.rank == 0
        if unbatched:
            inputs = tf.expand_dims(inputs, 0)
        if inputs.shape.rank != 1:
            raise ValueError(
                "Tokenizer inputs must be a string or a 1-D batch of strings. "
                f"Received shape {inputs.shape}."
            )
        ids, starts, ends = self.tokenize_graph()(inputs)
        ids = tf.cast(ids, self.compute_dtype)
        return ids, starts, ends, unbatched

    def _finish(self, tensor, unbatched, pad_value=0):
        """Pad to `sequence_length` (if set) and drop the batch dim if unbatched."""
        if self.sequence_length:
            shape = tf.cast([-1, self.sequence_length], "int64")
            tensor = tensor.to_tensor(default_value=pad_value, shape=shape)
        if unbatched:
            tensor = tensor[0]
        return tensor

    @property
    def _id_pad_value(self):
        # `[PAD]` rather than 0: ERNIE-M's pad id is 1 and its mask derives from it.
        return self.pad_token_id if getattr(self, "pad_token_id", None) is not None else 0

    # Python strings may hold lone surrogates, which TensorFlow cannot
    # encode: each becomes U+FFFD first (see `text_utils`). BERT drops it,
    # as Hugging Face's `BertTokenizer` drops surrogates (category Cs).
    @tf.autograph.experimental.do_not_convert
    def tokenize(self, inputs):
        """Strings to token ids (ragged for a batch, dense for one string)."""
        return self._tokenize(text_utils.replace_lone_surrogates(inputs))

    @tf.autograph.experimental.do_not_convert
    def tokenize_with_offsets(self, inputs):
        """Strings to `(token_ids, starts, ends)`.

        `starts` and `ends` are character (code point) offsets into each input
        string, so `text[start:end]` is the span a token came from, in the
        original text (before lowercasing, accent stripping or other
        normalization). Special tokens written in the text get their span too.
        """
        return self._tokenize_with_offsets(text_utils.replace_lone_surrogates(inputs))

    # The whole path is straight-line TF code: `do_not_convert` spares every
    # `tf.function` / `tf.data` trace autograph's (slow) source conversion.
    @preprocessing_function
    @tf.autograph.experimental.do_not_convert
    def _tokenize(self, inputs):
        ids, _, _, unbatched = self._run(inputs)
        return self._finish(ids, unbatched, pad_value=self._id_pad_value)

    @preprocessing_function
    @tf.autograph.experimental.do_not_convert
    def _tokenize_with_offsets(self, inputs):
        ids, starts, ends, unbatched = self._run(inputs)
        return (
            self._finish(ids, unbatched, pad_value=self._id_pad_value),
            self._finish(starts, unbatched),
            self._finish(ends, unbatched),
        )

    def _detokenize_tf(self, tokens):
        """Join token strings; subclasses adjust for their piece conventions."""
        return tf.strings.reduce_join(tokens, separator=" ", axis=-1)

    @preprocessing_function
    def detokenize(self, inputs):
        self._check_vocabulary()
        if not isinstance(inputs, tf.RaggedTensor):
            inputs = tf.convert_to_tensor(inputs)
        unbatched = inputs.shape.rank == 1
        if unbatched:
            inputs = tf.expand_dims(inputs, 0)
        if not isinstance(inputs, tf.RaggedTensor):
            inputs = tf.RaggedTensor.from_tensor(inputs)
        tokens = tf.gather(self._id_to_token_table, tf.cast(inputs, "int32"))
        outputs = self._detokenize_tf(tokens)
        if unbatched:
            outputs = outputs[0]
        return outputs

    @tf.autograph.experimental.do_not_convert
    def call(self, inputs, *args, training=None, **kwargs):
        return self.tokenize(inputs, *args, **kwargs)

    def compute_output_spec(self, input_spec):
        return keras.KerasTensor(
            input_spec.shape + (self.sequence_length,), dtype=self.compute_dtype
        )

    def get_config(self):
        config = super().get_config()
        # The vocabulary is saved as an asset, not in the config.
        config.update({"vocabulary": None, "sequence_length": self.sequence_length})
        return config


