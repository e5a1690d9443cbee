"""Open a checkpoint in any supported source format and build its Keras model.

This is the one porting engine: the keras-hub adapter (`from_preset` on a
Hugging Face folder) and the conversion tool both port weights through the
functions here, with the rule tables of the family's `FamilySpec`.

Source formats:

* Hugging Face layout: a local folder with `config.json` and
  `model.safetensors` / `pytorch_model.bin`, or `hf://owner/name`.
* An original TF1 checkpoint (prefix, one of its files, or its folder), for
  the families whose spec has a `"tf1"` rule module (NEZHA, ConvBERT).
* A PaddleNLP `.pdparams` file (or the folder holding it), for the families
  with a `"paddle"` rule module (ERNIE-M, UIE-M).

`open_source()` identifies the format and family, reads the weights
(`readers/`), checks the configuration (`config_checks`) and turns the
original configuration into a Hugging Face-style config dict.
`build_model()` builds the Keras task (or backbone) and ports the weights;
unknown, missing or mis-shaped tensors raise a `CheckpointMismatchError`
that lists them, NaN / Inf weights a `CheckpointFormatError`.
"""

import collections.abc
import dataclasses
import os
import re

from keras_hub.models import Task

from keras_encoders import models

from keras_encoders.convert import downloads
from keras_encoders.convert import porting
from keras_encoders.convert.config_checks import check_config
from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.convert.families import FAMILIES
from keras_encoders.convert.families import family_for
from keras_encoders.convert.readers import hf_folder
from keras_encoders.convert.readers import paddle_params
from keras_encoders.convert.readers import tf1 as tf1_reader
from keras_encoders.convert.readers.hf_folder import read_json as _read_json
from keras_encoders.models import backbone_checks

HUGGING_FACE = "huggingface"
TF1 = "tf1"
PADDLE = "paddle"


@dataclasses.dataclass
class CheckpointSource:
    """A checkpoint, read and identified, ready to be built into Keras.

    Attributes:
        kind: `"huggingface"`, `"tf1"` or `"paddle"`.
        location: what the user passed (for reports).
        path: the local folder / checkpoint prefix / `.pdparams` file read.
        model_type: the family's name (`"nezha"`, `"convbert"`, `"ernie_m"`).
        config: the Hugging Face-style config (`config.json` contents).
        architecture: the Hugging Face architecture whose weights are ported
            (`NezhaForPreTraining`, `ErnieMModel` ...).
        tokenizer_files: `{"vocabulary": path[, "proto": path]}`.
        tokenizer_settings: keyword arguments of the Keras tokenizer.
        tensors: the original-format weights (not loaded for HF sources).
        rules: the original format's rule module (see `FamilySpec`).
        prefix: key prefix of the base model in `tensors` (Paddle).
        skipped: `(name, why)` of checkpoint entries deliberately not used.
        notes: what the user should know about this conversion.
        allow_non_finite: accept NaN / Inf weights.
    """

    kind: str
    location: str
    path: str
    model_type: str
    config: dict
    architecture: str
    tokenizer_files: dict
    tokenizer_settings: dict
    tensors: dict = None
    rules: object = None
    prefix: str = ""
    skipped: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    allow_non_finite: bool = False

    @property
    def family(self):
        """The `FamilySpec`."""
        return FAMILIES[self.model_type]

    @property
    def format_name(self):
        if self.kind == HUGGING_FACE:
            return "Hugging Face checkpoint"
        return self.rules.SOURCE_FORMAT

    @property
    def base_architecture(self):
        return self.family.base_architecture


# === Helpers ===
def task_class(architecture, backbone_cls):
    """The public Keras task whose `checkpoint_head` is `architecture`, or None."""
    found = {
        c for c in vars(models).values()
        if isinstance(c, type) and issubclass(c, Task)
        and (getattr(c, "checkpoint_head", None) or "").lower() == architecture.lower()
        and getattr(c, "backbone_cls", None) is backbone_cls
    }
    if len(found) > 1:
        raise ValueError(f"Several Keras tasks load {architecture}: {sorted(c.__name__ for c in found)}")
    return found.pop() if found else None


def _first_existing(directory, names):
    for name in names:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def tokenizer_files(spec, directory):
    """The tokenizer files a release ships, looked up in `directory`."""
    files = {key: _first_existing(directory, names) for key, names in spec.tokenizer_files.items()}
    missing = [k for k, v in files.items() if v is None]
    if missing:
        wanted = " and ".join(names[0] for names in spec.tokenizer_files.values())
        raise FileNotFoundError(
            f"No tokenizer files in {directory}: the {spec.tokenizer} needs "
            f"{wanted} (as the original release ships them). Put them next to "
            "the checkpoint or pass tokenizer_dir (--tokenizer-dir)."
        )
    return files


def tokenizer_settings(spec, config, directory):
    """The Keras tokenizer's settings from `tokenizer_config.json` (if any)."""
    tokenizer_config = hf_folder.read_json_if_exists(directory, "tokenizer_config.json")
    return spec.hf.convert_tokenizer_config(config, tokenizer_config)


def detect_kind(path):
    """`"huggingface"`, `"tf1"` or `"paddle"` for a local path, or raise."""
    if os.path.isfile(path) and path.endswith(".pdparams"):
        return PADDLE
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "config.json")) and hf_folder.weights_file_names(path):
            return HUGGING_FACE
        if [n for n in os.listdir(path) if n.endswith(".pdparams")]:
            return PADDLE
    if tf1_reader.is_tf1_checkpoint(path):
        return TF1
    if not os.path.exists(path) and not os.path.exists(path + ".index"):
        raise FileNotFoundError(f"{path} does not exist.")
    raise CheckpointFormatError(
        f"{path} is not a checkpoint this converter reads: expected a Hugging "
        "Face folder (config.json + model.safetensors or pytorch_model.bin), "
        "an original TF1 checkpoint (model.ckpt-N.index + .data-*), or a "
        "PaddleNLP .pdparams file."
    )


def _families_with(format_name):
    return [spec for spec in FAMILIES.values() if format_name in spec.originals]


# === Opening sources ===
def open_source(
    source, *, config_path=None, tokenizer_dir=None, backbone_only=False, progress=None,
    allow_non_finite=False,
):
    """Read and identify a checkpoint (see the module docstring).

    Args:
        source: local path or `hf://owner/name`.
        config_path: the original config file, when it is not next to the
            checkpoint (`bert_config.json`, `model_config.json`, ...).
        tokenizer_dir: folder with the tokenizer files, when they are not
            next to the checkpoint.
        backbone_only: convert only the encoder; head weights in the
            checkpoint are skipped (listed) instead of ported.
        progress: optional `callable(done, total)` while reading tensors.
        allow_non_finite: accept NaN / Inf weights (refused by default).

    Returns:
        A `CheckpointSource`.
    """
    location = os.fspath(source)
    path = downloads.fetch_hf_checkpoint(location) if location.startswith("hf://") else location
    kind = detect_kind(path)
    if kind == HUGGING_FACE:
        src = _open_hf(location, path, tokenizer_dir)
    elif kind == TF1:
        src = _open_tf1(location, path, config_path, tokenizer_dir, progress)
    else:
        src = _open_paddle(location, path, config_path, tokenizer_dir)
    src.allow_non_finite = allow_non_finite
    if backbone_only and src.architecture != src.base_architecture:
        src.notes.append(f"Backbone only: the {src.architecture} head weights are not converted.")
        src.skipped += [(n, "head weights (backbone only)") for n in head_tensor_names(src)]
        src.architecture = src.base_architecture
        src.config = {**src.config, "architectures": [src.architecture]}
    return src


def _open_hf(location, directory, tokenizer_dir):
    config = hf_folder.read_config(directory)
    config_path = os.path.join(directory, "config.json")
    spec = family_for(config.get("model_type"), config_path)
    check_config(config, config_path, spec)
    archs = config.get("architectures") or [spec.base_architecture]
    tok_dir = tokenizer_dir or directory
    return CheckpointSource(
        kind=HUGGING_FACE,
        location=location,
        path=directory,
        model_type=spec.name,
        config=config,
        architecture=spec.canonical_architecture(archs[0]),
        tokenizer_files=tokenizer_files(spec, tok_dir),
        tokenizer_settings=tokenizer_settings(spec, config, tok_dir),
    )


def _open_tf1(location, path, config_path, tokenizer_dir, progress):
    prefix, tensors, slots = tf1_reader.load_tf1_checkpoint(path, progress=progress)
    names = set(tensors)
    candidates = [spec for spec in _families_with(TF1) if spec.originals[TF1].ANCHOR in names]
    if not candidates:
        sample = ", ".join(sorted(names)[:5])
        known = "; ".join(
            f"{spec.name} ({spec.originals[TF1].ANCHOR.split('/')[0]}/...)" for spec in _families_with(TF1)
        )
        raise ValueError(
            f"{prefix} is not an original checkpoint of a known family ({known}); "
            f"its first variables are: {sample}."
        )
    spec = candidates[0]
    rules = spec.originals[TF1]
    rules.check_identity(prefix, names)
    directory = os.path.dirname(prefix)
    config_path = config_path or _first_existing(directory, rules.CONFIG_FILES)
    if config_path is None and rules.CONFIG_REQUIRED:
        raise FileNotFoundError(
            f"No {rules.CONFIG_FILES[0]} next to {prefix}: the release ships "
            "one; pass its path (--config)."
        )
    architecture = rules.detect_architecture(names)
    file_config = _read_json(config_path) if config_path else None
    config, notes = rules.source_config(file_config, tensors, architecture)
    check_config(config, config_path or prefix, spec)
    skipped = [(n, "optimizer state") for n in slots]
    skipped += [
        (n, "pre-training part outside the encoder")
        for n in sorted(names) if any(re.search(p, n) for p in rules.IGNORE)
    ]
    tok_dir = tokenizer_dir or directory
    return CheckpointSource(
        kind=TF1,
        location=location,
        path=prefix,
        model_type=spec.name,
        config=config,
        architecture=architecture,
        tokenizer_files=tokenizer_files(spec, tok_dir),
        tokenizer_settings=tokenizer_settings(spec, config, tok_dir),
        tensors=tensors,
        rules=rules,
        skipped=skipped,
        notes=notes,
    )


def _pdparams_in(directory):
    files = sorted(n for n in os.listdir(directory) if n.endswith(".pdparams"))
    if "model_state.pdparams" in files:
        return os.path.join(directory, "model_state.pdparams")
    if len(files) == 1:
        return os.path.join(directory, files[0])
    raise CheckpointFormatError(
        f"{directory} holds several .pdparams files ({', '.join(files)}); pass "
        "the one to convert."
    )


def _open_paddle(location, path, config_path, tokenizer_dir):
    file = _pdparams_in(path) if os.path.isdir(path) else path
    directory = os.path.dirname(os.path.abspath(file))
    tensors = paddle_params.load_paddle_state_dict(file)
    found = [(spec, spec.originals[PADDLE].detect_prefix(tensors)) for spec in _families_with(PADDLE)]
    found = [(spec, prefix) for spec, prefix in found if prefix is not None]
    if not found:
        sample = ", ".join(list(tensors)[:5])
        anchors = ", ".join(f"`{s.originals[PADDLE].ANCHOR}`" for s in _families_with(PADDLE))
        raise ValueError(
            f"{file} is not an ERNIE-M / UIE-M state dict: it has none of "
            f"{anchors} (under any prefix); its first keys are: {sample}."
        )
    spec, prefix = found[0]
    rules = spec.originals[PADDLE]
    config_path = config_path or _first_existing(directory, rules.CONFIG_FILES)
    if config_path is None:
        raise FileNotFoundError(
            f"No model_config.json or config.json next to {file}: PaddleNLP "
            "model folders ship one; pass its path (--config)."
        )
    paddle_config = rules.read_paddle_config(config_path)
    architecture = rules.detect_architecture(tensors)
    declared = (paddle_config.get("architectures") or [None])[0]
    notes = []
    if declared is not None and rules.ARCHITECTURES.get(declared, architecture) != architecture:
        notes.append(
            f"{os.path.basename(config_path)} names {declared}, but the weights "
            f"are those of {architecture} (used)."
        )
    config, config_notes = rules.convert_config(paddle_config, architecture)
    check_config(config, config_path, spec)
    tok_dir = tokenizer_dir or directory
    skipped = [
        (n, "buffer, not a weight") for n in tensors if any(re.search(p, n) for p in rules.IGNORE)
    ]
    return CheckpointSource(
        kind=PADDLE,
        location=location,
        path=file,
        model_type=spec.name,
        config=config,
        architecture=architecture,
        tokenizer_files=tokenizer_files(spec, tok_dir),
        tokenizer_settings=tokenizer_settings(spec, config, tok_dir),
        tensors=tensors,
        rules=rules,
        prefix=prefix,
        skipped=skipped,
        notes=notes + config_notes,
    )


# === Porting: Hugging Face layout (used by the keras-hub adapter) ===
def hf_prefix(spec, state_dict, directory):
    """The key prefix of the base model in a Hugging Face state dict."""
    prefix = porting.detect_prefix(state_dict, spec.hf.ANCHOR, spec.hf.BASE_PREFIXES)
    if prefix is None:
        raise porting.CheckpointMismatchError(
            f"{directory} does not contain a {spec.name} model: no "
            f"`{spec.hf.ANCHOR}` tensor under any of the prefixes {spec.hf.BASE_PREFIXES}."
        )
    return prefix


def hf_port_backbone(spec, backbone, state_dict, directory, allow_non_finite=False):
    """Port the encoder; returns whether every optional weight (the pooler) was there."""
    prefix = hf_prefix(spec, state_dict, directory)
    # Keys outside the base model belong to a head; the task loads them.
    others = (f"^(?!{re.escape(prefix)})",) if prefix else ()
    used = porting.port_backbone(
        backbone,
        spec.hf.BACKBONE_RULES,
        state_dict,
        prefix=prefix,
        ignore=tuple(spec.hf.IGNORE) + others,
        optional=spec.hf.OPTIONAL,
        source=directory,
        allow_non_finite=allow_non_finite,
    )
    table = porting.expand_rules(spec.hf.BACKBONE_RULES, 0)
    return all(prefix + table[path][0] in used for path in spec.hf.OPTIONAL)


def hf_port_head(spec, task, architecture, state_dict, directory, allow_non_finite=False):
    """Port the head weights of a Hugging Face `architecture` into `task`."""
    if architecture not in spec.hf.HEADS:
        raise ValueError(f"No conversion rules for {architecture}.")
    prefix = hf_prefix(spec, state_dict, directory)
    rules, tied = spec.hf.HEADS[architecture]
    ignore = tuple(spec.hf.IGNORE) + tuple(tied)
    if prefix:
        ignore += (f"^{re.escape(prefix)}",)
    porting.port_head(
        task, rules, state_dict, ignore=ignore, source=directory,
        allow_non_finite=allow_non_finite,
    )


# === Porting: original formats ===
class _Floats(collections.abc.Mapping):
    """`tensors` with floating arrays widened to float32 when read.

    Lazily: a float16 array under many keys (tied weights, or a hostile
    file naming one array 250 times) is widened only for the keys a rule
    reads, not once per key up front.
    """

    def __init__(self, tensors):
        self.tensors = tensors

    def __getitem__(self, key):
        return hf_folder.as_float(self.tensors[key])

    def __iter__(self):
        return iter(self.tensors)

    def __len__(self):
        return len(self.tensors)

    def __contains__(self, key):
        return key in self.tensors


def port_backbone(src, backbone):
    """Assign the encoder weights of an original-format source."""
    rules = src.rules
    # Head tensors are the task's; other known non-weights are listed skips.
    porting.port_backbone(
        backbone,
        rules.BACKBONE_RULES,
        _Floats(src.tensors),
        prefix=src.prefix,
        ignore=tuple(rules.IGNORE) + tuple(rules.HEAD_SCOPES),
        source=src.path,
        allow_non_finite=src.allow_non_finite,
    )


def port_head(src, task):
    """Assign the head weights of an original-format source to `task`."""
    heads = re.compile("|".join(src.rules.HEAD_SCOPES)) if src.rules.HEAD_SCOPES else None
    head_tensors = _Floats(
        {k: v for k, v in src.tensors.items() if heads is not None and heads.search(k)}
    )
    porting.port_head(
        task, src.rules.HEADS[src.architecture], head_tensors, source=src.path,
        allow_non_finite=src.allow_non_finite,
    )


def head_tensor_names(src):
    """Names of the checkpoint's head tensors (skipped when backbone-only)."""
    if src.tensors is None or not src.rules.HEAD_SCOPES:
        return []
    heads = re.compile("|".join(src.rules.HEAD_SCOPES))
    return sorted(n for n in src.tensors if heads.search(n))


# === Building the Keras model ===
def sequence_length(src, limit=512):
    """The preprocessors' length: the checkpoint's positions, at most `limit`."""
    return src.family.sequence_length(src.config, limit)


def build_model(src, *, log=None):
    """The Keras task (or backbone) of `src`, with its converted weights.

    Returns:
        `(model, tokenizer)`: a task whose `checkpoint_head` is
        `src.architecture` (with its preprocessor), or the backbone when the
        checkpoint has no head; and the tokenizer.

    Raises:
        CheckpointMismatchError: the weights do not match the configuration.
        CheckpointFormatError: NaN / Inf weights (unless allowed).
        ValueError: no Keras task loads this checkpoint's head.
    """
    spec = src.family
    backbone_cls = spec.keras_class(spec.backbone)
    tokenizer_cls = spec.keras_class(spec.tokenizer)
    head = src.architecture != src.base_architecture
    task_cls = task_class(src.architecture, backbone_cls) if head else None
    if head and task_cls is None:
        raise ValueError(
            f"The checkpoint holds a {src.architecture} head, and no Keras task "
            "loads it. Convert the encoder only (backbone_only=True, "
            "--backbone-only)."
        )
    flags = {"allow_non_finite": True} if src.allow_non_finite else {}
    if src.kind == HUGGING_FACE:
        if task_cls is not None:
            model = task_cls.from_preset(src.path, **flags)
            return model, model.preprocessor.tokenizer
        backbone = backbone_cls.from_preset(src.path, **flags)
        tokenizer = tokenizer_cls(**src.tokenizer_settings, **src.tokenizer_files)
        return backbone, tokenizer

    arguments = spec.hf.convert_backbone_config(src.config)
    # The tensors read must be able to fill what the configuration describes
    # (2 bytes a parameter at least) before it is built.
    held = sum(int(getattr(t, "nbytes", 0)) for t in src.tensors.values())
    ceiling = backbone_checks.ceiling_for_weights(
        backbone_cls, arguments, 2, src.path, src.location, CheckpointFormatError,
        size=held, pooler_optional=True,
    )
    with backbone_checks.allow_parameters(ceiling):
        backbone = backbone_cls(**arguments)
    port_backbone(src, backbone)
    tokenizer = tokenizer_cls(**src.tokenizer_settings, **src.tokenizer_files)
    if task_cls is None:
        return backbone, tokenizer
    task = task_cls(
        backbone=backbone,
        preprocessor=task_cls.preprocessor_cls(tokenizer=tokenizer, sequence_length=sequence_length(src)),
        **task_cls.task_config_from_hf(src.config),
    )
    port_head(src, task)
    return task, tokenizer
