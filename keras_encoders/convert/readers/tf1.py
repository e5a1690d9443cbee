"""Read an original TensorFlow 1 checkpoint into NumPy arrays.

The NEZHA (Huawei) and ConvBERT (Yitu) releases are name-based TF1
checkpoints written by `tf.train.Saver`: `model.ckpt-N.index` plus
`model.ckpt-N.data-00000-of-0000K` (and usually `.meta` and a `checkpoint`
state file). Each variable is stored under its graph name
(`bert/encoder/layer_0/attention/self/query/kernel`). TensorFlow's own
checkpoint reader reads them; nothing from the checkpoint is executed (the
`.meta` graph is never loaded).

Training checkpoints also hold optimizer state: the `adam_m`/`adam_v`
(AdamWeightDecayOptimizer) or `lamb_m`/`lamb_v` (NEZHA's LAMB) slots of every
weight, fp16 `shadow` copies and `global_step`. Those are skipped here and
listed, so that converters only ever see weights.
"""

import glob
import math
import os
import re

import numpy as np

from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.convert.errors import quote
from keras_encoders.convert.readers.restricted_pickle import MAX_EXPANSION

__all__ = [
    "OPTIMIZER_STATE",
    "is_tf1_checkpoint",
    "load_tf1_checkpoint",
    "resolve_checkpoint_prefix",
]

# Names written by the original optimizers (NEZHA-TensorFlow/optimization.py,
# ConvBert/model/optimization.py): `<weight>/adam_m`, `<weight>/adam_v`,
# `<weight>/lamb_m`, `<weight>/lamb_v`, `<weight>/shadow` (fp32 master copy
# with --manual_fp16), the step counter, anything under an optimizer scope,
# and the loss-scale state of tf.contrib.mixed_precision's
# ExponentialUpdateLossScaleManager (NEZHA's --use_fp16).
OPTIMIZER_STATE = re.compile(
    r"(^|/)(adam_m|adam_v|lamb_m|lamb_v|shadow)$"
    r"|^(global_step|loss_scale|good_steps|bad_steps)$"
    r"|(^|/)AdamWeightDecayOptimizer(_\d+)?(/|$)"
)

# TF2 object-based checkpoints (tf.train.Checkpoint / Keras) carry this entry.
_OBJECT_GRAPH = "_CHECKPOINTABLE_OBJECT_GRAPH"


def _strip_suffix(path):
    for suffix in (".index", ".meta"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    match = re.match(r"^(.*)\.data-\d{5}-of-\d{5}$", path)
    return match.group(1) if match else path


def _state_file_prefix(folder):
    """The checkpoint the folder's `checkpoint` state file names, inside `folder`.

    Only checkpoints inside the folder are ever read: the state file's entry
    is taken by its base name in the folder (training machines write
    absolute paths, which stop meaning anything once a release is moved, and
    could name an unrelated checkpoint elsewhere). None when there is no
    state file or no such checkpoint in the folder.
    """
    state_path = os.path.join(folder, "checkpoint")
    if not os.path.isfile(state_path):
        return None
    import tensorflow as tf

    try:
        state = tf.train.get_checkpoint_state(folder)
    except Exception as e:  # noqa: BLE001 - a text proto parse error, whatever its class
        raise CheckpointFormatError(
            f"{state_path} is not a valid TensorFlow `checkpoint` state file "
            f"({type(e).__name__}); delete it or pass the checkpoint prefix."
        ) from e
    if state is None or not state.model_checkpoint_path:
        return None
    name = os.path.basename(state.model_checkpoint_path.replace("\\", "/"))
    prefix = os.path.join(folder, name)
    return prefix if name and os.path.isfile(prefix + ".index") else None


def resolve_checkpoint_prefix(path):
    """The checkpoint prefix (`.../model.ckpt-100`) for a file, prefix or folder.

    A folder is resolved through its `checkpoint` state file (by base name,
    inside the folder: see `_state_file_prefix`), or else through its
    single `*.index` file.

    Raises:
        FileNotFoundError: nothing checkpoint-like is at `path`.
        CheckpointFormatError: a folder holds several checkpoints and no
            `checkpoint` state file says which one is current.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        named = _state_file_prefix(path)
        if named is not None:
            return named
        indexes = sorted(glob.glob(os.path.join(path, "*.index")))
        if len(indexes) == 1:
            return indexes[0][: -len(".index")]
        if not indexes:
            raise FileNotFoundError(
                f"{path} holds no TensorFlow checkpoint (no `*.index` file)."
            )
        raise CheckpointFormatError(
            f"{path} holds several checkpoints "
            f"({', '.join(os.path.basename(i) for i in indexes)}) and no "
            "`checkpoint` file naming the current one; pass the prefix of the "
            "one to convert, e.g. .../model.ckpt-1000000."
        )
    prefix = _strip_suffix(path)
    if os.path.exists(prefix + ".index"):
        return prefix
    raise FileNotFoundError(
        f"No TensorFlow checkpoint at {path} (expected {prefix}.index and its "
        ".data-* files)."
    )


def is_tf1_checkpoint(path):
    """Whether `path` looks like a TF checkpoint (prefix, file or folder)."""
    try:
        resolve_checkpoint_prefix(path)
    except (FileNotFoundError, CheckpointFormatError):
        return False
    return True


# Besides OpError, TensorFlow's checkpoint reader raises IndexError ("Read
# less bytes than requested") where the index or a data file is cut short
# inside a record, and ValueError on some damaged indexes.
_READ_ERRORS = (IndexError, ValueError)


def _check_size(prefix, nbytes):
    """Refuse variables that need more memory than the `.data-*` files hold.

    The index could name one byte range under many variables (each read is
    its own copy) or claim more than a truncated data file holds; either
    way, reading would take more than the file's bytes.
    """
    stored = sum(os.path.getsize(p) for p in glob.glob(glob.escape(prefix) + ".data-*"))
    needed = sum(nbytes.values())
    if needed > MAX_EXPANSION * stored:
        largest = max(nbytes, key=nbytes.get)
        raise CheckpointFormatError(
            f"{prefix}: its variables need {needed} bytes (the largest, "
            f"{quote(largest)}, {nbytes[largest]}), more than {MAX_EXPANSION}x the "
            f"{stored} bytes its .data files hold: the index names the same "
            "bytes many times, or a data file is truncated. Download it again."
        )


def load_tf1_checkpoint(path, skip=OPTIMIZER_STATE, progress=None):
    """All weights of a name-based TF1 checkpoint, as `{name: np.ndarray}`.

    Args:
        path: checkpoint prefix, one of its files, or the folder holding it.
        skip: regex of names that are optimizer state, not weights.
        progress: optional `callable(done, total)` called while reading.

    Returns:
        `(prefix, tensors, skipped)`: the resolved prefix, the weights in
        name order, and the sorted names that were skipped.

    Raises:
        FileNotFoundError, CheckpointFormatError: no readable TF1 checkpoint.
    """
    import tensorflow as tf

    prefix = resolve_checkpoint_prefix(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
    except _READ_ERRORS + (tf.errors.OpError, MemoryError) as e:
        # MemoryError: the index (a small file) gives a block an absurd size,
        # which TensorFlow fails to allocate (std::bad_alloc).
        raise CheckpointFormatError(
            f"{prefix} is not a readable TensorFlow checkpoint ({e}). If it was "
            "downloaded, its .index or .data-* files may be truncated or corrupt: "
            "download them again."
        ) from e
    if _OBJECT_GRAPH in shapes:
        raise CheckpointFormatError(
            f"{prefix} is a TF2 object-based checkpoint (tf.train.Checkpoint or "
            "Keras), not an original TF1 release; its variables are named by "
            "object path, not by the original graph names this converter maps."
        )
    names = sorted(shapes)
    dtypes = reader.get_variable_to_dtype_map()
    skipped = [n for n in names if skip is not None and skip.search(n)]
    wanted = [n for n in names if not (skip is not None and skip.search(n))]
    for name in wanted:
        dtype = dtypes.get(name)
        if dtype is None or not (dtype.is_floating or dtype.is_integer or dtype.is_bool):
            raise CheckpointFormatError(
                f"{prefix}: variable {quote(name)} has dtype "
                f"{getattr(dtype, 'name', dtype)}, not a number type; this is not "
                "a weight of an original release (remove it, or pass the right "
                "checkpoint)."
            )
    _check_size(prefix, {n: math.prod(shapes[n]) * dtypes[n].size for n in wanted})
    tensors = {}
    for i, name in enumerate(wanted):
        try:
            tensors[name] = np.asarray(reader.get_tensor(name))
        except _READ_ERRORS + (tf.errors.OpError,) as e:
            raise CheckpointFormatError(
                f"{prefix}: cannot read variable {quote(name)} ({e}); the checkpoint "
                "is truncated or corrupt. Download it again."
            ) from e
        if progress is not None:
            progress(i + 1, len(wanted))
    return prefix, tensors, skipped
