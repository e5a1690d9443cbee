"""`export_to_paddlenlp`: a UIE-M extractor as the folder PaddleNLP's Taskflow loads."""

import os

from keras_encoders.convert import porting
from keras_encoders.hf_export import checkpoint_configs
from keras_encoders.hf_export.checkpoint_weights import UnsupportedExportError
from keras_encoders.hf_export.transformers_writer import family_of
from keras_encoders.hf_export.transformers_writer import write_json
from keras_encoders.hf_export.transformers_writer import write_tokenizer_files
from keras_encoders.models.information_extractor import InformationExtractor
from keras_encoders.paddle_export.pdparams_file import save_paddle_state_dict

WEIGHTS_FILE = "model_state.pdparams"
# Taskflow reads a legacy `model_config.json` before `config.json`.
LEGACY_CONFIG_FILE = "model_config.json"
SPECIAL_TOKENS = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
# Keras backbone settings PaddleNLP's model has no place for, and why they
# may be dropped: Paddle's `TransformerEncoderLayer` is built with
# `act_dropout=0`, and dropout changes training, not what the model computes;
# `pad_position_id` is the convention, checked on its own.
NOT_WRITTEN = ("activation_dropout", "pad_position_id")


def export_to_paddlenlp(extractor, path):
    """Write a UIE-M extractor as a PaddleNLP 2.8.1 model folder.

    The folder is what PaddleNLP's UIE fine-tuning (`finetune.py`) leaves in
    its `--output_dir` and what `Taskflow("information_extraction",
    model="uie-m-base", task_path=path, schema=...)` loads:

    - `model_state.pdparams`: the `UIEM` state dict (`ernie_m.*` encoder,
      `linear_start`, `linear_end`), float32, in `paddle.save`'s format,
      written without paddle;
    - `config.json`: `architectures: ["UIEM"]`, `model_type: "ernie_m"` and
      the encoder's sizes;
    - the tokenizer: `vocab.txt`, `sentencepiece.bpe.model`,
      `tokenizer_config.json` (`tokenizer_class: "ErnieMTokenizer"`,
      `do_lower_case`) and `special_tokens_map.json`.

    (`finetune.py`'s output folder holds the same files from its final
    `trainer.save_model()`, plus training records: `training_args.bin`,
    `train_results.json`, `trainer_state.json`, `checkpoint-<step>/`
    folders, and with `--do_export` a static graph under `export/`; none of
    those are needed by Taskflow, which builds its own static graph in
    `task_path/static/` on first use.)

    Taskflow then answers as `extractor.extract(texts, schema,
    decoding="taskflow")` does, span for span (checked live in the test
    suite). Taskflow feeds the model PaddleNLP's inputs, so the extractor
    must be set up that way: `extractor.with_convention("paddlenlp")` (as
    the `uie_m_*` presets and UIE-M conversions are). The weights follow the
    converter's PaddleNLP rule tables backwards, so converting the folder
    back (`keras-encoders-convert`) gives the same weights and settings.

    Works on every backend (it only reads the weights); paddle is not needed.

    Args:
        extractor: an `ErnieMInformationExtractor` with its preprocessor (the
            tokenizer files come from it), in the "paddlenlp" convention.
        path: the folder to write (created if needed; files in it with the
            same names are replaced).

    Returns:
        `path`.

    Raises:
        UnsupportedExportError: (a `ValueError`) what the folder cannot hold:
            another model than UIE-M, no preprocessor, the "transformers"
            convention, settings PaddleNLP's `UIEM` lacks
            (`intermediate_dim != 4 * hidden_dim`, another
            `layer_norm_epsilon`, special tokens other than ERNIE-M's),
            variables without a place (LoRA adapters, quantized kernels);
            or a folder holding a `model_config.json`, which Taskflow would
            read instead of the written `config.json`. Each names the setting,
            variable or file.

    Example:
    ```python
    extractor = keras_encoders.models.ErnieMInformationExtractor.from_preset("uie_m_base_multi")
    extractor.fit(*keras_encoders.uie.training_data(extractor, "data/train.txt"))
    keras_encoders.export_to_paddlenlp(extractor, "checkpoint/model_best")

    # In a PaddleNLP 2.8.1 environment:
    from paddlenlp import Taskflow
    ie = Taskflow("information_extraction", model="uie-m-base", schema=["时间", "选手"],
                  task_path="checkpoint/model_best")
    ```
    """
    spec, rules, paddle_class = _check_model(extractor)
    backbone = extractor.backbone
    tokenizer = extractor.preprocessor.tokenizer
    config = _model_config(spec, rules, backbone, paddle_class, extractor.checkpoint_head)
    tokenizer_config, special_tokens = _tokenizer_configs(spec, tokenizer, config)
    inverses = {**porting.INVERSE_TRANSFORMS, **getattr(rules, "INVERSE_TRANSFORMS", {})}
    parts = [
        (backbone.weights, porting.expand_rules(rules.BACKBONE_RULES, backbone.num_layers),
         rules.PREFIXES[0]),
        (porting.head_variables(extractor),
         porting.expand_rules(rules.HEADS[extractor.checkpoint_head], 0), ""),
    ]
    state, unmapped = porting.unport_weights(parts, inverses)
    if unmapped:
        raise UnsupportedExportError(
            f"PaddleNLP's {paddle_class} has no place for these variables of "
            f"{type(extractor).__name__}: {', '.join(unmapped)}. Merge or drop what "
            "it does not have (LoRA adapters, quantized kernels) before exporting."
        )
    if os.path.exists(os.path.join(path, LEGACY_CONFIG_FILE)):
        raise UnsupportedExportError(
            f"{path} holds a {LEGACY_CONFIG_FILE} (PaddleNLP < 2.5), which Taskflow reads "
            "instead of the config.json written here: delete it or export to another folder."
        )

    os.makedirs(path, exist_ok=True)
    save_paddle_state_dict(state, os.path.join(path, WEIGHTS_FILE))
    write_json(os.path.join(path, rules.CONFIG_FILES[0]), config)
    write_json(os.path.join(path, "tokenizer_config.json"), tokenizer_config)
    write_json(os.path.join(path, "special_tokens_map.json"), special_tokens)
    write_tokenizer_files(spec, tokenizer, path)
    return path


def _check_model(extractor):
    """`(spec, paddle rule module, PaddleNLP class name)`, or refuse."""
    backbone = getattr(extractor, "backbone", None)
    spec = family_of(backbone) if backbone is not None else None
    rules = spec.originals.get("paddle") if spec is not None else None
    head = getattr(extractor, "checkpoint_head", None)
    classes = {hf: paddle for paddle, hf in getattr(rules, "ARCHITECTURES", {}).items()}
    if not isinstance(extractor, InformationExtractor) or head not in classes:
        raise UnsupportedExportError(
            f"export_to_paddlenlp writes UIE-M (an ErnieMInformationExtractor) for "
            f"PaddleNLP's Taskflow; got a {type(extractor).__name__}. Use "
            "export_to_transformers for the other tasks."
        )
    preprocessor = extractor.preprocessor
    if preprocessor is None:
        raise UnsupportedExportError(
            "Taskflow needs the tokenizer files, and this extractor has no "
            "preprocessor: build it with its ErnieMInformationExtractorPreprocessor "
            "(from_preset gives one)."
        )
    settings = {
        "the backbone's pad_position_id": (getattr(backbone, "pad_position_id", None), 0),
        "the preprocessor's convention": (preprocessor.convention, "paddlenlp"),
        "the tokenizer's reference": (getattr(preprocessor.tokenizer, "reference", None), "paddlenlp"),
    }
    wrong = [f"{name} is {got!r} (Taskflow's: {want!r})" for name, (got, want) in settings.items()
             if got != want]
    if wrong:
        raise UnsupportedExportError(
            "Taskflow feeds UIE-M PaddleNLP's inputs, and this extractor reads others: "
            f"{'; '.join(wrong)}. Export `extractor.with_convention('paddlenlp')` (the "
            "same weights, read as Taskflow reads them; check its extract() answers "
            "first if the model was fine-tuned in the 'transformers' convention)."
        )
    return spec, rules, classes[head]


def _model_config(spec, rules, backbone, paddle_class, architecture):
    """PaddleNLP's `config.json`, checked by reading it back with the converter."""
    keras_config = backbone.get_config()
    config = {"architectures": [paddle_class], "model_type": rules.MODEL_TYPE, "hidden_act": "gelu"}
    for name, field in checkpoint_configs.BACKBONE_FIELDS.items():
        if name in keras_config and name not in NOT_WRITTEN:
            config[field] = keras_config[name]
    config["max_position_embeddings"] = keras_config["max_sequence_length"] + spec.position_offset
    # PaddleNLP builds neither of these from the config: both are checked below.
    config.pop("layer_norm_eps", None)
    read_back, _ = rules.convert_config(config, architecture)
    checkpoint_configs.check_round_trip(
        type(backbone), keras_config, spec.hf.convert_backbone_config(read_back),
        f"PaddleNLP's {paddle_class}", ignore=NOT_WRITTEN, library="PaddleNLP",
    )
    return config


def _tokenizer_configs(spec, tokenizer, config):
    """`tokenizer_config.json` and `special_tokens_map.json`, checked."""
    keras_config = tokenizer.get_config()
    special = {name: keras_config[name] for name in SPECIAL_TOKENS}
    tokenizer_config = {"do_lower_case": bool(keras_config.get("lowercase", False)),
                        **special, "tokenizer_class": spec.tokenizer}
    checkpoint_configs.check_round_trip(
        type(tokenizer), keras_config,
        spec.hf.convert_tokenizer_config(config, tokenizer_config),
        "PaddleNLP's ErnieMTokenizer", library="the converter",
        ignore=checkpoint_configs.TOKENIZER_FILES + ("reference",),
    )
    pad_id = tokenizer.token_to_id(keras_config["pad_token"])
    if config["pad_token_id"] != pad_id:
        raise UnsupportedExportError(
            f"The backbone's pad_token_id is {config['pad_token_id']}, but the tokenizer's "
            f"{keras_config['pad_token']} is id {pad_id}: PaddleNLP pads with the "
            "tokenizer's id, so the exported model would read other positions."
        )
    return tokenizer_config, special
