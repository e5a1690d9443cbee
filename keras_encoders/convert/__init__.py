"""Checkpoint readers and per-model converters."""

from keras_encoders.convert import convert_nezha
from keras_encoders.convert import hf_preset_loader
from keras_encoders.convert.torch_pickle import CheckpointFormatError
from keras_encoders.convert.torch_pickle import UnsafeCheckpointError
from keras_encoders.convert.weight_map import CheckpointMismatchError

hf_preset_loader.register_converter(convert_nezha)
from keras_encoders.convert import convert_ernie_m  # noqa: E402

hf_preset_loader.register_converter(convert_ernie_m)
from keras_encoders.convert import convert_convbert  # noqa: E402

hf_preset_loader.register_converter(convert_convbert)
