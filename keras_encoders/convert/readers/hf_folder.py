"""Read a checkpoint directory in Hugging Face layout, without torch."""

import os

import numpy as np

from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.convert.errors import quote
from keras_encoders.convert.readers.safetensors_file import load_safetensors
from keras_encoders.convert.readers.torch_bin import load_torch_state_dict
from keras_encoders.utils.files import read_json_file

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_BIN = "pytorch_model.bin"
TORCH_BIN_INDEX = "pytorch_model.bin.index.json"


# Every file of a Hugging Face checkpoint folder this package reads.
WEIGHT_FILES = (SAFETENSORS, SAFETENSORS_INDEX, TORCH_BIN, TORCH_BIN_INDEX)
TOKENIZER_FILES = (
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentencepiece.bpe.model",
)


def read_json(path):
    """A JSON file's contents; a file that is not small and regular (a link
    to `/dev/zero` would be read until memory runs out), or not JSON, is a
    `CheckpointFormatError` naming the file."""
    return read_json_file(path, "JSON file", CheckpointFormatError)


def read_config(directory):
    path = os.path.join(directory, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No config.json in {directory}.")
    config = read_json(path)
    if not isinstance(config, dict):
        raise CheckpointFormatError(f"{path} must hold a JSON object, not {type(config).__name__}.")
    return config


def read_json_if_exists(directory, name):
    path = os.path.join(directory, name)
    return read_json(path) if os.path.exists(path) else {}


def shard_names(directory, index_name):
    """The shard files an `*.index.json` names; each must sit next to the index."""
    index_path = os.path.join(directory, index_name)
    index = read_json(index_path)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise CheckpointFormatError(f"{index_path} has no valid weight_map (name -> shard file).")
    shards = sorted(set(weight_map.values()))
    for shard in shards:
        if not shard or os.path.isabs(shard) or os.path.basename(shard) != shard or shard in (".", ".."):
            raise CheckpointFormatError(
                f"{index_path} names the shard {quote(shard)}, which is not a file "
                "in the checkpoint folder; shards must sit next to the index."
            )
    return shards


def shard_paths(directory, index_name):
    """The local paths of the shards an `*.index.json` names (all present)."""
    paths = []
    for shard in shard_names(directory, index_name):
        path = os.path.join(directory, shard)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{os.path.join(directory, index_name)} lists {shard}, which is missing.")
        paths.append(path)
    return paths


def weights_file_names(directory):
    """The weight files present, in order of preference."""
    for name in WEIGHT_FILES:
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
        return load_safetensors(path)
    if name == TORCH_BIN:
        return load_torch_state_dict(path)
    loader = load_safetensors if name == SAFETENSORS_INDEX else load_torch_state_dict
    tensors = {}
    for shard_path in shard_paths(directory, name):
        tensors.update(loader(shard_path))
    return tensors


def as_float(array):
    """Checkpoint arrays in float32 for assignment (fp16/bf16 widen)."""
    return np.asarray(array, dtype=np.float32) if array.dtype.kind == "f" else array
