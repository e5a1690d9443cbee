"""Back to Hugging Face: a task or backbone as a folder transformers loads.

`export_to_transformers(task_or_backbone, path)` writes `config.json`,
`model.safetensors` and the tokenizer files. The weights follow the
converter's rule tables (`keras_encoders.convert.families`) backwards
(`checkpoint_weights`), and the configs are checked by reading them back
with the converter (`checkpoint_configs`); what transformers cannot express
raises `UnsupportedExportError`. On the command line:
`python -m keras_encoders.hf_export PRESET OUTPUT_DIR` (`keras-encoders-export-hf`).
"""

from keras_encoders.hf_export.checkpoint_weights import UnsupportedExportError
from keras_encoders.hf_export.transformers_writer import export_to_transformers
