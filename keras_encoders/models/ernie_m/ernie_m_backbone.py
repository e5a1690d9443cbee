"""ERNIE-M backbone."""

import keras
import numpy as np
from keras import ops
from keras_hub.layers import PositionEmbedding
from keras_hub.layers import ReversibleEmbedding

from keras_encoders.layers.post_ln_encoder_layer import PostLNEncoderLayer
from keras_encoders.layers.layer_norm import LayerNorm
from keras_encoders.models import backbone_checks
from keras_encoders.models.encoder_backbone import EncoderBackbone
from keras_encoders.models.encoder_backbone import kernel_initializer

# ERNIE-M (Paddle, and HF "to mimic paddlenlp") numbers positions from 2, an
# XLM-R heritage: rows 0 and 1 of the position table are never read.
POSITION_OFFSET = 2


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMBackbone(EncoderBackbone):
    """ERNIE-M encoder (Baidu), as in Hugging Face's `ErnieMModel`.

    A post-LayerNorm transformer over an XLM-R vocabulary: embeddings are
    `LayerNorm(word + position)` (no segment embedding, so there is no
    `segment_ids` input), followed by `num_layers` encoder blocks (exact GELU,
    LayerNorm epsilon 1e-5) and a tanh pooler on the first token.

    Positions are `arange(L) + 2`: the position table has
    `max_sequence_length + 2` rows (514 in the published checkpoints) of which
    the first two are never used, so at most `max_sequence_length` (512)
    tokens fit; longer inputs raise a `ValueError`.

    `pad_position_id` reproduces PaddleNLP's inputs: its tokenizers pad
    `position_ids` with 0, so `[PAD]` tokens sit at position 0 (then + 2)
    rather than at their index. That matters only where padding is attended,
    as in PaddleNLP Taskflow's UIE-M (whose weights were fine-tuned with every
    `[PAD]` attended and `[CLS]` masked; see
    `InformationExtractorPreprocessor(convention="paddlenlp")`).

    `padding_mask` may hold counts rather than 0/1: a key of value k stands
    for k identical keys (its attention logit is raised by log(k)); see
    `identical_padding`.

    `padding_mask` may be omitted. It is then derived as
    `token_ids != pad_token_id`, which is what the reference does when no
    `attention_mask` is given (pad id 1; early PaddleNLP masked id 0, i.e.
    `[CLS]`, which was a bug). The preprocessors always supply the mask.

    Args:
        vocabulary_size: int. Size of the token vocabulary.
        num_layers: int. Number of encoder layers.
        num_heads: int. Attention heads per layer.
        hidden_dim: int. Width of the encoder.
        intermediate_dim: int. Width of the feed-forward layers.
        dropout: float. Dropout on embeddings and layer outputs.
        attention_dropout: float. Dropout on attention probabilities.
        activation_dropout: float. Dropout after the feed-forward activation
            (the reference's `act_dropout`).
        layer_norm_epsilon: float.
        max_sequence_length: int. The longest usable sequence (512 for the
            published checkpoints, whose position table has 514 rows).
        pad_token_id: int. The id whose positions are masked when no
            `padding_mask` is given.
        pad_position_id: int or None. If set, `pad_token_id` tokens take this
            position id instead of their index (PaddleNLP: 0). None (the
            default, as Hugging Face) numbers every token by its index.
        dtype: dtype policy for computations and weights.

    Example:
    >>> import keras
    >>> import numpy as np
    >>> backbone = ErnieMBackbone(vocabulary_size=100, num_layers=2,
    ...     num_heads=2, hidden_dim=16, intermediate_dim=32,
    ...     max_sequence_length=8)
    >>> x = {"token_ids": np.array([[0, 5, 7, 2, 1]], "int32"),
    ...      "padding_mask": np.array([[1, 1, 1, 1, 0]], "int32")}
    >>> tuple(backbone(x)["sequence_output"].shape)
    (1, 5, 16)
    >>> # Without `padding_mask`, id 1 (`pad_token_id`) is masked: same result.
    >>> a = backbone(x)["pooled_output"]
    >>> b = backbone({"token_ids": x["token_ids"]})["pooled_output"]
    >>> bool(keras.ops.all(keras.ops.isclose(a, b)))
    True
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.1,
        attention_dropout=0.1,
        activation_dropout=0.0,
        layer_norm_epsilon=1e-5,
        max_sequence_length=512,
        pad_token_id=1,
        pad_position_id=None,
        dtype=None,
        **kwargs,
    ):
        backbone_checks.check_arguments(type(self), locals())
        # === Layers ===
        self.token_embedding = ReversibleEmbedding(
            input_dim=vocabulary_size,
            output_dim=hidden_dim,
            embeddings_initializer=kernel_initializer(),
            dtype=dtype,
            name="token_embedding",
        )
        # Holds the full reference table (two unused rows included) so that
        # checkpoints port one-to-one; it is read from row 2 on.
        self.position_embedding = PositionEmbedding(
            sequence_length=max_sequence_length + POSITION_OFFSET,
            initializer=kernel_initializer(),
            dtype=dtype,
            name="position_embedding",
        )
        self.embeddings_layer_norm = LayerNorm(
            epsilon=layer_norm_epsilon, dtype=dtype, name="embeddings_layer_norm"
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.transformer_layers = [
            PostLNEncoderLayer(
                hidden_dim=hidden_dim,
                intermediate_dim=intermediate_dim,
                num_heads=num_heads,
                max_relative_position=None,
                dropout=dropout,
                attention_dropout=attention_dropout,
                activation_dropout=activation_dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                kernel_initializer=kernel_initializer(),
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.pooled_dense = keras.layers.Dense(
            hidden_dim,
            activation="tanh",
            kernel_initializer=kernel_initializer(),
            dtype=dtype,
            name="pooled_dense",
        )

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        x = self.token_embedding(token_ids)
        if pad_position_id is None:
            x = x + self.position_embedding(x, start_index=POSITION_OFFSET)
        else:
            index = ops.cumsum(ops.ones_like(token_ids), axis=1) - 1
            positions = ops.where(
                ops.equal(token_ids, pad_token_id), pad_position_id, index
            )
            x = x + self.position_embedding(x, positions=positions + POSITION_OFFSET)
        x = self.embeddings_dropout(self.embeddings_layer_norm(x))
        for layer in self.transformer_layers:
            x = layer(x, padding_mask=padding_mask)
        pooled = self.pooled_dense(x[:, 0, :])
        super().__init__(
            inputs={"token_ids": token_ids, "padding_mask": padding_mask},
            outputs={"sequence_output": x, "pooled_output": pooled},
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation_dropout = activation_dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.max_sequence_length = max_sequence_length
        self.pad_token_id = pad_token_id
        self.pad_position_id = pad_position_id

    @classmethod
    def implied_parameter_count(cls, config):
        """The parameters a backbone with these constructor arguments holds."""
        hidden = config["hidden_dim"]
        positions = config.get("max_sequence_length", 512) + POSITION_OFFSET
        embeddings = (config["vocabulary_size"] + positions + 2) * hidden
        layers = config["num_layers"] * backbone_checks.encoder_layer_parameters(
            hidden, config["intermediate_dim"]
        )
        return embeddings + layers + hidden * hidden + hidden

    @property
    def identical_padding(self):
        """Whether every `[PAD]` token has the same state in every layer.

        With `pad_position_id` set, pads share their token id and position
        (ERNIE-M has no segment input), so whatever their mask, they hold
        identical states: a row is computed exactly from its other tokens
        plus one pad whose `padding_mask` value counts them all (see
        `MultiHeadSelfAttention`'s key multiplicities and
        `collapsed_padding`). Without it, pads are numbered by index and
        differ.
        """
        return self.pad_position_id is not None

    @property
    def position_limit(self):
        return self.max_sequence_length

    def with_padding_mask(self, inputs):
        """`inputs` with `padding_mask = token_ids != pad_token_id` if absent.

        Mirrors the reference's default mask, so that `{"token_ids": ...}`
        alone gives the same numbers as `ErnieMModel(input_ids)`.
        """
        if (
            isinstance(inputs, dict)
            and "token_ids" in inputs
            and inputs.get("padding_mask") is None
        ):
            ids = inputs["token_ids"]
            if isinstance(ids, keras.KerasTensor) or ops.is_tensor(ids):
                mask = ops.cast(ops.not_equal(ids, self.pad_token_id), "int32")
            else:
                # Keras refuses a dict mixing numpy arrays and tensors.
                mask = (np.asarray(ids) != self.pad_token_id).astype("int32")
            inputs = {**inputs, "padding_mask": mask}
        return inputs

    # Keras checks a dict input against the functional inputs before `call`,
    # so the mask is filled in at `__call__` (eager and symbolic calls) and
    # again at `call` (which `stateless_call`, e.g. JAX `fit`, uses directly).
    def __call__(self, inputs, *args, **kwargs):
        return super().__call__(self.with_padding_mask(inputs), *args, **kwargs)

    def call(self, inputs, training=None, mask=None):
        return super().call(self.with_padding_mask(inputs), training=training, mask=mask)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "attention_dropout": self.attention_dropout,
                "activation_dropout": self.activation_dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "max_sequence_length": self.max_sequence_length,
                "pad_token_id": self.pad_token_id,
                "pad_position_id": self.pad_position_id,
            }
        )
        return config
