"""The errors a checkpoint can raise, shared by every layer of `convert/`."""


class CheckpointFormatError(ValueError):
    """The file is not a readable checkpoint (corrupt, truncated, absurd sizes,
    non-finite weights, an invalid `config.json`); the message names the file
    and the key or field."""


class UnsafeCheckpointError(ValueError):
    """The pickle names a global outside the allow-list; nothing was run."""


class CheckpointMismatchError(ValueError):
    """Missing, unexpected or wrongly shaped checkpoint tensors."""
