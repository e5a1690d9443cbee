"""Load Hugging Face layout directories through keras-hub's `from_preset`.

keras-hub picks its Transformers loader from `config.json`'s `model_type`
through a fixed `if/elif` chain that knows none of our models, and it only
reads safetensors. We install a thin dispatcher in its place: for the model
types of `convert.families` it returns our `HFPresetLoader`; every other
model type goes to keras-hub's own loader unchanged. That makes
`keras_hub.models.Backbone.from_preset(dir)` and every task's `from_preset`
work on NEZHA, ERNIE-M and ConvBERT checkpoints once keras_encoders is
imported. The work itself is `sources` (reading, checks) and `porting`.

`from_preset(..., allow_non_finite=True)` accepts NaN / Inf weights, which
are refused by default.
"""

import inspect
import logging
import os

from keras_hub.src.utils.preset_utils import PresetLoader
from keras_hub.src.utils.transformers import preset_loader as _keras_hub_loader

from keras_encoders.convert import downloads
from keras_encoders.convert import families
from keras_encoders.convert import sources
from keras_encoders.convert.config_checks import check_config
from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.convert.readers import hf_folder
from keras_encoders.models import backbone_checks

logger = logging.getLogger(__name__)


class HFPresetLoader(PresetLoader):
    """Loads a NEZHA / ERNIE-M / ConvBERT checkpoint in Hugging Face layout."""

    def __init__(self, preset, config):
        super().__init__(preset, config)
        self.spec = families.family_for(config.get("model_type"))
        # keras-hub fetches only config.json of an hf:// preset; the tokenizer
        # files, and the weights once they are needed, are fetched here.
        self.directory = downloads.hf_layout_dir(preset, weights=False)
        check_config(config, os.path.join(self.directory, "config.json"), self.spec)
        self._state_dict = None
        self.allow_non_finite = False

    @property
    def state_dict(self):
        if self._state_dict is None:
            self._state_dict = hf_folder.load_state_dict(downloads.hf_layout_dir(self.preset, weights=True))
        return self._state_dict

    @property
    def architecture(self):
        archs = self.config.get("architectures") or []
        return self.spec.canonical_architecture(archs[0]) if archs else None

    def check_backbone_class(self):
        return self.spec.keras_class(self.spec.backbone)

    # === Backbone ===
    def load_backbone(self, cls, load_weights, **kwargs):
        allow_non_finite = kwargs.pop("allow_non_finite", self.allow_non_finite)
        arguments = {**self.spec.hf.convert_backbone_config(self.config), **kwargs}
        with backbone_checks.allow_parameters(self.ceiling(cls, arguments, load_weights)):
            backbone = cls(**arguments)
        if load_weights:
            if not sources.hf_port_backbone(
                self.spec, backbone, self.state_dict, self.directory, allow_non_finite
            ):
                logger.warning(
                    "%s has no pooler weights; `pooled_output` is freshly "
                    "initialized (as in Hugging Face).",
                    self.directory,
                )
        return backbone

    def ceiling(self, cls, arguments, load_weights):
        """The parameters the weights vouch for, checked before building.

        The configuration must not imply more parameters than the weight
        files can hold at 2 bytes each (float16), leaving out the pooler,
        which heads without one do not save. Without weights, the ceiling of
        `models.parameter_ceiling()` applies.
        """
        files = None  # none, or missing: then the ceiling applies
        if load_weights:
            directory = downloads.hf_layout_dir(self.preset, weights=True)
            name = hf_folder.weights_file_names(directory)
            if name is not None:
                files = [os.path.join(directory, name)]
            if name is not None and name.endswith(".index.json"):
                files += hf_folder.shard_paths(directory, name)
        config_path = os.path.join(self.directory, "config.json")
        return backbone_checks.ceiling_for_weights(
            cls, arguments, 2, files, config_path, CheckpointFormatError, pooler_optional=True
        )

    # === Tokenizer and preprocessor ===
    def load_tokenizer(self, cls, config_file=None, **kwargs):
        files = sources.tokenizer_files(self.spec, self.directory)
        settings = sources.tokenizer_settings(self.spec, self.config, self.directory)
        return cls(**{**settings, **files, **kwargs})

    def load_preprocessor(self, cls, config_file=None, **kwargs):
        params = inspect.signature(cls.__init__).parameters
        if "sequence_length" in params and "sequence_length" not in kwargs:
            kwargs["sequence_length"] = self.spec.sequence_length(self.config)
        return super().load_preprocessor(cls, **kwargs)

    # === Tasks ===
    def load_task(self, cls, load_weights, load_task_weights, **kwargs):
        self.allow_non_finite = allow_non_finite = kwargs.pop("allow_non_finite", False)
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
            sources.hf_port_head(
                self.spec, task, self.architecture, self.state_dict, self.directory, allow_non_finite
            )
        return task


class _DispatchingLoader(_keras_hub_loader.TransformersPresetLoader):
    """keras-hub's Transformers loader, except for our model types."""

    def __new__(cls, preset, config):
        model_type = config.get("model_type")
        # A damaged config.json may hold a list here: keras-hub names it.
        if isinstance(model_type, str) and model_type in families.MODEL_TYPES:
            return HFPresetLoader(preset, config)
        return super().__new__(cls)


def install():
    """Route our model types through `HFPresetLoader` (idempotent)."""
    if _keras_hub_loader.TransformersPresetLoader is not _DispatchingLoader:
        _keras_hub_loader.TransformersPresetLoader = _DispatchingLoader
