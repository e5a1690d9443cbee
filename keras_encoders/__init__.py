"""keras_encoders: NEZHA, ERNIE-M and ConvBERT for Keras 3 on every backend."""

from keras_encoders.version import __version__
