"""README.md and tools/README.md say what exists: generated sections up to
date, documented tools present, the layout complete, the demo runs."""

import glob
import os
import re
import sys

from keras_encoders import demo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import readme_tables  # noqa: E402


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def test_readme_tables_are_up_to_date(capsys):
    assert readme_tables.main(["--check"]) == 0, capsys.readouterr().out


def test_models_table_lists_every_task_and_the_private_apis_are_real():
    table = readme_tables.models_table()
    from keras_encoders import models

    for name in ("ConvBertTokenClassifier", "ErnieMInformationExtractor", "NezhaPreTrainer"):
        assert f"`{name}`" in table and hasattr(models, name)
    assert "in progress" not in read("README.md")
    apis = readme_tables.private_apis()
    assert "keras_hub.src.utils.tensor_utils.preprocessing_function" in apis
    for name, files in apis.items():
        for path in files:
            assert name.split(".")[-1] in read(path)


def test_tools_readme_documents_exactly_the_tools():
    """Every tool documented exists, and every tool is at least named."""
    text = read("tools", "README.md")
    documented = set(re.findall(r"^## (\S+\.py)", text, flags=re.M))
    present = {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "tools", "*.py"))}
    assert documented <= present, documented - present
    assert {"build_guides.py", "readme_tables.py", "convert_checkpoint.py"} <= documented
    for name in present:
        assert f"`{name}`" in text, name


def test_readme_layout_names_every_subpackage():
    layout = read("README.md").split("## Layout", 1)[1]
    packages = {
        os.path.basename(os.path.dirname(p))
        for p in glob.glob(os.path.join(ROOT, "keras_encoders", "*", "__init__.py"))
    }
    for package in packages:
        assert f"keras_encoders/{package}/" in layout, package
    for listed in re.findall(r"`keras_encoders/(\w+)/`", layout):
        assert listed in packages, listed


def test_readme_commands_exist():
    text = read("README.md")
    assert "python -m keras_encoders.demo" in text
    assert "pip install torch==2.13.0" in text
    for script in re.findall(r"python (tools/\w+\.py)", text):
        assert os.path.exists(os.path.join(ROOT, script)), script


def test_demo_trains_and_predicts(capsys):
    assert demo.main(["--examples", "16", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "Training a tiny NEZHA classifier on 16 reviews" in out
    predictions = [line for line in out.splitlines() if re.match(r"\s*(negative|positive) \(", line)]
    assert len(predictions) == 4
