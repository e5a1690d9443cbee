"""keras_encoders: NEZHA, ERNIE-M and ConvBERT for Keras 3 on every backend.

Importing the package registers every class with Keras serialization and
keras-hub (so `keras_hub.models.Backbone.from_preset(...)` finds them), and
routes Hugging Face layout checkpoints of these models to our converters.
"""

import os

# Before Keras imports torch (on the torch backend), whose OpenMP threads read
# this once: threads that spin while waiting ("active", the default) take the
# cores from TensorFlow's own threads, which run every tokenizer here. On a
# 2-core machine a tiny NEZHA's forward pass took ~0.3 s that way and ~15 ms
# with sleeping threads; base size at 8x128 ~2x faster too. A value the user
# set is kept; importing torch before this package leaves torch's default.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from keras_encoders.version import __version__  # noqa: E402
from keras_encoders import layers
from keras_encoders import tokenizers
from keras_encoders import models
from keras_encoders.export import export_saved_model
from keras_encoders.hf_export import export_to_transformers
from keras_encoders.onnx_export import export_onnx
from keras_encoders.paddle_export import export_to_paddlenlp
# Importing convert routes Hugging Face folders of our models to its converters.
from keras_encoders import convert  # noqa: F401

# Named presets (presets/*.json): `from_preset("nezha_base_zh")` and the like.
from keras_encoders import presets  # noqa: E402

presets.register_catalogue()

# UIE data (annotations in, span evaluation); importing it also lets
# `InformationExtractor.fit` read example files (`fit("train.txt")`).
from keras_encoders import uie  # noqa: E402, F401
