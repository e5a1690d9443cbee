"""Check a Hugging Face-style `config.json` before anything is built from it.

A wrong value would otherwise surface as a raw `ZeroDivisionError`,
`KeyError` or `TypeError` deep inside a layer, or, for an absurd vocabulary,
as gigabytes allocated before any check. Every problem is a
`CheckpointFormatError` naming the file and the field.
"""

import math

from keras_encoders.convert.errors import CheckpointFormatError

REQUIRED = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads")
# Integer fields: (smallest, largest) accepted. The upper bounds are far above
# any published checkpoint and far below what would exhaust memory.
INTEGERS = {
    "vocab_size": (1, 5_000_000),
    "hidden_size": (1, 65_536),
    "num_hidden_layers": (1, 1_000),
    "num_attention_heads": (1, 4_096),
    "intermediate_size": (1, 1_000_000),
    "max_position_embeddings": (1, 1_000_000),
    "type_vocab_size": (0, 1_000),
    "max_relative_position": (1, 100_000),
    "embedding_size": (1, 65_536),
    "num_groups": (1, 4_096),
    "head_ratio": (1, 4_096),
    "conv_kernel_size": (1, 4_096),
    "pad_token_id": (0, 5_000_000),
}
PROBABILITIES = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout", "act_dropout")


def check_config(config, path, position_offset=0):
    """Raise `CheckpointFormatError` for the first invalid field of `config`.

    Args:
        config: the `config.json` dict.
        path: the file, for messages.
        position_offset: positions the model reserves (ERNIE-M: 2).
    """

    def fail(field, problem):
        raise CheckpointFormatError(f"{path}: field {field!r} {problem}.")

    if not isinstance(config, dict):
        raise CheckpointFormatError(f"{path} must hold a JSON object.")
    for field in REQUIRED:
        if field not in config:
            fail(field, "is missing (every checkpoint config declares it)")
    for field, (low, high) in INTEGERS.items():
        if field not in config or (config[field] is None and field not in REQUIRED):
            continue
        value = config[field]
        if type(value) is not int:
            fail(field, f"must be an integer, got {value!r} ({type(value).__name__})")
        if not low <= value <= high:
            fail(field, f"must be between {low} and {high}, got {value}")
    if config["hidden_size"] % config["num_attention_heads"]:
        fail(
            "hidden_size",
            f"({config['hidden_size']}) must be divisible by num_attention_heads "
            f"({config['num_attention_heads']})",
        )
    for field in PROBABILITIES:
        value = config.get(field)
        if value is None:
            continue
        if type(value) not in (int, float) or not 0 <= value <= 1:
            fail(field, f"must be a probability in [0, 1], got {value!r}")
    eps = config.get("layer_norm_eps")
    if eps is not None and (type(eps) not in (int, float) or not math.isfinite(eps) or eps <= 0):
        fail("layer_norm_eps", f"must be a positive number, got {eps!r}")
    positions = config.get("max_position_embeddings")
    if positions is not None and positions <= position_offset:
        fail("max_position_embeddings", f"must exceed {position_offset}, got {positions}")
    archs = config.get("architectures")
    if archs is not None and not (
        isinstance(archs, list) and all(isinstance(a, str) for a in archs)
    ):
        fail("architectures", f"must be a list of class names, got {archs!r}")
