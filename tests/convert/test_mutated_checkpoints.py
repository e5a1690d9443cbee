"""Small valid checkpoints of every format, damaged at random (bytes changed,
cut out, inserted, the file cut short, large integers written in): each must
load or fail with a `CheckpointFormatError` / `UnsafeCheckpointError`, within
a fixed memory ceiling. Mutating files this way found a pickle memo key that
made the unpickler allocate gigabytes, and TensorFlow's and zipfile's own
exceptions escaping the readers. Seeded: CI runs the same files every time.

A mutated file may also load with other numbers: none of these formats but
the zip of a `pytorch_model.bin` and TensorFlow's data files checksums its
bytes, so that is not checked here.
"""

import random
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.convert.errors import UnsafeCheckpointError
from keras_encoders.convert.readers.paddle_params import load_paddle_state_dict
from keras_encoders.convert.readers.safetensors_file import load_safetensors
from keras_encoders.convert.readers.tf1 import load_tf1_checkpoint
from keras_encoders.convert.readers.torch_bin import load_torch_state_dict
from tests.convert.checkpoint_writers import write_pdparams
from tests.convert.checkpoint_writers import write_tf1_checkpoint
from tests.convert.test_hostile_checkpoints import MiB

# The readers run no Keras code.
pytestmark = pytest.mark.backend_independent

MUTANTS = 150
STATE = {
    "a.weight": np.random.RandomState(0).randn(16, 8).astype("float32"),
    "a.bias": np.arange(8, dtype="float32"),
    "b.ids": np.arange(6, dtype="int64").reshape(2, 3),
}


def _write(kind, directory):
    """`(file to damage, loader)` for a fresh checkpoint of `kind` in `directory`."""
    if kind == "pytorch_model.bin":
        import torch

        path = directory / "pytorch_model.bin"
        torch.save({k: torch.from_numpy(v) for k, v in STATE.items()}, path)
        return path, load_torch_state_dict
    if kind == "model.safetensors":
        path = directory / "model.safetensors"
        save_file(STATE, str(path))
        return path, load_safetensors
    if kind.startswith(".pdparams"):
        path = directory / "model_state.pdparams"
        write_pdparams(str(path), STATE, protocol=int(kind[-1]))
        return path, load_paddle_state_dict
    tensors = {"bert/a/kernel": STATE["a.weight"], "bert/a/bias": STATE["a.bias"]}
    prefix = write_tf1_checkpoint(str(directory), tensors, optimizer_slots=False)
    suffix = ".index" if kind == "TF1 .index" else ".data-00000-of-00001"
    return Path(prefix + suffix), lambda _: load_tf1_checkpoint(prefix)


def _mutate(data, rng):
    data = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4, 16])):
        op, pos = rng.random(), rng.randrange(len(data))
        if op < 0.5:
            data[pos] = rng.randrange(256)
        elif op < 0.65:
            del data[pos:pos + rng.randrange(1, 64)]
        elif op < 0.8:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        elif op < 0.9:
            del data[pos:]
        else:  # a length, index or size field set to something large
            value = rng.choice([0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**63 - 1, 0x80])
            data[pos:pos + 8] = value.to_bytes(8, "little")
        data = data or bytearray(b"\0")
    return bytes(data)


@pytest.mark.parametrize("kind", ["pytorch_model.bin", "model.safetensors", ".pdparams protocol 2",
                                  ".pdparams protocol 4", "TF1 .index", "TF1 .data"])
def test_damaged_checkpoints_fail_clearly_within_bounded_memory(tmp_path, kind):
    path, load = _write(kind, tmp_path)
    good = path.read_bytes()
    assert load(str(path))  # the undamaged file loads
    rng = random.Random(kind)
    refused, worst = 0, (0, -1)
    for i in range(MUTANTS):
        path.write_bytes(_mutate(good, rng))
        tracemalloc.start()
        try:
            load(str(path))
        except (CheckpointFormatError, UnsafeCheckpointError):
            refused += 1
        except Exception as e:  # noqa: BLE001 - the point of the test
            raise AssertionError(f"{kind} mutant {i}: {type(e).__name__}: {e}") from e
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        worst = max(worst, (peak, i))
    assert refused > MUTANTS // 2, refused  # most damage is found
    assert worst[0] < 16 * MiB, f"{kind} mutant {worst[1]}: peak {worst[0] / MiB:.0f} MiB"
