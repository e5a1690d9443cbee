"""Docstring examples: every public class has one, and each one runs.

Collected from `keras_encoders.models`, `.layers` and `.tokenizers`; the
examples build tiny random models (no network, no files), so they run on
every backend. They are `>>>` doctests that import what they use, so
`help(SomeClass)` shows something a user can paste; as `python -m doctest`
does, they run in their module's namespace. The objects an example builds,
and every class of the package, are also checked for attributes that hide
a Keras method (an attribute `summary` breaks `model.summary()`).
"""

import doctest
import functools
import importlib
import inspect
import pkgutil
import sys
import types

import keras
import pytest

import keras_encoders  # noqa: F401
from keras_encoders import layers, models, tokenizers


def public_classes():
    found = {}
    for module in (models, layers, tokenizers):
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and not name.startswith("_")
                    and obj.__module__.startswith("keras_encoders")):
                found.setdefault(name, obj)
    return sorted(found.items())


CLASSES = public_classes()


def test_the_public_surface_is_collected():
    names = dict(CLASSES)
    # One per model, task family, tokenizer family and layer module at least.
    for name in ("NezhaTextClassifier", "ConvBertTokenClassifier", "ErnieMInformationExtractor",
                 "ErnieMTokenizer", "TokenClassifier", "MixedAttention", "BertWordPieceTokenizer"):
        assert name in names
    assert len(CLASSES) > 60


@pytest.mark.parametrize("name,cls", CLASSES, ids=[n for n, _ in CLASSES])
def test_docstring_example_runs(name, cls):
    doc = cls.__dict__.get("__doc__") or ""
    assert ">>>" in doc, f"{name}'s docstring has no runnable (>>>) example"
    namespace = dict(vars(sys.modules[cls.__module__]))
    test = doctest.DocTestParser().get_doctest(doc, namespace, name, inspect.getsourcefile(cls), 0)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    out = []
    runner.run(test, out=out.append, clear_globs=False)
    assert runner.failures == 0, "".join(out)
    seen, shadowed = set(), []
    for value in test.globs.values():
        if ours_or_keras(value):
            shadowed += shadowed_methods(value, seen, keras_own_attributes())
    test.globs.clear()
    assert not shadowed, f"{name}'s example holds attributes that hide methods: {shadowed}"


# === No attribute hides a method (a tokenizer's `summary` would break `model.summary()`) ===
METHOD_TYPES = (types.FunctionType, classmethod, staticmethod, property)


@functools.cache
def keras_own_attributes():
    """What Keras itself sets on its layers and models: `build` and
    `quantize` wrap the methods, and `Trainer` sets `loss`, which hides the
    TensorFlow trainer's deprecated `loss()`."""
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(loss="mse")
    return set(vars(model)) | set(vars(keras.layers.Layer()))


def ours_or_keras(value):
    return (hasattr(value, "__dict__") and not isinstance(value, (type, types.ModuleType))
            and type(value).__module__.startswith(("keras_encoders", "keras_hub", "keras")))


def defined_by(classes, name):
    """The first of `classes` (an MRO) that defines `name`, and what it defines."""
    for base in classes:
        if name in vars(base):
            return base, vars(base)[name]
    return None, None


def shadowed_methods(obj, seen, exempt):
    """`Class.attribute` for each public instance attribute that hides a
    method of its class (the names in `exempt` aside), on `obj` and on every
    object of ours it holds, also through Keras' and keras-hub's objects
    (theirs are walked, not judged: their releases are not ours to fix)."""
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    found = []
    ours = type(obj).__module__.startswith("keras_encoders")
    for name, value in list(vars(obj).items()):
        if name.startswith("_") or name in exempt:
            continue
        owner, static = defined_by(type(obj).__mro__, name)
        if ours and isinstance(static, METHOD_TYPES):
            found.append(f"{type(obj).__name__}.{name} (hides {owner.__name__}.{name})")
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if ours_or_keras(item):
                found += shadowed_methods(item, seen, exempt)
    return found


def package_classes():
    for info in pkgutil.walk_packages(keras_encoders.__path__, "keras_encoders."):
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if inspect.isclass(obj) and obj.__module__ == module.__name__:
                yield obj


@pytest.mark.backend_independent
def test_no_class_attribute_hides_a_method_of_its_bases():
    """A class-level value (`summary_type = "pooled"`, `checkpoint_head`)
    must not reuse the name of a base's method or property."""
    classes = list(package_classes())
    assert len(classes) > 100 and keras.Model in {b for c in classes for b in c.__mro__}
    hidden = []
    for cls in classes:
        for name, value in vars(cls).items():
            if name.startswith("_") or isinstance(value, METHOD_TYPES):
                continue
            owner, static = defined_by(cls.__mro__[1:], name)
            if isinstance(static, METHOD_TYPES):
                hidden.append(f"{cls.__module__}.{cls.__name__}.{name} (hides {owner.__name__}.{name})")
    assert not hidden, hidden
