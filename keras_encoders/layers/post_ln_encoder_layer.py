"""The post-LayerNorm transformer block shared by the three encoders."""

import math

import keras
from keras import ops

from keras_encoders.layers.layer_norm import LayerNorm
from keras_encoders.layers.multi_head_self_attention import (
    MultiHeadSelfAttention,
    sequence_shape,
)


def erf_gelu(x):
    """Exact GELU written as `x/2 * (1 + erf(x/sqrt(2)))`, the form of the
    reference implementations.

    Why not `keras.activations.gelu`: on TensorFlow that is `tf.nn.gelu`, an
    `erfc` form that Grappler leaves as five elementwise passes over the
    (rows, intermediate) tensor. This form, right after a 2-D `MatMul` and
    its `BiasAdd`, is what Grappler's remapper fuses into one oneDNN
    `_FusedMatMul` (bias and GELU applied as the product is written); the
    operand order here is the one its pattern names.
    """
    return ops.multiply(
        ops.multiply(x, 0.5), ops.add(ops.erf(ops.multiply(x, 1 / math.sqrt(2))), 1.0)
    )


def feedforward_activation(activation):
    """The callable that applies `activation` in the feed-forward block:
    `erf_gelu` for Keras's exact GELU on TensorFlow (same function, fused
    there), `activation` itself everywhere else (torch and JAX have their
    own fused GELU kernels, which five separate ops would slow down)."""
    if activation is keras.activations.gelu and keras.backend.backend() == "tensorflow":
        return erf_gelu
    return activation


@keras.saving.register_keras_serializable(package="keras_encoders")
class PostLNEncoderLayer(keras.layers.Layer):
    """BERT's post-LayerNorm encoder block.

        h = LayerNorm(x + Dropout(attention_output(attention(x))))
        y = LayerNorm(h + Dropout(output(ActDropout(gelu(intermediate(h))))))

    NEZHA passes `max_relative_position` (relative-position attention), ERNIE-M
    uses plain attention with `activation_dropout`, and ConvBERT subclasses it
    to swap in mixed attention and grouped feed-forward layers through
    `build_attention()` and `build_feedforward_dense()`.

    Args:
        hidden_dim: int. Width of the block's input and output.
        intermediate_dim: int. Width of the feed-forward layer.
        num_heads: int. Number of attention heads.
        head_dim: int. Head size; `hidden_dim // num_heads` by default.
        max_relative_position: int or None. NEZHA's clipping distance K.
        dropout: float. Dropout after the attention and feed-forward outputs.
        attention_dropout: float. Dropout on the attention probabilities.
        activation_dropout: float. Dropout after the feed-forward activation.
        activation: the feed-forward activation (exact GELU by default).
        layer_norm_epsilon: float.
        kernel_initializer: initializer of every kernel.

    Example:
    >>> import numpy as np
    >>> from keras_encoders.layers import PostLNEncoderLayer
    >>> layer = PostLNEncoderLayer(hidden_dim=8, intermediate_dim=16, num_heads=2)
    >>> x = np.random.uniform(size=(1, 5, 8)).astype("float32")
    >>> tuple(layer(x, padding_mask=np.array([[1, 1, 1, 0, 0]])).shape)
    (1, 5, 8)
    """

    def __init__(
        self,
        hidden_dim,
        intermediate_dim,
        num_heads,
        head_dim=None,
        max_relative_position=None,
        dropout=0.1,
        attention_dropout=0.1,
        activation_dropout=0.0,
        activation="gelu",
        layer_norm_epsilon=1e-12,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.num_heads = num_heads
        self.head_dim = head_dim or hidden_dim // num_heads
        self.max_relative_position = max_relative_position
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation_dropout = activation_dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

        # === Layers ===
        self.self_attention = self.build_attention()
        self.attention_output = keras.layers.Dense(
            hidden_dim,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="attention_output",
        )
        self.attention_dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="attention_output_dropout"
        )
        self.attention_layer_norm = self._layer_norm("attention_layer_norm")
        self.intermediate = self.build_feedforward_dense(intermediate_dim, "intermediate")
        self.activation_dropout_layer = keras.layers.Dropout(
            activation_dropout, dtype=self.dtype_policy, name="activation_dropout"
        )
        self.output_dense = self.build_feedforward_dense(hidden_dim, "output")
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="output_dropout"
        )
        self.output_layer_norm = self._layer_norm("output_layer_norm")

    # Whether `call` takes `query_rows` (its attention computes chosen query
    # positions alone).
    takes_query_rows = True

    def build_attention(self):
        """The attention sublayer; returns (B, L, width) context."""
        return MultiHeadSelfAttention(
            num_heads=self.num_heads,
            head_dim=self.head_dim,
            max_relative_position=self.max_relative_position,
            dropout=self.attention_dropout,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="self_attention",
        )

    def build_feedforward_dense(self, units, name):
        """One of the two feed-forward projections."""
        return keras.layers.Dense(
            units,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name=name,
        )

    def _layer_norm(self, name):
        return LayerNorm(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )

    def build(self, input_shape):
        self.self_attention.build(input_shape)
        context_shape = self.self_attention.compute_output_shape(input_shape)
        self.attention_output.build(context_shape)
        self.attention_layer_norm.build(input_shape)
        self.intermediate.build(input_shape)
        self.output_dense.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        self.output_layer_norm.build(input_shape)
        self.built = True

    def call(self, x, padding_mask=None, training=None, query_rows=None):
        """`query_rows` (int or None): compute the outputs of the first n
        positions only, (B, n, D), every position still attended as a key.
        A pooled classifier's server needs row 0 of the last layer, whose
        other rows are most of that layer's work."""
        batch, length = sequence_shape(x, padding_mask)
        if query_rows is None:
            attended = self.self_attention(x, padding_mask=padding_mask, training=training)
        else:
            attended = self.self_attention(
                x, padding_mask=padding_mask, training=training, query_rows=query_rows)
            x, length = x[:, :query_rows], query_rows
        # After the attention, the block runs on token rows (why: `feedforward`),
        # back to (B, L, D) once at the end.
        attended = self.attention_output(ops.reshape(attended, (-1, attended.shape[-1])))
        attended = self.attention_dropout_layer(attended, training=training)
        rows = self.attention_layer_norm(ops.reshape(x, (-1, self.hidden_dim)) + attended)
        rows = self.output_layer_norm(rows + self.feedforward(rows, training=training))
        return ops.reshape(rows, (batch, length, self.hidden_dim))

    def feedforward(self, rows, training=None):
        """`output(ActDropout(gelu(intermediate(rows))))` with Dropout, on
        the tokens as rows (B*L, D) of one 2-D matrix.

        Why rows: Keras runs a Dense on a (B, L, D) input as a Tensordot
        (reshape, MatMul, reshape) and adds the bias and the activation after
        the reshape, where TensorFlow's Grappler cannot fuse them into the
        product. On (B*L, D) rows the product, its bias and the GELU are one
        fused oneDNN kernel on TensorFlow; on torch and JAX the reshapes are
        free.
        """
        h = feedforward_activation(self.activation)(self.intermediate(rows))
        h = self.activation_dropout_layer(h, training=training)
        return self.output_dropout(self.output_dense(h), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "num_heads": self.num_heads,
                "head_dim": self.head_dim,
                "max_relative_position": self.max_relative_position,
                "dropout": self.dropout,
                "attention_dropout": self.attention_dropout,
                "activation_dropout": self.activation_dropout,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
