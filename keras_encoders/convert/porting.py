"""Declarative weight porting: Keras variable paths <- checkpoint keys.

A converter is a list of `(keras_path, checkpoint_key, transform)` rules written
with `{i}` for the layer index, plus patterns of checkpoint keys to ignore.
`port_weights` checks everything before assigning anything: every Keras
variable must receive a tensor of its exact shape, and every checkpoint tensor
must be used or explicitly ignored. Problems are reported together, by name.
"""

import re

import keras
import numpy as np

from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.convert.errors import CheckpointMismatchError


# === Transforms (checkpoint array -> Keras array) ===
def identity(x, shape):
    return x


def transpose(x, shape):
    """torch `Linear.weight` (out, in) -> Keras `Dense.kernel` (in, out)."""
    return np.transpose(x)


def reshape(x, shape):
    return np.reshape(x, shape)


def transpose_reshape(x, shape):
    return np.reshape(np.transpose(x), shape)


# Each transform's inverse, `inverse(keras_array) -> checkpoint array`, for
# writing checkpoints back (`unport_weights`: `keras_encoders.hf_export`,
# `keras_encoders.paddle_export`); a family's rule
# module lists the inverses of its own transforms in `INVERSE_TRANSFORMS`.
INVERSE_TRANSFORMS = {identity: lambda x: x, transpose: np.transpose}


def torch_linear(keras_name, checkpoint_name):
    """Rules for a torch `Linear` (`.weight` (out, in), `.bias`) -> Keras `Dense`."""
    return [
        (f"{keras_name}/kernel", f"{checkpoint_name}.weight", transpose),
        (f"{keras_name}/bias", f"{checkpoint_name}.bias", identity),
    ]


def expand_rules(rules, num_layers):
    """Instantiate `{i}` rules for every layer: {keras_path: (key, transform)}."""
    table = {}
    for keras_path, key, fn in rules:
        if "{i}" in keras_path:
            for i in range(num_layers):
                # A key may be a tuple of alternative names (see port_weights).
                keys = tuple(k.format(i=i) for k in key) if isinstance(key, tuple) else key.format(i=i)
                table[keras_path.format(i=i)] = (keys, fn)
        else:
            table[keras_path] = (key, fn)
    return table


def detect_prefix(state_dict, anchor, prefixes):
    """The key prefix of a checkpoint (`"nezha."` for a head checkpoint)."""
    for prefix in prefixes:
        if prefix + anchor in state_dict:
            return prefix
    return None


def port_weights(
    variables, table, state_dict, prefix="", ignore=(), optional=(), source="checkpoint",
    allow_non_finite=False,
):
    """Assign `state_dict` to `variables` per `table`, or raise listing problems.

    Args:
        variables: Keras variables (e.g. `model.weights`); matched by `.path`
            relative to the model (the leading model name is not part of it).
        table: `{keras_path: (checkpoint_key, transform)}`, keys without prefix.
        state_dict: `{key: np.ndarray}`.
        prefix: prepended to every checkpoint key.
        ignore: regexes of checkpoint keys that are known not to be weights
            (buffers) or that belong to other parts of the model.
        optional: Keras paths that keep their initial value when their key is
            absent (e.g. a pooler that head checkpoints do not save).
        source: name of the checkpoint in error messages.
        allow_non_finite: accept NaN / Inf values (refused by default: such
            weights make every output NaN).

    A rule's key may be a tuple of alternative names (tied weights are saved
    under either name); the first present one is used, all present ones count
    as used.

    Returns:
        The set of checkpoint keys that were used.
    """
    missing, mismatched, unmapped, assignments = [], [], [], []
    used = set()
    for variable, keys, fn in _with_rules(variables, table, unmapped):
        keys = [prefix + k for k in (keys if isinstance(keys, tuple) else (keys,))]
        present = [k for k in keys if k in state_dict]
        if not present:
            if variable.path not in optional:
                missing.append(" or ".join(keys))
            continue
        used.update(present)
        key = present[0]
        value = fn(np.asarray(state_dict[key]), tuple(variable.shape))
        if tuple(value.shape) != tuple(variable.shape):
            mismatched.append(
                f"{key}: checkpoint {tuple(state_dict[key].shape)} -> "
                f"{tuple(value.shape)}, but {variable.path} is {tuple(variable.shape)}"
            )
            continue
        if not allow_non_finite and value.dtype.kind in "fc" and not np.isfinite(value).all():
            bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
            raise CheckpointFormatError(
                f"{source}: tensor {key!r} holds {bad} NaN or infinite values. "
                "The checkpoint is damaged (or was saved after training diverged); "
                "pass allow_non_finite=True (--allow-non-finite) to load it anyway."
            )
        assignments.append((variable, value))
    ignored = [re.compile(p) for p in ignore]
    unexpected = [
        k for k in state_dict
        if k not in used and not any(p.search(k) for p in ignored)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {', '.join(missing)}")
    if mismatched:
        problems.append("shape mismatches:\n  " + "\n  ".join(mismatched))
    if unexpected:
        problems.append(
            f"unexpected keys ({len(unexpected)}): {', '.join(unexpected)}"
        )
    if unmapped:
        problems.append(
            "model variables with no conversion rule: " + ", ".join(unmapped)
        )
    if problems:
        raise CheckpointMismatchError(
            f"Cannot load {source}: the checkpoint does not match the model "
            "configuration.\n- " + "\n- ".join(problems) + "\nCheck that "
            "config.json belongs to these weights (num_hidden_layers, "
            "hidden_size, vocab_size ...)."
        )
    for variable, value in assignments:
        variable.assign(value.astype(variable.dtype) if hasattr(value, "astype") else value)
    return used


def _with_rules(variables, table, unmapped):
    """`(variable, keys, transform)` of each variable `table` has a rule for;
    the paths of the others are appended to `unmapped`."""
    for variable in variables:
        entry = table.get(variable.path)
        if entry is None:
            unmapped.append(variable.path)
        else:
            yield (variable, *entry)


def unport_weights(parts, inverses):
    """`port_weights` run backwards: Keras variables -> checkpoint arrays.

    Each variable's value goes through the inverse of its rule's transform
    to the rule's checkpoint key (for tied alternatives, the first name: the
    saved one). The forward transform is applied to every written array once
    more and must give the variable's value back exactly, so a wrong inverse
    cannot write silently wrong weights.

    Args:
        parts: `(variables, table, key_prefix)` triples, `table` as
            `expand_rules` makes it; `key_prefix` is prepended to its keys.
        inverses: `{transform: inverse}` (`INVERSE_TRANSFORMS` and the
            family's own).

    Returns:
        `(state, unmapped)`: `{checkpoint key: float32 array}` and the paths
        of the variables no rule writes (for the caller to refuse).
    """
    state, unmapped = {}, []
    for variables, table, key_prefix in parts:
        for variable, keys, forward in _with_rules(variables, table, unmapped):
            key = key_prefix + (keys[0] if isinstance(keys, tuple) else keys)
            state[key] = _inverted(variable, forward, inverses, key)
    return state, unmapped


def _inverted(variable, forward, inverses, key):
    value = np.asarray(keras.ops.convert_to_numpy(variable.value), dtype=np.float32)
    inverse = inverses.get(forward)
    if inverse is None:
        raise NotImplementedError(
            f"No inverse of the transform {forward.__name__!r} (rule for {key}): add "
            "it to the family rule module's INVERSE_TRANSFORMS."
        )
    written = np.ascontiguousarray(inverse(value))
    if not np.array_equal(forward(written, value.shape), value):
        raise RuntimeError(
            f"The inverse of {forward.__name__!r} does not give {variable.path} back ({key})."
        )
    return written


def head_variables(task):
    """The task's variables that are not its backbone's."""
    backbone_ids = {id(w) for w in task.backbone.weights}
    return [w for w in task.weights if id(w) not in backbone_ids]


def port_backbone(backbone, rules, tensors, *, prefix="", ignore=(), optional=(), source,
                  allow_non_finite=False):
    """Assign the encoder weights `rules` (with `{i}`) map from `tensors`."""
    return port_weights(
        backbone.weights, expand_rules(rules, backbone.num_layers), tensors, prefix=prefix,
        ignore=ignore, optional=optional, source=source, allow_non_finite=allow_non_finite,
    )


def port_head(task, rules, tensors, *, ignore=(), source, allow_non_finite=False):
    """Assign the head weights of `task` (everything but its backbone)."""
    return port_weights(
        head_variables(task), expand_rules(rules, 0), tensors, ignore=ignore, source=source,
        allow_non_finite=allow_non_finite,
    )
