"""Tests for the torch-free, code-free pytorch_model.bin reader.

torch is imported only to write reference files and to read them back with
``torch.load(weights_only=True)`` for comparison.
"""

import collections
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from keras_encoders.convert.errors import CheckpointFormatError  # noqa: E402
from keras_encoders.convert.errors import UnsafeCheckpointError  # noqa: E402
from keras_encoders.convert.readers.torch_bin import load_torch_state_dict  # noqa: E402


def _reference(path):
    """What torch itself loads, as NumPy (bf16 widened like ours)."""
    loaded = torch.load(path, weights_only=True, map_location="cpu")
    out = {}
    for k, t in loaded.items():
        t = t.detach().resolve_conj().resolve_neg()
        if t.dtype == torch.bfloat16:
            t = t.float()
        out[k] = t.numpy()
    return out


def _assert_same(got, want):
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype == want[k].dtype, k
        assert got[k].shape == want[k].shape, k
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
        # Views of the storages, read-only: a write through one key can
        # never change another key that shares the storage.
        assert not got[k].flags.writeable, k


def _save(obj, path, **kwargs):
    torch.save(obj, path, **kwargs)
    return path


def _rewrite_zip(src, dst, edit):
    """Copy a zip, passing each (name, bytes) through ``edit``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = edit(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)
    return dst


def test_dtypes_round_trip(tmp_path):
    g = torch.Generator().manual_seed(0)
    sd = collections.OrderedDict(
        f32=torch.randn(3, 4, generator=g),
        f16=torch.randn(5, generator=g).half(),
        bf16=torch.randn(2, 3, generator=g).to(torch.bfloat16),
        f64=torch.randn(2, generator=g).double(),
        i64=torch.tensor([-(2**62), 0, 2**62]),
        i32=torch.tensor([-7, 7], dtype=torch.int32),
        i8=torch.tensor([-128, 127], dtype=torch.int8),
        u8=torch.tensor([0, 255], dtype=torch.uint8),
        boolean=torch.tensor([[True, False], [False, True]]),
        # uint16 has no legacy storage class: saved via _rebuild_tensor_v3
        # with an UntypedStorage and a `torch uint16` dtype global.
        u16=torch.tensor([0, 1, 65535], dtype=torch.int32).to(torch.uint16),
        c64=torch.randn(3, dtype=torch.complex64, generator=g),
        # Lazily conjugated / negated views are saved with metadata bits.
        conj=torch.randn(3, dtype=torch.complex64, generator=g).conj(),
        neg=torch.randn(3, dtype=torch.complex64, generator=g).conj().imag,
    )
    path = _save(sd, tmp_path / "pytorch_model.bin")
    got = load_torch_state_dict(path)
    _assert_same(got, _reference(path))
    assert got["bf16"].dtype == np.float32
    assert got["boolean"].dtype == np.bool_
    np.testing.assert_array_equal(
        got["bf16"], sd["bf16"].float().numpy()
    )


def test_views_sharing_storage(tmp_path):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    sd = {
        "base": base,
        "transposed": base.t(),  # non-contiguous, same storage
        "slice": base[1:3, 2:5],  # offset + strides into the same storage
        "strided": base[::2, ::3],
        "scalar": torch.tensor(3.5),  # 0-d
        "scalar_in_storage": base[2, 3],  # 0-d view with an offset
        "empty": torch.zeros(0, 3),
    }
    path = _save(sd, tmp_path / "views.bin")
    got = load_torch_state_dict(path)
    _assert_same(got, _reference(path))
    assert got["scalar"].shape == ()
    assert got["scalar_in_storage"] == 15.0
    # Views of one buffer (no copy per key), which no caller can write to.
    assert np.shares_memory(got["base"], got["transposed"])
    assert np.shares_memory(got["base"], got["slice"])
    with pytest.raises(ValueError, match="read-only"):
        got["base"][0, 0] = -1


def test_module_state_dict_matches_torch_load(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Embedding(11, 8),
        torch.nn.Linear(8, 6),
        torch.nn.LayerNorm(6),
        torch.nn.BatchNorm1d(6),  # int64 0-d num_batches_tracked buffer
        torch.nn.Linear(6, 11, bias=False),
    )
    model[4].weight = model[0].weight  # tied weights: one shared storage
    path = _save(model.state_dict(), tmp_path / "pytorch_model.bin")
    got = load_torch_state_dict(path)
    _assert_same(got, _reference(path))
    assert list(got) == list(model.state_dict())


def test_parameter_saved_directly(tmp_path):
    p = torch.nn.Parameter(torch.randn(2, 3))
    path = _save({"weight": p, "bias": torch.nn.Parameter(torch.ones(3))},
                 tmp_path / "p.bin")
    got = load_torch_state_dict(path)
    np.testing.assert_array_equal(got["weight"], p.detach().numpy())
    np.testing.assert_array_equal(got["bias"], np.ones(3, np.float32))


@pytest.mark.parametrize("wrapper", ["state_dict", "model"])
def test_nested_state_dict(tmp_path, wrapper):
    weights = {"a.weight": torch.randn(2, 2), "a.bias": torch.zeros(2)}
    ckpt = {
        "epoch": 3,
        "note": b"raw bytes",  # pickled via _codecs.encode
        "shape": torch.Size([2, 2]),
        wrapper: weights,
        "optimizer": {"state": {0: {"step": torch.tensor(1.0)}}},
    }
    path = _save(ckpt, tmp_path / "ckpt.bin")
    got = load_torch_state_dict(path)
    assert list(got) == ["a.weight", "a.bias"]
    np.testing.assert_array_equal(got["a.weight"], weights["a.weight"].numpy())


def test_non_tensor_values_are_reported(tmp_path):
    path = _save({"w": torch.ones(1), "epoch": 3}, tmp_path / "mixed.bin")
    msg = "entry 'epoch' holds 'int', not a tensor"
    with pytest.raises(CheckpointFormatError, match=msg):
        load_torch_state_dict(path)


def test_big_endian_file(tmp_path):
    sd = {"f": torch.randn(2, 3), "b": torch.randn(4).to(torch.bfloat16),
          "i": torch.arange(5)}
    src = _save(sd, tmp_path / "little.bin")
    sizes = {"0": 4, "1": 2, "2": 8}  # element size per storage key

    def to_big(name, data):
        if name.endswith("/byteorder"):
            return b"big"
        key = name.rsplit("/data/", 1)[-1] if "/data/" in name else None
        if key in sizes:
            arr = np.frombuffer(data, dtype=f"<u{sizes[key]}")
            return arr.astype(f">u{sizes[key]}").tobytes()
        return data

    path = _rewrite_zip(src, tmp_path / "big.bin", to_big)
    _assert_same(load_torch_state_dict(path), _reference(src))


def test_truncated_file(tmp_path):
    src = _save({"w": torch.randn(64, 64)}, tmp_path / "full.bin")
    data = src.read_bytes()
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointFormatError) as e:
        load_torch_state_dict(path)
    msg = str(e.value)
    assert str(path) in msg and "truncated or corrupt" in msg
    assert "download" in msg


def test_empty_file(tmp_path):
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    with pytest.raises(CheckpointFormatError, match="truncated or corrupt"):
        load_torch_state_dict(path)


def test_short_storage_entry(tmp_path):
    src = _save({"emb": torch.randn(10, 4)}, tmp_path / "ok.bin")

    def cut(name, data):
        return data[:40] if name.endswith("/data/0") else data

    path = _rewrite_zip(src, tmp_path / "short.bin", cut)
    with pytest.raises(CheckpointFormatError) as e:
        load_torch_state_dict(path)
    msg = str(e.value)
    assert str(path) in msg and "'emb'" in msg and "storage '0'" in msg
    assert "truncated or corrupt" in msg


def test_entry_marked_encrypted(tmp_path):
    # Found by mutating a small file: one flipped flag bit, and zipfile
    # raised RuntimeError ("password required for extraction").
    src = _save({"emb": torch.randn(10, 4)}, tmp_path / "ok.bin")
    data = bytearray(src.read_bytes())
    central = data.index(b"PK\x01\x02")  # the first entry's central directory record
    data[central + 8] |= 0x1  # general purpose flags: bit 0, encrypted
    path = tmp_path / "encrypted.bin"
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointFormatError) as e:
        load_torch_state_dict(path)
    msg = str(e.value)
    assert str(path) in msg and "data.pkl" in msg and "marked encrypted" in msg


def test_legacy_format(tmp_path):
    path = _save({"w": torch.ones(2)}, tmp_path / "legacy.bin",
                 _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointFormatError) as e:
        load_torch_state_dict(path)
    msg = str(e.value)
    assert str(path) in msg and "legacy" in msg and "not supported" in msg
    assert "torch.save" in msg and "safetensors" in msg


def test_missing_file(tmp_path):
    path = tmp_path / "nope" / "pytorch_model.bin"
    with pytest.raises(FileNotFoundError, match="nope"):
        load_torch_state_dict(path)


def _torch_layout_zip(path, pickled, extra=()):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickled)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
        for name, data in extra:
            z.writestr(name, data)
    return path


class _Exploit:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


def _exploit_pickles(marker):
    cmd = f"touch {marker}"
    code = f"open({str(marker)!r}, 'w').close()"
    # pickle.dumps writes os.system as `posix system` on Linux; the other
    # two spell the global out by hand (protocol 0 GLOBAL + REDUCE).
    yield "posix.system", pickle.dumps(_Exploit(os.system, cmd))
    yield "os.system", f"cos\nsystem\n(V{cmd}\ntR.".encode()
    yield "builtins.exec", f"cbuiltins\nexec\n(V{code}\ntR.".encode()
    # Hidden inside an otherwise ordinary state dict, after a real tensor.
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)
    with zipfile.ZipFile(buf) as z:
        name = next(n for n in z.namelist() if n.endswith("data.pkl"))
        good = z.read(name)
    # Drop STOP; the dict is then on top of the stack: add d["x"] = call.
    assert good.endswith(b"s.")
    evil = good[:-1] + b"X\x01\x00\x00\x00x" + (
        f"cos\nsystem\n(V{cmd}\ntR".encode()) + b"s."
    yield "os.system", evil


@pytest.mark.parametrize("case", range(4))
def test_malicious_pickle_is_refused_and_not_run(tmp_path, case):
    marker = tmp_path / "pwned"
    refused, pickled = list(_exploit_pickles(marker))[case]
    path = _torch_layout_zip(tmp_path / "pytorch_model.bin", pickled)
    with pytest.raises(UnsafeCheckpointError) as e:
        load_torch_state_dict(path)
    msg = str(e.value)
    assert str(path) in msg and refused in msg
    assert "import code" in msg and "not loaded" in msg
    assert isinstance(e.value, ValueError)
    assert not marker.exists()


def test_build_on_allowed_callable_is_refused(tmp_path):
    # BUILD on a stand-in would let a pickle rewire it (e.g. its function);
    # it must fail without touching the stand-in.
    pickled = (
        b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n"
        b"}X\x02\x00\x00\x00fnccollections\nOrderedDict\nsb."
    )
    path = _torch_layout_zip(tmp_path / "m.bin", pickled)
    with pytest.raises(CheckpointFormatError, match="malformed"):
        load_torch_state_dict(path)
    sd = {"w": torch.ones(2)}
    _assert_same(load_torch_state_dict(_save(sd, tmp_path / "ok.bin")),
                 {"w": np.ones(2, np.float32)})


def test_torchscript_archive_is_rejected(tmp_path):
    path = _torch_layout_zip(
        tmp_path / "script.pt", pickle.dumps({}, protocol=2),
        extra=[("archive/code/__torch__.py", "def forward(self): pass\n")],
    )
    with pytest.raises(CheckpointFormatError, match="TorchScript"):
        load_torch_state_dict(path)
