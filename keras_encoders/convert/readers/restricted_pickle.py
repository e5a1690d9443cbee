"""The restricted unpickler shared by the PyTorch and Paddle readers.

Unpickling normally imports and calls whatever the pickle names, so a
crafted file can run arbitrary code. `RestrictedUnpickler.find_class` never
imports anything: it returns the reader's own stand-ins (`SafeCallable`,
`Inert` subclasses) for a short allow-list and raises
`UnsafeCheckpointError` for every other name, before anything from the file
is called. The stand-ins only record what the pickle describes; readers
build arrays afterwards, checking every size against the bytes stored.
"""

import collections
import pickle

from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.convert.errors import UnsafeCheckpointError

# Dimensions, strides and offsets beyond this are corrupt: no file holds
# 2**48 elements, and numpy's intp arithmetic would overflow on 2**63.
MAX_DIMENSION = 2**48


class Malformed(Exception):
    """Raised while unpickling; re-raised with the file's path by `load`."""


class Inert:
    """Base for every object the unpickler can hand back to the pickle.

    `__slots__` leaves no `__dict__` to write into, and the pickle BUILD
    opcode (which would otherwise set attributes, e.g. swap a stand-in's
    function) always goes through `__setstate__`, which refuses.
    """

    __slots__ = ()

    def __setstate__(self, state):
        raise Malformed(
            f"the pickle tries to set state on {self!r}, which a saved "
            "state dict never does"
        )


class SafeCallable(Inert):
    """A callable the pickle may REDUCE; wraps one of the reader's functions."""

    __slots__ = ("qualname", "fn")

    def __init__(self, qualname, fn):
        self.qualname = qualname
        self.fn = fn

    def __call__(self, *args):
        return self.fn(*args)

    def __repr__(self):
        return f"<stand-in for {self.qualname}>"


def check_int(value, what, minimum=0, maximum=MAX_DIMENSION):
    # bool is an int subclass; a True offset means the pickle is malformed.
    if type(value) is not int or not minimum <= value <= maximum:
        raise Malformed(f"{what} must be an int in [{minimum}, {maximum}], got {value!r}")
    return value


def check_shape(value, what):
    if not isinstance(value, tuple):
        raise Malformed(f"{what} must be a tuple, got {value!r}")
    return tuple(check_int(v, what) for v in value)


def codecs_encode(text, encoding="utf-8"):
    # Protocol-2 pickles write `bytes` as _codecs.encode(str, "latin1");
    # allow exactly that, not arbitrary codecs.
    if type(text) is not str or encoding not in ("latin1", "latin-1"):
        raise Malformed(f"unexpected _codecs.encode(..., {encoding!r})")
    return text.encode("latin-1")


def ordered_dict(*args):
    # OrderedDict(iterable_of_pairs) only builds a container; no code runs.
    if len(args) > 1:
        raise Malformed("OrderedDict called with several arguments")
    return collections.OrderedDict(*args)


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves globals from `allowed(module, name)` only; never imports.

    Args:
        file: the pickle stream.
        path: the checkpoint file, for messages.
        allowed: `callable(module, name) -> stand-in or None`.
        refusal: what to tell the user when a global is refused (what the
            file should contain and how to re-save it).
    """

    def __init__(self, file, path, allowed, refusal, **kwargs):
        super().__init__(file, **kwargs)
        self.path = path
        self.allowed = allowed
        self.refusal = refusal

    def find_class(self, module, name):
        # Never defer to pickle.Unpickler.find_class: that imports modules.
        found = None
        if type(module) is str and type(name) is str:
            found = self.allowed(module, name)
        if found is None:
            raise UnsafeCheckpointError(
                f"{self.path}: refused to load. Its pickle tries to import "
                f"'{module}.{name}', {self.refusal} Nothing from the file was run."
            )
        return found

    def persistent_load(self, pid):
        raise Malformed(f"unexpected persistent id {pid!r}")


def load(unpickler, corrupt):
    """Run `unpickler`; every failure becomes a reader error naming the file.

    Args:
        unpickler: a `RestrictedUnpickler`.
        corrupt: `callable(detail) -> CheckpointFormatError`.
    """
    try:
        return unpickler.load()
    except (UnsafeCheckpointError, CheckpointFormatError):
        raise
    except Malformed as e:
        raise corrupt(f"malformed pickle: {e}") from None
    except RecursionError as e:
        raise corrupt("the pickle is nested too deeply") from e
    except Exception as e:  # noqa: BLE001 - nothing from the file ran
        # Bad opcodes, a cut-off pickle, wrong argument counts for a rebuild
        # function, MemoryError on an absurd length: the pickle is damaged.
        raise corrupt(f"the pickle cannot be parsed ({type(e).__name__}: {e})") from e
