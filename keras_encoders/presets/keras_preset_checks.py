"""Check a Keras preset (what `save_to_preset` writes) before building from it.

keras-hub's `KerasPresetLoader` deserializes `config.json`, `task.json`,
`tokenizer.json` and `preprocessor.json` as they are: a `num_layers` of a
million would run for minutes and grow gigabytes before failing, and a
tokenizer config naming `/dev/zero` as its vocabulary would be read until
memory runs out. `install()` puts checks in front of it:

- every JSON file of a preset must be a regular file of at most
  `files.MAX_JSON_BYTES` (not a device such as `/dev/zero`);
- the backbone configuration of our classes in `config.json` / `task.json`
  passes the backbones' own checks (`models.backbone_checks`), and a
  problem is a `CheckpointFormatError` naming the file and the field;
- the parameters it implies must fit in `model.weights.h5` (at the fewest
  bytes per parameter its dtype allows) before anything is built; without
  weights, the ceiling of `models.parameter_ceiling()` applies;
- our tokenizers' `vocabulary` / `proto` fields must not name files: a
  preset's tokenizer reads its assets, from inside the preset folder.

Presets of other libraries' classes load exactly as keras-hub loads them,
apart from the JSON file check.
"""

import keras

from keras_hub.src.utils import preset_utils

from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.models import backbone_checks
from keras_encoders.models.encoder_backbone import EncoderBackbone
from keras_encoders.tokenizers.encoder_tokenizer import EncoderTokenizer
from keras_encoders.utils import files

PACKAGE = "keras_encoders>"


def checked_load_json(preset, config_file=preset_utils.CONFIG_FILE):
    """keras-hub's `load_json`, for a regular file of at most `files.MAX_JSON_BYTES`.

    (Links are followed: Hugging Face folders, the hub cache's among them,
    are often made of links.)
    """
    path = preset_utils.get_file(preset, config_file)
    return files.read_json_file(path, "preset JSON file", CheckpointFormatError)


def registered_class(config, base):
    """The keras_encoders subclass of `base` a serialized object names, or None."""
    name = config.get("registered_name") if isinstance(config, dict) else None
    if not isinstance(name, str) or not name.startswith(PACKAGE):
        return None
    cls = keras.saving.get_registered_object(name)
    return cls if isinstance(cls, type) and issubclass(cls, base) else None


def check_tokenizer_fields(config, path):
    """Refuse our tokenizers' file fields anywhere in a preset JSON file."""
    if isinstance(config, list):
        for item in config:
            check_tokenizer_fields(item, path)
        return
    if not isinstance(config, dict):
        return
    cls = registered_class(config, EncoderTokenizer)
    fields = config.get("config") if cls is not None else None
    if isinstance(fields, dict):
        vocabulary, proto = fields.get("vocabulary"), fields.get("proto")
        if not (vocabulary is None or (
            isinstance(vocabulary, list) and all(isinstance(t, str) for t in vocabulary)
        )):
            raise CheckpointFormatError(
                f"{path}: field 'vocabulary' of {cls.__name__} must be null (the "
                f"preset's tokenizer reads its {cls.vocabulary_asset} asset), got "
                f"{backbone_checks.short_repr(vocabulary)}."
            )
        if proto is not None:
            raise CheckpointFormatError(
                f"{path}: field 'proto' of {cls.__name__} must be null (the "
                "preset's tokenizer reads its SentencePiece asset), got "
                f"{backbone_checks.short_repr(proto)}."
            )
    for value in config.values():
        check_tokenizer_fields(value, path)


def bytes_per_parameter(dtype):
    """The fewest bytes a weights file stores a parameter in, for a saved
    dtype policy: a name, a serialized policy, or the serialized policy map
    of a quantized model (the fewest of its policies: its int8 or int4
    kernels sit beside float32 norms and biases)."""
    config = dtype.get("config") if isinstance(dtype, dict) else None
    if isinstance(config, dict) and "policy_map" in config:
        policies = config.get("policy_map")
        policies = list(policies.values()) if isinstance(policies, dict) else []
        return min(_policy_bytes(p) for p in [config.get("default_policy"), *policies])
    return _policy_bytes(dtype)


def is_quantized_policy(dtype):
    """Whether a saved dtype policy is a quantized model's: a policy map
    (what `quantize` leaves a model with) or a quantized policy."""
    config = dtype.get("config") if isinstance(dtype, dict) else None
    return isinstance(config, dict) and ("policy_map" in config or "mode" in config)


def _policy_bytes(dtype):
    """`bytes_per_parameter` of one policy (never a map: read once, not
    recursively, whatever a file nests)."""
    if isinstance(dtype, dict):
        config = dtype.get("config")
        config = config if isinstance(config, dict) else {}
        # A quantized policy is saved as its mode ("int8") and source dtype.
        dtype = config.get("name") or config.get("mode")
    name = str(dtype or "float32")
    if name in ("float32", "float64") or name.startswith("mixed_"):
        return 4  # mixed policies keep float32 variables
    if name in ("float16", "bfloat16"):
        return 2
    if "int8" in name or "float8" in name:
        return 1
    return 0.5  # int4 (two per byte), or unknown: the loosest bound


class CheckedKerasPresetLoader(preset_utils.KerasPresetLoader):
    """keras-hub's Keras preset loader, checking our presets before building."""

    def check_backbone_config(self, config, file_name, load_weights):
        """Check a serialized backbone of ours; returns the parameter ceiling
        to build it under (None: not ours)."""
        cls = registered_class(config, EncoderBackbone)
        if cls is None:
            return None
        path = preset_utils.get_file(self.preset, file_name)
        arguments = config.get("config")
        backbone_checks.check_fields(arguments, "keras", path, CheckpointFormatError)
        return backbone_checks.ceiling_for_weights(
            cls, arguments, bytes_per_parameter(arguments.get("dtype")),
            self.weight_files() if load_weights else None, path, CheckpointFormatError,
        )

    def weight_files(self):
        if preset_utils.check_file_exists(self.preset, preset_utils.MODEL_WEIGHTS_FILE):
            return [preset_utils.get_file(self.preset, preset_utils.MODEL_WEIGHTS_FILE)]
        index = preset_utils.get_file(self.preset, preset_utils.SHARDED_MODEL_WEIGHTS_CONFIG_FILE)
        return [index] + [
            preset_utils.get_file(self.preset, name) for name in self._get_sharded_filenames(index)
        ]

    def load_backbone(self, cls, load_weights, **kwargs):
        ceiling = self.check_backbone_config(self.config, preset_utils.CONFIG_FILE, load_weights)
        if ceiling is None:
            return super().load_backbone(cls, load_weights, **kwargs)
        if kwargs.get("dtype") is None and is_quantized_policy(self.config["config"].get("dtype")):
            # keras-hub's loader replaces the saved policy with the `dtype`
            # asked for, None included: a quantized backbone would be built
            # in float32 and refuse its own int8 weights. Its task loader
            # keeps a saved quantized policy when none is asked for; so do we.
            kwargs["dtype"] = self.config["config"]["dtype"]
        with backbone_checks.allow_parameters(ceiling):
            return super().load_backbone(cls, load_weights, **kwargs)

    def load_task(self, cls, load_weights, load_task_weights, **kwargs):
        ceiling = None
        if preset_utils.check_file_exists(self.preset, preset_utils.TASK_CONFIG_FILE):
            task = checked_load_json(self.preset, preset_utils.TASK_CONFIG_FILE)
            path = preset_utils.get_file(self.preset, preset_utils.TASK_CONFIG_FILE)
            check_tokenizer_fields(task, path)
            backbone = (task.get("config") or {}).get("backbone") if isinstance(task, dict) else None
            ceiling = self.check_backbone_config(backbone, preset_utils.TASK_CONFIG_FILE, load_weights)
        if ceiling is None:
            return super().load_task(cls, load_weights, load_task_weights, **kwargs)
        with backbone_checks.allow_parameters(ceiling):
            return super().load_task(cls, load_weights, load_task_weights, **kwargs)

    def load_tokenizer(self, cls, config_file=preset_utils.TOKENIZER_CONFIG_FILE, **kwargs):
        self.check_tokenizers_in(config_file)
        return super().load_tokenizer(cls, config_file, **kwargs)

    def load_preprocessor(self, cls, config_file=preset_utils.PREPROCESSOR_CONFIG_FILE, **kwargs):
        self.check_tokenizers_in(config_file)
        return super().load_preprocessor(cls, config_file, **kwargs)

    def check_tokenizers_in(self, config_file):
        if preset_utils.check_file_exists(self.preset, config_file):
            check_tokenizer_fields(
                checked_load_json(self.preset, config_file),
                preset_utils.get_file(self.preset, config_file),
            )


def install():
    """Put the checks in front of keras-hub's Keras preset loading (idempotent)."""
    preset_utils.load_json = checked_load_json
    preset_utils.KerasPresetLoader = CheckedKerasPresetLoader
