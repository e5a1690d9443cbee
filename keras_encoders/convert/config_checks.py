"""Check a Hugging Face-style `config.json` before anything is built from it.

A wrong value would otherwise surface as a raw `ZeroDivisionError`,
`KeyError` or `TypeError` deep inside a layer, or, for an absurd vocabulary,
as gigabytes allocated before any check. Every problem is a
`CheckpointFormatError` naming the file and the field. The rules are the
backbones' own (`models.backbone_checks`), read under the Hugging Face field
names, so that a checkpoint and a constructor call accept the same models.
"""

from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.models import backbone_checks


def check_config(config, path, spec):
    """Raise `CheckpointFormatError` for the first invalid field of `config`.

    Args:
        config: the `config.json` dict.
        path: the file, for messages.
        spec: the family's `FamilySpec` (the positions it reserves, whether
            it reads `type_vocab_size`).
    """
    ignored = () if spec.uses_segments else ("type_vocab_size",)
    backbone_checks.check_fields(
        config, "hf", path, CheckpointFormatError, spec.position_offset, ignored
    )
    archs = config.get("architectures")
    if archs is not None and not (
        isinstance(archs, list) and all(isinstance(a, str) for a in archs)
    ):
        raise CheckpointFormatError(
            f"{path}: field 'architectures' must be a list of class names, "
            f"got {backbone_checks.short_repr(archs)}."
        )
