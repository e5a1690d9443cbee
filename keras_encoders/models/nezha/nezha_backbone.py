"""NEZHA backbone."""

import keras
from keras_hub.layers import ReversibleEmbedding

from keras_encoders.layers.post_ln_encoder_layer import PostLNEncoderLayer
from keras_encoders.layers.layer_norm import LayerNorm
from keras_encoders.models import backbone_checks
from keras_encoders.models.encoder_backbone import EncoderBackbone
from keras_encoders.models.encoder_backbone import kernel_initializer


@keras.saving.register_keras_serializable(package="keras_encoders")
class NezhaBackbone(EncoderBackbone):
    """NEZHA encoder (Huawei), as in Hugging Face's `NezhaModel`.

    BERT with functional relative positions: no absolute position embedding
    (embeddings are word + segment, LayerNorm, dropout), and every attention
    layer adds a fixed sinusoid table indexed by the clipped distance
    `clip(j - i, -K, K)` on the key and the value side. Because positions are
    only relative, the model runs at any sequence length (the reference stops
    at `max_position_embeddings`, 512; this port does not).

    Args:
        vocabulary_size: int. Size of the token vocabulary.
        num_layers: int. Number of encoder layers.
        num_heads: int. Attention heads per layer.
        hidden_dim: int. Width of the encoder.
        intermediate_dim: int. Width of the feed-forward layers.
        max_relative_position: int. K, the clipping distance (64).
        num_segments: int. Number of segment (token type) ids.
        dropout: float. Dropout on embeddings and layer outputs.
        attention_dropout: float. Dropout on attention probabilities.
        layer_norm_epsilon: float.
        max_sequence_length: int. The length the checkpoint was trained at;
            used as the preprocessors' default, not a limit of the model.
        dtype: dtype policy for computations and weights.

    Example:
    >>> import numpy as np
    >>> backbone = NezhaBackbone(vocabulary_size=100, num_layers=2, num_heads=2,
    ...     hidden_dim=16, intermediate_dim=32, max_relative_position=4)
    >>> x = {"token_ids": np.array([[2, 5, 7, 3, 0]], "int32"),
    ...      "segment_ids": np.zeros((1, 5), "int32"),
    ...      "padding_mask": np.array([[1, 1, 1, 1, 0]], "int32")}
    >>> tuple(backbone(x)["sequence_output"].shape)
    (1, 5, 16)
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        max_relative_position=64,
        num_segments=2,
        dropout=0.1,
        attention_dropout=0.1,
        layer_norm_epsilon=1e-12,
        max_sequence_length=512,
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
        self.segment_embedding = keras.layers.Embedding(
            input_dim=num_segments,
            output_dim=hidden_dim,
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
        self.transformer_layers = [
            PostLNEncoderLayer(
                hidden_dim=hidden_dim,
                intermediate_dim=intermediate_dim,
                num_heads=num_heads,
                max_relative_position=max_relative_position,
                dropout=dropout,
                attention_dropout=attention_dropout,
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
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        x = self.token_embedding(token_ids) + self.segment_embedding(segment_ids)
        x = self.embeddings_dropout(self.embeddings_layer_norm(x))
        for layer in self.transformer_layers:
            x = layer(x, padding_mask=padding_mask)
        pooled = self.pooled_dense(x[:, 0, :])
        super().__init__(
            inputs={
                "token_ids": token_ids,
                "segment_ids": segment_ids,
                "padding_mask": padding_mask,
            },
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
        self.max_relative_position = max_relative_position
        self.num_segments = num_segments
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.max_sequence_length = max_sequence_length

    @classmethod
    def implied_parameter_count(cls, config):
        """The parameters a backbone with these constructor arguments holds."""
        hidden = config["hidden_dim"]
        embeddings = (config["vocabulary_size"] + config.get("num_segments", 2) + 2) * hidden
        layers = config["num_layers"] * backbone_checks.encoder_layer_parameters(
            hidden, config["intermediate_dim"]
        )
        return embeddings + layers + hidden * hidden + hidden

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "max_relative_position": self.max_relative_position,
                "num_segments": self.num_segments,
                "dropout": self.dropout,
                "attention_dropout": self.attention_dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "max_sequence_length": self.max_sequence_length,
            }
        )
        return config
