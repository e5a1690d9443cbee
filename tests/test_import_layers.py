"""The package's dependency direction, checked two ways: every subpackage
imports alone in a fresh interpreter, and a static scan of the import
statements (function-level ones included) finds no edge against the
direction: convert/ never imports presets/, readers/ know no model, and
neither convert/ nor presets/ hide an import of the package inside a
function to dodge a cycle, and nothing below uie/ (UIE data: annotation
import and evaluation, on top of models/) imports it. (models/ never
importing export/ is the export issue's check.) The benchmark's tools too:
`tools/benchmark.py` runs its section scripts, never the other way."""

import ast
import os
import subprocess
import sys

import pytest

# Import layering is a property of the source, the same under every backend.
pytestmark = pytest.mark.backend_independent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "keras_encoders")


def imports(folder):
    """`(file, line, module, function_level)` for every import under `folder`
    (in the package, or an absolute path)."""
    found = []
    for directory, _, files in os.walk(os.path.join(PACKAGE, folder)):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            nested = {
                id(node)
                for func in ast.walk(tree)
                if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
                for node in ast.walk(func)
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                else:
                    continue
                rel = os.path.relpath(path, ROOT)
                found += [(rel, node.lineno, m, id(node) in nested) for m in modules]
    return found


def test_convert_never_imports_presets():
    bad = [f"{f}:{n} imports {m}" for f, n, m, _ in imports("convert") if m.startswith("keras_encoders.presets")]
    assert not bad, "\n".join(bad)


def test_readers_know_no_model():
    # utils.files: bounded reads of small files, standard library only.
    allowed = ("keras_encoders.convert.errors", "keras_encoders.convert.readers", "keras_encoders.utils.files")
    bad = [
        f"{f}:{n} imports {m}"
        for f, n, m, _ in imports(os.path.join("convert", "readers"))
        if m.startswith("keras_encoders") and not m.startswith(allowed)
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("folder", ["convert", "presets"])
def test_no_function_level_imports_of_the_package(folder):
    # presets/__init__.markdown_table imports `table` on use so that
    # `python -m keras_encoders.presets.table` does not import it twice.
    bad = [
        f"{f}:{n} imports {m} inside a function"
        for f, n, m, nested in imports(folder)
        if nested and m.startswith("keras_encoders") and not m.startswith("keras_encoders.presets.table")
        and m != "keras_encoders.presets"
    ]
    assert not bad, "\n".join(bad)


def test_models_never_import_a_way_out():
    """The writers (SavedModel, Hugging Face, ONNX, PaddleNLP) know the
    models; the models know none of them."""
    writers = ("keras_encoders.export", "keras_encoders.hf_export", "keras_encoders.onnx_export",
               "keras_encoders.paddle_export")
    bad = [f"{f}:{n} imports {m}" for f, n, m, _ in imports("models") if m.startswith(writers)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "folder",
    ["models", "convert", "export", "hf_export", "onnx_export", "paddle_export", "decoding", "layers",
     "tokenizers"],
)
def test_nothing_below_imports_uie_data(folder):
    # keras_encoders.uie (annotation import, evaluation) sits on top of models.
    bad = [f"{f}:{n} imports {m}" for f, n, m, _ in imports(folder) if m.startswith("keras_encoders.uie")]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "name",
    ["convert", "presets", "export", "hf_export", "onnx_export", "paddle_export", "models", "layers",
     "tokenizers", "uie"],
)
def test_subpackage_imports_alone(name):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", f"import keras_encoders.{name}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_benchmark_sections_never_import_the_runner():
    """`tools/benchmark.py` imports its section scripts (`bench_*.py`); they
    take what they share with it from `bench_common.py`, which imports
    neither, so no tool imports another in a circle."""
    bad = []
    for f, n, m, _ in imports(os.path.join(ROOT, "tools")):
        name, top = os.path.basename(f), m.split(".")[0]
        if name.startswith("bench_") and top == "benchmark":
            bad.append(f"{f}:{n} imports {m}")
        if name == "bench_common.py" and top.startswith("bench"):
            bad.append(f"{f}:{n} imports {m}")
    assert not bad, "\n".join(bad)
