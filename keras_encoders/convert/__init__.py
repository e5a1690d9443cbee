"""Checkpoint conversion, in layers (each imports only the ones above it):

- `errors`: the exceptions every layer raises.
- `readers/`: bytes -> NumPy arrays, no model knowledge, memory bounded by
  the file (`torch_bin`, `paddle_params` on one `restricted_pickle` core;
  `safetensors_file`, `hf_folder`, `tf1`).
- `families/`: one package per model family, `SPEC = FamilySpec(...)`
  (names, classes, rule tables per format, verification hooks).
- engine: `config_checks`, `porting` (rule tables -> Keras variables),
  `sources` (open any format, build and port), `verification`,
  `conversion` (verified preset writing) and `cli`.
- `keras_hub_adapter`: routes keras-hub's `from_preset` on Hugging Face
  folders of our families to `sources`.

`keras_encoders.presets` depends on this package, never the reverse.
"""

from keras_encoders.convert import keras_hub_adapter
from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.convert.errors import CheckpointMismatchError
from keras_encoders.convert.errors import UnsafeCheckpointError

keras_hub_adapter.install()
