"""Reusable layers."""

from keras_encoders.layers.multi_head_self_attention import MultiHeadSelfAttention
from keras_encoders.layers.post_ln_encoder_layer import PostLNEncoderLayer
