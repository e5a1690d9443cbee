"""Named presets: fetch the source once, convert it once, load the cache.

`ensure_preset(name)` returns a local Keras preset directory (the
`save_to_preset` format) for a catalogue preset. The first call downloads
the entry's source (a Hugging Face repository, or PaddleNLP's files),
converts it with the checkpoint converter (`keras_encoders.convert.conversion`;
the entry's reference checks must pass or nothing is written), checks the
result against the entry's configuration, and caches it; later calls only
look at the cache.

Cache: `$KERAS_ENCODERS_CACHE` if set, else `$KERAS_HOME/keras_encoders/presets`
(`~/.keras/keras_encoders/presets` by default, `/tmp/.keras/...` when that
is not writable), one folder per preset and conversion
(`<name>/<key>`, where the key changes with the entry's source and
configuration and with the keras_encoders version). Downloads stay in
their own caches: the Hugging Face cache for hub files, `<cache>/downloads`
for URL files. Deleting any of these folders is safe.
"""

import hashlib
import json
import math
import os
import shutil

from keras_hub.src.utils.keras_utils import print_msg

from keras_encoders.convert import conversion
from keras_encoders.convert import downloads
from keras_encoders.convert.families import MODEL_TYPES
from keras_encoders.convert.families import family_for
from keras_encoders.presets import catalogue
from keras_encoders.version import __version__

# Written last by the converter, so its presence means the preset is complete.
_DONE_MARKER = "conversion.json"


class PresetSourceError(ValueError):
    """A preset's source no longer matches its catalogue entry, or lacks a file."""


def cache_root():
    """The folder holding converted presets (see the module docstring)."""
    if os.environ.get("KERAS_ENCODERS_CACHE"):
        return os.path.abspath(os.environ["KERAS_ENCODERS_CACHE"])
    base = os.environ.get("KERAS_HOME") or os.path.expanduser(os.path.join("~", ".keras"))
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        pass
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp", ".keras")  # as keras-hub does
    return os.path.join(base, "keras_encoders", "presets")


def _conversion_key(entry):
    source = catalogue.automatic_source(entry)
    what = {
        "source": source,
        # The whole `config`: a changed preprocessor or task setting (UIE-M's
        # decoding) must not be served from a preset converted before it.
        "config": entry["config"],
        "task_class": entry.get("task_class"),
        "keras_encoders": __version__,
    }
    blob = json.dumps(what, sort_keys=True).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:12]


def preset_dir(name):
    """Where the converted preset `name` is (or will be) cached."""
    return os.path.join(cache_root(), name, _conversion_key(catalogue.get_entry(name)))


def is_converted(directory):
    return os.path.exists(os.path.join(directory, _DONE_MARKER)) and os.path.exists(
        os.path.join(directory, "config.json")
    )


def ensure_preset(name):
    """The local Keras preset directory of catalogue preset `name`.

    Converts on first use (see the module docstring).

    Raises:
        PresetDownloadError: the source cannot be reached (no network).
        PresetSourceError: the source lacks a file, or its configuration
            differs from the catalogue entry.
        VerificationError: the converted model fails a reference check.
    """
    entry = catalogue.get_entry(name)
    directory = preset_dir(name)
    if is_converted(directory):
        return directory
    source = catalogue.automatic_source(entry)
    location = catalogue.source_location(source)
    local = fetch_source(name, entry, source)
    if source.get("handle"):
        # Catch a changed upload before spending minutes converting it.
        _raise_on_differences(name, entry, _hf_differences(entry, local))
    print_msg(
        f"Converting preset '{name}' from {location} (once; the result is cached in {directory})."
    )
    try:
        conversion.convert_checkpoint(
            local,
            directory,
            reference=False,  # the published reference checks decide
            reference_checks=entry["reference_checks"],
            # Only an incomplete folder can be there; it is replaced once this one is verified.
            overwrite=True,
            quiet=True,
        )
    except FileNotFoundError as e:
        # keras-hub reads FileNotFoundError as "no such preset file"; say what is missing.
        raise PresetSourceError(f"Cannot convert preset '{name}' from {location}: {e}") from e
    try:
        check_converted(name, entry, directory)
    except PresetSourceError:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return directory


# === Sources ===
def fetch_source(name, entry, source):
    """Download `source`; returns the local path the converter reads."""

    def offline(reason):
        return downloads.PresetDownloadError(offline_message(name, entry, source, reason))

    try:
        if source.get("handle"):
            return downloads.fetch_hf_files(
                source["handle"],
                source["files"],
                source.get("optional_files", ()),
                on_offline=offline,
            )
        directory = os.path.join(cache_root(), "downloads", name)
        return downloads.fetch_url_files(source["files"], directory, on_offline=offline)
    except FileNotFoundError as e:
        raise PresetSourceError(
            f"Cannot fetch preset '{name}' from {catalogue.source_location(source)}: {e}"
        ) from e


def offline_message(name, entry, source, reason):
    """What to do when `source` cannot be downloaded."""
    cls = entry.get("task_class") or entry["backbone_class"]
    location = catalogue.source_location(source)
    lines = [f"Cannot download preset '{name}' from {location}: {reason}.", ""]
    if source.get("handle"):
        repo = source["handle"][len("hf://"):]
        lines += [
            "To use it without network access, download the repository on a machine that has "
            "network access, e.g.",
            f"    huggingface-cli download {repo} --local-dir {repo.split('/')[-1]}",
            "copy that folder here and load it by path:",
            f"    keras_encoders.models.{cls}.from_preset(\"./{repo.split('/')[-1]}\")",
            "(or convert it once: keras-encoders-convert ./<folder> ./<preset>, then load "
            "./<preset>). If these files are already in the Hugging Face cache, set "
            "HF_HUB_OFFLINE=1 to use them.",
        ]
    else:
        lines += [
            "To use it without network access, download these files into one folder on a "
            "machine that has network access:"
        ]
        lines += [f"    {spec['url']}" for spec in source["files"].values()]
        lines += [
            "then convert that folder once and load the result by path:",
            f"    keras-encoders-convert ./<folder>/model_state.pdparams ./{name}",
            f"    keras_encoders.models.{cls}.from_preset(\"./{name}\")",
        ]
    return "\n".join(lines)


# === Checks of the converted preset ===
def _saved_config(directory, file_name):
    path = os.path.join(directory, file_name)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _hf_differences(entry, directory):
    """Differences between a downloaded Hugging Face config and the entry's."""
    config = _saved_config(directory, "config.json")
    if config.get("model_type") not in MODEL_TYPES:
        return [f"model_type {config.get('model_type')!r} is not one of {sorted(MODEL_TYPES)}"]
    spec = family_for(config["model_type"])
    return _diff(entry["config"]["backbone"], spec.hf.convert_backbone_config(config), "")


def check_converted(name, entry, directory):
    """The converted preset has the entry's backbone class and configuration,
    and the tokenizer, preprocessor and task settings the entry records (the
    default `sequence_length`; UIE-M's Taskflow `convention` and `decoding`)."""
    differences = []
    backbone = _saved_config(directory, "config.json")
    if backbone["class_name"] != entry["backbone_class"]:
        differences.append(f"class {backbone['class_name']} != {entry['backbone_class']}")
    differences += _diff(entry["config"]["backbone"], backbone["config"], "")
    for file_name, field in (("tokenizer.json", "tokenizer"), ("preprocessor.json", "preprocessor"),
                             ("task.json", "task")):
        saved = _saved_config(directory, file_name)
        if saved is not None:
            differences += _diff(entry["config"].get(field, {}), saved["config"], f"{field}.")
    _raise_on_differences(name, entry, differences)


def _raise_on_differences(name, entry, differences):
    if differences:
        location = catalogue.source_location(catalogue.automatic_source(entry))
        raise PresetSourceError(
            f"The source of preset '{name}' ({location}) does not have the catalogue's "
            f"configuration: {'; '.join(differences)}. The upload has changed; the preset "
            "needs updating (please report it). Nothing was cached."
        )


def _diff(expected, saved, prefix):
    out = []
    for key, value in expected.items():
        if "dropout" in key:  # training settings: a different value is no different model
            continue
        got = saved.get(key, "<missing>")
        same = (
            math.isclose(got, value, rel_tol=1e-6)
            if isinstance(value, float) and isinstance(got, (int, float))
            else got == value
        )
        if not same:
            out.append(f"{prefix}{key} {got!r} != {value!r}")
    return out
