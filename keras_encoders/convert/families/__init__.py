"""The model families the converter knows: one package each, found by name.

Each `families/<name>/__init__.py` defines `SPEC` (a `FamilySpec`); its rule
modules sit next to it. Adding a family means adding one package here.
"""

import importlib
import pkgutil

FAMILIES = {}
for _info in pkgutil.iter_modules(__path__):
    _spec = importlib.import_module(f"{__name__}.{_info.name}").SPEC
    FAMILIES[_spec.name] = _spec

# `config.json` model_type spelling -> family name.
MODEL_TYPES = {alias: spec.name for spec in FAMILIES.values() for alias in spec.model_types}


def family_for(model_type, where="config.json"):
    """The `FamilySpec` of a `model_type`, or a ValueError naming the known ones."""
    name = MODEL_TYPES.get(model_type)
    if name is None:
        raise ValueError(
            f"{where} has model_type={model_type!r}; this converter handles "
            f"{sorted(FAMILIES)}."
        )
    return FAMILIES[name]
