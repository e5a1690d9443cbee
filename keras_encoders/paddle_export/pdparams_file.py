"""Write a `.pdparams` file as `paddle.save(layer.state_dict(), path)` does, without paddle.

The layout (paddle 2.6's `paddle/framework/io.py`, read back by
`keras_encoders.convert.readers.paddle_params`): one pickle, protocol 4, of a
plain `dict` holding

* `"<structured name>" -> numpy.ndarray` for every parameter, in the form
  NumPy pickles an array: `_reconstruct(numpy.ndarray, (0,), b"b")`, then a
  BUILD with `(1, shape, numpy.dtype("f4", False, True) + its state
  (3, "<", None, None, None, -1, -1, 0), False, raw bytes)`;
* `"StructuredToParameterName@@" -> {structured name: parameter name}`.
  `paddle.load` turns into tensors exactly the entries this table names
  (without it, it reads the file as an old static-graph save), then drops
  the table; the names themselves are Paddle's internal unique names
  (`linear_0.w_0`), which a loading process generates afresh.

The pickle is written opcode by opcode instead of with `pickle.dump`, so
that the file does not depend on the writer's NumPy: NumPy 2 pickles arrays
under `numpy._core.multiarray`, which NumPy 1 (older paddle installs) cannot
import, while `numpy.core.multiarray._reconstruct` loads on both. The only
globals in the file are that, `numpy.ndarray` and `numpy.dtype`; array
bytes are streamed from the arrays (no second copy of the weights). Arrays
of more than 4 GiB use protocol 4's 8-byte lengths, so nothing is split
(paddle splits only for protocols 2 and 3).
"""

import os
import re
import struct

import numpy as np

NAME_TABLE = "StructuredToParameterName@@"
PROTOCOL = 4
_RECONSTRUCT = b"cnumpy.core.multiarray\n_reconstruct\n"
_NDARRAY = b"cnumpy\nndarray\n"
_DTYPE = b"cnumpy\ndtype\n"
# Opcodes (see `pickletools`).
_MARK, _STOP, _TUPLE, _TUPLE1, _TUPLE2, _TUPLE3 = b"(", b".", b"t", b"\x85", b"\x86", b"\x87"
_EMPTY_DICT, _SETITEMS, _REDUCE, _BUILD = b"}", b"u", b"R", b"b"
_NONE, _NEWTRUE, _NEWFALSE = b"N", b"\x88", b"\x89"


def save_paddle_state_dict(state, path):
    """Write `{structured name: numeric np.ndarray}` as paddle.save would.

    Args:
        state: the arrays, in the order to write them (C order and little
            endian are applied as they are written).
        path: the `.pdparams` file to (over)write.

    Returns:
        `path`.
    """
    names = parameter_names(state)
    with open(os.fspath(path), "wb") as f:
        f.write(b"\x80" + bytes([PROTOCOL]) + _EMPTY_DICT + _MARK)
        for key, array in state.items():
            f.write(_text(key))
            _write_array(f, np.asarray(array))
        f.write(_text(NAME_TABLE) + _EMPTY_DICT + _MARK)
        for key, name in names.items():
            f.write(_text(key) + _text(name))
        f.write(_SETITEMS + _SETITEMS + _STOP)
    return path


def parameter_names(state):
    """Paddle-style unique names (`embedding_0.w_0`, `layer_norm_1.b_0`,
    `linear_3.w_0`): one counter per layer kind, in order of appearance."""
    counters, layers, names = {}, {}, {}
    for key in state:
        layer, _, attribute = key.rpartition(".")
        if layer not in layers:
            last = layer.rpartition(".")[2]
            kind = ("embedding" if "embedding" in last else
                    "layer_norm" if re.search("norm", last) else "linear")
            layers[layer] = f"{kind}_{counters.get(kind, 0)}"
            counters[kind] = counters.get(kind, 0) + 1
        names[key] = f"{layers[layer]}.{'b' if attribute == 'bias' else 'w'}_0"
    return names


def _write_array(f, array):
    if array.dtype.kind not in "biufc" or array.dtype.fields is not None:
        raise TypeError(f"Only numeric arrays are parameters, got dtype {array.dtype}.")
    dtype = array.dtype.newbyteorder("<")
    array = np.asarray(array, dtype=dtype, order="C")  # (ascontiguousarray makes 0-d 1-d)
    f.write(_RECONSTRUCT + _NDARRAY + _int(0) + _TUPLE1 + _bytes_header(1) + b"b" + _TUPLE3 + _REDUCE)
    order = "|" if dtype.itemsize == 1 else "<"
    f.write(_MARK + _int(1) + _tuple(array.shape))
    f.write(_DTYPE + _text(dtype.str[1:]) + _NEWFALSE + _NEWTRUE + _TUPLE3 + _REDUCE)
    f.write(_MARK + _int(3) + _text(order) + _NONE * 3 + _int(-1) + _int(-1) + _int(0) + _TUPLE + _BUILD)
    f.write(_NEWFALSE + _bytes_header(array.nbytes))
    f.write(memoryview(array.reshape(-1).view(np.uint8)))
    f.write(_TUPLE + _BUILD)


def _int(value):
    if 0 <= value < 256:
        return b"K" + bytes([value])
    if 0 <= value < 65536:
        return b"M" + struct.pack("<H", value)
    if -(2**31) <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    raise ValueError(f"Array dimension {value} is too large for a .pdparams file.")


def _tuple(values):
    items = b"".join(_int(v) for v in values)
    if len(values) <= 3:
        return items + (b")", _TUPLE1, _TUPLE2, _TUPLE3)[len(values)]
    return _MARK + items + _TUPLE


def _text(value):
    data = value.encode("utf-8")
    if len(data) < 256:
        return b"\x8c" + bytes([len(data)]) + data
    return b"X" + struct.pack("<I", len(data)) + data


def _bytes_header(size):
    if size < 256:
        return b"C" + bytes([size])
    if size < 2**32:
        return b"B" + struct.pack("<I", size)
    return b"\x8e" + struct.pack("<Q", size)
