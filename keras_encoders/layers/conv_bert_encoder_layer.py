"""ConvBERT's encoder block: post-LN BERT block with mixed attention."""

import keras

from keras_encoders.layers.grouped_dense import GroupedDense
from keras_encoders.layers.mixed_attention import MixedAttention
from keras_encoders.layers.post_ln_encoder_layer import PostLNEncoderLayer


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertEncoderLayer(PostLNEncoderLayer):
    """One ConvBERT layer (Hugging Face `ConvBertLayer`).

    The BERT post-LayerNorm block with two substitutions:
    - the self-attention is `MixedAttention` (attention heads next to
      span-based dynamic convolution heads, `2 * H' * d` wide, projected back
      to `hidden_dim` by `attention_output`);
    - with `num_groups > 1` both feed-forward projections are `GroupedDense`
      (Hugging Face `GroupedLinearLayer`), otherwise plain `Dense`.

    Args:
        hidden_dim: int. Width of the block's input and output.
        intermediate_dim: int. Width of the feed-forward layer.
        num_heads: int. Heads of the configuration (see `MixedAttention`).
        head_ratio: int. `num_heads // head_ratio` heads are attention heads.
        conv_kernel_size: int. Span of the dynamic convolution (odd).
        num_groups: int. Groups of the feed-forward projections.
        **kwargs: the other `PostLNEncoderLayer` arguments (dropout,
            attention_dropout, layer_norm_epsilon, kernel_initializer ...).

    Example:
    >>> import numpy as np
    >>> from keras_encoders.layers import ConvBertEncoderLayer
    >>> layer = ConvBertEncoderLayer(hidden_dim=8, intermediate_dim=16, num_heads=2, conv_kernel_size=3)
    >>> x = np.random.uniform(size=(1, 5, 8)).astype("float32")
    >>> tuple(layer(x, padding_mask=np.array([[1, 1, 1, 0, 0]])).shape)
    (1, 5, 8)
    """

    def __init__(
        self,
        hidden_dim,
        intermediate_dim,
        num_heads,
        head_ratio=2,
        conv_kernel_size=9,
        num_groups=1,
        **kwargs,
    ):
        # The parent constructor calls the `build_*` hooks below, which read
        # these; so they are set first.
        self.head_ratio = head_ratio
        self.conv_kernel_size = conv_kernel_size
        self.num_groups = num_groups
        super().__init__(
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            num_heads=num_heads,
            **kwargs,
        )

    # The convolution heads read every position's neighbours.
    takes_query_rows = False

    def build_attention(self):
        return MixedAttention(
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            head_ratio=self.head_ratio,
            conv_kernel_size=self.conv_kernel_size,
            dropout=self.attention_dropout,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="self_attention",
        )

    def build_feedforward_dense(self, units, name):
        if self.num_groups == 1:
            return super().build_feedforward_dense(units, name)
        return GroupedDense(
            units,
            num_groups=self.num_groups,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name=name,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "head_ratio": self.head_ratio,
                "conv_kernel_size": self.conv_kernel_size,
                "num_groups": self.num_groups,
            }
        )
        # Relative positions are NEZHA's; ConvBERT's are absolute.
        config.pop("max_relative_position", None)
        return config
