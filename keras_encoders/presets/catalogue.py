"""The preset catalogue: one entry per published checkpoint.

The entries are JSON, one file per model family, in the repository's
top-level `presets/` folder (`presets/nezha.json`, ...). The package reads
them from `keras_encoders/presets/data`: in a source checkout that is a
link to `presets/`, and a wheel carries the files themselves there
(`package-data` in `pyproject.toml`), so there is one copy to edit and one
place to read. `presets/README.md` documents every field.
"""

import copy
import difflib
import json
import os
import re

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
# A checkout without symlink support holds a plain file instead of the link.
_CHECKOUT_DIR = os.path.join(os.path.dirname(DATA_DIR), "..", "..", "presets")

SOURCE_FORMATS = ("huggingface", "tf1", "paddle")
_REQUIRED = {
    "description": str,
    "model": str,
    "language": str,
    "backbone_class": str,
    "params": int,
    "license": str,
    "sources": list,
    "config": dict,
    "reference_checks": list,
}
_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")

_ENTRIES = None


class CatalogueError(ValueError):
    """A catalogue entry is malformed (names the entry and the field)."""


def catalogue_dir():
    """The folder holding the catalogue's JSON files."""
    if os.path.isdir(DATA_DIR):
        return DATA_DIR
    checkout = os.path.normpath(_CHECKOUT_DIR)
    if os.path.isdir(checkout):
        return checkout
    raise FileNotFoundError(
        f"The preset catalogue is missing: neither {DATA_DIR} nor {checkout} "
        "exists. Reinstall keras-encoders."
    )


def load_catalogue(directory=None):
    """Read and validate every `*.json` file of `directory`.

    Returns:
        `{name: entry}` in file order (families sorted by file name).
    """
    directory = directory or catalogue_dir()
    entries = {}
    for file_name in sorted(os.listdir(directory)):
        if not file_name.endswith(".json"):
            continue
        path = os.path.join(directory, file_name)
        with open(path, encoding="utf-8") as f:
            try:
                family = json.load(f)
            except json.JSONDecodeError as e:
                raise CatalogueError(f"{path} is not valid JSON: {e}") from e
        for name, entry in family.items():
            if name in entries:
                raise CatalogueError(f"Preset {name!r} is defined twice (again in {path}).")
            validate_entry(name, entry, where=path)
            entries[name] = entry
    return entries


def _entries():
    global _ENTRIES
    if _ENTRIES is None:
        _ENTRIES = load_catalogue()
    return _ENTRIES


def add_entry(name, entry):
    """Add a validated entry (see `registry.register_preset`)."""
    validate_entry(name, entry)
    _entries()[name] = copy.deepcopy(entry)


def remove_entry(name):
    _entries().pop(name, None)


def list_presets():
    """The names of all catalogue presets."""
    return list(_entries())


def get_entry(name):
    """A copy of the catalogue entry `name`."""
    entries = _entries()
    if name not in entries:
        close = difflib.get_close_matches(str(name), list(entries), n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(n) for n in close)}?" if close else ""
        raise KeyError(
            f"{name!r} is not a keras_encoders preset.{hint} Known presets: "
            f"{', '.join(entries)}."
        )
    return copy.deepcopy(entries[name])


def automatic_source(entry):
    """The first source that can be downloaded without a person's help."""
    for source in entry["sources"]:
        if not source.get("manual", False):
            return source
    return None


def source_location(source):
    """A short human-readable location of `source` (for messages and tables)."""
    if source.get("handle"):
        return source["handle"]
    if isinstance(source.get("files"), dict):
        urls = [spec["url"] for spec in source["files"].values()]
        return os.path.dirname(urls[0]) if urls else ""
    return source.get("release") or (source.get("downloads") or [""])[0]


# === Validation ===
def _fail(name, where, message):
    place = f" ({where})" if where else ""
    raise CatalogueError(f"Preset {name!r}{place}: {message}")


def validate_entry(name, entry, where=None):
    """Check the fields of one entry; raises `CatalogueError` naming the problem."""
    if not _NAME.match(name):
        _fail(name, where, "names are lower-case words joined by '_' (e.g. nezha_base_zh).")
    if not isinstance(entry, dict):
        _fail(name, where, "an entry is a JSON object.")
    for field, kind in _REQUIRED.items():
        if field not in entry:
            _fail(name, where, f"the field {field!r} is missing.")
        if not isinstance(entry[field], kind) or (kind is int and isinstance(entry[field], bool)):
            _fail(name, where, f"{field!r} must be a {kind.__name__}.")
    if entry["params"] <= 0:
        _fail(name, where, "'params' must be positive.")
    if "task_params" in entry and not isinstance(entry["task_params"], int):
        _fail(name, where, "'task_params' must be an int.")
    if not isinstance(entry.get("task_class"), (str, type(None))):
        _fail(name, where, "'task_class' must be a class name or null.")
    if entry.get("task_params") and not entry.get("task_class"):
        _fail(name, where, "'task_params' needs the 'task_class' it counts.")
    if not isinstance(entry["config"].get("backbone"), dict):
        _fail(name, where, "'config' needs a 'backbone' object (the backbone's keyword arguments).")
    for part in ("tokenizer", "preprocessor", "task"):
        if not isinstance(entry["config"].get(part, {}), dict):
            _fail(name, where, f"'config.{part}' must be an object.")
    for i, source in enumerate(entry["sources"]):
        _validate_source(name, where, i, source)
    if automatic_source(entry) is None:
        _fail(name, where, "at least one source must be downloadable ('manual' unset).")
    for i, check in enumerate(entry["reference_checks"]):
        _validate_check(name, where, f"reference_checks[{i}]", check)
    for i, check in enumerate(entry.get("other_published_checks", [])):
        _validate_check(name, where, f"other_published_checks[{i}]", check)


def _validate_source(name, where, i, source):
    label = f"sources[{i}]"
    if source.get("format") not in SOURCE_FORMATS:
        _fail(name, where, f"{label}.format must be one of {SOURCE_FORMATS}.")
    if source.get("manual", False):
        if not (source.get("release") or source.get("downloads") or source.get("handle")):
            _fail(name, where, f"{label} is manual: give 'release' or 'downloads'.")
        return
    files = source.get("files")
    if source.get("handle"):
        if not str(source["handle"]).startswith("hf://"):
            _fail(name, where, f"{label}.handle must be an hf://owner/name handle.")
        if not isinstance(files, list) or "config.json" not in files:
            _fail(name, where, f"{label}.files must list the files to fetch, config.json included.")
        if not isinstance(source.get("optional_files", []), list):
            _fail(name, where, f"{label}.optional_files must be a list.")
    elif isinstance(files, dict) and files:
        for file_name, spec in files.items():
            if not isinstance(spec, dict) or not str(spec.get("url", "")).startswith("https://"):
                _fail(name, where, f"{label}.files[{file_name!r}] needs an https 'url'.")
    else:
        _fail(name, where, f"{label} needs an hf:// 'handle' with 'files', or 'files' with urls.")


def _validate_check(name, where, label, check):
    for field in ("name", "inputs", "output", "expected"):
        if field not in check:
            _fail(name, where, f"{label} lacks {field!r}.")
    if "input_ids" not in check["inputs"] and "token_ids" not in check["inputs"]:
        _fail(name, where, f"{label}.inputs needs input_ids (or token_ids).")
    if "slice" in check and not re.match(r"^\[[\d:, -]*\]$", check["slice"]):
        _fail(name, where, f"{label}.slice looks like '[:, 1:4, 1:4]'.")
