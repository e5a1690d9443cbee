"""ERNIE-M and UIE-M: PaddleNLP `.pdparams` checkpoints -> Keras.

Parameter names are PaddleNLP's (`paddlenlp/transformers/ernie_m/modeling.py`):
`ernie_m.embeddings.*`, then Paddle's `nn.TransformerEncoderLayer` names
(`encoder.layers.N.self_attn.{q,k,v,out}_proj`, `linear1/linear2`,
`norm1/norm2`), `ernie_m.pooler.dense`; UIE-M (`UIEM`) adds `linear_start`
and `linear_end`. Paddle's `nn.Linear.weight` is `(in, out)`, the Keras
kernel layout, so every rule is the identity. The `ernie_m.` prefix is
optional (a bare `ErnieMModel.state_dict()` has none).
"""

import re

from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.convert.porting import identity
from keras_encoders.utils import files

MODEL_TYPE = "ernie_m"
SOURCE_FORMAT = "PaddleNLP .pdparams"
PREFIXES = ("ernie_m.", "")
ANCHOR = "embeddings.word_embeddings.weight"
# PaddleNLP's model folders: `model_config.json` (PaddleNLP < 2.5, also what
# Taskflow's UIE-M downloads ship) or `config.json` (later releases).
CONFIG_FILES = ("config.json", "model_config.json")
# `position_ids` is a persistable buffer in newer PaddleNLP, not a weight.
IGNORE = (r"(^|\.)embeddings\.position_ids$",)

L = "transformer_layer_{i}/"
P = "encoder.layers.{i}."
BACKBONE_RULES = [
    ("token_embedding/embeddings", "embeddings.word_embeddings.weight", identity),
    ("position_embedding/embeddings", "embeddings.position_embeddings.weight", identity),
    ("embeddings_layer_norm/gamma", "embeddings.layer_norm.weight", identity),
    ("embeddings_layer_norm/beta", "embeddings.layer_norm.bias", identity),
    (L + "self_attention/query/kernel", P + "self_attn.q_proj.weight", identity),
    (L + "self_attention/query/bias", P + "self_attn.q_proj.bias", identity),
    (L + "self_attention/key/kernel", P + "self_attn.k_proj.weight", identity),
    (L + "self_attention/key/bias", P + "self_attn.k_proj.bias", identity),
    (L + "self_attention/value/kernel", P + "self_attn.v_proj.weight", identity),
    (L + "self_attention/value/bias", P + "self_attn.v_proj.bias", identity),
    (L + "attention_output/kernel", P + "self_attn.out_proj.weight", identity),
    (L + "attention_output/bias", P + "self_attn.out_proj.bias", identity),
    (L + "attention_layer_norm/gamma", P + "norm1.weight", identity),
    (L + "attention_layer_norm/beta", P + "norm1.bias", identity),
    (L + "intermediate/kernel", P + "linear1.weight", identity),
    (L + "intermediate/bias", P + "linear1.bias", identity),
    (L + "output/kernel", P + "linear2.weight", identity),
    (L + "output/bias", P + "linear2.bias", identity),
    (L + "output_layer_norm/gamma", P + "norm2.weight", identity),
    (L + "output_layer_norm/beta", P + "norm2.bias", identity),
    ("pooled_dense/kernel", "pooler.dense.weight", identity),
    ("pooled_dense/bias", "pooler.dense.bias", identity),
]

# Hugging Face architecture -> head rules (keys without the `ernie_m.` prefix:
# heads live at the top level of the state dict).
HEADS = {
    "ErnieMModel": [],
    "ErnieMForInformationExtraction": [
        ("start_logits/kernel", "linear_start.weight", identity),
        ("start_logits/bias", "linear_start.bias", identity),
        ("end_logits/kernel", "linear_end.weight", identity),
        ("end_logits/bias", "linear_end.bias", identity),
    ],
}
HEAD_SCOPES = (r"^linear_start\.", r"^linear_end\.")

# PaddleNLP class names (`init_class` / `architectures`) -> Hugging Face's.
ARCHITECTURES = {
    "UIEM": "ErnieMForInformationExtraction",
    "ErnieMModel": "ErnieMModel",
}


def detect_prefix(names):
    for prefix in PREFIXES:
        if prefix + ANCHOR in names:
            return prefix
    return None


def detect_architecture(names):
    if "linear_start.weight" in names or "linear_end.weight" in names:
        return "ErnieMForInformationExtraction"
    return "ErnieMModel"


def read_paddle_config(path):
    """A PaddleNLP config file, flattened.

    Legacy `model_config.json` files nest the base model's arguments:
    `{"init_args": [{..., "init_class": "ErnieMModel"}], "init_class": "UIEM"}`
    (PaddleNLP's own `flatten_model_config` lifts them to the top level and
    turns `init_class` into `architectures`; so do we).
    """
    raw = files.read_json_file(path, "PaddleNLP config file", CheckpointFormatError)
    if not isinstance(raw, dict):
        raise CheckpointFormatError(f"{path} must hold a JSON object, got {type(raw).__name__}.")
    config = {k: v for k, v in raw.items() if k not in ("init_args", "init_class")}
    for arg in raw.get("init_args", []):
        if isinstance(arg, dict):
            for key, value in arg.items():
                if key != "init_class":
                    config.setdefault(key, value)
    if "init_class" in raw:
        config.setdefault("architectures", [raw["init_class"]])
    return config


def convert_config(paddle_config, architecture):
    """A PaddleNLP ERNIE-M config -> a Hugging Face `ErnieMConfig` dict.

    Returns `(config, notes)`.
    """
    notes = []
    hidden = paddle_config["hidden_size"]
    declared = paddle_config.get("intermediate_size")
    if declared is not None and declared != 4 * hidden:
        notes.append(
            f"config says intermediate_size={declared}, but PaddleNLP's "
            f"ErnieMModel always builds 4 * hidden_size = {4 * hidden} (used here)."
        )
    activation = paddle_config.get("hidden_act", "gelu")
    if activation != "gelu":
        raise ValueError(f"hidden_act={activation!r} is not supported; ERNIE-M uses gelu.")
    pad = paddle_config.get("pad_token_id")
    if pad in (None, 0):
        # 0 is ErnieMConfig's class default (and early PaddleNLP masked id 0,
        # i.e. [CLS], by mistake); every published ERNIE-M says 1.
        notes.append(
            f"config has pad_token_id={pad}; using 1, the ERNIE-M vocabulary's [PAD]."
        )
        pad = 1
    config = {
        "model_type": MODEL_TYPE,
        "architectures": [architecture],
        "vocab_size": paddle_config["vocab_size"],
        "hidden_size": hidden,
        "num_hidden_layers": paddle_config["num_hidden_layers"],
        "num_attention_heads": paddle_config["num_attention_heads"],
        "intermediate_size": 4 * hidden,
        "hidden_act": "gelu",
        "hidden_dropout_prob": paddle_config.get("hidden_dropout_prob", 0.1),
        "attention_probs_dropout_prob": paddle_config.get("attention_probs_dropout_prob", 0.1),
        # Paddle's TransformerEncoderLayer is built with act_dropout=0.
        "act_dropout": 0.0,
        "max_position_embeddings": paddle_config.get("max_position_embeddings", 514),
        "layer_norm_eps": 1e-5,  # paddle.nn.LayerNorm's default
        "initializer_range": paddle_config.get("initializer_range", 0.02),
        "pad_token_id": pad,
    }
    return config, notes


def to_hf_state_dict(tensors, prefix, architecture):
    """The same arrays under Hugging Face's names and layouts (for references).

    Deliberately written as the generic PaddleNLP -> PyTorch rule (transpose
    every 2-D `Linear.weight`; HF nests q/k/v one level deeper), independent
    of the Keras rules above, so that a reference built from it checks them.
    """
    base_prefix = "" if architecture == "ErnieMModel" else "ernie_m."
    out = {}
    for name, array in tensors.items():
        if any(re.search(p, name) for p in IGNORE):
            continue
        if any(re.search(p, name) for p in HEAD_SCOPES):
            key = name
        elif name.startswith(prefix):
            key = base_prefix + name[len(prefix):]
        else:
            key = name
        for proj in ("q_proj", "k_proj", "v_proj"):
            key = key.replace(f".self_attn.{proj}.", f".self_attn.self_attn.{proj}.")
        is_linear = key.endswith(".weight") and array.ndim == 2 and "embeddings" not in key
        out[key] = array.T if is_linear else array
    return out
