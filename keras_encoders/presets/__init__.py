"""Named presets: the catalogue of published checkpoints and loading them by name.

After `import keras_encoders`, every catalogue preset is known to keras-hub:

    keras_encoders.models.NezhaBackbone.presets              # NEZHA's presets
    keras_hub.models.Backbone.presets                        # ... among all others
    keras_encoders.models.NezhaMaskedLM.from_preset("nezha_base_zh")

The first `from_preset(name)` downloads the source, converts it and caches
the Keras preset (`resolver`); later ones load the cache without network.

- `catalogue`: the entries (`presets/*.json`), their validation.
- `registry`: registration with keras-hub; `register_preset` adds your own.
- `resolver`: download, conversion and cache of named presets.
- `table`: the README's presets table.
- `keras_preset_checks`: the checks of Keras preset folders (installed on import).
"""

from keras_encoders.presets.catalogue import CatalogueError
from keras_encoders.presets.catalogue import catalogue_dir
from keras_encoders.presets.catalogue import get_entry
from keras_encoders.presets.catalogue import list_presets
from keras_encoders.convert.downloads import PresetDownloadError
from keras_encoders.presets.registry import register_catalogue
from keras_encoders.presets.registry import register_preset
from keras_encoders.presets.registry import unregister_preset
from keras_encoders.presets.resolver import PresetSourceError
from keras_encoders.presets.resolver import cache_root
from keras_encoders.presets.resolver import ensure_preset
from keras_encoders.presets.resolver import preset_dir
from keras_encoders.presets import keras_preset_checks

keras_preset_checks.install()


def markdown_table(entries=None):
    """The README's presets table (see `keras_encoders.presets.table`)."""
    # Imported on use, so that `python -m keras_encoders.presets.table` runs cleanly.
    from keras_encoders.presets import table

    return table.markdown_table(entries)


def reference_checks(name):
    """The published output checks a conversion of preset `name` must pass."""
    return get_entry(name)["reference_checks"]
