"""Registration of the catalogue with keras-hub.

keras-hub offers no public way for another package to add named presets.
Its own models call `keras_hub.src.utils.preset_utils.register_presets`,
which fills the global tables behind `SomeBackbone.presets` and behind
`get_file`, which maps a registered name to the location of its files by
reading `BUILTIN_PRESETS[name]["kaggle_handle"]`. This module is the one
place that uses that private hook. What it registers for each name is a
`CataloguePreset`: reading its `"kaggle_handle"` converts the preset on
first use and returns the cached Keras preset directory, so every
`from_preset(name)` entry point (the model classes and keras-hub's base
classes alike) loads it as an ordinary local preset.
"""

import difflib
import os
import warnings

from keras_hub.src.utils import preset_utils

from keras_encoders import models
from keras_encoders.convert import conversion
from keras_encoders.convert import downloads
from keras_encoders.convert.readers.hf_folder import read_json
from keras_encoders.presets import catalogue
from keras_encoders.presets import resolver


class CataloguePreset(dict):
    """keras-hub's record of a catalogue preset: `{"metadata", "kaggle_handle"}`.

    The stored `"kaggle_handle"` is the source (e.g. `hf://sijunhe/nezha-cn-base`),
    as a plain dict copy shows; *reading* it with `record["kaggle_handle"]`,
    which is what keras-hub does to locate a named preset, returns the local
    converted preset, converting it first if needed.
    """

    def __init__(self, name, entry):
        source = catalogue.automatic_source(entry)
        super().__init__(
            metadata=keras_hub_metadata(name, entry),
            kaggle_handle=catalogue.source_location(source),
        )
        self.name = name

    def __getitem__(self, key):
        if key == "kaggle_handle":
            return resolver.ensure_preset(self.name)
        return super().__getitem__(key)

    def get(self, key, default=None):
        return self[key] if key in self else default

    def __repr__(self):
        return f"CataloguePreset({self.name!r}, {dict.__repr__(self)})"


def keras_hub_metadata(name, entry):
    """The `metadata` keras-hub shows for a preset (its fields plus ours)."""
    source = catalogue.automatic_source(entry)
    return {
        "description": entry["description"],
        "params": entry["params"],
        "official_name": entry["model"],
        "path": entry["backbone_class"],
        "model_card": entry.get("paper"),
        "task_class": entry.get("task_class"),
        "license": entry["license"],
        "source": catalogue.source_location(source),
    }


def _backbone_class(name, entry):
    cls = getattr(models, entry["backbone_class"], None)
    if cls is None:
        raise catalogue.CatalogueError(
            f"Preset {name!r}: keras_encoders.models has no {entry['backbone_class']}."
        )
    return cls


def register_preset(name, entry):
    """Add a preset to the catalogue and register it with keras-hub.

    `entry` has the catalogue's fields (see `presets/README.md`). Afterwards
    `from_preset(name)` on any class of its model, and on keras-hub's base
    classes, loads it.

    Raises:
        CatalogueError: the entry is malformed.
        ValueError: `name` is already a preset of another package.
    """
    existing = preset_utils.BUILTIN_PRESETS.get(name)
    if existing is not None and not isinstance(existing, CataloguePreset):
        raise ValueError(f"{name!r} is already a keras-hub preset; choose another name.")
    catalogue.validate_entry(name, entry)
    backbone_cls = _backbone_class(name, entry)
    catalogue.add_entry(name, entry)
    preset_utils.register_presets({name: CataloguePreset(name, entry)}, backbone_cls)


def unregister_preset(name):
    """Remove a preset added with `register_preset` (or a catalogue one)."""
    record = preset_utils.BUILTIN_PRESETS.get(name)
    if isinstance(record, CataloguePreset):
        del preset_utils.BUILTIN_PRESETS[name]
        for presets in preset_utils.BUILTIN_PRESETS_FOR_BACKBONE.values():
            presets.pop(name, None)
    catalogue.remove_entry(name)


# === Clear errors for what keras-hub cannot find ===
_SCHEMES = ("kaggle://", "hf://", "modelscope://", "gs://", "s3://", "http://", "https://")


def unknown_preset_message(preset):
    """What to say about a preset that is neither a name, a folder nor a URI."""
    text = os.fspath(preset)
    looks_like_path = os.sep in text or text.startswith((".", "~")) or (os.altsep or "/") in text
    if looks_like_path:
        return (
            f"Cannot load preset {text!r}: this folder does not exist "
            f"({os.path.abspath(os.path.expanduser(text))}). Check the path, or "
            "use a preset name (keras_encoders.presets.list_presets())."
        )
    names = sorted(preset_utils.BUILTIN_PRESETS)
    close = difflib.get_close_matches(text, names, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(n) for n in close)}?" if close else ""
    ours = ", ".join(catalogue.list_presets())
    return (
        f"Unknown preset {text!r}.{hint} keras_encoders presets: {ours}. A preset "
        "can also be a local folder or a handle such as hf://owner/name."
    )


def _checked_get_file(get_file):
    def checked(preset, path):
        if isinstance(preset, (str, os.PathLike)):
            text = os.fspath(preset)
            if text.startswith("hf://"):
                # huggingface_hub would retry for ~25 s per file before failing.
                downloads.check_hub_reachable(text)
                try:
                    return get_file(preset, path)
                except FileNotFoundError as e:
                    if downloads.is_offline_error(e):
                        raise downloads.PresetDownloadError(
                            f"Cannot download {path} of {text}: offline mode "
                            "(HF_HUB_OFFLINE) is on and it is not in the Hugging "
                            f"Face cache. {downloads.offline_advice(text)}"
                        ) from e
                    raise
            elif (
                text not in preset_utils.BUILTIN_PRESETS
                and not text.startswith(_SCHEMES)
                and "://" not in text
                and not os.path.exists(text)
            ):
                raise ValueError(unknown_preset_message(text))
        local = get_file(preset, path)
        if str(path).endswith(".json") and os.path.isfile(local):
            read_json(local)  # keras-hub's own parse would not name the file
        return local

    checked.wrapped = get_file
    return checked


def install_preset_checks():
    """Make keras-hub's preset lookup fail fast and clearly (idempotent).

    keras-hub resolves every `from_preset` through `preset_utils.get_file`;
    wrapping it makes an unreachable `hf://` handle fail at once with advice
    instead of minutes of retries, a misspelled name list close matches, and
    a missing folder say so.
    """
    if getattr(preset_utils.get_file, "wrapped", None) is None:
        preset_utils.get_file = _checked_get_file(preset_utils.get_file)


def register_catalogue():
    """Register every catalogue preset (done by `import keras_encoders`)."""
    install_preset_checks()
    conversion.use_catalogue(catalogue)
    for name in catalogue.list_presets():
        entry = catalogue.get_entry(name)
        existing = preset_utils.BUILTIN_PRESETS.get(name)
        if existing is not None and not isinstance(existing, CataloguePreset):
            warnings.warn(f"keras-hub already has a preset named {name!r}; keeping keras-hub's.")
            continue
        preset_utils.register_presets({name: CataloguePreset(name, entry)}, _backbone_class(name, entry))
