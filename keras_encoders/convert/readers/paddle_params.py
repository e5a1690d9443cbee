"""Read a PaddlePaddle `.pdparams` file into NumPy arrays, without paddle.

Format (`paddle.save(layer.state_dict(), path)`, and the older
`paddle.fluid.save_dygraph`): one pickle, protocol 2, 3 or 4 (4 is the
default since Paddle 2.1), of a plain `dict`:

* `"<structured name>" -> numpy.ndarray` for every parameter and persistable
  buffer (`ernie_m.encoder.layers.0.linear1.weight`, ...). Paddle converts its
  tensors with `np.array(tensor)` before pickling (`_build_saved_state_dict`),
  so each value is an ordinary NumPy array pickle:
  `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b"b")` followed by
  a BUILD with `(1, shape, numpy.dtype("f4", False, True) + its state,
  is_fortran, raw bytes)` (`numpy._core.multiarray` since NumPy 2; protocol 2
  spells the bytes as `_codecs.encode(<latin-1 str>, "latin1")`).
* `"StructuredToParameterName@@" -> {structured name: parameter name}`: the
  name table (`linear_0.w_0` ...), which `paddle.load` drops.
* With protocol 2 or 3, arrays of more than 2**30 - 1 bytes are split
  (`_unpack_saved_dict`): `"<name>@@.0"`, `"<name>@@.1"`, ... hold flat
  slices and `"UnpackBigParamInfor@@" -> {name: {"OriginShape": shape,
  "slices": [...]}}` says how to join them (`_pack_loaded_dict`).

Safety: the unpickler's `find_class` never imports anything. It resolves a
short allow-list (the array and dtype reconstructors, `numpy.ndarray`,
`_codecs.encode`, `collections.OrderedDict`) to our own stand-ins, which only
record what the pickle describes and validate it; every other global raises
`UnsafeCheckpointError` before anything from the file is called. Arrays are
built afterwards from the recorded bytes with `np.frombuffer`.
"""

import errno
import math
import os

import numpy as np

from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.convert.errors import quote
from keras_encoders.convert.readers import restricted_pickle
from keras_encoders.convert.readers.restricted_pickle import Inert as _Inert
from keras_encoders.convert.readers.restricted_pickle import Malformed as _Malformed
from keras_encoders.convert.readers.restricted_pickle import SafeCallable as _SafeCallable

__all__ = ["NAME_TABLE", "SPLIT_INFO", "load_paddle_state_dict"]

NAME_TABLE = "StructuredToParameterName@@"
SPLIT_INFO = "UnpackBigParamInfor@@"


class _NdarrayClass(_Inert):
    """What `numpy.ndarray` resolves to: a marker, never instantiated."""

    __slots__ = ()

    def __repr__(self):
        return "numpy.ndarray"


_NDARRAY = _NdarrayClass()

# Numeric dtypes only (object arrays would hold pickled objects, not weights).
_DTYPE_NAMES = {
    "f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1",
    "c8", "c16",
}


class _DType(_Inert):
    """`numpy.dtype(name, align, copy)`, completed by its BUILD state."""

    __slots__ = ("name", "byteorder")

    def __init__(self, name):
        self.name = name
        self.byteorder = None

    def __setstate__(self, state):
        # (version, byteorder, subarray, names, fields, elsize, alignment,
        #  flags[, metadata]); only plain scalar dtypes are accepted.
        if (
            not isinstance(state, tuple)
            or len(state) not in (8, 9)
            or state[0] not in (3, 4)
            or state[1] not in ("<", ">", "|", "=")
            or any(s is not None for s in state[2:5])
            or (len(state) == 9 and state[8] is not None)
        ):
            raise _Malformed(f"unsupported dtype state {quote(state)} for {self.name}")
        self.byteorder = state[1]

    @property
    def numpy(self):
        dtype = np.dtype(self.name)
        if self.byteorder in ("<", ">") and dtype.itemsize > 1:
            dtype = dtype.newbyteorder(self.byteorder)
        return dtype

    def __repr__(self):
        return f"numpy.dtype({quote(self.name)})"


class _Arrays:
    """Builds the arrays of one load: `_reconstruct` for this unpickler.

    Arrays are read-only views of the pickle's bytes. Those that need a
    conversion (byte swap, bool) are converted once per byte string and
    dtype, and the conversions are charged to the unpickler's budget: one
    memoised byte string under 250 arrays is one array, not 250 copies.
    """

    def __init__(self):
        self.budget = None  # the unpickler's, set by `_unpickler`
        self.flats = {}  # (id(data), dtype) -> (data, converted flat array)
        self.texts = {}  # id(str) -> (str, latin-1 bytes)
        self.reconstruct = _SafeCallable("_reconstruct", self.new_array)

    def new_array(self, cls, shape, typecode):
        if cls is not _NDARRAY or shape != (0,) or typecode not in (b"b", "b"):
            raise _Malformed(
                f"unexpected _reconstruct({quote(cls)}, {quote(shape)}, {quote(typecode)})"
            )
        return _Array(self)

    def latin1(self, text):
        # Python 2 pickles hold array bytes as latin-1 text.
        if id(text) not in self.texts:
            data = text.encode("latin-1")
            self.budget.charge(len(data), "decoding array text into bytes")
            self.texts[id(text)] = (text, data)  # `text` kept: its id stays unique
        return self.texts[id(text)][1]

    def flat(self, data, dtype):
        key = (id(data), dtype.str)
        if key not in self.flats:
            flat = raw = np.frombuffer(data, dtype=dtype, count=len(data) // dtype.itemsize)
            if not flat.dtype.isnative:
                flat = flat.astype(flat.dtype.newbyteorder("="))
            if dtype.kind == "b":
                flat = flat.view(np.uint8) != 0  # never trust bool bytes
            if flat is not raw:
                self.budget.charge(flat.nbytes, f"converting an array of {dtype}")
            flat.flags.writeable = False
            self.flats[key] = (data, flat)  # `data` kept: its id stays unique
        return self.flats[key][1]


class _Array(_Inert):
    """An ndarray under construction: `_reconstruct` creates it, BUILD fills it."""

    __slots__ = ("arrays", "array")

    def __init__(self, arrays):
        self.arrays = arrays
        self.array = None

    def __setstate__(self, state):
        if self.array is not None or not isinstance(state, tuple):
            raise _Malformed(f"unexpected array state {quote(state)}")
        if len(state) == 5:
            version, shape, dtype, fortran, data = state
            if version != 1:
                raise _Malformed(f"unsupported array state version {quote(version)}")
        elif len(state) == 4:
            shape, dtype, fortran, data = state
        else:
            raise _Malformed(f"unexpected array state of length {len(state)}")
        if not isinstance(dtype, _DType):
            raise _Malformed(f"array dtype must be a numpy dtype, got {quote(dtype)}")
        shape = restricted_pickle.check_shape(shape, "array shape")
        if type(fortran) is not bool:
            raise _Malformed(f"invalid is_fortran flag {quote(fortran)}")
        if not isinstance(data, (bytes, bytearray, str)):
            raise _Malformed(f"array data must be bytes, got {type(data).__name__}")
        np_dtype = dtype.numpy
        count = math.prod(shape)
        if len(data) != count * np_dtype.itemsize:
            raise _Malformed(
                f"array of shape {shape} and dtype {np_dtype} needs "
                f"{count * np_dtype.itemsize} bytes, the pickle holds {len(data)}"
            )
        if isinstance(data, str):
            data = self.arrays.latin1(data)
        flat = self.arrays.flat(data, np_dtype)
        self.array = flat.reshape(shape, order="F" if fortran else "C")

    def __repr__(self):
        return "<numpy array>" if self.array is None else f"<array {self.array.shape}>"


def _dtype(name, align=False, copy=True):
    if name not in _DTYPE_NAMES or type(align) is not bool or type(copy) is not bool:
        raise _Malformed(
            f"unsupported dtype {quote(name)}: only numeric arrays are weights"
        )
    return _DType(name)


def _scalar(dtype, data):
    if not isinstance(dtype, _DType) or not isinstance(data, (bytes, str)):
        raise _Malformed(f"unexpected scalar({quote(dtype)}, ...)")
    if isinstance(data, str):
        data = data.encode("latin-1")
    np_dtype = dtype.numpy
    if len(data) != np_dtype.itemsize:
        raise _Malformed(f"scalar of dtype {np_dtype} with {len(data)} bytes")
    return np.frombuffer(data, dtype=np_dtype, count=1)[0]


_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")
_CALLABLES = {}
for _module in _MULTIARRAY:
    _CALLABLES[(_module, "scalar")] = _SafeCallable(f"{_module}.scalar", _scalar)
_CALLABLES[("numpy", "dtype")] = _SafeCallable("numpy.dtype", _dtype)
_CALLABLES[("numpy", "ndarray")] = _NDARRAY
_CALLABLES[("_codecs", "encode")] = _SafeCallable("_codecs.encode", restricted_pickle.codecs_encode)
_CALLABLES[("collections", "OrderedDict")] = _SafeCallable(
    "collections.OrderedDict", restricted_pickle.ordered_dict
)


_REFUSAL = (
    "which is not part of a Paddle state dict (NumPy arrays in a dict). Only "
    "use checkpoints from sources you trust; if you trust this one, load it "
    "with paddle in an isolated environment and re-save `layer.state_dict()` "
    "with paddle.save."
)


def _unpickler(data, path):
    arrays = _Arrays()

    def allowed(module, name):
        if name == "_reconstruct" and module in _MULTIARRAY:
            return arrays.reconstruct
        return _CALLABLES.get((module, name))

    unpickler = restricted_pickle.RestrictedUnpickler(data, path, allowed, _REFUSAL, encoding="latin1")
    arrays.budget = unpickler.budget
    return unpickler


def _materialize(path, obj):
    """The `{name: array}` dict paddle.load would return (with return_numpy)."""
    if not isinstance(obj, dict):
        raise CheckpointFormatError(
            f"{path}: holds a {type(obj).__name__}, not a state dict. Save "
            "`layer.state_dict()` with paddle.save."
        )
    obj = dict(obj)
    names = obj.pop(NAME_TABLE, None)
    if names is not None and not isinstance(names, dict):
        raise CheckpointFormatError(f"{path}: malformed {NAME_TABLE} entry")
    split = obj.pop(SPLIT_INFO, None)
    state = {}
    for key, value in obj.items():
        if type(key) is not str:
            raise CheckpointFormatError(f"{path}: state dict key {quote(key)} is not a string")
        if isinstance(value, _Array) and value.array is not None:
            state[key] = value.array
        else:
            raise CheckpointFormatError(
                f"{path}: entry {quote(key)} holds {quote(value)}, not an array; this is "
                "not a `layer.state_dict()` saved with paddle.save (optimizer "
                "states and nested objects are not weights)."
            )
    if split is not None:
        if not isinstance(split, dict):
            raise CheckpointFormatError(f"{path}: malformed {SPLIT_INFO} entry")
        for key, info in split.items():
            try:
                parts = [state.pop(part) for part in info["slices"]]
                shape = tuple(info["OriginShape"])
                state[key] = np.concatenate([p.reshape(-1) for p in parts]).reshape(shape)
            except (KeyError, TypeError, ValueError) as e:
                raise CheckpointFormatError(
                    f"{path}: cannot re-join the slices of {quote(key)} ({e}); the "
                    "file is corrupt."
                ) from e
    return state


def load_paddle_state_dict(path):
    """Load the arrays of a `.pdparams` file without paddle, running no code.

    Args:
        path: str or path-like.

    Returns:
        `{structured name: np.ndarray}` in the file's order (the name table
        dropped, split parameters re-joined). Arrays are read-only views of
        the file's bytes in native byte order.

    Raises:
        FileNotFoundError: `path` does not exist.
        UnsafeCheckpointError: the pickle names anything besides NumPy arrays
            and plain containers; nothing from the file was run.
        CheckpointFormatError: not a pickled state dict, or truncated.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "checkpoint file not found", path)
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"PK":
        raise CheckpointFormatError(
            f"{path}: this is a zip archive (a PyTorch checkpoint?), not a "
            "Paddle .pdparams pickle."
        )
    if not data.startswith(b"\x80") or data[1:2] not in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise CheckpointFormatError(
            f"{path}: not a .pdparams file written by paddle.save (it does not "
            "start with a pickle protocol 2-5 header). Static-graph parameter "
            "files (`.pdiparams`, save_inference_model) are not supported."
        )
    obj = restricted_pickle.load(
        _unpickler(data, path),
        lambda detail: CheckpointFormatError(
            f"{path}: {detail}; the file is truncated or corrupt. Download it again."
        ),
    )
    return _materialize(path, obj)
