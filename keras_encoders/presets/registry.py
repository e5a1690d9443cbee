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

import warnings

from keras_hub.src.utils import preset_utils

from keras_encoders.presets import catalogue


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
            from keras_encoders.presets import resolver

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
    from keras_encoders import models

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


def register_catalogue():
    """Register every catalogue preset (done by `import keras_encoders`)."""
    for name in catalogue.list_presets():
        entry = catalogue.get_entry(name)
        existing = preset_utils.BUILTIN_PRESETS.get(name)
        if existing is not None and not isinstance(existing, CataloguePreset):
            warnings.warn(f"keras-hub already has a preset named {name!r}; keeping keras-hub's.")
            continue
        preset_utils.register_presets({name: CataloguePreset(name, entry)}, _backbone_class(name, entry))
