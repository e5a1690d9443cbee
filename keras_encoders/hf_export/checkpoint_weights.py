"""Keras variables -> a Hugging Face state dict, by inverting the rule tables.

The converter's rule tables (`convert/families/<family>/hf.py`) say which
checkpoint tensor each Keras variable is read from and how it is reshaped.
Written back, each rule runs the other way: the variable's value goes
through the inverse of the rule's transform (`porting.INVERSE_TRANSFORMS`
and the family's own `INVERSE_TRANSFORMS`) to the rule's checkpoint key. The
forward transform is applied to every written array once more, and must give
the variable's value back exactly, so a wrong inverse cannot write silently
wrong weights.
"""

import keras
import numpy as np

from keras_encoders.convert import porting


class UnsupportedExportError(ValueError):
    """The model (or its configuration) has no Hugging Face equivalent."""


def hf_state_dict(spec, model, architecture):
    """`{checkpoint key: float32 array}` of `model` as `architecture` saves it.

    Args:
        spec: the family's `FamilySpec`.
        model: a backbone of that family, or a task on one.
        architecture: the transformers class name (`NezhaForMaskedLM`); its
            head rules come from `spec.hf.HEADS`, the key prefix of its
            encoder from `spec.hf.BASE_PREFIXES` (the first one for heads,
            none for the bare model).

    Raises:
        UnsupportedExportError: a variable no rule writes (LoRA adapters,
            quantized kernels ...), listed by name.
    """
    backbone = getattr(model, "backbone", model)
    head_rules, _ = spec.hf.HEADS[architecture]
    prefix = "" if architecture == spec.base_architecture else spec.hf.BASE_PREFIXES[0]
    inverses = {**porting.INVERSE_TRANSFORMS, **getattr(spec.hf, "INVERSE_TRANSFORMS", {})}
    # A pooler the reference architecture does not build is not written.
    skipped = set(spec.hf.OPTIONAL) if architecture in spec.hf.POOLERLESS else set()
    parts = [(backbone.weights, porting.expand_rules(spec.hf.BACKBONE_RULES, backbone.num_layers), prefix)]
    if backbone is not model:
        parts.append((porting.head_variables(model), porting.expand_rules(head_rules, 0), ""))

    state, unmapped = {}, []
    for variables, table, key_prefix in parts:
        for variable in variables:
            if variable.path in skipped:
                continue
            entry = table.get(variable.path)
            if entry is None:
                unmapped.append(variable.path)
                continue
            keys, forward = entry
            # Tied alternatives name one tensor: the first is the saved name.
            key = key_prefix + (keys[0] if isinstance(keys, tuple) else keys)
            state[key] = _inverted(variable, forward, inverses, key)
    if unmapped:
        raise UnsupportedExportError(
            f"{architecture} has no place for these variables of "
            f"{type(model).__name__}: {', '.join(unmapped)}. Merge or drop what "
            "the reference model does not have (LoRA adapters, quantized "
            "kernels) before exporting, e.g. rebuild the task from its config "
            "without `enable_lora` and set the merged weights."
        )
    return state


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
