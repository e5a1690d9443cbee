"""A corpus of hostile checkpoints, generated here: each must fail with the
documented error naming the file and the key or field, and memory must stay
bounded by the file (tracemalloc sees numpy's and Python's allocations).

Crafted `pytorch_model.bin` files are written opcode by opcode (the pickle
`torch.save` writes, protocol 2), so that sizes and strides torch itself
would refuse to create can be tested.
"""

import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

import keras_encoders  # noqa: F401
from keras_encoders import models
from keras_encoders.convert import conversion
from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.convert.errors import CheckpointMismatchError
from keras_encoders.convert.errors import UnsafeCheckpointError
from keras_encoders.convert.readers import hf_folder
from keras_encoders.convert.readers import restricted_pickle
from keras_encoders.convert.readers.paddle_params import load_paddle_state_dict
from keras_encoders.convert.readers.safetensors_file import load_safetensors
from keras_encoders.convert.readers.torch_bin import load_torch_state_dict

MiB = 1 << 20


# === Writers ===
def _long(n):
    size = max(1, (n.bit_length() + 8) // 8)
    return b"\x8a" + bytes([size]) + n.to_bytes(size, "little", signed=True)


def _text(s):
    data = s.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _tuple(items):
    return b"(" + b"".join(_long(i) for i in items) + b"t"


def tensor_pickle(tensors, storage_class="FloatStorage"):
    """A state-dict pickle: `[(name, storage_key, numel, offset, size, stride)]`, float32."""
    out = b"\x80\x02}("
    for name, key, numel, offset, size, stride in tensors:
        storage = (
            b"(" + _text("storage") + b"ctorch\n" + storage_class.encode() + b"\n" + _text(key) + _text("cpu")
            + _long(numel) + b"tQ"
        )
        out += _text(name) + b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage + _long(offset)
        out += _tuple(size) + _tuple(stride) + b"\x89ccollections\nOrderedDict\n)Rt" + b"R"
    return out + b"u."


def write_bin(path, tensors, storages, storage_class="FloatStorage", pickled=None):
    """`storages`: `{key: bytes}`; `pickled`: a data.pkl to use instead of `tensors`'."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", pickled if pickled is not None else tensor_pickle(tensors, storage_class))
        zf.writestr("archive/version", "3\n")
        for key, data in storages.items():
            zf.writestr(f"archive/data/{key}", data)
    return str(path)


def zip_bomb(path, declared):
    """A .bin whose storage entry inflates from a few KiB to `declared` zero bytes."""
    numel = declared // 4
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", tensor_pickle([("w", "0", numel, 0, (numel,), (1,))]))
        info = zipfile.ZipInfo("archive/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        chunk = bytes(MiB)
        with zf.open(info, "w") as f:
            for _ in range(declared // MiB):
                f.write(chunk)
    return str(path)


def write_safetensors(path, entries, data):
    header = json.dumps(entries).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data)
    return str(path)


def peak_bytes(fn):
    """Run `fn` (which must raise) and return tracemalloc's peak and the error."""
    tracemalloc.start()
    try:
        with pytest.raises(Exception) as e:
            fn()
        return tracemalloc.get_traced_memory()[1], e.value
    finally:
        tracemalloc.stop()


def traced_peak(fn):
    """Run `fn` and return tracemalloc's peak and its result."""
    tracemalloc.start()
    try:
        result = fn()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def assert_refused(fn, error, *fragments, limit=16 * MiB):
    peak, exc = peak_bytes(fn)
    assert type(exc) is error, f"{type(exc).__name__}: {exc}"
    for fragment in fragments:
        assert fragment in str(exc), str(exc)
    assert peak < limit, f"peak {peak / MiB:.1f} MiB while refusing: {exc}"
    return str(exc)


# === pytorch_model.bin ===
def test_stride_zero_cannot_inflate_a_tiny_file(tmp_path):
    # 4 stored bytes viewed as 25000 x 10000 (the audit's 683-byte file: 1 GiB).
    path = write_bin(tmp_path / "p.bin", [("w", "0", 1, 0, (25000, 10000), (0, 0))], {"0": bytes(4)})
    assert os.path.getsize(path) < 1000
    message = assert_refused(lambda: load_torch_state_dict(path), CheckpointFormatError, path, "'w'")
    assert "250000000 elements" in message


def test_overlapping_views_and_huge_shapes(tmp_path):
    overlapping = [("w", "0", 16, 0, (4096, 16), (1, 1))]
    path = write_bin(tmp_path / "o.bin", overlapping, {"0": bytes(64)})
    assert_refused(lambda: load_torch_state_dict(path), CheckpointFormatError, path, "'w'")
    huge = [("w", "0", 1, 0, (2**40, 2**20), (0, 0))]
    path = write_bin(tmp_path / "h.bin", huge, {"0": bytes(4)})
    assert_refused(lambda: load_torch_state_dict(path), CheckpointFormatError, path)


@pytest.mark.parametrize(
    "size, stride, offset",
    [((0, 2**64), (1, 1), 0), ((2, 2), (2**64, 1), 0), ((2,), (1,), 2**64), ((2,), (-1,), 0)],
    ids=["size-2**64", "stride-2**64", "offset-2**64", "negative-stride"],
)
def test_absurd_sizes_strides_offsets(tmp_path, size, stride, offset):
    path = write_bin(tmp_path / "x.bin", [("w", "0", 4, offset, size, stride)], {"0": bytes(16)})
    message = assert_refused(lambda: load_torch_state_dict(path), CheckpointFormatError, path)
    assert "malformed" in message or "past the end" in message


def test_zip_bomb_is_not_inflated(tmp_path):
    path = zip_bomb(tmp_path / "bomb.bin", 64 * MiB)
    assert os.path.getsize(path) < 200_000
    assert_refused(
        lambda: load_torch_state_dict(path), CheckpointFormatError, path, "zip bomb", "archive/data/0"
    )


def test_an_honest_compressed_entry_still_loads(tmp_path):
    values = np.random.default_rng(0).standard_normal(300_000).astype("<f4")
    path = str(tmp_path / "ok.bin")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/data.pkl", tensor_pickle([("w", "0", values.size, 0, (values.size,), (1,))]))
        zf.writestr("archive/data/0", values.tobytes())
    np.testing.assert_array_equal(load_torch_state_dict(path)["w"], values)


# === One storage under many keys (tied weights, or a file naming one tensor 250 times) ===
@pytest.mark.parametrize("storage_class, itemsize", [("FloatStorage", 4), ("BFloat16Storage", 2)])
def test_a_storage_under_many_keys_is_read_once(tmp_path, storage_class, itemsize):
    n = 1 << 20  # one 1024 x 1024 tensor (4 MiB as float32), under 250 keys
    values = np.random.default_rng(0).standard_normal(n).astype("<f4")
    stored = values.tobytes() if itemsize == 4 else (values.view("<u4") >> 16).astype("<u2").tobytes()
    keys = [(f"k{i}", "0", n, 0, (1024, 1024), (1024, 1)) for i in range(250)]
    path = write_bin(tmp_path / "tied.bin", keys, {"0": stored}, storage_class)
    size = os.path.getsize(path)
    peak, got = traced_peak(lambda: load_torch_state_dict(path))
    # The bytes read, plus one float32 array for bfloat16: never once per key.
    assert peak < 3 * size + MiB, f"peak {peak / MiB:.1f} MiB for a {size / MiB:.1f} MiB file"
    assert len(got) == 250 and all(np.shares_memory(got["k0"], got[k]) for k in got)
    expected = values if itemsize == 4 else (values.view("<u4") & 0xFFFF0000).view("<f4")
    np.testing.assert_array_equal(got["k249"].reshape(-1), expected)


def test_safetensors_entries_over_one_byte_range_are_read_once(tmp_path):
    values = np.random.default_rng(0).standard_normal(1 << 20).astype("<f4")
    entries = {f"k{i}": {"dtype": "F32", "shape": [1024, 1024], "data_offsets": [0, values.nbytes]}
               for i in range(400)}
    path = write_safetensors(tmp_path / "tied.safetensors", entries, values.tobytes())
    size = os.path.getsize(path)
    peak, got = traced_peak(lambda: load_safetensors(path))
    assert peak < 2 * size + MiB, f"peak {peak / MiB:.1f} MiB for a {size / MiB:.1f} MiB file"
    assert len(got) == 400 and np.shares_memory(got["k0"], got["k399"])
    np.testing.assert_array_equal(got["k399"].reshape(-1), values)


def test_overlapping_bfloat16_ranges_cannot_multiply_memory(tmp_path):
    # 400 distinct (overlapping) bfloat16 ranges of one 1 MiB region: each
    # would widen to its own float32 array (~800 MiB in all).
    count = MiB // 2
    entries = {f"k{i}": {"dtype": "BF16", "shape": [count - i], "data_offsets": [2 * i, MiB]}
               for i in range(400)}
    path = write_safetensors(tmp_path / "overlap.safetensors", entries, bytes(MiB))
    assert_refused(
        lambda: load_safetensors(path), CheckpointFormatError, path, "'k", "past 2x",
        limit=8 * MiB,
    )


class _ArrayOver:
    """Pickles as numpy does, but over a given bytes object (memoised once)."""

    def __init__(self, data, dtype, shape):
        self.data, self.dtype, self.shape = data, dtype, shape

    def __reduce__(self):
        from numpy.core.multiarray import _reconstruct

        return _reconstruct, (np.ndarray, (0,), b"b"), (1, self.shape, np.dtype(self.dtype), False, self.data)


def test_pdparams_arrays_over_one_byte_string_are_converted_once(tmp_path):
    # 250 big-endian arrays over one 4 MiB byte string: a byte swap each took ~1 GiB.
    import pickle
    import warnings

    values = np.random.default_rng(0).standard_normal(1 << 20).astype(">f4")
    data = values.tobytes()
    path = tmp_path / "tied.pdparams"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy.core in NumPy 2
        path.write_bytes(pickle.dumps({f"k{i}": _ArrayOver(data, ">f4", (1024, 1024)) for i in range(250)}, protocol=4))
    size = os.path.getsize(path)
    assert size < 5 * MiB
    peak, got = traced_peak(lambda: load_paddle_state_dict(str(path)))
    # The file read, the unpickler's copy of its bytes, one byte-swapped array.
    assert peak < 3 * size + MiB, f"peak {peak / MiB:.1f} MiB for a {size / MiB:.1f} MiB file"
    assert len(got) == 250 and np.shares_memory(got["k0"], got["k249"])
    np.testing.assert_array_equal(got["k249"].reshape(-1), values.astype("<f4"))


# === Messages quote file content briefly ===
def _pickle_with_key(key_ops, value=b"N"):
    return b"\x80\x02}(" + key_ops + value + b"u."


def test_a_huge_repeated_key_gives_a_short_message(tmp_path):
    # data.pkl: a dict key that is a tuple of one 1 MiB string 1,500 times
    # (memo references): its repr would be 1.5 billion characters.
    big = _text("x" * MiB) + b"q\x00"
    key = b"(" + big + b"h\x00" * 1499 + b"t"
    path = write_bin(tmp_path / "key.bin", [], {}, pickled=_pickle_with_key(key))
    message = assert_refused(
        lambda: load_torch_state_dict(path), CheckpointFormatError, path, "is not a string",
        limit=8 * MiB,
    )
    assert len(message) < 4 * 1024, len(message)


@pytest.mark.parametrize("error", [CheckpointFormatError, CheckpointMismatchError, UnsafeCheckpointError])
def test_every_checkpoint_error_caps_its_message(error):
    # The last resort for messages that list file content (e.g. unexpected keys).
    message = str(error("model.bin: unexpected keys: " + ", ".join(["k" * 1000] * 1000) + ". Check config.json."))
    assert len(message) < 4200 and message.startswith("model.bin: unexpected keys: kkk")
    assert message.endswith("Check config.json.") and "characters omitted" in message


def test_pdparams_and_safetensors_content_is_quoted_briefly(tmp_path):
    # A .pdparams value that is not an array, under a 1 MiB key.
    name = "w" * MiB
    value = b"(" + _text("v" * MiB) + b"q\x00" + b"h\x00" * 999 + b"t"
    path = tmp_path / "m.pdparams"
    path.write_bytes(b"\x80\x02}(" + _text(name) + value + b"u.")
    message = assert_refused(
        lambda: load_paddle_state_dict(str(path)), CheckpointFormatError, str(path), "'www",
        "not an array", limit=8 * MiB,
    )
    assert len(message) < 4 * 1024, len(message)
    # A safetensors dtype (tensor metadata) of 1 MiB.
    path = write_safetensors(
        tmp_path / "m.safetensors", {"w": {"dtype": "F" * MiB, "shape": [1], "data_offsets": [0, 4]}}, bytes(4)
    )
    message = assert_refused(lambda: load_safetensors(path), CheckpointFormatError, path, "'w'", limit=16 * MiB)
    assert len(message) < 4 * 1024, len(message)


# === Deep nesting ===
def _nested_key(depth):
    """A dict key nested `depth` tuples deep: 1 byte per level (TUPLE1)."""
    return _text("k") + b"\x85" * depth


def _memo_nested_value(depth):
    """Lists nested `depth` deep only through memo references appended later,
    so that no single opcode shows the depth."""
    ops = b"".join(b"]r" + struct.pack("<I", i) + b"0" for i in range(depth))
    ops += b"".join(
        b"j" + struct.pack("<I", i) + b"j" + struct.pack("<I", i + 1) + b"a0" for i in range(depth - 1)
    )
    return ops + b"j" + struct.pack("<I", 0)


@pytest.mark.parametrize("depth", [20_000, 200_000])
def test_deep_nesting_is_refused_before_unpickling(tmp_path, depth):
    path = write_bin(tmp_path / "deep.bin", [], {}, pickled=_pickle_with_key(_nested_key(depth)))
    size = os.path.getsize(path)
    assert_refused(
        lambda: load_torch_state_dict(path), CheckpointFormatError, path, "data.pkl",
        "nested more than 100 levels", limit=4 * size + MiB,
    )


def test_deep_nesting_through_the_memo_is_refused(tmp_path):
    pickled = b"\x80\x02}(" + _text("w") + _memo_nested_value(1000) + b"u."
    path = write_bin(tmp_path / "memo.bin", [], {}, pickled=pickled)
    assert_refused(
        lambda: load_torch_state_dict(path), CheckpointFormatError, path, "nested more than 100 levels"
    )
    paddle = tmp_path / "memo.pdparams"
    paddle.write_bytes(pickled)
    assert_refused(
        lambda: load_paddle_state_dict(str(paddle)), CheckpointFormatError, str(paddle),
        "nested more than 100 levels",
    )


def test_a_memo_key_far_ahead_cannot_allocate_a_table_that_long(tmp_path):
    # CPython's unpickler keeps its memo in an array twice as long as the
    # largest key: this 30-byte pickle (found by mutating a real .pdparams)
    # made it allocate and zero 256 MiB; a key of 2**32 - 1, 64 GiB.
    key = 1 << 24
    pickled = b"\x80\x02}(" + _text("w") + b"]r" + struct.pack("<I", key) + b"u."
    path = write_bin(tmp_path / "memo.bin", [], {}, pickled=pickled)
    fragments = [f"memo key {key} skips ahead of the 0 objects", f"{2 * key} entries"]
    assert_refused(lambda: load_torch_state_dict(path), CheckpointFormatError, path, *fragments,
                   limit=MiB)
    paddle = tmp_path / "memo.pdparams"
    paddle.write_bytes(pickled)
    assert_refused(lambda: load_paddle_state_dict(str(paddle)), CheckpointFormatError, str(paddle),
                   *fragments, limit=MiB)
    # What picklers write passes: every protocol, objects memoised and
    # referred to again (PUT/BINPUT/LONG_BINPUT or MEMOIZE, then GETs).
    shared = ["x"] * 3
    state = {f"k{i}": (shared, [shared, "y" * i]) for i in range(300)}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        restricted_pickle.check_nesting(pickle.dumps(state, protocol=protocol))


def test_a_pickle_that_crashes_the_unpickler_is_refused_in_a_surviving_process(tmp_path):
    # 200,000 levels crash CPython's unpickler (SIGSEGV) and torch.load; the
    # scan refuses the file first. Run in a subprocess so a crash shows as one.
    deep = _pickle_with_key(_nested_key(200_000))
    bin_path = write_bin(tmp_path / "deep.bin", [], {}, pickled=deep)
    paddle = tmp_path / "deep.pdparams"
    paddle.write_bytes(deep)
    script = (
        "import sys\n"
        "from keras_encoders.convert.errors import CheckpointFormatError\n"
        "from keras_encoders.convert.readers.paddle_params import load_paddle_state_dict\n"
        "from keras_encoders.convert.readers.torch_bin import load_torch_state_dict\n"
        "for load, path in [(load_torch_state_dict, sys.argv[1]), (load_paddle_state_dict, sys.argv[2])]:\n"
        "    try:\n"
        "        load(path)\n"
        "    except CheckpointFormatError as e:\n"
        "        print('refused:', str(e)[:300])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, bin_path, str(paddle)], capture_output=True, text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("refused:")]
    assert len(lines) == 2 and all("nested more than 100 levels" in line for line in lines), done.stdout
    assert bin_path in lines[0] and str(paddle) in lines[1]


def test_deeply_nested_safetensors_header_is_a_format_error(tmp_path):
    path = tmp_path / "deep.safetensors"
    header = b"[" * 200_000 + b"]" * 200_000
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    assert_refused(lambda: load_safetensors(str(path)), CheckpointFormatError, str(path), "not valid JSON")


# === Shard indexes ===
@pytest.mark.parametrize("shard", ["/etc/passwd", "../outside.bin", "sub/../../x.bin"])
def test_shard_index_cannot_leave_the_folder(tmp_path, shard):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (tmp_path / "outside.bin").write_bytes(b"PK")
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": {"w": shard}}))
    assert_refused(
        lambda: hf_folder.load_state_dict(str(folder)), CheckpointFormatError,
        "pytorch_model.bin.index.json", repr(shard), "not a file in the checkpoint folder",
    )


# === safetensors ===
def test_unknown_safetensors_dtype_is_named(tmp_path):
    path = write_safetensors(
        tmp_path / "m.safetensors", {"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, bytes(2)
    )
    message = assert_refused(lambda: load_safetensors(path), CheckpointFormatError, path, "'w'", "F8_E4M3")
    assert "bfloat16 tensors" not in message


def test_bfloat16_safetensors_load_exactly(tmp_path):
    values = np.array([1.0, -2.5, 3.140625, 0.0], dtype=np.float32)
    top = (values.view(np.uint32) >> 16).astype("<u2")
    path = write_safetensors(
        tmp_path / "m.safetensors", {"w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]}},
        top.tobytes(),
    )
    got = load_safetensors(path)["w"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, values.reshape(2, 2))


@pytest.mark.parametrize(
    "entry",
    [
        {"dtype": "F32", "shape": [2**40, 2**20], "data_offsets": [0, 8]},
        {"dtype": "F32", "shape": [2], "data_offsets": [0, 2**40]},
        {"dtype": "F32", "shape": [2, 1.5], "data_offsets": [0, 8]},
    ],
    ids=["shape-beyond-data", "offsets-beyond-file", "float-dimension"],
)
def test_safetensors_sizes_checked_against_the_file(tmp_path, entry):
    path = write_safetensors(tmp_path / "m.safetensors", {"w": entry}, bytes(8))
    assert_refused(lambda: load_safetensors(path), CheckpointFormatError, path, "'w'")


# === Paddle ===
def test_paddle_array_larger_than_its_bytes(tmp_path):
    # numpy's own pickle of a 2-element array, with a shape claiming 2**40 elements.
    import pickle

    blob = pickle.dumps({"w": np.zeros(2, "<f4")}, protocol=2)
    assert blob.count(b"K\x02") >= 1
    path = tmp_path / "m.pdparams"
    path.write_bytes(blob.replace(b"K\x02\x85", _long(2**40) + b"\x85", 1))
    assert_refused(lambda: load_paddle_state_dict(str(path)), CheckpointFormatError, str(path))


# === config.json ===
@pytest.fixture(scope="module")
def tiny_nezha_dir(tmp_path_factory):
    import torch
    import transformers

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("nezha")
    config = transformers.NezhaConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=20, max_position_embeddings=64, max_relative_position=3,
    )
    transformers.NezhaModel(config).save_pretrained(path)
    (path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghij")))
    return path


def with_config(tmp_path, source, change=None, text=None):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    for name in os.listdir(source):
        os.symlink(source / name, folder / name)
    os.remove(folder / "config.json")
    config = json.loads((source / "config.json").read_text())
    if change is not None:
        config = change(config)
    (folder / "config.json").write_text(text if text is not None else json.dumps(config))
    return str(folder)


BAD_CONFIGS = {
    "zero-heads": (lambda c: {**c, "num_attention_heads": 0}, "num_attention_heads"),
    "indivisible": (lambda c: {**c, "num_attention_heads": 3}, "hidden_size"),
    "missing-hidden-size": (lambda c: {k: v for k, v in c.items() if k != "hidden_size"}, "hidden_size"),
    "float-layers": (lambda c: {**c, "num_hidden_layers": 2.0}, "num_hidden_layers"),
    "string-vocab": (lambda c: {**c, "vocab_size": "50"}, "vocab_size"),
    "absurd-vocab": (lambda c: {**c, "vocab_size": 2_000_000_000}, "vocab_size"),
    "negative-dropout": (lambda c: {**c, "hidden_dropout_prob": -0.1}, "hidden_dropout_prob"),
    # null is not "the default" (transformers builds from None too, and
    # fails); it reached our layers as None. Left out, a field has its default.
    "null-dropout": (lambda c: {**c, "hidden_dropout_prob": None}, "hidden_dropout_prob"),
    "null-relative-positions": (lambda c: {**c, "max_relative_position": None}, "max_relative_position"),
    "zero-segments": (lambda c: {**c, "type_vocab_size": 0}, "type_vocab_size"),
}


@pytest.mark.parametrize("value", [0, None, "16"])
def test_a_field_the_model_does_not_read_is_not_checked(value):
    # ERNIE-M has no segment embeddings: its checkpoints' `type_vocab_size`
    # (16 in PaddleNLP's) is ignored, by transformers and by us, whatever it
    # says; NEZHA reads it, and the same value is refused.
    from keras_encoders.convert import families
    from keras_encoders.convert.config_checks import check_config

    config = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 1,
              "num_attention_heads": 2, "type_vocab_size": value}
    check_config(config, "ernie-m/config.json", families.family_for("ernie_m"))
    with pytest.raises(CheckpointFormatError, match="nezha/config.json: field 'type_vocab_size'"):
        check_config(config, "nezha/config.json", families.family_for("nezha"))


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_fails_before_building(tiny_nezha_dir, tmp_path, case):
    change, field = BAD_CONFIGS[case]
    folder = with_config(tmp_path, tiny_nezha_dir, change)
    assert_refused(
        lambda: models.NezhaBackbone.from_preset(folder), CheckpointFormatError,
        os.path.join(folder, "config.json"), repr(field),
    )


def test_config_fields_left_out_take_the_reference_defaults(tiny_nezha_dir, tmp_path):
    # Without `intermediate_size`, transformers builds NezhaConfig's 3072;
    # so do we, and the weights (20 wide) cannot fill it (a KeyError before).
    folder = with_config(tmp_path, tiny_nezha_dir, lambda c: {k: v for k, v in c.items() if k != "intermediate_size"})
    with pytest.raises(CheckpointFormatError, match="the configuration does not match its weights"):
        models.NezhaBackbone.from_preset(folder)


def test_a_model_type_that_is_not_a_string_is_keras_hubs_error(tiny_nezha_dir, tmp_path):
    folder = with_config(tmp_path, tiny_nezha_dir, lambda c: {**c, "model_type": ["nezha"]})
    with pytest.raises(ValueError, match="no converter for huggingface/transformers models with model type"):
        models.NezhaBackbone.from_preset(folder)


@pytest.mark.parametrize("target", ["/dev/zero", "oversized"])
def test_a_config_file_that_is_a_device_or_huge_is_refused_unread(tiny_nezha_dir, tmp_path, target):
    # The converter read config.json (and PaddleNLP's model_config.json)
    # with json.load: linked to /dev/zero, until memory ran out.
    from keras_encoders.convert import sources
    from keras_encoders.convert.families.ernie_m import paddle
    from keras_encoders.utils import files

    folder = with_config(tmp_path, tiny_nezha_dir, text="{}")
    config = os.path.join(folder, "config.json")
    os.remove(config)
    if target == "/dev/zero":
        os.symlink("/dev/zero", config)
        fragment = "is not a regular file"
    else:
        with open(config, "wb") as f:
            f.truncate(files.MAX_JSON_BYTES + 1)  # sparse: no disk used
        fragment = f"over the {files.MAX_JSON_BYTES:,}"
    assert_refused(lambda: sources.open_source(folder), CheckpointFormatError, config, fragment, limit=MiB)
    assert_refused(lambda: paddle.read_paddle_config(config), CheckpointFormatError, config, fragment, limit=MiB)


def test_config_that_is_not_json_names_the_file(tiny_nezha_dir, tmp_path):
    folder = with_config(tmp_path, tiny_nezha_dir, text='{"model_type": "nezha",')
    assert_refused(
        lambda: models.NezhaBackbone.from_preset(folder), CheckpointFormatError,
        os.path.join(folder, "config.json"), "not valid JSON",
    )


# === Non-finite weights ===
@pytest.fixture(scope="module")
def nan_nezha_dir(tiny_nezha_dir, tmp_path_factory):
    from safetensors.numpy import save_file

    folder = tmp_path_factory.mktemp("nan")
    for name in os.listdir(tiny_nezha_dir):
        if name != "model.safetensors":
            os.symlink(tiny_nezha_dir / name, folder / name)
    tensors = load_safetensors(str(tiny_nezha_dir / "model.safetensors"))
    key = "encoder.layer.0.attention.self.query.weight"
    tensors[key] = tensors[key].copy()
    tensors[key][0, 0] = np.nan
    save_file(tensors, str(folder / "model.safetensors"))
    return str(folder)


def test_nan_weights_are_refused_unless_allowed(nan_nezha_dir):
    assert_refused(
        lambda: models.NezhaBackbone.from_preset(nan_nezha_dir), CheckpointFormatError,
        "encoder.layer.0.attention.self.query.weight", "NaN", "allow_non_finite=True", limit=64 * MiB,
    )
    backbone = models.NezhaBackbone.from_preset(nan_nezha_dir, allow_non_finite=True)
    assert any(np.isnan(w.numpy()).any() for w in backbone.weights)


def test_converter_writes_no_preset_from_nan_weights(nan_nezha_dir, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(CheckpointFormatError, match="NaN"):
        conversion.convert_checkpoint(nan_nezha_dir, str(out), reference=False, quiet=True)
    assert os.listdir(tmp_path) == []


# === --overwrite and killed conversions ===
def _dead_pid():
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(done.stdout)


def _snapshot(root):
    """Every file and folder under `root` with its size: what must not change."""
    found = []
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            found.append((os.path.relpath(path, root), os.path.getsize(path) if name in files else None))
    return sorted(found)


@pytest.fixture(scope="module")
def converted(tiny_nezha_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("converted") / "preset"
    conversion.convert_checkpoint(str(tiny_nezha_dir), str(out), reference=False, quiet=True)
    return out


def test_overwrite_never_deletes_the_source_or_a_folder_no_conversion_wrote(tiny_nezha_dir, tmp_path, capsys):
    from keras_encoders.convert import cli

    source = tmp_path / "work" / "ckpt"
    shutil.copytree(tiny_nezha_dir, source)
    (tmp_path / "work" / "notes.txt").write_text("unrelated")
    before = _snapshot(tmp_path)
    # The output is the source, its folder, or a folder above it.
    for output in (source, source.parent, tmp_path):
        assert cli.main([str(source), str(output), "--overwrite", "--no-reference", "--quiet"]) == 1
        assert "is or contains the input" in capsys.readouterr().err
    # A tokenizer folder inside the output counts as well.
    args = [str(source), str(tmp_path / "work"), "--tokenizer-dir", str(source), "--overwrite", "--quiet"]
    assert cli.main(args) == 1
    assert "is or contains the input" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before
    # A folder without a conversion's record is not replaced, nor a symlink to a preset.
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert cli.main([str(source), str(other), "--overwrite", "--no-reference", "--quiet"]) == 1
    assert "not written by keras-encoders-convert" in capsys.readouterr().err
    assert os.listdir(other) == ["keep.txt"]
    os.symlink(other, tmp_path / "link")
    assert cli.main([str(source), str(tmp_path / "link"), "--overwrite", "--no-reference", "--quiet"]) == 1
    assert "symbolic link" in capsys.readouterr().err
    assert [p for p in _snapshot(tmp_path) if p[0].startswith("work")] == [
        p for p in before if p[0].startswith("work")
    ]


class Killed(BaseException):
    """Stands for SIGKILL: once raised, nothing of the conversion runs any more."""


def _kill_at(monkeypatch, point, output):
    """Make the conversion into `output` stop dead at `point` (no cleanup runs)."""
    dead = {"now": False, "renames": 0}
    real_rename, real_record = os.rename, conversion._write_record
    real_remove = conversion._remove_conversion_folder

    def die():
        dead["now"] = True
        raise Killed(point)

    def write_record(directory, record):
        if dead["now"] or (point == "writing the staging folder" and "staging_for" not in record):
            die()
        real_record(directory, record)

    def rename(src, dst):
        if dead["now"]:
            die()
        real_rename(src, dst)
        if str(output) in (os.fspath(src), os.fspath(dst)):
            dead["renames"] += 1
            if point == f"after rename {dead['renames']}":
                die()

    def remove(path):
        if dead["now"]:
            die()
        real_remove(path)

    monkeypatch.setattr(conversion, "_write_record", write_record)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(conversion, "_remove_conversion_folder", remove)


@pytest.mark.parametrize("point", ["writing the staging folder", "after rename 1", "after rename 2"])
def test_a_conversion_killed_at_any_point_loses_nothing(tiny_nezha_dir, converted, tmp_path, monkeypatch, point):
    out = tmp_path / "preset"
    shutil.copytree(converted, out)
    (out / "old-marker.txt").write_text("the preset before --overwrite")
    (tmp_path / "notes.txt").write_text("unrelated")
    dead_pid = _dead_pid()
    user = tmp_path / f".preset.partial-{dead_pid}-mine"  # our naming, but no record: not ours
    user.mkdir()
    (user / "keep.txt").write_text("mine")
    _kill_at(monkeypatch, point, out)
    with pytest.raises(Killed):
        conversion.convert_checkpoint(str(tiny_nezha_dir), str(out), reference=False, quiet=True, overwrite=True)
    monkeypatch.undo()
    # The killed process is gone: its folders now carry a dead pid.
    for name in os.listdir(tmp_path):
        if f"-{os.getpid()}-" in name:
            os.rename(tmp_path / name, tmp_path / name.replace(f"-{os.getpid()}-", f"-{dead_pid}-"))
    # Nothing is lost yet: the old preset is the output or its backup.
    if point != "after rename 2":
        assert any((tmp_path / name / "old-marker.txt").exists() for name in os.listdir(tmp_path))
    # The next conversion into the same folder fails, and still restores or tidies.
    with pytest.raises(FileNotFoundError):
        conversion.convert_checkpoint(str(tmp_path / "no-such"), str(out), quiet=True, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == sorted(["preset", "notes.txt", user.name])
    assert os.listdir(user) == ["keep.txt"]
    assert conversion.written_by_conversion(str(out))
    # Killed before the new preset was in place: the old one is back.
    assert (out / "old-marker.txt").exists() == (point != "after rename 2")
    assert isinstance(models.NezhaBackbone.from_preset(str(out)), models.NezhaBackbone)


def test_staging_of_other_outputs_in_the_same_folder_is_tidied(converted, tmp_path):
    dead_pid = _dead_pid()
    stale = tmp_path / f".other.partial-{dead_pid}-abc"
    shutil.copytree(converted, stale)  # a killed conversion's staging, with its record
    empty = tmp_path / f".third.partial-{dead_pid}-def"  # killed right after mkdtemp
    empty.mkdir()
    live = tmp_path / f".preset.partial-{os.getppid()}-xyz"  # a running conversion's: kept
    shutil.copytree(converted, live)
    removed, restored = conversion.clean_stale_staging(str(tmp_path / "preset"))
    assert sorted(removed) == sorted([str(stale), str(empty)]) and restored == []
    assert os.listdir(tmp_path) == [live.name]
