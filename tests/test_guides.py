"""The notebooks in guides/: built from their sources, well formed, and
executed end to end (small models, real data) by .ci/run's guides step.

Executing them is slow (minutes each), so it runs only when
`KERAS_ENCODERS_RUN_GUIDES=1`, once, on one backend (`.ci/run` sets both);
the other checks run everywhere.
"""

import glob
import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import SHARED

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import build_guides  # noqa: E402

NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "guides", "*.ipynb")))
NAMES = [os.path.splitext(os.path.basename(p))[0] for p in NOTEBOOKS]


def load(path):
    nbformat = pytest.importorskip("nbformat")
    return nbformat.read(path, as_version=4)


def test_notebooks_are_built_from_their_sources(capsys):
    assert build_guides.main(["--check"]) == 0, capsys.readouterr().out
    sources = [os.path.splitext(os.path.basename(p))[0] for p in build_guides.sources()]
    assert sources == NAMES


def test_the_stories_are_all_there():
    assert len(NOTEBOOKS) >= 8
    text = {name: open(path, encoding="utf-8").read() for name, path in zip(NAMES, NOTEBOOKS)}
    wanted = {
        "doccano_ext.jsonl": "uie.evaluate",  # annotations in, a served UIE-M out
        "ChnSentiCorp": "NezhaTextClassifier", "msra_ner": "predict_entities",
        "cmrc2018": ".answer(", "uie_m_base_multi": ".extract(", "xnli": "ErnieMTextClassifier",
        "export_saved_model": "v1/models/", "keras_encoders.convert.cli": "model.ckpt",
        # The export guide's three doors, each served and timed.
        "export_onnx(": "InferenceSession(", "export_to_transformers(": "pipeline(",
        "latency_ms(": "benchmarks/serving/",
    }
    for a, b in wanted.items():
        assert any(a in t and b in t for t in text.values()), (a, b)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_opening_cells(path):
    """Badges to this notebook, the install cell, the one switch; no outputs."""
    nbformat = pytest.importorskip("nbformat")
    notebook = load(path)
    nbformat.validate(notebook)
    assert notebook.nbformat == 4
    name = os.path.basename(path)
    title, install, setup = notebook.cells[:3]
    repo_path = f"{build_guides.REPOSITORY}/blob/{build_guides.BRANCH}/guides/{name}"
    assert f"colab.research.google.com/github/{repo_path}" in title.source
    assert f"kaggle.com/kernels/welcome?src=https://github.com/{repo_path}" in title.source
    assert "pip" in install.source and 'find_spec("keras_encoders")' in install.source
    assert "USE_PRESET =" in setup.source and "KERAS_ENCODERS_GUIDES_SMALL" in setup.source
    rest = "".join(c.source for c in notebook.cells[3:])
    assert "USE_PRESET" in rest or "SMALL" in rest  # the switch is used
    for c in notebook.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None


# Warnings and listings that once filled the notebooks' outputs.
NOISE = ["Gradients do not exist", "missing from font", "IProgress not found", "Captures:"]

# What the notebooks write in their working folder (guides/ when run with
# `jupyter lab guides/`): every one must be ignored by git.
WRITTEN = ["data", "exported", "client.py", "nezha-chnsenticorp", "nezha-tf1-release",
           "nezha-tf1-broken", "nezha-keras", "nezha-broken", "uie-msra"]


def test_what_the_notebooks_write_is_ignored_by_git():
    sources = "".join(
        open(p, encoding="utf-8").read()
        for p in glob.glob(os.path.join(ROOT, "guides", "sources", "*.py"))
    ) + open(os.path.join(ROOT, "tools", "build_guides.py"), encoding="utf-8").read()
    for name in WRITTEN:
        assert f'"{name}' in sources or f'"./{name}' in sources, f"{name}: no notebook writes it"
    if not os.path.exists(os.path.join(ROOT, ".git")):
        pytest.skip("not a git checkout")
    paths = [f"guides/{name}" for name in WRITTEN] + ["guides/exported/nezha-sentiment/1/saved_model.pb"]
    result = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=ROOT,
                            capture_output=True, text=True)
    assert sorted(result.stdout.split()) == sorted(paths), result.stdout + result.stderr


def test_the_setup_cell_silences_known_noise_and_installs_what_an_index_serves():
    assert "IProgress not found" in build_guides.SETUP_CELL
    # keras-encoders is not on PyPI: the install cell names the repository.
    assert '"keras-encoders[guides]"' not in build_guides.INSTALL_CELL
    assert "git+https://github.com/" in build_guides.INSTALL_CELL
    # The export guide does not print the SavedModel's variable captures.
    export = open(os.path.join(ROOT, "guides", "sources", "06_export_and_serve.py"),
                  encoding="utf-8").read()
    assert "export_saved_model(classifier, EXPORT_DIR, progress=print)" in export


def test_parser_keeps_markdown_and_code_apart():
    cells = build_guides.parse("# %% [markdown]\n# # T\n#\n# text\n\n# %%\nx = 1\n# comment\n")
    assert cells == [("markdown", "# T\n\ntext"), ("code", "x = 1\n# comment")]


@pytest.mark.guides
@pytest.mark.skipif(
    os.environ.get("KERAS_ENCODERS_RUN_GUIDES") != "1",
    reason="executes every notebook (minutes): set KERAS_ENCODERS_RUN_GUIDES=1 (.ci/run does)",
)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_runs(path, tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    # The kernel inherits this environment: the small path, the shared data,
    # this checkout on the path.
    monkeypatch.setenv("KERAS_ENCODERS_GUIDES_SMALL", "1")
    monkeypatch.setenv("KERAS_ENCODERS_SHARED", SHARED)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    notebook = load(path)
    client = nbclient.NotebookClient(
        notebook, timeout=1200, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    began = time.monotonic()
    client.execute()
    seconds = time.monotonic() - began
    print(f"{os.path.basename(path)}: {seconds:.0f} s")
    errors = [
        o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
        if o.output_type == "error"
    ]
    assert not errors
    # No output noise that reads as a problem.
    printed = "".join(
        o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs
    )
    noise = [n for n in NOISE if n in printed]
    assert not noise, noise
    # Every plot rendered.
    wanted = sum(c.source.count("plt.show()") for c in notebook.cells if c.cell_type == "code")
    images = sum(
        "image/png" in o.get("data", {}) for c in notebook.cells if c.cell_type == "code"
        for o in c.outputs
    )
    assert images >= wanted
    with open(os.path.join(tmp_path, "timing.json"), "w") as f:
        json.dump({"seconds": seconds}, f)
