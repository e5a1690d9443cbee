"""ConvBERT's mixed attention: self-attention heads + span-based dynamic convolution."""

import keras
from keras import ops

from keras_encoders.layers.multi_head_self_attention import MASK_VALUE
from keras_encoders.layers.multi_head_self_attention import scale_queries, sequence_shape


def mixed_attention_dims(hidden_dim, num_heads, head_ratio):
    """`(attention heads H', head size d)` of a ConvBERT mixed attention.

    Hugging Face keeps `N // head_ratio` self-attention heads (one head, when
    that is 0) and gives every head `d = (D // H') // 2` dimensions, so that the
    attention half and the convolution half together are `2 * H' * d` wide
    (= D whenever `D // H'` is even). For `head_ratio=2`, the only ratio of
    the published checkpoints, this equals the original TensorFlow code's
    `D / N`.
    """
    heads = num_heads // head_ratio
    if heads < 1:
        heads = 1
    if hidden_dim % heads:
        raise ValueError(
            f"`hidden_dim` ({hidden_dim}) must be divisible by the number of "
            f"attention heads num_heads // head_ratio = {heads}."
        )
    return heads, (hidden_dim // heads) // 2


@keras.saving.register_keras_serializable(package="keras_encoders")
class MixedAttention(keras.layers.Layer):
    """ConvBERT mixed attention (Hugging Face `ConvBertSelfAttention`).

    With D the input width, N the configured heads and r the `head_ratio`,
    the layer runs `H' = N // r` ordinary self-attention heads (one when that
    is 0) of size `d = (D // H') // 2`, and next to them `H'` span-based
    dynamic convolution heads of the same size; `A = H' * d`.

        Q, K, V = query(x), key(x), value(x)                        # (B, L, A)
        attention = softmax(Q_h K_h^T / sqrt(d) + mask) V_h          # per head
        Ks   = key_conv(x)           # separable conv over time, "same" padding
        taps = softmax_m(conv_kernel(Ks * Q))                       # (B, L, H', k)
        O    = conv_out(x)                                          # (B, L, A)
        conv[t, h] = sum_m taps[t, h, m] * O[t + m - (k-1)//2, h-th d slice]
        output = concat([attention heads, conv heads])              # (B, L, 2A)

    `O` is zero outside the sequence. The dynamic kernel of each position is
    predicted from the *layer input* (through `key_conv`), not from the
    values, and only the attention probabilities see dropout.

    Padding leak (kept on purpose, for parity): the convolution branch does
    not look at `padding_mask`, exactly as in the reference and in the
    original TensorFlow code. A real token within `(k - 1) // 2` positions of
    a padding token mixes that padding token's features into its output, so
    outputs of the last real tokens depend on what the padding ids are (use
    the tokenizer's pad id 0, as the checkpoints were trained with). Only the
    attention branch is masked.

    The output projection is not part of this layer (the encoder block owns
    it).

    Args:
        hidden_dim: int. D, the width of the layer input.
        num_heads: int. N, the heads of the configuration (half of them, by
            default, become convolution heads).
        head_ratio: int. r; `N // r` heads are self-attention heads.
        conv_kernel_size: int. k, the (odd) span of the dynamic convolution.
        dropout: float. Dropout on the attention probabilities.
        kernel_initializer: initializer of every kernel.

    Example:
    >>> import numpy as np
    >>> from keras_encoders.layers import MixedAttention
    >>> layer = MixedAttention(hidden_dim=8, num_heads=2, conv_kernel_size=3)
    >>> x = np.random.uniform(size=(1, 5, 8)).astype("float32")
    >>> tuple(layer(x, padding_mask=np.array([[1, 1, 1, 0, 0]])).shape)
    (1, 5, 8)
    """

    def __init__(
        self,
        hidden_dim,
        num_heads,
        head_ratio=2,
        conv_kernel_size=9,
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if conv_kernel_size < 1 or conv_kernel_size % 2 == 0:
            # The reference pads the separable conv by k // 2 on both sides,
            # which yields L + 1 steps for an even k and then fails to
            # concatenate; no checkpoint can have an even k.
            raise ValueError(
                f"`conv_kernel_size` must be a positive odd number; received "
                f"{conv_kernel_size}."
            )
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.head_ratio = head_ratio
        self.conv_kernel_size = conv_kernel_size
        self.dropout = dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.attention_heads, self.head_dim = mixed_attention_dims(
            hidden_dim, num_heads, head_ratio
        )
        width = self.attention_heads * self.head_dim

        def dense(units, name):
            return keras.layers.Dense(
                units,
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name=name,
            )

        # === Layers ===
        self.query = dense(width, "query")
        self.key = dense(width, "key")
        self.value = dense(width, "value")
        self.probs_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="probs_dropout"
        )
        # Depthwise (k, D, 1) then pointwise (1, D, A) + bias: the reference's
        # `key_conv_attn_layer`, with the same zero "same" padding for odd k.
        self.key_conv = keras.layers.SeparableConv1D(
            width,
            conv_kernel_size,
            padding="same",
            depthwise_initializer=self.kernel_initializer,
            pointwise_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="key_conv",
        )
        self.conv_kernel = dense(self.attention_heads * conv_kernel_size, "conv_kernel")
        self.conv_out = dense(width, "conv_out")

    def build(self, input_shape):
        if input_shape[-1] != self.hidden_dim:
            raise ValueError(
                f"{self.name} was configured for width {self.hidden_dim}, but "
                f"its input has shape {input_shape}."
            )
        for layer in (self.query, self.key, self.value, self.key_conv, self.conv_out):
            layer.build(input_shape)
        width = self.attention_heads * self.head_dim
        self.conv_kernel.build(tuple(input_shape[:-1]) + (width,))
        self.built = True

    def _split_heads(self, x, batch, length):
        x = ops.reshape(x, (batch, length, self.attention_heads, self.head_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, x, padding_mask=None, training=None):
        batch, length = sequence_shape(x, padding_mask)
        heads, head_dim, k = self.attention_heads, self.head_dim, self.conv_kernel_size
        query = self.query(x)

        # --- Self-attention heads (masked) ---
        q = self._split_heads(query, batch, length)
        key = self._split_heads(self.key(x), batch, length)
        value = self._split_heads(self.value(x), batch, length)
        q, divisor = scale_queries(q, head_dim, self.compute_dtype)
        scores = ops.einsum("bhid,bhjd->bhij", q, key)
        scores = ops.cast(scores, "float32")
        if divisor is not None:
            scores = scores / divisor
        if padding_mask is not None:
            keep = ops.cast(padding_mask, "bool")[:, None, None, :]
            scores = ops.where(keep, scores, MASK_VALUE)
        probs = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)
        probs = self.probs_dropout(probs, training=training)
        attended = ops.einsum("bhij,bhjd->bihd", probs, value)  # (B, L, H', d)

        # --- Span-based dynamic convolution heads (NOT masked; see docstring) ---
        if keras.config.backend() == "jax":
            # XLA:CPU runs the depthwise (grouped) convolution about five
            # times slower than k shifted multiply-adds (22 ms vs 4 ms per
            # base-size layer at 8x128); same weights, same numbers.
            span_key = self._separable_conv_by_shifts(x)
        else:
            span_key = self.key_conv(x)
        taps = self.conv_kernel(span_key * query)
        taps = ops.reshape(taps, (batch, length, heads, k))
        taps = ops.cast(ops.softmax(ops.cast(taps, "float32"), axis=-1), self.compute_dtype)
        conv_values = ops.reshape(self.conv_out(x), (batch, length, heads, head_dim))
        # Summed tap by tap: k fused multiply-adds, where stacking the k
        # windows and contracting them was a batch of (B * L * H') tiny
        # matrix products (2.5 to 8 times slower on every backend).
        convolved = _sum_of_taps(conv_values, k, lambda m: taps[..., m : m + 1])

        # Attention heads first, then convolution heads.
        context = ops.concatenate([attended, convolved], axis=2)
        return ops.reshape(context, (batch, length, 2 * heads * head_dim))

    def _separable_conv_by_shifts(self, x):
        """`self.key_conv(x)` computed as shifted multiply-adds and a matmul."""
        conv, k = self.key_conv, self.conv_kernel_size
        depthwise = ops.cast(conv.depthwise_kernel, x.dtype)[:, :, 0]  # (k, D)
        summed = _sum_of_taps(x, k, lambda m: depthwise[m])
        out = ops.matmul(summed, ops.cast(conv.pointwise_kernel, x.dtype)[0])
        return out + ops.cast(conv.bias, x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (2 * self.attention_heads * self.head_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "head_ratio": self.head_ratio,
                "conv_kernel_size": self.conv_kernel_size,
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config


def _sum_of_taps(x, k, weight):
    """`sum_m x[:, t + m - (k-1)//2] * weight(m)` over the k taps of an odd
    span, zero outside the sequence (the "same" padding of both convolutions).

    The time axis (axis 1) is padded once; tap m is then the length-L slice
    starting at m, with static bounds so that shapes stay traceable with an
    unknown length.
    """
    left = (k - 1) // 2
    # Zeros joined on rather than `ops.pad`: Keras' pad makes a new named
    # Operation per call, torch.compile guards on the name counter, and so
    # recompiled every encoder layer on every call until it fell back to eager.
    zero = ops.zeros_like(x[:, :1])
    padded = ops.concatenate([zero] * left + [x] + [zero] * (k - 1 - left), axis=1)
    total = None
    for m in range(k):
        term = padded[:, m : m - (k - 1) if m < k - 1 else None] * weight(m)
        total = term if total is None else total + term
    return total
