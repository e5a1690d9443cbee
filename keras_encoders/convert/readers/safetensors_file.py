"""Read a `.safetensors` file into NumPy arrays, checking every offset.

Format: an 8-byte little-endian header length N, N bytes of JSON
`{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
"__metadata__": {...}}`, then the data; offsets are relative to the end of
the header. Each tensor's byte range must lie inside the file and hold
exactly `prod(shape) * itemsize` bytes, so memory never exceeds what the
file stores. bfloat16 becomes float32 exactly (numpy has no bfloat16).
"""

import json
import math
import os

import numpy as np

from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.convert.errors import quote
from keras_encoders.convert.readers.restricted_pickle import MAX_DIMENSION
from keras_encoders.convert.readers.restricted_pickle import Budget

_DTYPES = {
    "BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16,
    "I16": np.int16, "U32": np.uint32, "I32": np.int32, "U64": np.uint64,
    "I64": np.int64, "F16": np.float16, "F32": np.float32, "F64": np.float64,
    "BF16": np.uint16,  # widened to float32 below
}
_MAX_HEADER = 100_000_000


def _error(path, detail):
    return CheckpointFormatError(f"{path}: {detail}")


def _header(path, f, size):
    head = f.read(8)
    if len(head) < 8:
        raise _error(path, "the file is truncated or corrupt (no safetensors header). Re-download it.")
    length = int.from_bytes(head, "little")
    if length > min(size - 8, _MAX_HEADER):
        raise _error(
            path,
            f"the safetensors header declares {length} bytes, the file has "
            f"{size - 8} after it: the file is truncated or corrupt. Re-download it.",
        )
    try:
        header = json.loads(f.read(length))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise _error(path, f"the safetensors header is not valid JSON ({type(e).__name__}: {e}).") from e
    if not isinstance(header, dict):
        raise _error(path, "the safetensors header is not a JSON object.")
    header.pop("__metadata__", None)
    return header, 8 + length


def _check_entry(path, name, info, data_size):
    if not isinstance(info, dict):
        raise _error(path, f"tensor {quote(name)}: malformed header entry {quote(info)}.")
    dtype = info.get("dtype")
    if dtype not in _DTYPES:
        raise _error(
            path,
            f"tensor {quote(name)} has dtype {quote(dtype)}, which this reader does not "
            f"support (supported: {', '.join(sorted(_DTYPES))}). Re-save it in "
            "float32, float16 or bfloat16.",
        )
    shape = info.get("shape")
    offsets = info.get("data_offsets")
    if (
        not isinstance(shape, list)
        or not all(type(n) is int and 0 <= n <= MAX_DIMENSION for n in shape)
        or not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(n) is int for n in offsets)
    ):
        raise _error(path, f"tensor {quote(name)}: invalid shape {quote(shape)} or data_offsets {quote(offsets)}.")
    begin, end = offsets
    needed = math.prod(shape) * np.dtype(_DTYPES[dtype]).itemsize
    if not 0 <= begin <= end <= data_size or end - begin != needed:
        raise _error(
            path,
            f"tensor {quote(name)} ({dtype} {shape}) needs {needed} bytes but its "
            f"data_offsets {offsets} cover {end - begin} of the {data_size} "
            "stored: the file is truncated or corrupt. Re-download it.",
        )
    return np.dtype(_DTYPES[dtype]).newbyteorder("<"), tuple(shape), begin, end


def load_safetensors(path):
    """`{name: np.ndarray}` of a safetensors file, in the header's order.

    The data is read once; arrays are read-only views into it (entries that
    share a byte range, i.e. tied weights, share memory), and each range is
    converted at most once (bfloat16 -> float32), so memory stays within
    `restricted_pickle.MAX_EXPANSION` times the file's size.

    Raises:
        FileNotFoundError: `path` does not exist.
        CheckpointFormatError: corrupt, truncated, or an unsupported dtype
            (the message names the tensor and its dtype).
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        header, start = _header(path, f, size)
        entries = {
            name: _check_entry(path, name, info, size - start) for name, info in header.items()
        }
        data = f.read(size - start)
    tensors, converted = {}, {}
    budget = Budget(len(data), lambda detail: _error(path, detail))
    for name, (dtype, shape, begin, end) in entries.items():
        key = (begin, end, header[name]["dtype"])
        if key not in converted:
            array = np.frombuffer(data, dtype=dtype, count=(end - begin) // dtype.itemsize, offset=begin)
            if header[name]["dtype"] == "BF16":
                # bfloat16 is the top half of a float32: widening is exact.
                wide = array.astype(np.uint32)
                wide <<= 16  # in place: one float32 array, no temporary
                array = wide.view(np.float32)
            elif not array.dtype.isnative:
                array = array.astype(array.dtype.newbyteorder("="))
            if array.base is not data:
                budget.charge(
                    array.nbytes,
                    f"converting tensor {quote(name)} ({header[name]['dtype']}, bytes "
                    f"{begin}-{end}, overlapping other entries)",
                )
            array.flags.writeable = False
            converted[key] = array
        tensors[name] = converted[key].reshape(shape)
    return tensors
