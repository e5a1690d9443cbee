"""ConvBERT backbone."""

import keras
from keras_hub.layers import PositionEmbedding
from keras_hub.layers import ReversibleEmbedding

from keras_encoders.layers.conv_bert_encoder_layer import ConvBertEncoderLayer
from keras_encoders.layers.layer_norm import LayerNorm
from keras_encoders.layers.mixed_attention import mixed_attention_dims
from keras_encoders.models import backbone_checks
from keras_encoders.models.encoder_backbone import EncoderBackbone
from keras_encoders.models.encoder_backbone import kernel_initializer


@keras.saving.register_keras_serializable(package="keras_encoders")
class ConvBertBackbone(EncoderBackbone):
    """ConvBERT encoder (YituTech), as in Hugging Face's `ConvBertModel`.

    An ELECTRA-style BERT whose self-attention is *mixed attention*: of the
    `num_heads` configured heads, `num_heads // head_ratio` are ordinary
    self-attention heads and as many are span-based dynamic convolution heads
    (each position convolves its `conv_kernel_size` neighbours with a kernel
    predicted from its own local span); see `MixedAttention`. Embeddings
    (word + absolute position + segment, LayerNorm, dropout) are
    `embedding_dim` wide and projected to `hidden_dim` when the two differ
    (the small and medium-small checkpoints). With `num_groups > 1` the
    feed-forward projections are grouped (`GroupedDense`).

    There is no pooler: the reference model has none, so the only output is
    `"sequence_output"` (B, L, hidden_dim). The reference's heads read the
    sequence output directly instead (the first token for text
    classification, the last one for multiple choice).

    The convolution heads do not see `padding_mask` (as in the reference):
    the features of padding tokens reach real tokens up to
    `(conv_kernel_size - 1) // 2` positions away. Pad with the tokenizer's
    pad id (0) to get the reference's numbers.

    Args:
        vocabulary_size: int. Size of the token vocabulary.
        num_layers: int. Number of encoder layers.
        num_heads: int. Heads per layer, attention and convolution together.
        hidden_dim: int. Width of the encoder.
        intermediate_dim: int. Width of the feed-forward layers.
        embedding_dim: int. Width of the embeddings; `hidden_dim` if None.
        head_ratio: int. `num_heads // head_ratio` heads are attention heads
            (at least one).
        conv_kernel_size: int. Span of the dynamic convolution (odd).
        num_groups: int. Groups of the feed-forward projections.
        num_segments: int. Number of segment (token type) ids.
        dropout: float. Dropout on embeddings and layer outputs.
        attention_dropout: float. Dropout on attention probabilities.
        layer_norm_epsilon: float.
        max_sequence_length: int. Number of absolute positions; longer
            inputs are refused.
        dtype: dtype policy for computations and weights.

    Example:
    >>> import numpy as np
    >>> backbone = ConvBertBackbone(vocabulary_size=100, num_layers=2,
    ...     num_heads=4, hidden_dim=32, intermediate_dim=64, embedding_dim=16,
    ...     conv_kernel_size=3, num_groups=2, max_sequence_length=16)
    >>> x = {"token_ids": np.array([[2, 5, 7, 3, 0]], "int32"),
    ...      "segment_ids": np.zeros((1, 5), "int32"),
    ...      "padding_mask": np.array([[1, 1, 1, 1, 0]], "int32")}
    >>> tuple(backbone(x)["sequence_output"].shape)
    (1, 5, 32)
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        embedding_dim=None,
        head_ratio=2,
        conv_kernel_size=9,
        num_groups=1,
        num_segments=2,
        dropout=0.1,
        attention_dropout=0.1,
        layer_norm_epsilon=1e-12,
        max_sequence_length=512,
        dtype=None,
        **kwargs,
    ):
        backbone_checks.check_arguments(type(self), locals())
        embedding_dim = embedding_dim or hidden_dim

        # === Layers ===
        self.token_embedding = ReversibleEmbedding(
            input_dim=vocabulary_size,
            output_dim=embedding_dim,
            embeddings_initializer=kernel_initializer(),
            dtype=dtype,
            name="token_embedding",
        )
        self.position_embedding = PositionEmbedding(
            sequence_length=max_sequence_length,
            initializer=kernel_initializer(),
            dtype=dtype,
            name="position_embedding",
        )
        self.segment_embedding = keras.layers.Embedding(
            input_dim=num_segments,
            output_dim=embedding_dim,
            embeddings_initializer=kernel_initializer(),
            dtype=dtype,
            name="segment_embedding",
        )
        self.embeddings_layer_norm = LayerNorm(
            epsilon=layer_norm_epsilon, dtype=dtype, name="embeddings_layer_norm"
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        # The reference has this projection only when the widths differ (so
        # base checkpoints have no `embeddings_project` weights).
        self.embeddings_projection = None
        if embedding_dim != hidden_dim:
            self.embeddings_projection = keras.layers.Dense(
                hidden_dim,
                kernel_initializer=kernel_initializer(),
                dtype=dtype,
                name="embeddings_projection",
            )
        self.transformer_layers = [
            ConvBertEncoderLayer(
                hidden_dim=hidden_dim,
                intermediate_dim=intermediate_dim,
                num_heads=num_heads,
                head_ratio=head_ratio,
                conv_kernel_size=conv_kernel_size,
                num_groups=num_groups,
                dropout=dropout,
                attention_dropout=attention_dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                kernel_initializer=kernel_initializer(),
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        tokens = self.token_embedding(token_ids)
        # Same summation order as the reference: word + position + segment.
        x = tokens + self.position_embedding(tokens)
        x = x + self.segment_embedding(segment_ids)
        x = self.embeddings_dropout(self.embeddings_layer_norm(x))
        if self.embeddings_projection is not None:
            x = self.embeddings_projection(x)
        for layer in self.transformer_layers:
            x = layer(x, padding_mask=padding_mask)
        super().__init__(
            inputs={
                "token_ids": token_ids,
                "segment_ids": segment_ids,
                "padding_mask": padding_mask,
            },
            outputs={"sequence_output": x},
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.embedding_dim = embedding_dim
        self.head_ratio = head_ratio
        self.conv_kernel_size = conv_kernel_size
        self.num_groups = num_groups
        self.num_segments = num_segments
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.max_sequence_length = max_sequence_length

    @classmethod
    def implied_parameter_count(cls, config):
        """The parameters a backbone with these constructor arguments holds."""
        hidden = config["hidden_dim"]
        embedding = config.get("embedding_dim") or hidden
        kernel = config.get("conv_kernel_size", 9)
        rows = config["vocabulary_size"] + config.get("max_sequence_length", 512)
        embeddings = (rows + config.get("num_segments", 2) + 2) * embedding
        if embedding != hidden:
            embeddings += embedding * hidden + hidden
        heads, head_dim = mixed_attention_dims(hidden, config["num_heads"], config.get("head_ratio", 2))
        width = heads * head_dim
        # The encoder block with attention `width` wide and its output
        # projection reading `2 * width` (attention and convolution halves),
        # plus the convolution heads: separable key convolution, taps, values.
        block = backbone_checks.encoder_layer_parameters(
            hidden, config["intermediate_dim"], width, config.get("num_groups", 1)
        )
        block += (2 * width - hidden) * hidden
        block += kernel * hidden + hidden * width + width
        block += width * heads * kernel + heads * kernel + hidden * width + width
        return embeddings + config["num_layers"] * block

    @property
    def position_limit(self):
        # Absolute positions: the position table has this many rows.
        return getattr(self, "max_sequence_length", None)

    @property
    def padding_invariant(self):
        # The convolution heads read the padded positions next to the last
        # real tokens (as the reference does): padding changes the outputs.
        return False

    def default_lora_layer_names(self):
        """Attention query/value, plus `conv_out`, the convolution heads' values.

        The convolution heads read the shared `query`; `conv_out` projects the
        values they mix, the counterpart of `value`. `conv_kernel` (which
        turns the local span into the convolution taps, like attention
        logits) and the separable `key_conv` are left frozen, as keys are.
        """
        return ["query", "value", "conv_out"]

    @classmethod
    def layout_rules(cls, model, data, num_groups=1):
        """The shared encoder layout plus the convolution heads' projections.

        `key_conv`'s pointwise kernel and `conv_out` are split like `value`,
        `conv_kernel` by its (head-ordered) input features. The layout is
        built before the model exists, so it cannot read the configuration:
        pass `num_groups` (2 for convbert medium-small) to
        `get_layout_map(mesh, num_groups=...)` to get the grouped
        feed-forward kernels, `(groups, in / groups, out / groups)`, right.
        """
        rules = super().layout_rules(model, data)
        block = r"(.*/)?transformer_layer_\d+/"
        rules.update(
            {
                block + r"self_attention/key_conv/pointwise_kernel": (None, data, model),
                block + r"self_attention/conv_kernel/kernel": (model, None),
                block + r"self_attention/conv_out/kernel": (data, model),
                r"(.*/)?embeddings_projection/kernel": (data, model),
            }
        )
        if num_groups > 1:
            rules[block + r"intermediate/kernel"] = (None, data, model)
            rules[block + r"output/kernel"] = (None, model, data)
        return rules

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "embedding_dim": self.embedding_dim,
                "head_ratio": self.head_ratio,
                "conv_kernel_size": self.conv_kernel_size,
                "num_groups": self.num_groups,
                "num_segments": self.num_segments,
                "dropout": self.dropout,
                "attention_dropout": self.attention_dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "max_sequence_length": self.max_sequence_length,
            }
        )
        return config
