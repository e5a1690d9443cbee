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
import io
import pickle
import pickletools

from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.convert.errors import UnsafeCheckpointError
from keras_encoders.convert.errors import quote

# Dimensions, strides and offsets beyond this are corrupt: no file holds
# 2**48 elements, and numpy's intp arithmetic would overflow on 2**63.
MAX_DIMENSION = 2**48

# NumPy's limit on the number of dimensions of an array.
MAX_NDIM = 64

# What a reader may allocate beyond the bytes it read (converted copies:
# byte swaps, bfloat16 widened to float32, bytes decoded from text), as a
# multiple of those bytes. Widening every stored byte once as bfloat16 is
# 2x; views (tied weights, one storage under many keys) cost nothing, so
# only a file that asks for the same conversion over and over goes past it.
MAX_EXPANSION = 2


class Budget:
    """Counts what a reader converts, and refuses past `MAX_EXPANSION` x `stored`."""

    def __init__(self, stored, error):
        self.stored = stored
        self.error = error  # callable(detail) -> exception
        self.spent = 0

    def charge(self, nbytes, what):
        self.spent += nbytes
        if self.spent > MAX_EXPANSION * max(self.stored, 1):
            raise self.error(
                f"{what} would take the reader past {MAX_EXPANSION}x the "
                f"{self.stored} bytes the file stores (the same bytes are "
                "converted over and over)"
            )


# Deepest nesting of containers a pickle may describe. A state dict is a
# handful of levels deep (dict -> tensor -> argument tuple -> shape tuple);
# CPython's unpickler and repr recurse on nesting, and crash (SIGSEGV) or
# raise RecursionError a few ten thousand levels down, so deeper pickles
# are refused by `check_nesting` before anything is unpickled.
MAX_NESTING = 100


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
            f"the pickle tries to set state on {quote(self)}, which a saved "
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
        raise Malformed(f"{what} must be an int in [{minimum}, {maximum}], got {quote(value)}")
    return value


def check_shape(value, what):
    if not isinstance(value, tuple) or len(value) > MAX_NDIM:
        raise Malformed(f"{what} must be a tuple of at most {MAX_NDIM} ints, got {quote(value)}")
    return tuple(check_int(v, what) for v in value)


def codecs_encode(text, encoding="utf-8"):
    # Protocol-2 pickles write `bytes` as _codecs.encode(str, "latin1");
    # allow exactly that, not arbitrary codecs.
    if type(text) is not str or encoding not in ("latin1", "latin-1"):
        raise Malformed(f"unexpected _codecs.encode(..., {quote(encoding)})")
    return text.encode("latin-1")


def ordered_dict(*args):
    # OrderedDict(iterable_of_pairs) only builds a container; no code runs.
    if len(args) > 1:
        raise Malformed("OrderedDict called with several arguments")
    return collections.OrderedDict(*args)


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves globals from `allowed(module, name)` only; never imports.

    Args:
        data: the pickle's bytes (scanned by `check_nesting` before `load`).
        path: the checkpoint file, for messages.
        allowed: `callable(module, name) -> stand-in or None`.
        refusal: what to tell the user when a global is refused (what the
            file should contain and how to re-save it).
    """

    def __init__(self, data, path, allowed, refusal, **kwargs):
        super().__init__(io.BytesIO(data), **kwargs)
        self.data = data
        self.path = path
        self.allowed = allowed
        self.refusal = refusal
        self.budget = Budget(len(data), Malformed)
        # `_codecs.encode` per load: one memoised string encoded 1,500 times
        # is encoded once, and new encodings are charged to the budget.
        self.encoded = {}
        self.encode = SafeCallable("_codecs.encode", self.encode_once)

    def encode_once(self, text, encoding="utf-8"):
        key = id(text)
        if key not in self.encoded:
            encoded = codecs_encode(text, encoding)
            self.budget.charge(len(encoded), "decoding text into bytes")
            self.encoded[key] = (text, encoded)  # `text` kept alive: its id stays unique
        return self.encoded[key][1]

    def find_class(self, module, name):
        # Never defer to pickle.Unpickler.find_class: that imports modules.
        found = None
        if type(module) is str and type(name) is str:
            found = self.allowed(module, name)
            if found is not None and (module, name) == ("_codecs", "encode"):
                found = self.encode
        if found is None:
            raise UnsafeCheckpointError(
                f"{self.path}: refused to load. Its pickle tries to import "
                f"{quote(f'{module}.{name}')}, {self.refusal} Nothing from the file was run."
            )
        return found

    def persistent_load(self, pid):
        raise Malformed(f"unexpected persistent id {quote(pid)}")


# Opcodes that build a container from what they pop (the counts; None means
# everything down to the last MARK).
_BUILDS = {
    "TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3, "TUPLE": None, "LIST": None, "DICT": None,
    "FROZENSET": None, "REDUCE": 2, "NEWOBJ": 2, "NEWOBJ_EX": 3, "OBJ": None, "INST": None,
    "BINPERSID": 1, "STACK_GLOBAL": 2,
}
# Opcodes that add what they pop (counts as above) to the container below.
_ADDS = {"APPEND": 1, "SETITEM": 2, "BUILD": 1, "APPENDS": None, "SETITEMS": None, "ADDITEMS": None}
_EMPTY = {"EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET", "EMPTY_TUPLE"}
_NO_STACK = {"PROTO", "FRAME", "STOP", "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "READONLY_BUFFER"}


class _Node:
    """A container in `check_nesting`'s model of the pickle's objects.

    `depth` is a lower bound of its nesting, known as it is built, so that
    plain deep nesting is refused within `limit` opcodes; nesting built
    later through the memo is found by `_check_depth` at the end.
    """

    __slots__ = ("children", "depth")

    def __init__(self, children, limit):
        self.children = []
        self.depth = 1
        self.add(children, limit)

    def add(self, items, limit):
        for item in items:
            if item is not None:
                self.children.append(item)
                self.depth = max(self.depth, item.depth + 1)
        if self.depth > limit:
            raise _too_deep(limit)


def _memo_skips_ahead(key, stored):
    # Picklers number the memo 0, 1, 2, ... CPython's unpickler keeps it in
    # an array as long as twice the largest key, so one key of 2**32 - 1
    # in a file of a few hundred bytes would allocate (and zero) 64 GiB.
    return Malformed(
        f"memo key {key} skips ahead of the {stored} objects memoised before it "
        "(picklers number them 0, 1, 2, ...; unpickling it would allocate a "
        f"table of {2 * key} entries)"
    )


def _too_deep(limit):
    return Malformed(
        f"its objects are nested more than {limit} levels deep (a state dict "
        "is a few levels deep; deeper nesting crashes Python's unpickler)"
    )


def _pop(stack, marks, count):
    if count is None:
        if not marks:
            raise Malformed("an opcode needs a MARK that is not there")
        start = marks.pop()
    else:
        start = len(stack) - count
    if start < 0 or start > len(stack):
        raise Malformed("an opcode pops more than the stack holds")
    items = stack[start:]
    del stack[start:]
    return items


# Width of the length prefix of variable-length arguments, and its signedness.
_LENGTH_PREFIX = {
    pickletools.TAKEN_FROM_ARGUMENT1: (1, False),
    pickletools.TAKEN_FROM_ARGUMENT4: (4, True),
    pickletools.TAKEN_FROM_ARGUMENT4U: (4, False),
    pickletools.TAKEN_FROM_ARGUMENT8U: (8, False),
}
_MEMO_OPS = {"GET", "BINGET", "LONG_BINGET", "PUT", "BINPUT", "LONG_BINPUT"}


def _opcodes(data):
    """`(opcode, memo index or None)` of each opcode of the pickle `data`.

    Like `pickletools.genops`, flat, but skips over arguments instead of
    copying them (a weights pickle is mostly one huge bytes argument per
    array); only memo indexes are decoded.
    """
    pos, end = 0, len(data)
    while pos < end:
        opcode = pickletools.code2op.get(chr(data[pos]))
        if opcode is None:
            raise Malformed(f"unknown opcode {data[pos]:#04x} at byte {pos}")
        pos += 1
        start = pos
        if opcode.arg is not None:
            size = opcode.arg.n
            if size >= 0:
                pos += size
            elif size == pickletools.UP_TO_NEWLINE:
                for _ in range(2 if opcode.name in ("GLOBAL", "INST") else 1):
                    newline = data.find(b"\n", pos)
                    if newline < 0:
                        raise Malformed(f"{opcode.name} at byte {start - 1} is cut off")
                    pos = newline + 1
            else:
                width, signed = _LENGTH_PREFIX[size]
                length = int.from_bytes(data[pos : pos + width], "little", signed=signed)
                if length < 0:
                    raise Malformed(f"{opcode.name} at byte {start - 1} has a negative length")
                start = pos = pos + width
                pos += length
            if pos > end:
                raise Malformed(f"{opcode.name} at byte {start - 1} is cut off")
        arg = None
        if opcode.name in _MEMO_OPS:
            raw = data[start:pos]
            arg = int(raw) if opcode.name in ("GET", "PUT") else int.from_bytes(raw, "little")
        yield opcode, arg
        if opcode.name == "STOP":
            return
    raise Malformed("the pickle ends without a STOP opcode")


def check_nesting(data, limit=MAX_NESTING):
    """Refuse (`Malformed`) a pickle whose objects nest deeper than `limit`.

    Walks the opcode stream (flat: see `_opcodes`) and models only which containers hold which, through the memo too, so
    that nesting built by memo references and later appends is counted;
    nothing is unpickled. Containers that hold themselves are refused as
    well: no state dict does, and so are memo keys that skip ahead of the
    objects memoised so far, for which the unpickler would allocate a table
    as long as the key. Each scalar is one shared placeholder (None), so
    the model costs a small object per container opcode.
    """
    stack, marks, memo = [], [], {}
    try:
        for opcode, arg in _opcodes(data):
            name = opcode.name
            if name == "MARK":
                marks.append(len(stack))
            elif name in _EMPTY:
                stack.append(_Node((), limit))
            elif name in _BUILDS:
                stack.append(_Node(_pop(stack, marks, _BUILDS[name]), limit))
            elif name in _ADDS:
                items = _pop(stack, marks, _ADDS[name])
                if not stack:
                    raise Malformed(f"{name} with nothing to add to")
                if isinstance(stack[-1], _Node):
                    stack[-1].add(items, limit)
            elif name == "POP":
                if stack and (not marks or marks[-1] < len(stack)):
                    stack.pop()
                elif marks:
                    marks.pop()
            elif name == "POP_MARK":
                _pop(stack, marks, None)
            elif name == "DUP":
                if not stack:
                    raise Malformed("DUP on an empty stack")
                stack.append(stack[-1])
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                if arg not in memo:
                    raise Malformed(f"memo key {quote(arg)} is read before it is written")
                stack.append(memo[arg])
            elif name in _NO_STACK:
                if name == "MEMOIZE":
                    arg = len(memo)
                if name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                    if not stack:
                        raise Malformed(f"{name} on an empty stack")
                    if arg > len(memo):
                        raise _memo_skips_ahead(arg, len(memo))
                    memo[arg] = stack[-1]
            else:
                # Everything else pops nothing and pushes one scalar, a
                # global or a buffer (pickletools' stack_before is empty).
                stack.append(None)
    except ValueError as e:  # a GET/PUT index that is not a number
        raise Malformed(f"the pickle cannot be parsed ({quote(str(e))})") from None
    _check_depth(stack + list(memo.values()), limit)


def _check_depth(roots, limit):
    # Longest chain of containers, without recursion: depth[node] is known
    # once all its children are; a node met again while open is a cycle.
    depth, open_nodes = {}, set()
    for root in roots:
        if not isinstance(root, _Node) or id(root) in depth:
            continue
        todo = [(root, False)]
        while todo:
            node, expanded = todo.pop()
            key = id(node)
            if expanded:
                open_nodes.discard(key)
                depth[key] = 1 + max((depth[id(c)] for c in node.children), default=0)
                if depth[key] > limit:
                    raise _too_deep(limit)
                continue
            if key in depth:
                continue
            if key in open_nodes:
                raise Malformed("a container in the pickle holds itself, which no state dict does")
            open_nodes.add(key)
            todo.append((node, True))
            todo.extend((c, False) for c in node.children if id(c) not in depth)


def load(unpickler, corrupt):
    """Run `unpickler`; every failure becomes a reader error naming the file.

    Args:
        unpickler: a `RestrictedUnpickler`.
        corrupt: `callable(detail) -> CheckpointFormatError`.
    """
    try:
        check_nesting(unpickler.data)
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
        raise corrupt(f"the pickle cannot be parsed ({type(e).__name__}: {quote(str(e))})") from e
