"""Multi-head self-attention, optionally with NEZHA's relative positions."""

import contextlib
import math

import keras
import numpy as np
from keras import ops

# Added to masked attention logits (in float32): exp() of it is exactly 0, as
# with the references' finfo(float32).min, without overflowing in float16.
MASK_VALUE = -1e9


# The bias of masked keys in `key_bias`: far enough below any logit that
# `logit + KEY_MASK_BIAS` rounds to it exactly in float32, so a row whose keys
# are all masked still gets equal (uniform) weights, as with `MASK_VALUE`.
KEY_MASK_BIAS = -1e30


def key_bias(padding_mask):
    """`(B, 1, 1, L)` float32 additive bias of the attention logits.

    `padding_mask` holds key multiplicities: 0 masks a key, 1 attends it,
    and k > 1 makes it stand for k identical keys (same key and value
    vectors), whose softmax weights sum to k times one's, i.e. a logit
    raised by log(k). A row of identical `[PAD]` states (ERNIE-M in
    PaddleNLP's convention attends them) is then computed exactly from one
    pad column counting them all.

    With 0/1 (or boolean) masks the result is bit for bit that of masking
    with `where(mask, logits, MASK_VALUE)`: attended logits get `+ 0.0`, and
    masked ones a weight that is exactly 0 either way (or, in a row with
    every key masked, the same uniform weights). One add, as cheap as the
    select it replaces.
    """
    counts = ops.cast(padding_mask, "float32")[:, None, None, :]
    return ops.where(counts > 0, ops.log(ops.maximum(counts, 1.0)), KEY_MASK_BIAS)


def sequence_shape(x, padding_mask=None):
    """`(batch, length)` of `x` (B, L, ...), read from `padding_mask` (B, L)
    when there is one. Every layer of an encoder gets the same mask tensor,
    so in a traced graph the shapes, and what is derived from them (NEZHA's
    relative-position tables), are one computation that graph optimizers
    (Grappler, tf2onnx, ONNX Runtime) share between the layers, instead of
    one chain of small nodes per layer read from each layer's input."""
    shape = ops.shape(x if padding_mask is None else padding_mask)
    return shape[0], shape[1]


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


def sinusoid_frequencies(depth):
    """The float32 frequencies of NEZHA's table, `exp(2t * -ln(10000)/d)`,
    computed the way the Hugging Face reference computes them."""
    return np.exp(
        np.arange(0, depth, 2, dtype=np.float32) * np.float32(-np.log(10000.0) / depth)
    ).astype(np.float32)


def sinusoid_relative_table(max_relative_position, depth):
    """NEZHA's fixed relative-position table, shape (2K+1, depth).

    Row p is the sinusoid of the *shifted* index p = clip(j - i, -K, K) + K (so
    the diagonal uses row K), computed in float32 the way the Hugging Face
    reference does (column 2t is `sin(p * f_t)`, column 2t+1 `cos(p * f_t)`).
    """
    position = np.arange(2 * max_relative_position + 1, dtype=np.float32)[:, None]
    angle = position * sinusoid_frequencies(depth)
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1).reshape(len(position), depth)


# Positions are split as p = ROTATION_BASE * a + b, and the rotation by p * f
# is composed from two tables of ROTATION_BASE rows each (angles taken in
# float64), so every position up to ROTATION_BASE ** 2 gets a rotation
# accurate to a few float32 ulps. (An L of 65536 would need 200 GB per
# attention matrix; the limit is checked where the length is known.)
ROTATION_BASE = 256


def rotation_tables(depth):
    """`(low, high)`, each (ROTATION_BASE, depth / 2, 2): cos and sin of
    `b * f_t` and of `ROTATION_BASE * a * f_t`, from float64 angles."""
    freq = sinusoid_frequencies(depth).astype(np.float64)
    steps = np.arange(ROTATION_BASE, dtype=np.float64)[:, None]

    def table(angle):
        return np.stack([np.cos(angle), np.sin(angle)], axis=-1).astype(np.float32)

    return table(steps * freq), table(steps * ROTATION_BASE * freq)


# One set of backend tensors per backend and size, shared by every layer.
_RELATIVE_CONSTANTS = {}


def pair_swap(depth):
    """The (depth, depth) matrix `R` with `(x @ R)[2t] = x[2t + 1]` and
    `(x @ R)[2t + 1] = -x[2t]`: each (sin, cos) pair turned by 90 degrees.
    Products by 0 and +-1 only: exact in every dtype."""
    swap = np.zeros((depth, depth), np.float32)
    even = np.arange(0, depth, 2)
    swap[even + 1, even] = 1.0
    swap[even, even + 1] = -1.0
    return swap


def clipped_position_table(max_relative_position, depth):
    """(2K + 3, depth): the rows `MultiHeadSelfAttention.use_position_table`
    gathers, at index `clip(j - i, -K - 1, K + 1) + K + 1`. Rows 1 to 2K + 1
    hold the sinusoid of distance -K to K from float64 angles (the values
    the rotations compute inside the band); rows 0 and 2K + 2 are the
    reference's end rows, which keys farther than K away get."""
    k = max_relative_position
    angle = np.arange(2 * k + 1, dtype=np.float64)[:, None] * sinusoid_frequencies(depth)
    band = np.stack([np.sin(angle), np.cos(angle)], axis=-1).reshape(2 * k + 1, depth)
    ends = sinusoid_relative_table(k, depth)[[0, 2 * k]]
    return np.concatenate([ends[:1], band.astype(np.float32), ends[1:]])


def relative_constants(max_relative_position, depth):
    """`(edges, low, high, swap, table)` backend tensors: the table's rows 0
    and 2K as (depth, 2) columns (what every key farther than K away gets),
    the two `rotation_tables`, the `pair_swap` and the
    `clipped_position_table`.

    Why shared: in a traced graph (a SavedModel, the ONNX export) every
    layer then reads the same constants and, from the shared sequence
    length (`sequence_shape`), computes the same position tables, which
    Grappler, tf2onnx and ONNX Runtime compute once for all layers instead
    of once per layer. Made outside any trace, so that a tensor cached
    here never belongs to one traced graph.
    """
    with eager_scope():
        # The device new tensors go to now (torch: Keras' device scope).
        device = str(getattr(ops.convert_to_tensor(0.0), "device", ""))
        key = (keras.backend.backend(), device, max_relative_position, depth)
        if key not in _RELATIVE_CONSTANTS:
            k = max_relative_position
            table = sinusoid_relative_table(k, depth)
            arrays = (table[[0, 2 * k]].T, *rotation_tables(depth), pair_swap(depth),
                      clipped_position_table(k, depth))
            _RELATIVE_CONSTANTS[key] = tuple(ops.convert_to_tensor(a) for a in arrays)
    return _RELATIVE_CONSTANTS[key]


def eager_scope():
    """TensorFlow's `init_scope` (out of a `tf.function` being traced);
    nothing on the other backends, whose constants are never traced values."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.init_scope()
    return contextlib.nullcontext()


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

    By default neither term builds the (L, L, d) tensor of the reference:
    inside the band |j - i| <= K both are matrix products with a sinusoid of
    the key position (angle addition; see `_key_term`), and keys farther away get
    the table's end rows. Memory stays O(L^2) like plain attention, so the
    length is not limited by positions (up to 65536 - K tokens). The band's
    table values come from float64 angles: they differ from the reference's
    float32 table by its own rounding (at most 4.5e-6), and match the
    original NEZHA releases' float64 table more closely.

    `padding_mask` (B, L) masks keys (0) or attends them (1); a value k > 1
    makes a key stand for k identical keys (see `key_bias`).

    Setting the attribute `use_position_table = True` computes both terms
    the reference's way instead, as products with the (L, L, d) table of
    rows `T[r(i, j)]` batched over the query position: the same numbers
    within float32 rounding, for L^2 d more memory. `export_onnx` sets it
    while it traces: ONNX Runtime runs the two batched products in 20 ms
    per layer at 32 x 128 tokens, against 47 ms for the factored form's
    elementwise passes (which TensorFlow fuses and ONNX Runtime does not),
    and makes the table once per call for all layers (64 MB at 512 tokens).

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
        if max_relative_position is not None and head_dim % 2:
            raise ValueError(
                f"Relative positions pair the head's dimensions (sin, cos); "
                f"head_dim must be even, got {head_dim}."
            )
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
        self.relative_edges = None
        self.rotation_low = None
        self.rotation_high = None
        self.pair_swap = None
        self.position_table = None
        # An execution choice, not part of the model (not in the config).
        self.use_position_table = False

    def build(self, input_shape):
        for layer in (self.query, self.key, self.value):
            layer.build(input_shape)
        if self.max_relative_position is not None:
            # Backend tensors made once (and shared by the layers): a NumPy
            # array converted inside `call` broke torch.compile's graph in
            # every layer.
            (self.relative_edges, self.rotation_low, self.rotation_high, self.pair_swap,
             self.position_table) = relative_constants(self.max_relative_position, self.head_dim)
        self.built = True

    def _split_heads(self, rows, batch, length):
        x = ops.reshape(rows, (batch, length, self.num_heads, self.head_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, x, padding_mask=None, training=None, query_rows=None):
        batch, length = sequence_shape(x, padding_mask)
        # `query_rows`: the outputs of the first n positions only, every
        # position still a key (a pooled classifier's last layer needs row 0).
        queries = length if query_rows is None else query_rows
        if self.max_relative_position is not None:
            positions = (self._table_rows if self.use_position_table
                         else self._relative_positions)
            relative = positions(length, queries, self.compute_dtype)
        # The projections run on the tokens as rows of one 2-D matrix: on
        # TensorFlow a 2-D MatMul and its BiasAdd fuse into one oneDNN kernel
        # (a Dense on (B, L, D) is a Tensordot, its bias added after a
        # reshape); on torch and JAX the reshape is free.
        width = ops.shape(x)[-1]
        rows = ops.reshape(x, (-1, width))
        query_input = rows if query_rows is None else ops.reshape(x[:, :query_rows], (-1, width))
        q = self._split_heads(self.query(query_input), batch, queries)
        k = self._split_heads(self.key(rows), batch, length)
        v = self._split_heads(self.value(rows), batch, length)
        q, divisor = scale_queries(q, self.head_dim, self.compute_dtype)
        # Products as matmuls, not einsums: on TensorFlow the key transpose
        # folds into one BatchMatMul, and QK, mask, softmax and PV took 0.40
        # ms per layer at 1x128 against 0.53 as einsums (the same numbers).
        scores = ops.matmul(q, ops.swapaxes(k, -1, -2))
        if self.max_relative_position is not None:
            scores = scores + self._key_term(q, relative, batch, queries, length)
        scores = ops.cast(scores, "float32")
        if divisor is not None:
            scores = scores / divisor
        if padding_mask is not None:
            scores = scores + key_bias(padding_mask)
        probs = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)
        probs = self.probs_dropout(probs, training=training)
        context = ops.matmul(probs, v)
        if self.max_relative_position is not None:
            context = context + self._value_term(probs, relative, batch, queries, length)
        context = ops.transpose(context, (0, 2, 1, 3))
        return ops.reshape(context, (batch, queries, self.num_heads * self.head_dim))

    # NEZHA's relative terms, without gathers. Column pair t of table row p
    # is (sin, cos) of p * f_t, and inside the band |j - i| <= K the row is
    # p = (j + K) - i. With a = (j + K) * f_t and b = i * f_t, angle
    # subtraction turns every pair by the query position alone:
    #     (sin(a - b), cos(a - b)) = cos b * (sin a, cos a) - sin b * swap(sin a, cos a)
    # where swap(x, y) = (y, -x) is the pair turned by 90 degrees (`pair_swap`).
    # With C_i and S_i the cos and sin of i * f_t repeated over each pair and
    # s_p = (sin, cos) of p * f_t per pair, and since x . swap(y) = -swap(x) . y:
    #     q_i . T[j - i + K]       = (C_i * q_i + S_i * swap(q_i)) . s_{j+K}
    #     sum_j P_ij T[j - i + K] = C_i * w_i - S_i * swap(w_i),  w_i = sum_j P_ij s_{j+K}
    # i.e. one QK-shaped and one PV-shaped product over d, with elementwise
    # products by (L, d) tables and a swap (a product by a (d, d) matrix of
    # 0 and +-1, exact) around them. (Measured while the ONNX export still
    # traced this form, which it no longer does (`use_position_table`): the
    # swap written as strided even/odd slices made the costliest nodes of
    # the graph; the products over 2d of [C_i * q_i, S_i * q_i] that avoided
    # it cost twice the FLOPs of these.) Keys farther than K away get table
    # rows 0 and 2K (a select on the key side, two masked sums on the value
    # side).
    # Gathering from `q @ T^T` and bucketing the probabilities per distance
    # cost 2 to 4 times more on every backend (memory-bound passes over
    # (B, h, L, L) arrays).

    def _relative_positions(self, length, queries, dtype):
        """`(cosines, sines, key_features, band, right)` for `length` keys
        and the first `queries` positions as queries (n): `cosines` and
        `sines` (n, d) hold C_i and S_i, `key_features` (L, d) holds
        s_{j+K}, `band` and `right` are (n, L)."""
        k = self.max_relative_position
        if isinstance(length, int) and length + k > ROTATION_BASE**2:
            raise ValueError(
                f"{self.name}: sequences up to {ROTATION_BASE**2 - k} tokens are "
                f"supported (relative position tables); got {length}."
            )
        position = ops.arange(length + k, dtype="int32")
        low = ops.take(self.rotation_low, position % ROTATION_BASE, axis=0)
        high = ops.take(self.rotation_high, position // ROTATION_BASE, axis=0)
        cos = high[..., 0] * low[..., 0] - high[..., 1] * low[..., 1]
        sin = high[..., 1] * low[..., 0] + high[..., 0] * low[..., 1]
        cos, sin = ops.cast(cos, dtype), ops.cast(sin, dtype)

        def pairs(even, odd):  # (n, d/2) twice -> (n, d), interleaved
            return ops.reshape(ops.stack([even, odd], axis=-1), (-1, self.head_dim))

        cosines = pairs(cos[:queries], cos[:queries])
        sines = pairs(sin[:queries], sin[:queries])
        key_features = pairs(sin[k:], cos[k:])
        pos = ops.arange(length, dtype="int32")
        query_pos = pos if queries is length else ops.arange(queries, dtype="int32")
        dist = pos[None, :] - query_pos[:, None]
        band = ops.abs(dist) <= k
        return cosines, sines, key_features, band, dist > 0

    def _per_head(self, x, weights, batch, length):
        """`x @ weights` for `x` (B, h, L, n) and `weights` (n, m), as one 2-D
        product on rows, back to (B, h, L, m). (`ops.matmul` of a 4-D by a
        2-D operand is a Tensordot on TensorFlow, which computes its shapes
        from `x` in every layer; these come from the shared `batch` and
        `length`, and from `weights`, also the same in every layer.)"""
        width, units = ops.shape(weights)
        rows = ops.matmul(ops.reshape(x, (-1, width)), weights)
        return ops.reshape(rows, (batch, self.num_heads, length, units))

    def _swapped(self, x, batch, length):
        """`swap` of every pair of `x` (B, h, L, d)."""
        return self._per_head(x, ops.cast(self.pair_swap, x.dtype), batch, length)

    # `queries` and `length`: the number of query and key positions.
    def _key_term(self, q, relative, batch, queries, length):
        if self.use_position_table:
            product = ops.matmul(self._by_query(q, queries, self.head_dim),
                                 ops.swapaxes(relative, -1, -2))
            return self._from_queries(product, batch, queries, length)
        cosines, sines, key_features, band, right = relative
        turned = q * cosines + self._swapped(q, batch, queries) * sines
        inside = self._per_head(turned, ops.transpose(key_features), batch, queries)
        edges = self._per_head(q, ops.cast(self.relative_edges, q.dtype), batch, queries)
        outside = ops.where(right, edges[..., 1:], edges[..., :1])  # edges: (B, h, L, 2)
        return ops.where(band, inside, outside)

    def _value_term(self, probs, relative, batch, queries, length):
        if self.use_position_table:
            product = ops.matmul(self._by_query(probs, queries, length), relative)
            return self._from_queries(product, batch, queries, self.head_dim)
        cosines, sines, key_features, band, right = relative
        # A product, not a select: the same numbers (probabilities are finite),
        # and one pass where tf2onnx wrote a select as three (when the ONNX
        # export traced this form).
        banded = probs * ops.cast(band, probs.dtype)
        sums = self._per_head(banded, key_features, batch, queries)  # (B, h, n, d)
        inside = sums * cosines - self._swapped(sums, batch, queries) * sines
        outside = ops.cast(
            ops.stack([~(band | right), ~band & right], axis=-1), probs.dtype
        )  # (n, L, 2): farther than K to the left, to the right
        far = ops.einsum("bhij,ijc->bhic", probs, outside)
        edges = ops.cast(self.relative_edges, probs.dtype)
        return inside + self._per_head(far, ops.transpose(edges), batch, queries)

    # The reference's form (`use_position_table`): for each query position i,
    # the (B * h) rows of that position times the (L, d) table rows T[r(i, j)].

    def _table_rows(self, length, queries, dtype):
        """(n, L, d): row `T[r(i, j)]` for every query i and key j."""
        k = self.max_relative_position
        position = ops.arange(length, dtype="int32")
        query_pos = position if queries is length else ops.arange(queries, dtype="int32")
        index = ops.clip(position[None, :] - query_pos[:, None], -k - 1, k + 1) + (k + 1)
        return ops.cast(ops.take(self.position_table, index, axis=0), dtype)

    # The widths are given (the head size, or the shared length), not read
    # from `x`: shapes read in every layer are nodes in every layer.
    def _by_query(self, x, length, width):
        """(B, h, L, width) -> (L, B * h, width)."""
        return ops.reshape(ops.transpose(x, (2, 0, 1, 3)), (length, -1, width))

    def _from_queries(self, x, batch, length, width):
        """(L, B * h, width) -> (B, h, L, width)."""
        x = ops.reshape(x, (length, batch, self.num_heads, width))
        return ops.transpose(x, (1, 2, 0, 3))

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
