"""`save_to_preset` refuses a folder that holds a checkpoint of another format.

A Keras preset writes `config.json` (and `model.weights.h5`, `task.json`,
`tokenizer.json` ...). Saved over a Hugging Face folder, it would overwrite
that folder's `config.json` and leave `model.safetensors` beside the Keras
files: a folder that neither loader reads correctly afterwards.
"""

import glob
import os

from keras_encoders.utils import files

# Files that belong to checkpoints of other formats (Hugging Face, PaddleNLP,
# TF1, SavedModel), as glob patterns in the folder.
OTHER_FORMAT_FILES = (
    "model.safetensors", "model-*.safetensors", "model.safetensors.index.json",
    "pytorch_model.bin", "pytorch_model-*.bin", "pytorch_model.bin.index.json",
    "tf_model.h5", "flax_model.msgpack", "tokenizer_config.json",
    "special_tokens_map.json", "*.pdparams", "model_config.json",
    "*.ckpt.index", "*.ckpt.data-*", "saved_model.pb",
)


def other_format_files(preset_dir):
    """Names of the files in `preset_dir` that belong to another format (a
    `config.json` counts when it is not a Keras preset's)."""
    if not os.path.isdir(preset_dir):
        return []
    found = set()
    for pattern in OTHER_FORMAT_FILES:
        found.update(os.path.basename(p) for p in glob.glob(os.path.join(preset_dir, pattern)))
    config = os.path.join(preset_dir, "config.json")
    if os.path.exists(config):
        try:
            data = files.read_json_file(config)
        except (OSError, ValueError):
            data = None
        if not (isinstance(data, dict) and "registered_name" in data):
            found.add("config.json")
    return sorted(found)


def check_preset_folder(preset_dir, overwrite):
    """Refuse (or, with `overwrite=True`, clear) a folder of another format."""
    found = other_format_files(os.fspath(preset_dir))
    if not found:
        return
    if not overwrite:
        raise ValueError(
            f"{preset_dir} holds a checkpoint of another format ({', '.join(found)}): "
            "a Keras preset saved there would replace its config.json and leave the "
            "other files beside it, which neither loader reads correctly. Save to a "
            "new folder, or pass overwrite=True to delete those files first."
        )
    for name in found:
        os.remove(os.path.join(preset_dir, name))


class GuardsPresetFolder:
    """Mixin for tasks and backbones: `save_to_preset` keeps formats apart."""

    def save_to_preset(self, preset_dir, max_shard_size=10, overwrite=False):
        """Save to a Keras preset directory (keras-hub's `save_to_preset`).

        Args:
            preset_dir: the folder to write.
            max_shard_size: maximum size in GB of each weights shard (None:
                no sharding).
            overwrite: bool. A folder that holds a checkpoint of another
                format (e.g. Hugging Face's `config.json` and
                `model.safetensors`) is refused unless True, which deletes
                those files before saving.
        """
        check_preset_folder(preset_dir, overwrite)
        return super().save_to_preset(preset_dir, max_shard_size=max_shard_size)
