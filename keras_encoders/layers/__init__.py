"""Reusable layers."""

from keras_encoders.layers.multi_head_self_attention import MultiHeadSelfAttention
from keras_encoders.layers.post_ln_encoder_layer import PostLNEncoderLayer
from keras_encoders.layers.grouped_dense import GroupedDense
from keras_encoders.layers.mixed_attention import MixedAttention
from keras_encoders.layers.conv_bert_encoder_layer import ConvBertEncoderLayer
