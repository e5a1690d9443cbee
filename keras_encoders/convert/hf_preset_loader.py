"""Load Hugging Face layout directories through keras-hub's `from_preset`.

keras-hub picks its Transformers loader from `config.json`'s `model_type`
through a fixed `if/elif` chain that knows none of our models, and it only
reads safetensors. We install a thin dispatcher in its place: for the model
types registered here it returns our `HFPresetLoader` (safetensors or
`pytorch_model.bin`, declarative weight maps, task heads with their labels);
every other model type goes to keras-hub's own loader unchanged. That makes
`keras_hub.models.Backbone.from_preset(dir)` and every task's `from_preset`
work on NEZHA, ERNIE-M and ConvBERT checkpoints once keras_encoders is imported.
"""

import inspect
import logging
import os
import re

from keras_hub.src.utils.preset_utils import PresetLoader
from keras_hub.src.utils.transformers import preset_loader as _keras_hub_loader

from keras_encoders.convert import hf_checkpoint
from keras_encoders.convert.weight_map import detect_prefix
from keras_encoders.convert.weight_map import expand_rules
from keras_encoders.convert.weight_map import port_weights
from keras_encoders.presets.downloads import hf_layout_dir

logger = logging.getLogger(__name__)

CONVERTERS = {}


def register_converter(module):
    """Register a converter module for each of its `MODEL_TYPES`."""
    for model_type in module.MODEL_TYPES:
        CONVERTERS[model_type] = module


def _local_dir(preset, weights=False):
    """The directory holding the checkpoint files (downloading if remote).

    keras-hub fetches only `config.json` of an `hf://` preset; the tokenizer
    files, and the weights once they are needed, are fetched here.
    """
    return hf_layout_dir(preset, weights=weights)


class HFPresetLoader(PresetLoader):
    """Loads a NEZHA / ERNIE-M / ConvBERT checkpoint in Hugging Face layout."""

    def __init__(self, preset, config):
        super().__init__(preset, config)
        self.converter = CONVERTERS[config["model_type"]]
        self.directory = _local_dir(preset)
        self._state_dict = None

    @property
    def state_dict(self):
        if self._state_dict is None:
            self._state_dict = hf_checkpoint.load_state_dict(
                _local_dir(self.preset, weights=True)
            )
        return self._state_dict

    @property
    def architecture(self):
        archs = self.config.get("architectures") or []
        return archs[0] if archs else None

    def check_backbone_class(self):
        return self.converter.backbone_cls()

    # === Backbone ===
    def load_backbone(self, cls, load_weights, **kwargs):
        config = self.converter.convert_backbone_config(self.config)
        backbone = cls(**{**config, **kwargs})
        if load_weights:
            self.port_backbone(backbone)
        return backbone

    def _prefix(self):
        prefix = detect_prefix(
            self.state_dict, self.converter.ANCHOR, self.converter.BASE_PREFIXES
        )
        if prefix is None:
            raise ValueError(
                f"{self.directory} does not contain a {self.config['model_type']} "
                f"model: no `{self.converter.ANCHOR}` tensor under any of the "
                f"prefixes {self.converter.BASE_PREFIXES}."
            )
        return prefix

    def port_backbone(self, backbone):
        prefix = self._prefix()
        table = expand_rules(self.converter.BACKBONE_RULES, backbone.num_layers)
        # Keys outside the base model belong to a head; the task loads them.
        others = [f"^(?!{re.escape(prefix)})"] if prefix else []
        port_weights(
            backbone.weights,
            table,
            self.state_dict,
            prefix=prefix,
            ignore=tuple(self.converter.IGNORE) + tuple(others),
            optional=getattr(self.converter, "OPTIONAL", ()),
            source=self.directory,
        )
        pooler = getattr(self.converter, "OPTIONAL", ())
        if pooler and prefix + table[pooler[0]][0] not in self.state_dict:
            logger.warning(
                "%s has no pooler weights; `pooled_output` is freshly "
                "initialized (as in Hugging Face).",
                self.directory,
            )

    # === Tokenizer and preprocessor ===
    def load_tokenizer(self, cls, config_file=None, **kwargs):
        tokenizer_config = hf_checkpoint.read_json_if_exists(
            self.directory, "tokenizer_config.json"
        )
        settings = self.converter.convert_tokenizer_config(self.config, tokenizer_config)
        files = self.converter.tokenizer_files(self.directory) if hasattr(
            self.converter, "tokenizer_files"
        ) else {"vocabulary": os.path.join(self.directory, "vocab.txt")}
        for path in files.values():
            if not os.path.exists(path):
                raise FileNotFoundError(
                    f"{self.directory} has no {os.path.basename(path)}, which the "
                    f"{cls.__name__} needs."
                )
        return cls(**{**settings, **files, **kwargs})

    def load_preprocessor(self, cls, config_file=None, **kwargs):
        params = inspect.signature(cls.__init__).parameters
        limit = self.config.get("max_position_embeddings")
        if "sequence_length" in params and limit and "sequence_length" not in kwargs:
            # Never longer than the checkpoint's positions (ERNIE-M loses 2).
            offset = getattr(self.converter, "POSITION_OFFSET", 0)
            kwargs["sequence_length"] = min(512, limit - offset)
        return super().load_preprocessor(cls, **kwargs)

    # === Tasks ===
    def load_task(self, cls, load_weights, load_task_weights, **kwargs):
        head = getattr(cls, "checkpoint_head", None)
        matches = (
            head is not None
            and self.architecture is not None
            and self.architecture.lower() == head.lower()
            and load_task_weights
        )
        if matches:
            kwargs = {**cls.task_config_from_hf(self.config), **kwargs}
        task = super().load_task(cls, load_weights, load_task_weights, **kwargs)
        if load_weights and matches:
            self.port_head(task)
        return task

    def port_head(self, task):
        prefix = self._prefix()
        rules, tied = self.converter.HEADS[self.architecture_key()]
        backbone_ids = {id(w) for w in task.backbone.weights}
        head_vars = [w for w in task.weights if id(w) not in backbone_ids]
        ignore = tuple(self.converter.IGNORE) + tuple(tied)
        if prefix:
            ignore += (f"^{re.escape(prefix)}",)
        port_weights(
            head_vars,
            expand_rules(rules, 0),
            self.state_dict,
            ignore=ignore,
            source=self.directory,
        )

    def architecture_key(self):
        for name in self.converter.HEADS:
            if name.lower() == self.architecture.lower():
                return name
        raise ValueError(f"No conversion rules for {self.architecture}.")


class _DispatchingLoader(_keras_hub_loader.TransformersPresetLoader):
    """keras-hub's Transformers loader, except for our model types."""

    def __new__(cls, preset, config):
        if config.get("model_type") in CONVERTERS:
            return HFPresetLoader(preset, config)
        return super().__new__(cls)


def install():
    """Route our model types through `HFPresetLoader` (idempotent)."""
    if _keras_hub_loader.TransformersPresetLoader is not _DispatchingLoader:
        _keras_hub_loader.TransformersPresetLoader = _DispatchingLoader
