"""What a backbone configuration may say, checked once for every way in.

A backbone is built from constructor arguments (`NezhaBackbone(...)`), from a
Keras preset's `config.json` (what `save_to_preset` writes), or from a
Hugging Face / TF1 / Paddle `config.json` (`convert.config_checks`). All
three go through `check_fields`, with the one table below; only the names
(Keras argument or Hugging Face field) and the error type differ. A wrong
value would otherwise surface as a raw `ZeroDivisionError` deep in a layer,
as NaN outputs (a negative LayerNorm epsilon), or as gigabytes allocated
before anything fails (a million layers).

Configurations inside these bounds can still describe models far too large
to build: `check_parameter_count` refuses to build more than
`parameter_ceiling()` parameters without weights, and
`check_weights_hold` compares what a configuration implies with the size of
the weights file that is to fill it.
"""

import contextlib
import contextvars
import math
import numbers
import os

# (Keras argument, Hugging Face field, smallest, largest). The upper bounds
# are far above any published checkpoint and far below what would exhaust
# memory by themselves. A model with segments needs at least one: segment id
# 0, every input's default, reads row 0 (transformers builds `nn.Embedding(0,
# H)` and fails at the first call).
INTEGERS = (
    ("vocabulary_size", "vocab_size", 1, 5_000_000),
    ("hidden_dim", "hidden_size", 1, 65_536),
    ("num_layers", "num_hidden_layers", 1, 1_000),
    ("num_heads", "num_attention_heads", 1, 4_096),
    ("intermediate_dim", "intermediate_size", 1, 1_000_000),
    ("max_sequence_length", "max_position_embeddings", 1, 1_000_000),
    ("num_segments", "type_vocab_size", 1, 1_000),
    ("max_relative_position", "max_relative_position", 1, 100_000),
    ("embedding_dim", "embedding_size", 1, 65_536),
    ("num_groups", "num_groups", 1, 4_096),
    ("head_ratio", "head_ratio", 1, 4_096),
    ("conv_kernel_size", "conv_kernel_size", 1, 4_096),
    ("pad_token_id", "pad_token_id", 0, 5_000_000),
    ("pad_position_id", None, 0, 1_000_000),
)
# (Keras argument, Hugging Face field): numbers in [0, 1].
PROBABILITIES = (
    ("dropout", "hidden_dropout_prob"),
    ("attention_dropout", "attention_probs_dropout_prob"),
    (None, "classifier_dropout"),
    ("activation_dropout", "act_dropout"),
)
EPSILON = ("layer_norm_epsilon", "layer_norm_eps")
# Fields without which no model can be built (the constructors' own
# required arguments are enforced by Python).
REQUIRED = {
    "keras": ("vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim"),
    "hf": ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads"),
}
NAMING = {"keras": 0, "hf": 1}
# The fields that may be None (null in a config.json): constructor arguments
# whose default is None (derived from another field), and Hugging Face's
# `classifier_dropout` and ERNIE-M's `act_dropout` (null: the hidden
# dropout). Any other would reach a layer as None, in transformers as here;
# a field left out takes its default.
NULLABLE = {"keras": ("embedding_dim", "pad_position_id"), "hf": ("classifier_dropout", "act_dropout")}

# Building without weights: at most this many parameters (16 GB in float32),
# about 7 times the largest published checkpoint of these models (ERNIE-M
# large, 560M). Set `KERAS_ENCODERS_MAX_PARAMETERS` or use
# `parameter_ceiling(n)` to build larger models on purpose.
MAX_PARAMETERS = 4_000_000_000
MAX_PARAMETERS_VARIABLE = "KERAS_ENCODERS_MAX_PARAMETERS"
_CEILING = contextvars.ContextVar("keras_encoders_parameter_ceiling", default=None)


def check_fields(config, naming="keras", where="", error=ValueError, position_offset=0,
                 ignored=()):
    """Raise `error` for the first invalid field of a backbone configuration.

    Args:
        config: dict of Keras constructor arguments (`naming="keras"`) or of
            Hugging Face `config.json` fields (`naming="hf"`).
        naming: which names `config` uses, and messages quote.
        where: what is checked, for messages: a file path, or a class name.
        error: the exception class to raise (`ValueError` for arguments,
            `CheckpointFormatError` for files).
        position_offset: positions the model reserves (ERNIE-M's Hugging
            Face `max_position_embeddings` counts 2 more than it can use).
        ignored: fields of `config` the model does not read, left unchecked
            (ERNIE-M's checkpoints declare a `type_vocab_size` it has no
            use for).
    """
    column = NAMING[naming]
    # A constructor call has arguments; a file (any other error type) fields.
    kind = "argument" if naming == "keras" and error is ValueError else "field"

    def fail(name, problem):
        raise error(f"{where}: {kind} {name!r} {problem}.")

    def unset(name, value):
        """Whether to skip `value` as not given; a field given as None fails
        unless it may be None."""
        if value is not None:
            return False
        if name in config and name not in NULLABLE[naming]:
            fail(name, "is None (null in a config.json); give it a value, or leave it out for its default")
        return True

    if not isinstance(config, dict):
        raise error(f"{where} must hold a JSON object, got {type(config).__name__}.")
    for name in REQUIRED[naming]:
        if config.get(name) is None:
            fail(name, "is missing (every backbone configuration declares it)")
    for row in INTEGERS:
        name, low, high = row[column], row[2], row[3]
        if name in ignored:
            continue
        value = config.get(name) if name else None
        if unset(name, value):
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            fail(name, f"must be an integer, got {short_repr(value)} ({type(value).__name__})")
        if not low <= value <= high:
            fail(name, f"must be between {low} and {high}, got {value}")
    for row in PROBABILITIES:
        name = row[column]
        value = config.get(name) if name else None
        if not unset(name, value) and not (_is_number(value) and 0 <= value <= 1):
            fail(name, f"must be a probability in [0, 1], got {short_repr(value)}")
    name = EPSILON[column]
    value = config.get(name)
    if not unset(name, value) and not (_is_number(value) and math.isfinite(value) and value > 0):
        fail(name, f"must be a positive, finite number, got {short_repr(value)}")
    _check_shapes(config, NAMING[naming], fail, position_offset)


def _check_shapes(config, column, fail, position_offset):
    """The divisibility rules the layers would otherwise raise from deep inside."""

    def get(keras_name):
        row = next(r for r in INTEGERS if r[0] == keras_name)
        return row[column], config.get(row[column])

    hidden_name, hidden = get("hidden_dim")
    heads_name, heads = get("num_heads")
    if hidden % heads:
        fail(hidden_name, f"({hidden}) must be divisible by {heads_name} ({heads})")
    relative_name, relative = get("max_relative_position")
    if relative is not None and (hidden // heads) % 2:
        fail(
            hidden_name,
            f"/ {heads_name} ({hidden} / {heads}) must be even: relative "
            f"positions ({relative_name}) rotate pairs of features",
        )
    kernel_name, kernel = get("conv_kernel_size")
    if kernel is not None and kernel % 2 == 0:
        fail(kernel_name, f"must be odd (the convolution is centred), got {kernel}")
    groups_name, groups = get("num_groups")
    intermediate_name, intermediate = get("intermediate_dim")
    for name, width in ((hidden_name, hidden), (intermediate_name, intermediate)):
        if groups is not None and width is not None and width % groups:
            fail(name, f"({width}) must be divisible by {groups_name} ({groups})")
    positions_name, positions = get("max_sequence_length")
    if positions is not None and positions <= position_offset:
        fail(positions_name, f"must exceed {position_offset}, got {positions}")


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def short_repr(value, limit=80):
    """`repr(value)`, cut: messages never quote a whole file's content."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


# === Size ===
def parameter_ceiling():
    """The most parameters a backbone is built with when no weights file
    vouches for its size (see `MAX_PARAMETERS`)."""
    value = _CEILING.get()
    if value is not None:
        return value
    text = os.environ.get(MAX_PARAMETERS_VARIABLE)
    if text:
        try:
            return int(float(text))
        except ValueError:
            raise ValueError(
                f"{MAX_PARAMETERS_VARIABLE}={text!r} must be a number of parameters."
            ) from None
    return MAX_PARAMETERS


@contextlib.contextmanager
def allow_parameters(count):
    """Within this block, backbones of up to `count` parameters are built.

    Example:
    >>> from keras_encoders.models import NezhaBackbone, allow_parameters
    >>> with allow_parameters(10_000_000_000):
    ...     pass  # NezhaBackbone(...) of up to 10B parameters
    """
    token = _CEILING.set(max(int(count), 0))
    try:
        yield
    finally:
        _CEILING.reset(token)


def check_parameter_count(count, where, error=ValueError):
    """Refuse to build `count` parameters above `parameter_ceiling()`."""
    ceiling = parameter_ceiling()
    if count > ceiling:
        raise error(
            f"{where} describes {count:,} parameters ({4 * count / 2**30:,.1f} GiB in "
            f"float32), more than the {ceiling:,} built without weights. Check "
            "the configuration; to build it on purpose, raise the ceiling with "
            f"`keras_encoders.models.allow_parameters(n)` or {MAX_PARAMETERS_VARIABLE}."
        )


def check_weights_hold(count, bytes_per_parameter, files, where, error=ValueError, size=None):
    """Refuse a configuration of `count` parameters that `files` cannot hold.

    Args:
        count: the parameters the configuration implies (at least).
        bytes_per_parameter: the fewest bytes the format stores a parameter in.
        files: the weight files, or a description of the weights read.
        where: the configuration, for messages.
        size: the bytes the weights hold; the files' total size if None.
    """
    if size is None:
        size = sum(os.path.getsize(f) for f in files)
        files = ", ".join(files)
    if count * bytes_per_parameter > size:
        raise error(
            f"{where} describes {count:,} parameters, at least "
            f"{count * bytes_per_parameter:,.0f} bytes, but the weights ({files}) "
            f"hold {size:,} bytes: the configuration does not match its weights."
        )


def ceiling_for_weights(cls, arguments, bytes_per_parameter, files, where, error=ValueError,
                        size=None, pooler_optional=False):
    """Check that weights can fill the backbone `arguments` describe, and
    return the parameter ceiling to build it under (the weights vouch for
    its size, so it may exceed `parameter_ceiling()`). Without weights
    (`files` None) the configuration must stay under `parameter_ceiling()`.

    Args:
        cls: the backbone class.
        arguments: its constructor arguments.
        pooler_optional: the weights may lack the pooler (Hugging Face
            heads without one do not save it).
        (the rest as `check_weights_hold`)
    """
    count = cls.implied_parameter_count(arguments)
    if files is None:
        check_parameter_count(count, where, error)
        return parameter_ceiling()
    hidden = arguments["hidden_dim"]
    needed = count - (hidden * hidden + hidden if pooler_optional else 0)
    check_weights_hold(needed, bytes_per_parameter, files, where, error, size)
    return max(count, parameter_ceiling())


def check_arguments(cls, arguments):
    """A backbone constructor's check of its own arguments (`locals()`).

    Raises a `ValueError` naming the argument, its value and the accepted
    range, before any layer is created.
    """
    config = {k: v for k, v in arguments.items() if k not in ("self", "kwargs", "dtype", "__class__")}
    check_fields(config, "keras", cls.__name__)
    check_parameter_count(cls.implied_parameter_count(config), cls.__name__)


def encoder_layer_parameters(hidden, intermediate, attention_width=None, groups=1):
    """Parameters of one post-LN encoder block: q/k/v and output projections,
    the feed-forward pair (grouped kernels hold 1/`groups` of the weights),
    two LayerNorms."""
    width = hidden if attention_width is None else attention_width
    attention = 3 * (hidden * width + width) + (hidden * hidden + hidden)
    feedforward = 2 * hidden * intermediate // groups + intermediate + hidden
    return attention + feedforward + 4 * hidden
