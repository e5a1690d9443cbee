"""Keras configs -> `config.json` and `tokenizer_config.json`, checked.

Each written config is read back with the converter's own readers
(`spec.hf.convert_backbone_config`, the task's `task_config_from_hf`,
`spec.hf.convert_tokenizer_config`) and must give the Keras configuration
again: a setting the Hugging Face layout cannot hold (ERNIE-M's
`pad_position_id`, a ConvBERT classifier without its hidden layer, a
tokenizer with other special tokens ...) refuses the export, by name,
instead of writing a checkpoint that computes something else.
"""

import inspect

from keras_encoders.hf_export.checkpoint_weights import UnsupportedExportError

# Keras backbone argument -> `config.json` field, for every family (each
# backbone has a subset of these).
BACKBONE_FIELDS = {
    "vocabulary_size": "vocab_size",
    "num_layers": "num_hidden_layers",
    "num_heads": "num_attention_heads",
    "hidden_dim": "hidden_size",
    "intermediate_dim": "intermediate_size",
    "embedding_dim": "embedding_size",
    "head_ratio": "head_ratio",
    "conv_kernel_size": "conv_kernel_size",
    "num_groups": "num_groups",
    "max_relative_position": "max_relative_position",
    "num_segments": "type_vocab_size",
    "dropout": "hidden_dropout_prob",
    "attention_dropout": "attention_probs_dropout_prob",
    "activation_dropout": "act_dropout",
    "layer_norm_epsilon": "layer_norm_eps",
    "pad_token_id": "pad_token_id",
}
# Keras tokenizer argument -> `tokenizer_config.json` field.
TOKENIZER_FIELDS = {
    "lowercase": "do_lower_case",
    "strip_accents": "strip_accents",
    "split_on_cjk": "tokenize_chinese_chars",
}
# Config entries that do not change what the model computes at inference:
# names, dtypes (weights are written as float32), head dropout (Hugging
# Face's `classifier_dropout`) and the extractor's span decoding.
NOT_COMPUTED = ("name", "trainable", "dtype", "backbone", "preprocessor", "dropout", "decoding")
# Tokenizer arguments that are the files, or the preprocessor's business.
TOKENIZER_FILES = ("vocabulary", "proto", "sequence_length", "config_file")


def backbone_config(spec, backbone):
    """The `config.json` fields of `backbone` (model type and encoder)."""
    config = backbone.get_config()
    hf = {"model_type": spec.model_types[0], "hidden_act": "gelu"}
    hf.update({field: config[name] for name, field in BACKBONE_FIELDS.items() if name in config})
    hf["max_position_embeddings"] = config["max_sequence_length"] + spec.position_offset
    check_round_trip(
        type(backbone), config, spec.hf.convert_backbone_config(hf),
        f"Hugging Face's {spec.hf_prefix}Model",
    )
    return hf


def head_config(task, architecture):
    """The `config.json` fields of `task`'s head (labels, problem type)."""
    config = task.get_config()
    hf = {}
    if "num_classes" in config:
        names = config.get("label_names") or [f"LABEL_{i}" for i in range(config["num_classes"])]
        hf["id2label"] = {str(i): name for i, name in enumerate(names)}
        hf["label2id"] = {name: i for i, name in enumerate(names)}
    if config.get("problem_type"):
        hf["problem_type"] = config["problem_type"]
    # What loading this config builds, on the same backbone: every setting
    # that differs is one the reference cannot hold.
    rebuilt = type(task)(backbone=task.backbone, **type(task).task_config_from_hf(hf))
    check_round_trip(type(task), config, rebuilt.get_config(), f"Hugging Face's {architecture}",
                     rebuilt=True)
    return hf


def tokenizer_config(spec, tokenizer, hf_config):
    """The `tokenizer_config.json` of `tokenizer`."""
    config = tokenizer.get_config()
    hf = {field: config[name] for name, field in TOKENIZER_FIELDS.items() if name in config}
    hf["model_max_length"] = spec.sequence_length(hf_config)
    check_round_trip(
        type(tokenizer),
        config,
        spec.hf.convert_tokenizer_config(hf_config, hf),
        "Hugging Face's tokenizer",
        ignore=TOKENIZER_FILES,
    )
    return hf


def check_round_trip(cls, config, read_back, reference, rebuilt=False, ignore=(),
                     library="transformers"):
    """Refuse `config` unless reading the written config gives it back.

    `read_back` is what the converter makes of the written files: a full
    config (`rebuilt`), or the arguments it sets, the others taking their
    defaults in `cls.__init__`. `reference` names what is written ("Hugging
    Face's NezhaModel"), `library` what reads it.
    """
    skip = set(NOT_COMPUTED) | set(ignore)
    expected = dict(read_back)
    if not rebuilt:
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if name not in expected and parameter.default is not inspect.Parameter.empty:
                expected[name] = parameter.default
    differences = [
        f"{name}={config[name]!r} (it can only hold {expected[name]!r})"
        for name in config
        if name in expected and name not in skip and config[name] != expected[name]
    ]
    if differences:
        raise UnsupportedExportError(
            f"Cannot export this {cls.__name__} to {reference}: "
            f"{'; '.join(differences)}. Only the settings {library} can express "
            "can be exported; build the model with those to export it."
        )
