"""Keras variables -> a Hugging Face state dict, by inverting the rule tables.

The converter's rule tables (`convert/families/<family>/hf.py`) say which
checkpoint tensor each Keras variable is read from and how it is reshaped.
Written back, each rule runs the other way (`porting.unport_weights`): the
variable's value goes through the inverse of the rule's transform
(`porting.INVERSE_TRANSFORMS` and the family's own `INVERSE_TRANSFORMS`) to
the rule's checkpoint key, checked by running the forward transform again.
"""

from keras_encoders.convert import porting


class UnsupportedExportError(ValueError):
    """The model (or its configuration) has no equivalent in the format it is
    exported to (Hugging Face, PaddleNLP)."""


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
    encoder = [v for v in backbone.weights if v.path not in skipped]
    parts = [(encoder, porting.expand_rules(spec.hf.BACKBONE_RULES, backbone.num_layers), prefix)]
    if backbone is not model:
        parts.append((porting.head_variables(model), porting.expand_rules(head_rules, 0), ""))
    state, unmapped = porting.unport_weights(parts, inverses)
    if unmapped:
        raise UnsupportedExportError(
            f"{architecture} has no place for these variables of "
            f"{type(model).__name__}: {', '.join(unmapped)}. Merge or drop what "
            "the reference model does not have (LoRA adapters, quantized "
            "kernels) before exporting, e.g. rebuild the task from its config "
            "without `enable_lora` and set the merged weights."
        )
    return state

