"""The errors a checkpoint can raise, shared by every layer of `convert/`.

Messages quote what the file holds (keys, values, metadata), and a hostile
file controls those: a 1 MiB key repeated a thousand times would otherwise
become a gigabyte-long message. `quote` is the one way a reader quotes file
content (a short repr, built without ever building the full one), and every
error here caps its whole message at `MAX_MESSAGE` characters as a last
resort, keeping its start (the file and key) and its end (what to do).
"""

import reprlib

# Longest message an error keeps; longer ones lose their middle.
MAX_MESSAGE = 4000


class _ShortRepr(reprlib.Repr):
    """`reprlib.Repr` that also shortens bytes before building their repr."""

    def __init__(self):
        super().__init__()
        self.maxlevel = 3
        self.maxstring = 80
        self.maxother = 80
        self.maxlong = 40
        self.maxtuple = self.maxlist = self.maxdict = self.maxset = 6
        self.maxfrozenset = 6

    def repr_bytes(self, x, level):
        if len(x) <= self.maxstring:
            return repr(x)
        return repr(x[: self.maxstring - 20]) + f"...<{len(x)} bytes>"

    repr_bytearray = repr_bytes

    def repr_str(self, x, level):
        if len(x) <= self.maxstring:
            return repr(x)
        keep = (self.maxstring - 10) // 2
        return f"{x[:keep]!r}...<{len(x)} characters>...{x[-keep:]!r}"

    def repr_int(self, x, level):
        # repr of a huge int is slow, and refused past 4300 digits.
        if x.bit_length() > 128:
            return f"<int of {x.bit_length()} bits>"
        return repr(x)

    def repr_instance(self, x, level):
        # Subclasses (OrderedDict, a str subclass) are shortened like their base.
        for base in (dict, list, tuple, set, frozenset, str, bytes, int):
            if isinstance(x, base) and type(x) is not bool:
                return getattr(self, "repr_" + base.__name__)(x, level)
        # Our stand-ins' reprs are short by construction; anything else is
        # summarised by its type rather than trusted to repr itself briefly.
        try:
            text = repr(x)
        except Exception:  # noqa: BLE001 - a repr must never hide the real error
            text = f"<{type(x).__name__}>"
        return text if len(text) <= self.maxother else text[: self.maxother - 3] + "..."


_SHORT = _ShortRepr()


def quote(value):
    """A repr of `value` of at most a few hundred characters, whatever it holds."""
    return _SHORT.repr(value)


def cap_message(message):
    """`message`, with its middle elided if it is longer than `MAX_MESSAGE`."""
    if len(message) <= MAX_MESSAGE:
        return message
    head, tail = message[: MAX_MESSAGE * 3 // 4], message[-MAX_MESSAGE // 4 :]
    return f"{head} ...[{len(message) - len(head) - len(tail)} characters omitted]... {tail}"


class _CappedError(ValueError):
    def __init__(self, message="", *args):
        super().__init__(cap_message(str(message)), *args)


class CheckpointFormatError(_CappedError):
    """The file is not a readable checkpoint (corrupt, truncated, absurd sizes,
    non-finite weights, an invalid `config.json`); the message names the file
    and the key or field."""


class UnsafeCheckpointError(_CappedError):
    """The pickle names a global outside the allow-list; nothing was run."""


class CheckpointMismatchError(_CappedError):
    """Missing, unexpected or wrongly shaped checkpoint tensors."""
