"""Read a PyTorch ``pytorch_model.bin`` into NumPy arrays, without torch.

Format (``torch.save`` since PyTorch 1.6): a zip archive whose entries all
live under one top-level folder (``<prefix>/``, usually the file's stem):

* ``<prefix>/data.pkl`` -- a pickle of the saved object, normally a
  ``collections.OrderedDict`` mapping parameter names to tensors. Each tensor
  is pickled as a call to ``torch._utils._rebuild_tensor_v2(storage,
  storage_offset, size, stride, requires_grad, backward_hooks[, metadata])``
  (or ``_rebuild_tensor_v3(..., dtype[, metadata])`` for dtypes without a
  legacy storage class); ``nn.Parameter`` wraps that in
  ``_rebuild_parameter``.
* The ``storage`` argument is a pickle *persistent id*
  ``("storage", storage_type, key, location, numel)``; its raw bytes are the
  zip entry ``<prefix>/data/<key>``. Several tensors may view one storage.
* ``<prefix>/byteorder`` (``little``/``big``; absent means little endian),
  ``<prefix>/version`` and a few other bookkeeping entries.

Safety: unpickling normally imports and calls whatever the pickle names, so a
crafted file can run arbitrary code. Here the unpickler's ``find_class``
never imports anything: it returns our own stand-ins for a short allow-list
(``OrderedDict``, the tensor/parameter rebuild functions, storage classes,
dtypes and a few plain-data helpers) and raises ``UnsafeCheckpointError`` for
every other name, before anything from the file is called. The stand-ins only
record what the pickle describes; arrays are built afterwards from the zip
entries. torch is never imported.
"""

import errno
import math
import os
import struct
import zipfile
import zlib

import numpy as np

from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.convert.errors import quote
from keras_encoders.convert.errors import UnsafeCheckpointError
from keras_encoders.convert.readers import restricted_pickle
from keras_encoders.convert.readers.restricted_pickle import Inert as _Inert
from keras_encoders.convert.readers.restricted_pickle import Malformed as _Malformed
from keras_encoders.convert.readers.restricted_pickle import SafeCallable as _SafeCallable
from keras_encoders.convert.readers.restricted_pickle import check_int as _check_int
from keras_encoders.convert.readers.restricted_pickle import check_shape as _check_shape

__all__ = ["load_torch_state_dict"]


# --------------------------------------------------------------------------
# Stand-ins for the objects a state-dict pickle may name.


class _DType(_Inert):
    """A torch dtype; ``np_dtype`` is None for dtypes we cannot convert."""

    __slots__ = ("name", "np_dtype", "itemsize")

    def __init__(self, name, np_dtype, itemsize):
        self.name = name
        self.np_dtype = np_dtype
        self.itemsize = itemsize

    def __repr__(self):
        return f"torch.{self.name}"


# name -> (numpy dtype for the stored bytes, itemsize). bfloat16 is read as
# uint16 and widened to float32 later; bool is read as uint8 and compared
# with 0 so that odd byte values cannot produce invalid numpy bools.
_DTYPES = {
    name: _DType(name, np_dtype, itemsize)
    for name, np_dtype, itemsize in [
        ("float32", "f4", 4),
        ("float64", "f8", 8),
        ("float16", "f2", 2),
        ("bfloat16", "u2", 2),
        ("int64", "i8", 8),
        ("int32", "i4", 4),
        ("int16", "i2", 2),
        ("int8", "i1", 1),
        ("uint8", "u1", 1),
        ("uint16", "u2", 2),
        ("uint32", "u4", 4),
        ("uint64", "u8", 8),
        ("bool", "u1", 1),
        ("complex64", "c8", 8),
        ("complex128", "c16", 16),
        # Real torch dtypes that NumPy has no type for: accepted while
        # unpickling (they are data, not code) but reported if a tensor of
        # that dtype is actually requested.
        ("complex32", None, 4),
        ("float8_e5m2", None, 1),
        ("float8_e4m3fn", None, 1),
        ("float8_e5m2fnuz", None, 1),
        ("float8_e4m3fnuz", None, 1),
        ("float8_e8m0fnu", None, 1),
        ("float4_e2m1fn_x2", None, 1),
        ("bits8", None, 1),
        ("bits16", None, 2),
        ("bits1x8", None, 1),
        ("bits2x4", None, 1),
        ("bits4x2", None, 1),
    ]
}


class _StorageType(_Inert):
    """A storage class as named in a persistent id (``torch.FloatStorage``).

    ``dtype`` is None for ``UntypedStorage`` (raw bytes; the tensor's dtype
    then comes from ``_rebuild_tensor_v3``).
    """

    __slots__ = ("name", "dtype")

    def __init__(self, name, dtype):
        self.name = name
        self.dtype = dtype

    @property
    def element_size(self):
        return 1 if self.dtype is None else self.dtype.itemsize

    def __repr__(self):
        return f"torch.{self.name}"


_LEGACY_STORAGES = {
    name: _StorageType(name, _DTYPES[dtype_name])
    for name, dtype_name in [
        ("FloatStorage", "float32"),
        ("DoubleStorage", "float64"),
        ("HalfStorage", "float16"),
        ("BFloat16Storage", "bfloat16"),
        ("LongStorage", "int64"),
        ("IntStorage", "int32"),
        ("ShortStorage", "int16"),
        ("CharStorage", "int8"),
        ("ByteStorage", "uint8"),
        ("BoolStorage", "bool"),
        ("ComplexFloatStorage", "complex64"),
        ("ComplexDoubleStorage", "complex128"),
    ]
}
_UNTYPED_STORAGE = _StorageType("UntypedStorage", None)


class _StorageRef(_Inert):
    """What a persistent id resolves to: where a storage's bytes live."""

    __slots__ = ("key", "storage_type", "numel")

    def __init__(self, key, storage_type, numel):
        self.key = key
        self.storage_type = storage_type
        self.numel = numel

    @property
    def nbytes(self):
        return self.numel * self.storage_type.element_size

    def __repr__(self):
        return f"<storage {quote(self.key)}>"


class _TensorRef(_Inert):
    """A tensor described by the pickle; materialised only if returned."""

    __slots__ = ("storage", "offset", "size", "stride", "dtype", "conj", "neg")

    def __init__(self, storage, offset, size, stride, dtype, conj, neg):
        for name, value in zip(
            self.__slots__, (storage, offset, size, stride, dtype, conj, neg)
        ):
            setattr(self, name, value)

    def __repr__(self):
        return f"<tensor {quote(self.dtype)} {self.size} in {quote(self.storage)}>"


def _tensor(storage, offset, size, stride, dtype, metadata):
    if not isinstance(storage, _StorageRef):
        raise _Malformed(f"tensor storage must be a storage, got {quote(storage)}")
    if not isinstance(dtype, _DType):
        raise _Malformed(f"tensor dtype must be a torch dtype, got {quote(dtype)}")
    size = _check_shape(size, "tensor size")
    stride = _check_shape(stride, "tensor stride")
    if len(size) != len(stride):
        raise _Malformed(f"tensor size {size} and stride {stride} differ")
    flags = {"conj": False, "neg": False}
    if metadata is not None and metadata != {}:
        # conj/neg bits mark lazily conjugated/negated views; the stored
        # bytes are the un-conjugated values, so we must apply them.
        if not isinstance(metadata, dict) or not set(metadata) <= set(flags):
            raise _Malformed(f"unsupported tensor metadata {quote(metadata)}")
        for k, v in metadata.items():
            if type(v) is not bool:
                raise _Malformed(f"unsupported tensor metadata {quote(metadata)}")
            flags[k] = v
    return _TensorRef(
        storage, _check_int(offset, "storage offset"), size, stride, dtype,
        flags["conj"], flags["neg"],
    )


def _storage_dtype(storage):
    if not isinstance(storage, _StorageRef):
        raise _Malformed(f"tensor storage must be a storage, got {quote(storage)}")
    if storage.storage_type.dtype is None:
        raise _Malformed(
            f"{quote(storage)} is untyped, but the tensor was saved without a dtype"
        )
    return storage.storage_type.dtype


# backward_hooks and requires_grad carry nothing we need; torch itself
# expects the hooks to be an empty OrderedDict and does not run them.
def _rebuild_tensor(storage, offset, size, stride):
    dtype = _storage_dtype(storage)
    return _tensor(storage, offset, size, stride, dtype, None)


def _rebuild_tensor_v2(
    storage, offset, size, stride, requires_grad, backward_hooks, metadata=None
):
    return _tensor(
        storage, offset, size, stride, _storage_dtype(storage), metadata
    )


def _rebuild_tensor_v3(
    storage, offset, size, stride, requires_grad, backward_hooks, dtype,
    metadata=None,
):
    return _tensor(storage, offset, size, stride, dtype, metadata)


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    # A Parameter is its tensor for our purposes; ``state`` (python
    # attributes of a Parameter subclass) is plain data and dropped.
    if not isinstance(data, _TensorRef):
        raise _Malformed(f"parameter data must be a tensor, got {quote(data)}")
    return data


def _torch_size(dims=()):
    return _check_shape(tuple(dims), "torch.Size")


def _torch_device(kind, index=None):
    if type(kind) is not str or (index is not None and type(index) is not int):
        raise _Malformed(f"unexpected torch.device({quote(kind)}, {quote(index)})")
    return kind if index is None else f"{kind}:{index}"


_CALLABLES = {
    (module, name): _SafeCallable(f"{module}.{name}", fn)
    for module, name, fn in [
        ("collections", "OrderedDict", restricted_pickle.ordered_dict),
        ("torch._utils", "_rebuild_tensor", _rebuild_tensor),
        ("torch._utils", "_rebuild_tensor_v2", _rebuild_tensor_v2),
        ("torch._utils", "_rebuild_tensor_v3", _rebuild_tensor_v3),
        ("torch._utils", "_rebuild_parameter", _rebuild_parameter),
        ("torch._utils", "_rebuild_parameter_with_state", _rebuild_parameter),
        ("_codecs", "encode", restricted_pickle.codecs_encode),
        ("torch", "Size", _torch_size),
        ("torch", "device", _torch_device),
    ]
}


def _allowed_global(module, name):
    """The stand-in for ``module.name``, or None if it is not allowed."""
    if (module, name) in _CALLABLES:
        return _CALLABLES[(module, name)]
    if module == "torch":
        if name in _LEGACY_STORAGES:
            return _LEGACY_STORAGES[name]
        if name in _DTYPES:
            return _DTYPES[name]
    if name == "UntypedStorage" and module in ("torch", "torch.storage"):
        return _UNTYPED_STORAGE
    return None


_REFUSAL = (
    "which is not a tensor, storage, dtype or plain container. The file tries "
    "to import code and was not loaded. Only use checkpoints from sources you "
    "trust; if you trust this one, load it with torch in an isolated "
    "environment and re-save its state_dict() (torch.save or safetensors)."
)


class _StateDictUnpickler(restricted_pickle.RestrictedUnpickler):
    def __init__(self, data, path):
        super().__init__(data, path, _allowed_global, _REFUSAL)

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid:
            raise _Malformed(f"unexpected persistent id {quote(pid)}")
        kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if kind == "module":
            # Whole nn.Module pickles carry the class (and its source) here.
            raise UnsafeCheckpointError(
                f"{self.path}: refused to load. It pickles a whole "
                "torch.nn.Module, i.e. the file tries to import code, and was "
                "not loaded. Save model.state_dict() instead."
            )
        if kind != "storage" or len(pid) != 5:
            raise _Malformed(f"unexpected persistent id {quote(pid)}")
        _, storage_type, key, location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise _Malformed(f"unexpected storage type {quote(storage_type)}")
        if type(key) is not str or not key or "/" in key or ".." in key:
            raise _Malformed(f"unexpected storage key {quote(key)}")
        _check_int(numel, f"size of storage {quote(key)}")
        # ``location`` (cpu / cuda:0 ...) does not matter: bytes are bytes.
        return _StorageRef(key, storage_type, numel)


# --------------------------------------------------------------------------
# Reading the file.

# Legacy torch.save output starts with a pickled magic number (a protocol-2
# LONG1 of 0x1950a86a20f9469cfc6c, see torch/serialization.py).
_LEGACY_MAGIC = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


# What zipfile raises on damaged archives (bad offsets give ValueError,
# unknown compression methods NotImplementedError).
_ZIP_ERRORS = (
    zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
    NotImplementedError,
)


def _format_error(path, what):
    return CheckpointFormatError(f"{path}: {what}")


def _corrupt(path, detail):
    return _format_error(
        path,
        f"the file is truncated or corrupt ({detail}). Re-download it (a "
        "partial download is the usual cause) and try again.",
    )


def _classify_non_zip(path, head):
    """Explain what a file that is not a zip archive probably is."""
    if not head:
        return _corrupt(path, "the file is empty")
    if head[:1] == b"\x80" and _LEGACY_MAGIC in head[:16]:
        kind = "legacy (pre-1.6, non-zip) PyTorch format"
    elif head[257:262] == b"ustar":
        kind = "legacy tar-based PyTorch format"
    else:
        kind = None
    if kind is not None:
        return _format_error(
            path,
            f"this checkpoint uses the {kind}, which is not supported. "
            "Re-save it with a current PyTorch, e.g. torch.save(torch.load("
            "path, weights_only=True), new_path) (writes the zip format), "
            "or convert it to safetensors.",
        )
    if len(head) >= 9:
        (header_len,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and header_len < 100_000_000:
            return _format_error(
                path,
                "this is a safetensors file, not a pytorch_model.bin; read it "
                "with the safetensors loader instead.",
            )
    return _format_error(
        path,
        "not a PyTorch checkpoint (expected the zip format written by "
        "torch.save). If it should be one, it is corrupt: re-download it.",
    )


# Compression ratio above which an entry is refused: torch.save stores its
# entries uncompressed, and re-zipped weights shrink by a few percent; only a
# zip bomb inflates by more. Small entries (data.pkl) are always allowed.
MAX_INFLATION = 32
_SMALL_ENTRY = 1 << 20


def check_entry(path, info):
    """Refuse a zip entry that is encrypted (torch.save never writes one;
    zipfile would ask for a password) or would inflate far beyond its
    stored bytes."""
    if info.flag_bits & 0x1:
        raise _corrupt(
            path,
            f"zip entry {quote(info.filename)} is marked encrypted, which torch.save "
            "never writes",
        )
    if info.compress_type == zipfile.ZIP_STORED or info.file_size <= _SMALL_ENTRY:
        return
    if info.file_size > MAX_INFLATION * max(info.compress_size, 1):
        raise _corrupt(
            path,
            f"zip entry {quote(info.filename)} declares {info.file_size} bytes "
            f"compressed into {info.compress_size} (more than {MAX_INFLATION}:1, "
            "a zip bomb); refusing to inflate it",
        )


class _Archive:
    """Reads storage bytes from the zip, each storage once.

    Each storage is converted to its NumPy dtype once (per dtype and
    conj/neg bits it is viewed with), and every tensor is a read-only view
    into it: tied weights (one storage under many keys) cost one copy.
    """

    def __init__(self, path, zf, prefix, big_endian):
        self.path = path
        self.zf = zf
        self.prefix = prefix
        self.big_endian = big_endian
        self._bytes = {}
        self._arrays = {}
        # Conversions (byte swaps, bfloat16 widening, conj/neg bits) are
        # charged against the storage bytes read.
        self.budget = restricted_pickle.Budget(0, lambda detail: _corrupt(path, detail))

    def read(self, name):
        try:
            info = self.zf.getinfo(self.prefix + name)
        except KeyError:
            raise _corrupt(self.path, f"no zip entry {quote(self.prefix + name)}") from None
        check_entry(self.path, info)
        try:
            return self.zf.read(info)
        except _ZIP_ERRORS as e:
            detail = f"cannot read entry {quote(name)}: {e}"
            raise _corrupt(self.path, detail) from e

    def storage_bytes(self, storage, tensor_name):
        data = self._bytes.get(storage.key)
        if data is None:
            entry = self.prefix + "data/" + storage.key
            try:
                info = self.zf.getinfo(entry)
            except KeyError:
                raise _corrupt(
                    self.path,
                    f"storage {quote(storage.key)} of tensor {quote(tensor_name)} is "
                    f"missing (no zip entry {quote(entry)})",
                ) from None
            # Check the declared size before reading, so a lying pickle
            # cannot make us allocate more than the entry holds.
            if info.file_size < storage.nbytes:
                raise _corrupt(
                    self.path,
                    f"storage {quote(storage.key)} of tensor {quote(tensor_name)} has "
                    f"{info.file_size} bytes, {storage.nbytes} are needed",
                )
            data = self._bytes[storage.key] = self.read("data/" + storage.key)
            self.budget.stored += len(data)
        # Checked on every use: tensors sharing a storage may each declare
        # a different size for it.
        if len(data) < storage.nbytes:
            raise _corrupt(
                self.path,
                f"storage {quote(storage.key)} of tensor {quote(tensor_name)} has "
                f"{len(data)} bytes, {storage.nbytes} are needed",
            )
        return data

    def storage_array(self, name, ref):
        """The whole storage of `ref` as a flat array of its final dtype, built once."""
        key = (ref.storage.key, ref.dtype.name, ref.conj, ref.neg)
        if key in self._arrays:
            self.storage_bytes(ref.storage, name)  # the size check, for this tensor's claim
            return self._arrays[key]
        data = self.storage_bytes(ref.storage, name)
        stored = np.dtype(ref.dtype.np_dtype)
        if stored.itemsize > 1:
            stored = stored.newbyteorder(">" if self.big_endian else "<")
        flat = raw = np.frombuffer(data, dtype=stored, count=len(data) // stored.itemsize)
        if not flat.dtype.isnative:
            flat = flat.astype(flat.dtype.newbyteorder("="))
        if ref.dtype.name == "bfloat16":
            # bfloat16 is the top half of a float32: widening is exact.
            wide = flat.astype(np.uint32)
            wide <<= 16  # in place: one float32 array, no temporary
            flat = wide.view(np.float32)
        elif ref.dtype.name == "bool":
            flat = flat != 0
        if ref.conj:
            flat = np.conj(flat)
        if ref.neg:
            flat = np.negative(flat)
        if flat is not raw:  # a new array, not a view of the bytes read
            self.budget.charge(
                flat.nbytes,
                f"converting storage {quote(ref.storage.key)} once more (as "
                f"{ref.dtype!r}, for tensor {quote(name)})",
            )
        flat.flags.writeable = False
        self._arrays[key] = flat
        return flat

    def materialize(self, name, ref):
        dtype = ref.dtype
        if dtype.np_dtype is None:
            raise _format_error(
                self.path,
                f"tensor {quote(name)} has dtype torch.{dtype.name}, which has no "
                "NumPy equivalent; convert it (e.g. to float32) and save "
                "again.",
            )
        flat = self.storage_array(name, ref)
        capacity = min(ref.storage.nbytes // dtype.itemsize, flat.size)  # in elements
        count = math.prod(ref.size)
        # Never describe more than the file stores: a zero or overlapping
        # stride would otherwise turn a few bytes into gigabytes downstream.
        if count > capacity - min(ref.offset, capacity):
            raise _corrupt(
                self.path,
                f"tensor {quote(name)} (size {list(ref.size)}, stride "
                f"{list(ref.stride)}, offset {ref.offset}) has {count} "
                f"elements, more than the {capacity - min(ref.offset, capacity)} "
                f"stored for it in storage {quote(ref.storage.key)}",
            )
        if count == 0:
            empty = np.empty(ref.size, dtype=flat.dtype)
            empty.flags.writeable = False
            return empty
        last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
        if last >= capacity:
            raise _corrupt(
                self.path,
                f"tensor {quote(name)} (offset {ref.offset}, size "
                f"{list(ref.size)}, stride {list(ref.stride)}) reaches "
                f"past the end of storage {quote(ref.storage.key)} "
                f"({capacity} elements)",
            )
        # A read-only view: tensors sharing a storage share its memory.
        return np.lib.stride_tricks.as_strided(
            flat[ref.offset :],
            shape=ref.size,
            strides=[s * flat.itemsize for s in ref.stride],
            writeable=False,
        )


def _is_tensor_dict(obj):
    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(isinstance(v, _TensorRef) for v in obj.values())
    )


def _select_state_dict(path, obj):
    if not isinstance(obj, dict):
        raise _format_error(
            path,
            f"the checkpoint holds {quote(type(obj).__name__)}, not a state dict "
            "(a dict of tensors). Save model.state_dict() instead.",
        )
    # Training checkpoints often wrap the weights: {"state_dict": ...,
    # "epoch": ...} or {"model": ..., "optimizer": ...}.
    for wrapper in ("state_dict", "model"):
        if _is_tensor_dict(obj.get(wrapper)):
            obj = obj[wrapper]
            break
    for key, value in obj.items():
        if type(key) is not str:
            raise _format_error(
                path, f"state dict key {quote(key)} is not a string"
            )
        if not isinstance(value, _TensorRef):
            raise _format_error(
                path,
                f"entry {quote(key)} holds {quote(type(value).__name__)}, not a tensor; "
                "expected a state dict (a dict of tensors, or a dict with a "
                "'state_dict' or 'model' entry holding one).",
            )
    return obj


def _find_prefix(path, names):
    pickles = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
    if not pickles:
        raise _format_error(
            path,
            "this zip file is not a torch.save checkpoint (it has no "
            "data.pkl entry).",
        )
    # torch writes exactly one; prefer the shallowest if a zip has more.
    data_pkl = min(pickles, key=lambda n: (n.count("/"), n))
    prefix = data_pkl[: -len("data.pkl")]
    if any(n.startswith(prefix + "code/") for n in names):
        raise _format_error(
            path,
            "this is a TorchScript archive (torch.jit.save), not a state "
            "dict. Load it with torch and save model.state_dict() instead.",
        )
    return prefix


def _read(path, zf):
    names = zf.namelist()
    prefix = _find_prefix(path, names)
    archive = _Archive(path, zf, prefix, big_endian=False)
    if prefix + "byteorder" in names:
        order = archive.read("byteorder").strip()
        if order not in (b"little", b"big"):
            raise _corrupt(path, f"unknown byteorder record {quote(order)}")
        archive.big_endian = order == b"big"

    pickled = archive.read("data.pkl")
    unpickler = _StateDictUnpickler(pickled, path)
    obj = restricted_pickle.load(unpickler, lambda detail: _corrupt(path, f"data.pkl: {detail}"))

    state = _select_state_dict(path, obj)
    return {name: archive.materialize(name, ref) for name, ref in state.items()}


def load_torch_state_dict(path):
    """Load the tensors of a zip-format ``torch.save`` file as NumPy arrays.

    Args:
        path: str or path-like, e.g. ``".../pytorch_model.bin"``.

    Returns:
        ``{name: numpy.ndarray}`` in the file's order: read-only views,
        those of one storage (tied weights) sharing one array, so memory is
        at most the stored bytes plus each converted storage once (at most
        ``restricted_pickle.MAX_EXPANSION`` times the stored bytes; bfloat16 widening is the
        worst honest case). bfloat16 tensors become float32 (exactly); other dtypes keep
        their NumPy equivalent. If the file holds a dict with a nested
        ``"state_dict"`` or ``"model"`` dict of tensors, that dict is
        returned.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError: the pickle names anything besides tensors,
            storages, dtypes and plain containers (e.g. a function to call);
            nothing from the file is run.
        CheckpointFormatError: the file is truncated or corrupt, uses the
            legacy (pre-1.6) format, or does not hold a state dict.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            errno.ENOENT, "checkpoint file not found", path
        )
    with open(path, "rb") as f:
        head = f.read(512)
        if not head.startswith(b"PK"):
            raise _classify_non_zip(path, head)
        f.seek(0)
        try:
            zf = zipfile.ZipFile(f)
        except _ZIP_ERRORS as e:
            raise _corrupt(path, f"cannot open the zip archive: {e}") from e
        with zf:
            return _read(path, zf)
