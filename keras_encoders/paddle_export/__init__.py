"""Back to PaddleNLP: a UIE-M extractor as a folder Taskflow loads.

`export_to_paddlenlp(extractor, path)` writes `model_state.pdparams`,
`config.json` and the tokenizer files of PaddleNLP 2.8.1's `UIEM`, so that
`Taskflow("information_extraction", task_path=path)` answers as
`extractor.extract(..., decoding="taskflow")` does. The weights follow the
converter's PaddleNLP rule tables (`convert/families/ernie_m/paddle.py`)
backwards (`porting.unport_weights`); `pdparams_file` writes paddle.save's
format without paddle; the configs are checked by reading them back with the
converter, as the Hugging Face writer (`hf_export`) does, whose checks and
file writers this package reuses.
"""

from keras_encoders.hf_export.checkpoint_weights import UnsupportedExportError
from keras_encoders.paddle_export.paddlenlp_writer import export_to_paddlenlp
from keras_encoders.paddle_export.pdparams_file import save_paddle_state_dict
