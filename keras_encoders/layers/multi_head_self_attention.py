"""Multi-head self-attention, optionally with NEZHA's relative positions."""

import math

import keras
import numpy as np
from keras import ops

# Added to masked attention logits (in float32): exp() of it is exactly 0, as
# with the references' finfo(float32).min, without overflowing in float16.
MASK_VALUE = -1e9


def scale_queries(q, head_dim, compute_dtype):
    """`(queries, divisor)`: where the `1/sqrt(d)` of the attention logits goes.

    In float32 and bfloat16 the logits are divided after the dot products, as
    in the references (so float32 numbers match them). float16 tops out at
    65504, and `q . k` of large activations overflows to inf (then NaN after
    the softmax); there the queries are scaled first (as Keras' attention and
    PyTorch SDPA do), which keeps the logits `sqrt(d)` times further from the
    limit.

    When `sqrt(d)` is a power of two (d = 4, 16, 64, 256: every published
    checkpoint), scaling the queries by `1/sqrt(d)` is exact, so it is done
    first in every dtype: the same float32 numbers, one pass over the
    (L, L) logits fewer. The divisor is then None (nothing left to divide).
    """
    # Python floats, not NumPy scalars: `tensor / np.float32` makes
    # torch.compile (dynamo) convert the tensor to NumPy, which fails on
    # tensors that require grad (compiled training).
    scale = math.sqrt(head_dim)
    if compute_dtype == "float16" or math.log2(scale).is_integer():
        return q * (1.0 / scale), None
    return q, scale


def sinusoid_relative_table(max_relative_position, depth):
    """NEZHA's fixed relative-position table, shape (2K+1, depth).

    Row p is the sinusoid of the *shifted* index p = clip(j - i, -K, K) + K (so
    the diagonal uses row K), computed in float32 the way the Hugging Face
    reference does (`exp(2t * -ln(10000)/d)` frequencies).
    """
    rows = 2 * max_relative_position + 1
    position = np.arange(rows, dtype=np.float32)[:, None]
    freq = np.exp(
        np.arange(0, depth, 2, dtype=np.float32)
        * np.float32(-np.log(10000.0) / depth)
    ).astype(np.float32)
    table = np.zeros((rows, depth), dtype=np.float32)
    table[:, 0::2] = np.sin(position * freq)
    table[:, 1::2] = np.cos(position * freq)
    return table


@keras.saving.register_keras_serializable(package="keras_encoders")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Scaled dot-product self-attention returning the concatenated heads.

    With `max_relative_position=K`, this is NEZHA's attention: the fixed
    sinusoid table `T` (2K+1 rows, one per clipped distance) enters twice, on
    the key side before the `1/sqrt(d)` scaling and on the value side with the
    post-dropout probabilities:

        scores[i, j] = (q_i . k_j + q_i . T[r(i, j)]) / sqrt(d)
        context_i    = sum_j P[i, j] v_j + sum_j P[i, j] T[r(i, j)]
        r(i, j)      = clip(j - i, -K, K) + K

    Neither term builds the (L, L, d) tensor of the reference: the key term
    gathers from `q @ T^T` (L x (2K+1)), and the value term sums the
    probabilities per distance bucket first. Memory stays O(L^2) like plain
    attention, so any sequence length runs (there is no position limit).

    The output projection is not part of this layer (the encoder block owns it).

    Args:
        num_heads: int. Number of attention heads.
        head_dim: int. Size of each head.
        max_relative_position: int or None. K above; None for plain attention.
        dropout: float. Dropout on the attention probabilities.

    Example:
    >>> import numpy as np
    >>> from keras_encoders.layers import MultiHeadSelfAttention
    >>> layer = MultiHeadSelfAttention(num_heads=2, head_dim=4, max_relative_position=3)
    >>> x = np.random.uniform(size=(1, 5, 8)).astype("float32")
    >>> tuple(layer(x, padding_mask=np.array([[1, 1, 1, 0, 0]])).shape)
    (1, 5, 8)
    """

    def __init__(
        self,
        num_heads,
        head_dim,
        max_relative_position=None,
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.max_relative_position = max_relative_position
        self.dropout = dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        width = num_heads * head_dim

        def dense(name):
            return keras.layers.Dense(
                width,
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name=name,
            )

        # === Layers ===
        self.query = dense("query")
        self.key = dense("key")
        self.value = dense("value")
        self.probs_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="probs_dropout"
        )
        self.relative_table = None

    def build(self, input_shape):
        for layer in (self.query, self.key, self.value):
            layer.build(input_shape)
        if self.max_relative_position is not None:
            # A backend tensor made once: a NumPy array converted inside
            # `call` broke torch.compile's graph in every layer.
            self.relative_table = ops.convert_to_tensor(
                sinusoid_relative_table(self.max_relative_position, self.head_dim)
            )
        self.built = True

    def _split_heads(self, x):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.reshape(x, (batch, length, self.num_heads, self.head_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, x, padding_mask=None, training=None):
        q = self._split_heads(self.query(x))
        k = self._split_heads(self.key(x))
        v = self._split_heads(self.value(x))
        q, divisor = scale_queries(q, self.head_dim, self.compute_dtype)
        scores = ops.einsum("bhid,bhjd->bhij", q, k)
        length = ops.shape(x)[1]
        if self.max_relative_position is not None:
            table = ops.cast(self.relative_table, q.dtype)
            q_t = ops.einsum("bhid,rd->bhir", q, table)
            scores = scores + _expand_by_distance(q_t, self.max_relative_position)
        scores = ops.cast(scores, "float32")
        if divisor is not None:
            scores = scores / divisor
        if padding_mask is not None:
            keep = ops.cast(padding_mask, "bool")[:, None, None, :]
            scores = ops.where(keep, scores, MASK_VALUE)
        probs = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)
        probs = self.probs_dropout(probs, training=training)
        context = ops.einsum("bhij,bhjd->bhid", probs, v)
        if self.max_relative_position is not None:
            buckets = _bucket_by_distance(probs, self.max_relative_position)
            context = context + ops.einsum("bhir,rd->bhid", buckets, table)
        context = ops.transpose(context, (0, 2, 1, 3))
        batch = ops.shape(x)[0]
        return ops.reshape(context, (batch, length, self.num_heads * self.head_dim))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_heads * self.head_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "head_dim": self.head_dim,
                "max_relative_position": self.max_relative_position,
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config


def _expand_by_distance(q_t, k):
    """(B, h, L, 2K+1) -> (B, h, L, L): out[i, j] = q_t[i, clip(j - i, -K, K) + K].

    One `take` from the flattened rows with a constant (L * L) index: the
    same values as `take_along_axis` with a broadcast (B, h, L, L) index,
    without materializing or reading that index per batch and head (it was
    the largest single cost of NEZHA's attention on the torch and
    TensorFlow backends).
    """
    shape = ops.shape(q_t)
    length, width = shape[-2], 2 * k + 1
    pos = ops.arange(length, dtype="int32")
    rel = ops.clip(pos[None, :] - pos[:, None], -k, k) + k
    flat_index = ops.reshape(rel + pos[:, None] * width, (-1,))
    rows = ops.reshape(q_t, (shape[0], shape[1], length * width))
    return ops.reshape(
        ops.take(rows, flat_index, axis=-1), (shape[0], shape[1], length, length)
    )


def _bucket_by_distance(probs, k):
    """Sum attention probabilities per clipped distance: (B, h, L, 2K+1).

    Interior buckets hold one key each (j = i + r - K), read off a padded
    copy; the two end buckets also collect every key farther than K away,
    summed by one contraction with two constant (L, L) masks (a single
    batched matrix product, instead of two masked passes over the scores).
    """
    length = ops.shape(probs)[-1]
    padded = ops.pad(probs, ((0, 0), (0, 0), (0, 0), (k, k)))
    window = ops.arange(length, dtype="int32")[:, None] + ops.arange(
        2 * k + 1, dtype="int32"
    )[None, :]
    shape = ops.shape(probs)
    window = ops.broadcast_to(window[None, None], (shape[0], shape[1], length, 2 * k + 1))
    buckets = ops.take_along_axis(padded, window, axis=-1)
    pos = ops.arange(length, dtype="int32")
    dist = pos[None, :] - pos[:, None]
    far = ops.stack(
        [ops.cast(dist < -k, probs.dtype), ops.cast(dist > k, probs.dtype)], axis=-1
    )  # (L, L, 2)
    edges = ops.einsum("bhij,ijc->bhic", probs, far)  # (B, h, L, 2)
    zeros = ops.zeros_like(buckets[..., 1:-1])
    return buckets + ops.concatenate(
        [edges[..., :1], zeros, edges[..., 1:]], axis=-1
    )
