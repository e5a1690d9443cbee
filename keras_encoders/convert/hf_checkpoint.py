"""Read a checkpoint directory in Hugging Face layout, without torch."""

import json
import os

import numpy as np

from keras_encoders.convert.torch_pickle import CheckpointFormatError
from keras_encoders.convert.torch_pickle import load_torch_state_dict

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_BIN = "pytorch_model.bin"
TORCH_BIN_INDEX = "pytorch_model.bin.index.json"


def read_config(directory):
    path = os.path.join(directory, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No config.json in {directory}.")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from e


def read_json_if_exists(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _load_safetensors(path):
    from safetensors import SafetensorError
    from safetensors import safe_open

    tensors = {}
    try:
        with safe_open(path, framework="numpy") as f:
            for key in f.keys():
                tensors[key] = f.get_tensor(key)
    except (SafetensorError, OSError, ValueError) as e:
        if "bf16" in str(e).lower() or "bfloat16" in str(e).lower():
            raise CheckpointFormatError(
                f"{path} stores bfloat16 tensors, which numpy cannot read. "
                "Re-save it in float32 or float16."
            ) from e
        raise CheckpointFormatError(
            f"{path} is truncated or corrupt and cannot be read ({e}). "
            "Re-download it."
        ) from e
    return tensors


def _shards(directory, index_name):
    index = read_json_if_exists(directory, index_name)
    return sorted(set(index.get("weight_map", {}).values()))


def weights_file_names(directory):
    """The weight files present, in order of preference."""
    for name in (SAFETENSORS, SAFETENSORS_INDEX, TORCH_BIN, TORCH_BIN_INDEX):
        if os.path.exists(os.path.join(directory, name)):
            return name
    return None


def load_state_dict(directory):
    """All tensors of the checkpoint as `{name: np.ndarray}`.

    Prefers `model.safetensors` (or its shards), then `pytorch_model.bin` (or
    its shards), which is read by a restricted unpickler that never runs code.
    Non-persistent buffers some uploads still carry are left to the converter.
    """
    name = weights_file_names(directory)
    if name is None:
        raise FileNotFoundError(
            f"No weights in {directory}: expected {SAFETENSORS} or {TORCH_BIN} "
            "(or their sharded `.index.json`). To build the model without "
            "weights, pass `load_weights=False`."
        )
    path = os.path.join(directory, name)
    if name == SAFETENSORS:
        return _load_safetensors(path)
    if name == TORCH_BIN:
        return load_torch_state_dict(path)
    loader = _load_safetensors if name == SAFETENSORS_INDEX else load_torch_state_dict
    tensors = {}
    for shard in _shards(directory, name):
        shard_path = os.path.join(directory, shard)
        if not os.path.exists(shard_path):
            raise FileNotFoundError(f"{name} lists {shard}, which is missing.")
        tensors.update(loader(shard_path))
    return tensors


def as_float(array):
    """Checkpoint arrays in float32 for assignment (fp16/bf16 widen)."""
    return np.asarray(array, dtype=np.float32) if array.dtype.kind == "f" else array
