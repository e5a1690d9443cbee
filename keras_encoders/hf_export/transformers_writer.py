"""`export_to_transformers`: a task or backbone as a Hugging Face folder."""

import json
import os

from safetensors.numpy import save_file

from keras_encoders.convert.families import FAMILIES
from keras_encoders.hf_export import checkpoint_configs
from keras_encoders.hf_export.checkpoint_weights import UnsupportedExportError
from keras_encoders.hf_export.checkpoint_weights import hf_state_dict
from keras_encoders.utils import text_utils


def export_to_transformers(task_or_backbone, path, *, tokenizer=None):
    """Write a task or backbone as a folder that transformers loads.

    The folder holds `config.json` (model type, architecture, encoder
    settings, `id2label` / `label2id` of classifiers), `model.safetensors`
    (float32) and the tokenizer files the reference tokenizer reads
    (`vocab.txt` and `tokenizer_config.json`; ERNIE-M also its
    `sentencepiece.bpe.model`). The architecture is the task's
    `checkpoint_head` (`NezhaForTokenClassification`, ...), or the bare
    `NezhaModel` / `ErnieMModel` / `ConvBertModel` for a backbone; load it
    with that class's `from_pretrained` (transformers 4.57 for NEZHA and
    ERNIE-M, whose classes are deprecated there and gone from 5.x; ConvBERT
    in 4.57 and 5.x). The weights are the
    converter's rule tables run backwards, so `from_preset(path)` reads the
    folder back unchanged, and a folder read with `from_preset` and exported
    again gives the same tensors.

    Works on every backend (it only reads the weights).

    Args:
        task_or_backbone: a keras_encoders task or backbone.
        path: the folder to write (created if needed; files in it with the
            same names are replaced).
        tokenizer: the tokenizer to write; by default the task's
            preprocessor's. Without one, no tokenizer files are written.

    Raises:
        UnsupportedExportError: (a `ValueError`) what transformers cannot
            express: a task type without a reference head (ConvBERT has no
            next-sentence head), settings the reference lacks (ERNIE-M's
            `pad_position_id`, as in the `uie_m_*` presets; a classifier
            summarizing another token than the reference's), variables
            without a place (LoRA adapters, quantized kernels). Each names
            the setting or variable.

    Example:
    ```python
    classifier = keras_encoders.models.NezhaTextClassifier.from_preset(...)
    classifier.fit(...)
    keras_encoders.export_to_transformers(classifier, "nezha-finetuned")

    import transformers
    from transformers.models.deprecated.nezha import NezhaForSequenceClassification
    model = NezhaForSequenceClassification.from_pretrained("nezha-finetuned")
    tokenizer = transformers.AutoTokenizer.from_pretrained("nezha-finetuned")
    ```
    """
    model = task_or_backbone
    backbone = getattr(model, "backbone", model)
    spec = family_of(backbone)
    if backbone is model:
        architecture = spec.base_architecture
    else:
        architecture = getattr(model, "checkpoint_head", None)
        if architecture not in spec.hf.HEADS:
            known = ", ".join(sorted(spec.hf.HEADS))
            raise UnsupportedExportError(
                f"{type(model).__name__} has no Hugging Face counterpart (transformers "
                f"has {known}). Export its backbone (`task.backbone`) instead."
            )
    config = checkpoint_configs.backbone_config(spec, backbone)
    if backbone is not model:
        config.update(checkpoint_configs.head_config(model, architecture))
    if tokenizer is None and getattr(model, "preprocessor", None) is not None:
        tokenizer = model.preprocessor.tokenizer
    tokenizer_config = (
        None if tokenizer is None else checkpoint_configs.tokenizer_config(spec, tokenizer, config)
    )
    # Everything is checked before anything is written.
    state = hf_state_dict(spec, model, architecture)

    os.makedirs(path, exist_ok=True)
    # `dtype`: the name transformers 4.56+ and 5.x write (`torch_dtype`, its
    # deprecated alias, is still read by both).
    config = {"architectures": [architecture], **config, "dtype": "float32"}
    write_json(os.path.join(path, "config.json"), config)
    save_file(state, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    if tokenizer is not None:
        write_json(os.path.join(path, "tokenizer_config.json"), tokenizer_config)
        write_tokenizer_files(spec, tokenizer, path)
    return path


def family_of(backbone):
    """The `FamilySpec` of a keras_encoders backbone, or raise."""
    for spec in FAMILIES.values():
        if isinstance(backbone, spec.keras_class(spec.backbone)):
            return spec
    raise UnsupportedExportError(
        f"{type(backbone).__name__} is not a backbone of keras_encoders "
        f"({', '.join(spec.backbone for spec in FAMILIES.values())})."
    )


def write_tokenizer_files(spec, tokenizer, folder):
    """The files of `spec.tokenizer_files` (first names: `vocab.txt`, ERNIE-M's
    `sentencepiece.bpe.model`), as the reference releases ship them."""
    for asset, names in spec.tokenizer_files.items():
        path = os.path.join(folder, names[0])
        if asset == "vocabulary":
            text_utils.write_vocabulary(tokenizer.get_vocabulary(), path)
        elif asset == "proto":
            with open(path, "wb") as f:
                f.write(tokenizer.proto)
        else:
            raise NotImplementedError(f"No writer for the tokenizer file {asset!r}.")


def write_json(path, content):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(content, f, indent=2, ensure_ascii=False)
        f.write("\n")
