"""Docstring examples: every public class has one, and each one runs.

Collected from `keras_encoders.models`, `.layers` and `.tokenizers`; the
examples build tiny random models (no network, no files), so they run on
every backend. They are `>>>` doctests that import what they use, so
`help(SomeClass)` shows something a user can paste; as `python -m doctest`
does, they run in their module's namespace.
"""

import doctest
import inspect
import sys

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
    runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)
