"""Open a checkpoint in any supported source format and build its Keras model.

Source formats:

* Hugging Face layout: a local folder with `config.json` and
  `model.safetensors` / `pytorch_model.bin`, or `hf://owner/name`
  (downloaded with `huggingface_hub`). Built through the preset loader
  (`convert_nezha`, `convert_convbert`, `convert_ernie_m`).
* An original TF1 checkpoint (prefix, one of its files, or its folder):
  NEZHA (`bert/...`, `tf1_nezha`) or ConvBERT (`electra/...`,
  `tf1_convbert`), read by `tf1_checkpoint`.
* A PaddleNLP `.pdparams` file (or the folder holding it): ERNIE-M or UIE-M
  (`paddle_ernie_m`), read by `paddle_pickle` without paddle.

`open_source()` identifies the format and model, reads the weights and turns
the original configuration into a Hugging Face-style config dict (which
also builds the reference model for verification). `build_model()` builds
the Keras task (or backbone) and ports the weights with the format's
declarative rules; unknown, missing or mis-shaped tensors raise a
`CheckpointMismatchError` that lists them.
"""

import dataclasses
import importlib
import json
import os
import re

from keras_encoders.convert import convert_convbert
from keras_encoders.convert import convert_ernie_m
from keras_encoders.convert import convert_nezha
from keras_encoders.convert import hf_checkpoint
from keras_encoders.convert import paddle_ernie_m
from keras_encoders.convert import paddle_pickle
from keras_encoders.convert import tf1_checkpoint
from keras_encoders.convert import tf1_convbert
from keras_encoders.convert import tf1_nezha
from keras_encoders.convert.torch_pickle import CheckpointFormatError
from keras_encoders.convert.weight_map import expand_rules
from keras_encoders.convert.weight_map import port_weights

HUGGING_FACE = "huggingface"
TF1 = "tf1"
PADDLE = "paddle"


@dataclasses.dataclass(frozen=True)
class Family:
    """What the converter needs to know about one model family."""

    model_type: str
    hf_converter: object  # convert_<model>: HF config -> Keras config
    backbone: str  # class names in keras_encoders.models
    tokenizer: str
    inputs_preprocessor: str  # packs raw strings into backbone inputs
    hf_prefix: str  # transformers class prefix ("Nezha" -> NezhaModel)
    uses_segments: bool
    sample_texts: tuple  # for verification: strings and (a, b) pairs


FAMILIES = {
    "nezha": Family(
        "nezha", convert_nezha, "NezhaBackbone", "NezhaTokenizer",
        "NezhaTextClassifierPreprocessor", "Nezha", True,
        (
            "今天天气很好，我们去公园散步吧。",
            "自然语言处理是人工智能的一个重要方向。",
            "华为的NEZHA模型使用相对位置编码。",
            ("北京是中国的首都。", "上海是中国最大的城市。"),
        ),
    ),
    "convbert": Family(
        "convbert", convert_convbert, "ConvBertBackbone", "ConvBertTokenizer",
        "ConvBertTextClassifierPreprocessor", "ConvBert", True,
        (
            "The quick brown fox jumps over the lazy dog.",
            "ConvBERT mixes self-attention with span-based dynamic convolution.",
            "Hello!",
            ("Who wrote the paper?", "It was written by researchers at Yitu in 2020."),
        ),
    ),
    "ernie_m": Family(
        "ernie_m", convert_ernie_m, "ErnieMBackbone", "ErnieMTokenizer",
        "ErnieMTextClassifierPreprocessor", "ErnieM", False,
        (
            "The quick brown fox jumps over the lazy dog.",
            "今天天气很好，我们去公园散步吧。",
            "Le chat dort sur le canapé.",
            ("¿Dónde está la biblioteca?", "Die Bibliothek ist heute geschlossen."),
        ),
    ),
}
_MODEL_TYPES = {"nezha": "nezha", "convbert": "convbert", "conv_bert": "convbert", "ernie_m": "ernie_m"}


@dataclasses.dataclass
class CheckpointSource:
    """A checkpoint, read and identified, ready to be built into Keras.

    Attributes:
        kind: `"huggingface"`, `"tf1"` or `"paddle"`.
        location: what the user passed (for reports).
        path: the local folder / checkpoint prefix / `.pdparams` file read.
        model_type: `"nezha"`, `"convbert"` or `"ernie_m"`.
        config: the Hugging Face-style config (`config.json` contents).
        architecture: the Hugging Face architecture whose weights are ported
            (`NezhaForPreTraining`, `ErnieMModel` ...).
        tokenizer_files: `{"vocabulary": path[, "proto": path]}`.
        tokenizer_settings: keyword arguments of the Keras tokenizer.
        tensors: the original-format weights (not loaded for HF sources).
        rules: the original format's rule module (`tf1_nezha` ...).
        prefix: key prefix of the base model in `tensors` (Paddle).
        skipped: `(name, why)` of checkpoint entries deliberately not used.
        notes: what the user should know about this conversion.
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

    @property
    def family(self):
        return FAMILIES[self.model_type]

    @property
    def format_name(self):
        if self.kind == HUGGING_FACE:
            return "Hugging Face checkpoint"
        return self.rules.SOURCE_FORMAT

    @property
    def base_architecture(self):
        return self.family.hf_prefix + "Model"


# === Helpers ===
def models_module():
    return importlib.import_module("keras_encoders.models")


def keras_class(name):
    cls = getattr(models_module(), name, None)
    if cls is None:
        raise ValueError(f"keras_encoders.models has no {name}.")
    return cls


def task_class(architecture, backbone_cls):
    """The public Keras task whose `checkpoint_head` is `architecture`, or None."""
    from keras_hub.models import Task

    found = {
        c for c in vars(models_module()).values()
        if isinstance(c, type) and issubclass(c, Task)
        and (getattr(c, "checkpoint_head", None) or "").lower() == architecture.lower()
        and getattr(c, "backbone_cls", None) is backbone_cls
    }
    if len(found) > 1:
        raise ValueError(f"Several Keras tasks load {architecture}: {sorted(c.__name__ for c in found)}")
    return found.pop() if found else None


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from e


def _first_existing(directory, names):
    for name in names:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def _tokenizer_files(model_type, directory):
    """The tokenizer files a release ships, looked up in `directory`."""
    vocab = _first_existing(directory, ("vocab.txt", "ernie_m.vocab.txt"))
    files = {"vocabulary": vocab}
    if model_type == "ernie_m":
        files["proto"] = _first_existing(
            directory, ("sentencepiece.bpe.model", "ernie_m.sentencepiece.bpe.model")
        )
    missing = [k for k, v in files.items() if v is None]
    if missing:
        wanted = "vocab.txt" + (" and sentencepiece.bpe.model" if model_type == "ernie_m" else "")
        raise FileNotFoundError(
            f"No tokenizer files in {directory}: the converted preset needs "
            f"{wanted} (as the original release ships them). Put them next to "
            "the checkpoint or pass tokenizer_dir (--tokenizer-dir)."
        )
    return files


def download_hf(handle, progress=None):
    """A local snapshot of `hf://owner/name`; fails fast without network."""
    repo = handle[len("hf://"):].strip("/")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:
        raise ImportError(
            f"Downloading {handle} needs huggingface_hub (pip install "
            "huggingface_hub), or download the repository yourself and pass "
            "its local folder."
        ) from e
    patterns = [
        "config.json", "*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin",
        "pytorch_model.bin.index.json", "vocab.txt", "tokenizer_config.json",
        "special_tokens_map.json", "sentencepiece.bpe.model",
    ]
    try:
        return snapshot_download(repo_id=repo, allow_patterns=patterns)
    except Exception as e:  # noqa: BLE001 - offline, 404, auth: one message
        raise ConnectionError(
            f"Cannot download {handle} ({type(e).__name__}: {e}). Without "
            "network access, download the repository elsewhere (e.g. "
            f"`huggingface-cli download {repo} --local-dir DIR`) and pass DIR."
        ) from e


def detect_kind(path):
    """`"huggingface"`, `"tf1"` or `"paddle"` for a local path, or raise."""
    if os.path.isfile(path) and path.endswith(".pdparams"):
        return PADDLE
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "config.json")) and hf_checkpoint.weights_file_names(path):
            return HUGGING_FACE
        if [n for n in os.listdir(path) if n.endswith(".pdparams")]:
            return PADDLE
    if tf1_checkpoint.is_tf1_checkpoint(path):
        return TF1
    if not os.path.exists(path) and not os.path.exists(path + ".index"):
        raise FileNotFoundError(f"{path} does not exist.")
    raise CheckpointFormatError(
        f"{path} is not a checkpoint this converter reads: expected a Hugging "
        "Face folder (config.json + model.safetensors or pytorch_model.bin), "
        "an original TF1 checkpoint (model.ckpt-N.index + .data-*), or a "
        "PaddleNLP .pdparams file."
    )


# === Opening sources ===
def open_source(
    source, *, config_path=None, tokenizer_dir=None, backbone_only=False, progress=None
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

    Returns:
        A `CheckpointSource`.
    """
    location = os.fspath(source)
    path = download_hf(location) if location.startswith("hf://") else location
    kind = detect_kind(path)
    if kind == HUGGING_FACE:
        src = _open_hf(location, path, tokenizer_dir)
    elif kind == TF1:
        src = _open_tf1(location, path, config_path, tokenizer_dir, progress)
    else:
        src = _open_paddle(location, path, config_path, tokenizer_dir)
    if backbone_only and src.architecture != src.base_architecture:
        src.notes.append(f"Backbone only: the {src.architecture} head weights are not converted.")
        src.skipped += [(n, "head weights (backbone only)") for n in head_tensor_names(src)]
        src.architecture = src.base_architecture
        src.config = {**src.config, "architectures": [src.architecture]}
    return src


def _open_hf(location, directory, tokenizer_dir):
    config = hf_checkpoint.read_config(directory)
    model_type = _MODEL_TYPES.get(config.get("model_type"))
    if model_type is None:
        raise ValueError(
            f"{directory}/config.json has model_type={config.get('model_type')!r}; "
            f"this converter handles {sorted(set(_MODEL_TYPES.values()))}."
        )
    family = FAMILIES[model_type]
    archs = config.get("architectures") or [family.hf_prefix + "Model"]
    tok_dir = tokenizer_dir or directory
    tokenizer_config = hf_checkpoint.read_json_if_exists(tok_dir, "tokenizer_config.json")
    return CheckpointSource(
        kind=HUGGING_FACE,
        location=location,
        path=directory,
        model_type=model_type,
        config=config,
        architecture=_canonical_architecture(archs[0], family),
        tokenizer_files=_tokenizer_files(model_type, tok_dir),
        tokenizer_settings=family.hf_converter.convert_tokenizer_config(config, tokenizer_config),
    )


def _canonical_architecture(name, family):
    """Fix spelling variants (`NeZhaForMaskedLM` in sijunhe/nezha-cn-base)."""
    heads = getattr(family.hf_converter, "HEADS", {})
    for known in heads:
        if known.lower() == name.lower():
            return known
    return name


def _open_tf1(location, path, config_path, tokenizer_dir, progress):
    prefix, tensors, slots = tf1_checkpoint.load_tf1_checkpoint(path, progress=progress)
    names = set(tensors)
    if tf1_nezha.ANCHOR in names:
        rules = tf1_nezha
        if "bert/embeddings/position_embeddings" in names:
            raise ValueError(
                f"{prefix} has absolute position embeddings: it is a BERT "
                "checkpoint, not NEZHA (which uses relative positions only)."
            )
    elif tf1_convbert.ANCHOR in names:
        rules = tf1_convbert
        if not any("/conv_attn_key/" in n for n in names):
            raise ValueError(
                f"{prefix} has no span-based convolution (conv_attn_key): it is "
                "an ELECTRA checkpoint, not ConvBERT."
            )
    else:
        sample = ", ".join(sorted(names)[:5])
        raise ValueError(
            f"{prefix} is neither an original NEZHA checkpoint (bert/... "
            f"without position embeddings) nor a ConvBERT one (electra/...); "
            f"its first variables are: {sample}."
        )
    directory = os.path.dirname(prefix)
    config_path = config_path or _first_existing(directory, rules.CONFIG_FILES)
    architecture = rules.detect_architecture(names)
    if rules is tf1_nezha:
        if config_path is None:
            raise FileNotFoundError(
                f"No bert_config.json next to {prefix}: the NEZHA release ships "
                "one; pass its path (--config)."
            )
        config, notes = tf1_nezha.convert_config(_read_json(config_path), architecture)
    else:
        file_config = _read_json(config_path) if config_path else None
        config, notes = tf1_convbert.convert_config(file_config, tensors, architecture)
    skipped = [(n, "optimizer state") for n in slots]
    skipped += [
        (n, "pre-training part outside the encoder")
        for n in sorted(names) if any(re.search(p, n) for p in rules.IGNORE)
    ]
    family = FAMILIES[rules.MODEL_TYPE]
    tok_dir = tokenizer_dir or directory
    tokenizer_config = hf_checkpoint.read_json_if_exists(tok_dir, "tokenizer_config.json")
    return CheckpointSource(
        kind=TF1,
        location=location,
        path=prefix,
        model_type=rules.MODEL_TYPE,
        config=config,
        architecture=architecture,
        tokenizer_files=_tokenizer_files(rules.MODEL_TYPE, tok_dir),
        tokenizer_settings=family.hf_converter.convert_tokenizer_config(config, tokenizer_config),
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
    tensors = paddle_pickle.load_paddle_state_dict(file)
    rules = paddle_ernie_m
    prefix = rules.detect_prefix(tensors)
    if prefix is None:
        sample = ", ".join(list(tensors)[:5])
        raise ValueError(
            f"{file} is not an ERNIE-M / UIE-M state dict: it has no "
            f"`[ernie_m.]{rules.ANCHOR}`; its first keys are: {sample}."
        )
    config_path = config_path or rules.find_config(directory)
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
    tok_dir = tokenizer_dir or directory
    tokenizer_config = hf_checkpoint.read_json_if_exists(tok_dir, "tokenizer_config.json")
    skipped = [
        (n, "buffer, not a weight") for n in tensors if any(re.search(p, n) for p in rules.IGNORE)
    ]
    return CheckpointSource(
        kind=PADDLE,
        location=location,
        path=file,
        model_type=rules.MODEL_TYPE,
        config=config,
        architecture=architecture,
        tokenizer_files=_tokenizer_files(rules.MODEL_TYPE, tok_dir),
        tokenizer_settings=convert_ernie_m.convert_tokenizer_config(config, tokenizer_config),
        tensors=tensors,
        rules=rules,
        prefix=prefix,
        skipped=skipped,
        notes=notes + config_notes,
    )


# === Building the Keras model ===
def sequence_length(src, limit=512):
    """The preprocessors' length: the checkpoint's positions, at most `limit`."""
    offset = getattr(src.family.hf_converter, "POSITION_OFFSET", 0)
    return min(limit, src.config.get("max_position_embeddings", 512) - offset)


def _make_preprocessor(cls, tokenizer, length):
    try:
        return cls(tokenizer=tokenizer, sequence_length=length)
    except TypeError:
        return cls(tokenizer=tokenizer)


def build_model(src, *, log=None):
    """The Keras task (or backbone) of `src`, with its converted weights.

    Returns:
        `(model, tokenizer)`: a task whose `checkpoint_head` is
        `src.architecture` (with its preprocessor), or the backbone when the
        checkpoint has no head; and the tokenizer.

    Raises:
        CheckpointMismatchError: the weights do not match the configuration.
        ValueError: no Keras task loads this checkpoint's head.
    """
    family = src.family
    backbone_cls = keras_class(family.backbone)
    tokenizer_cls = keras_class(family.tokenizer)
    head = src.architecture != src.base_architecture
    task_cls = task_class(src.architecture, backbone_cls) if head else None
    if head and task_cls is None:
        raise ValueError(
            f"The checkpoint holds a {src.architecture} head, and no Keras task "
            "loads it. Convert the encoder only (backbone_only=True, "
            "--backbone-only)."
        )
    if src.kind == HUGGING_FACE:
        if task_cls is not None:
            model = task_cls.from_preset(src.path)
            return model, model.preprocessor.tokenizer
        backbone = backbone_cls.from_preset(src.path)
        tokenizer = tokenizer_cls(**src.tokenizer_settings, **src.tokenizer_files)
        return backbone, tokenizer

    backbone = backbone_cls(**family.hf_converter.convert_backbone_config(src.config))
    port_backbone(src, backbone)
    tokenizer = tokenizer_cls(**src.tokenizer_settings, **src.tokenizer_files)
    if task_cls is None:
        return backbone, tokenizer
    preprocessor = _make_preprocessor(task_cls.preprocessor_cls, tokenizer, sequence_length(src))
    task = task_cls(
        backbone=backbone,
        preprocessor=preprocessor,
        **task_cls.task_config_from_hf(src.config),
    )
    port_head(src, task)
    return task, tokenizer


def port_backbone(src, backbone):
    """Assign the encoder weights of an original-format source."""
    rules = src.rules
    table = expand_rules(rules.BACKBONE_RULES, backbone.num_layers)
    # Head tensors are the task's; other known non-weights are listed skips.
    ignore = tuple(rules.IGNORE) + tuple(rules.HEAD_SCOPES)
    port_weights(
        backbone.weights,
        table,
        _floats(src.tensors),
        prefix=src.prefix,
        ignore=ignore,
        source=src.path,
    )


def port_head(src, task):
    """Assign the head weights of an original-format source to `task`."""
    rules = src.rules
    backbone_ids = {id(w) for w in task.backbone.weights}
    head_vars = [w for w in task.weights if id(w) not in backbone_ids]
    heads = re.compile("|".join(rules.HEAD_SCOPES)) if rules.HEAD_SCOPES else None
    head_tensors = {
        k: v for k, v in _floats(src.tensors).items() if heads is not None and heads.search(k)
    }
    port_weights(
        head_vars,
        expand_rules(rules.HEADS[src.architecture], 0),
        head_tensors,
        source=src.path,
    )


def _floats(tensors):
    return {k: hf_checkpoint.as_float(v) for k, v in tensors.items()}


def head_tensor_names(src):
    """Names of the checkpoint's head tensors (skipped when backbone-only)."""
    if src.tensors is None or not src.rules.HEAD_SCOPES:
        return []
    heads = re.compile("|".join(src.rules.HEAD_SCOPES))
    return sorted(n for n in src.tensors if heads.search(n))
