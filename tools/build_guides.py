"""Build the guide notebooks (guides/*.ipynb) from their sources.

Each guide is written once, as a Python script in "percent" format
(guides/sources/<name>.py: `# %%` starts a code cell, `# %% [markdown]` a
markdown cell whose lines start with `# `). This script turns each into
guides/<name>.ipynb, outputs empty, and puts the same opening cells in every
notebook: the title with "Open in Colab" / Kaggle badges, the install cell and
the setup cell with the one switch (a named preset, or a small random model).

    python tools/build_guides.py          # write the notebooks
    python tools/build_guides.py --check  # exit 1 if one is out of date

tests/test_guides.py runs the check, so an edited source without a rebuilt
notebook fails CI.
"""

import argparse
import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = os.path.join(ROOT, "guides", "sources")
GUIDES = os.path.join(ROOT, "guides")
# The repository the badges and the install cell point at.
REPOSITORY = "keras-encoders/keras-encoders"
BRANCH = "main"

INSTALL_CELL = f'''\
# Install keras-encoders from its repository (it is not on PyPI), with matplotlib for
# the plots, unless it is already importable, e.g. in a checkout of the repository or in CI.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("keras_encoders") is None:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q",
                           "keras-encoders[guides] @ git+https://github.com/{REPOSITORY}"])'''

SETUP_CELL = '''\
import os
import socket
import urllib.request
import warnings

# tqdm (used by libraries imported below) warns when ipywidgets is missing; its plain
# text progress bars work without it.
warnings.filterwarnings("ignore", message="IProgress not found")

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # or "jax", "torch": set before importing keras


def network_available(host="huggingface.co", timeout=3):
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


# The one switch. True: a named preset (the real model; downloads weights, a GPU helps).
# False: a small randomly initialised model on a slice of the data, which runs in
# seconds on a CPU (what CI runs: it sets KERAS_ENCODERS_GUIDES_SMALL=1).
USE_PRESET = os.environ.get("KERAS_ENCODERS_GUIDES_SMALL") != "1" and network_available()
SMALL = not USE_PRESET
print("Using", "a named preset" if USE_PRESET else "a small random model")


def data_file(relative_path, url):
    """A data file: from the project's shared assets when they are beside the
    repository (`KERAS_ENCODERS_SHARED`, or `../shared`), else downloaded once."""
    for root in (os.environ.get("KERAS_ENCODERS_SHARED"), "../shared", "../../shared"):
        if root and os.path.exists(os.path.join(root, "assets", relative_path)):
            return os.path.join(root, "assets", relative_path)
    local = os.path.join("data", relative_path)
    if not os.path.exists(local):
        os.makedirs(os.path.dirname(local), exist_ok=True)
        urllib.request.urlretrieve(url, local)
    return local'''


def badges(name):
    path = f"{REPOSITORY}/blob/{BRANCH}/guides/{name}.ipynb"
    colab = f"https://colab.research.google.com/github/{path}"
    kaggle = f"https://kaggle.com/kernels/welcome?src=https://github.com/{path}"
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab}) "
        f"[![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)]({kaggle})"
    )


def parse(text):
    """Percent-format source -> [(cell_type, source)]."""
    cells, kind, lines = [], None, []

    def flush():
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(
                line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.split("\n")
            )
        if body.strip():
            cells.append((kind, body))

    for line in text.split("\n"):
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind is not None:
            lines.append(line)
    flush()
    return cells


def cell(kind, source):
    lines = source.split("\n")
    source = [line + "\n" for line in lines[:-1]] + [lines[-1]]
    if kind == "markdown":
        return {"cell_type": "markdown", "metadata": {}, "source": source}
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": source}


def notebook(name, text):
    cells = parse(text)
    if not cells or cells[0][0] != "markdown" or not cells[0][1].startswith("# "):
        raise ValueError(f"{name}: the source must open with a markdown cell '# Title'.")
    title, _, intro = cells[0][1].partition("\n")
    opening = [("markdown", f"{title}\n\n{badges(name)}\n{intro}"),
               ("code", INSTALL_CELL), ("code", SETUP_CELL)]
    return {
        "cells": [cell(k, s) for k, s in opening + cells[1:]],
        "metadata": {
            "accelerator": "GPU",
            "colab": {"provenance": []},
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def render(name, text):
    return json.dumps(notebook(name, text), indent=1, ensure_ascii=False) + "\n"


def sources():
    return sorted(glob.glob(os.path.join(SOURCES, "*.py")))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the notebooks are up to date")
    args = parser.parse_args(argv)
    stale = []
    for source in sources():
        name = os.path.splitext(os.path.basename(source))[0]
        with open(source, encoding="utf-8") as f:
            wanted = render(name, f.read())
        target = os.path.join(GUIDES, f"{name}.ipynb")
        current = open(target, encoding="utf-8").read() if os.path.exists(target) else None
        if current != wanted:
            stale.append(target)
            if not args.check:
                with open(target, "w", encoding="utf-8") as f:
                    f.write(wanted)
    if args.check and stale:
        print("Out of date (run python tools/build_guides.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
