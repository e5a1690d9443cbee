"""README.md and tools/README.md say what exists: generated sections up to
date, documented tools present, the layout complete, the demo runs."""

import glob
import os
import re
import sys

import keras
import pytest

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
    # Other libraries' private names (and keras-hub's private methods), not
    # the package's own: `_graph_holder` is set through `self.__dict__`.
    others = readme_tables.other_private_names()
    assert {"._dtype_policy", "._flatten_layers", "._update_special_token_ids"} <= set(others)
    assert not {"._graph_holder", "._token_to_id", "._relative_positions"} & set(others)
    for name, files in [*apis.items(), *others.items()]:
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


def test_models_init_groups_each_model_and_exports_every_registered_class():
    """`keras_encoders/models/__init__.py` is hand-kept: each import sits
    under its model's comment (generic bases under none of them), and every
    public class the package registers with Keras in models/ is exported."""
    titles = {prefix: title for title, prefix in readme_tables.FAMILIES}
    group, groups, misplaced, exported = None, set(), [], set()
    for line in read("keras_encoders", "models", "__init__.py").splitlines():
        if line.startswith("# "):
            group = line[2:]
            groups.add(group)
        found = re.match(r"from keras_encoders\.models\.([\w.]+) import (\w+)$", line)
        if not found:
            continue
        module, name = found.groups()
        exported.add(name)
        model = next((title for prefix, title in titles.items() if name.startswith(prefix)), None)
        in_folder = "." in module
        if (group != model) if in_folder else (group in titles.values()):
            misplaced.append(f"{name} under '# {group}'")
    assert not misplaced, misplaced
    assert set(titles.values()) <= groups
    registered = set()
    for path, source in readme_tables.package_sources():
        if path.startswith("keras_encoders/models/"):
            registered |= set(re.findall(
                r"^@keras\.saving\.register_keras_serializable\(.*\)\nclass ([A-Z]\w*)", source, flags=re.M))
    assert len(registered) > 50 and "ErnieMInformationExtractor" in registered
    assert registered <= exported, sorted(registered - exported)


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



def test_every_command_is_importable_and_in_the_readme():
    """Each `[project.scripts]` entry points at a `main` that imports, and the
    README names the command."""
    import importlib
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    text = read("README.md")
    for command, target in scripts.items():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), target
        assert re.search(rf"`{re.escape(command)}[` ]", text), f"README does not name {command}"

# Training from scratch to a useful accuracy takes ~30-50 s on 2 cores: the
# demo is plain Keras training, which the workflow tests cover on every
# backend, so this check runs on the default backend only (TensorFlow, what
# `python -m keras_encoders.demo` uses without KERAS_BACKEND).
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="runs on TensorFlow only")
def test_demo_learns_saves_and_reloads(capsys, tmp_path):
    """The main job on fewer reviews, fixed seed: a held-out accuracy clearly
    above chance (the full run reaches 0.84), then predict, save, reload."""
    argv = ["--examples", "2000", "--epochs", "2", "--held-out", "400",
            "--sequence-length", "48", "--verbose", "0", "--no-export",
            "--output", str(tmp_path)]
    assert demo.main(argv) == 0
    out = capsys.readouterr().out
    assert "on 2000 reviews from ChnSentiCorp" in out
    accuracy = float(re.search(r"^held-out accuracy: (0\.\d\d)", out, flags=re.M).group(1))
    assert accuracy >= 0.7, out
    predictions = re.findall(r"^\s*(negative|positive) \(", out, flags=re.M)
    assert predictions == ["positive", "negative", "positive", "negative"], out
    assert "reloaded it: same predictions" in out
    assert os.path.exists(os.path.join(tmp_path, "preset", "config.json"))


def pip_installs(text):
    """Each `pip install ...` command of the README's code blocks, as words."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    commands = []
    for line in "\n".join(blocks).splitlines():
        for part in line.split("&&"):
            words = part.split()
            if words[:2] == ["pip", "install"]:
                commands.append(words[2:])
    return commands


def test_readme_install_commands_agree_with_pyproject():
    """Every extra the README installs exists, every pinned version it names
    is the one pyproject.toml pins, and there is a command for CPU-only,
    GPU, JAX-only and TensorFlow-only users."""
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    extras = project["optional-dependencies"]
    pins = {}
    for requirement in project["dependencies"] + sum(extras.values(), []):
        name, _, version = requirement.partition("==")
        if version:
            pins.setdefault(name, set()).add(version)

    commands = pip_installs(read("README.md"))
    assert commands
    for words in commands:
        for word in words:
            word = word.strip("'\"")
            if word.startswith(".[") or word == ".":
                for extra in filter(None, (word[2:-1] if word != "." else "").split(",")):
                    assert extra in extras, f"README installs the extra {extra!r}, not in pyproject.toml"
            name, _, version = word.partition("==")
            if version and name in pins:
                assert pins[name] == {version}, f"README pins {word}, pyproject.toml {pins[name]}"
        if "--index-url" in words or "--extra-index-url" in words:
            flag = "--index-url" if "--index-url" in words else "--extra-index-url"
            assert words[words.index(flag) + 1] == "https://download.pytorch.org/whl/cpu"

    lines = [" ".join(words) for words in commands]
    # CPU-only: torch from PyTorch's CPU index; GPU: torch from PyPI.
    assert any("torch==" in line and "download.pytorch.org/whl/cpu" in line for line in lines)
    assert any(line.startswith("torch==") and "--index-url" not in line for line in lines)
    # JAX-only and TensorFlow-only installs that skip torch.
    assert "-e .[jax]" in [line.replace('"', "") for line in lines]
    assert "-e ." in lines
    # The test extra pins what the README's local-wheel command installs first.
    assert "torch==2.13.0" in extras["test"] and "torch==2.13.0" in read(".ci", "run")
