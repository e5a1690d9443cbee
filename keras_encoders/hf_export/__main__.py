"""Command line: export a saved task or backbone as a Hugging Face folder.

    python -m keras_encoders.hf_export PRESET OUTPUT_DIR [--task CLASS | --backbone]

PRESET is a Keras preset directory (`task.save_to_preset` or
`backbone.save_to_preset`), a Hugging Face layout directory, a preset name,
or a `.keras` file. A task preset exports its task (`NezhaForTokenClassification`
...); a preset without a task (a backbone, a preset name) exports the bare
encoder (`NezhaModel`, `ErnieMModel`, `ConvBertModel`), with the preset's
tokenizer when it has one. Runs on any backend (it only reads the weights).
"""

import argparse
import json
import os
import sys

from keras_encoders.export.__main__ import add_source_arguments
from keras_encoders.export.__main__ import find_task_class


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m keras_encoders.hf_export",
        description=(
            "Write a keras_encoders task or backbone as a folder transformers "
            "loads with the matching class (config.json, model.safetensors, "
            "tokenizer files)."
        ),
    )
    add_source_arguments(parser, "the folder to write", more_sources=", or a .keras file")
    parser.add_argument(
        "--backbone", action="store_true",
        help="export only the encoder (NezhaModel, ErnieMModel, ConvBertModel), "
        "even from a task preset",
    )
    args = parser.parse_args(argv)
    if args.backbone and args.task:
        parser.error("--backbone and --task exclude each other: pick one")
    return args


def load(args):
    """The task or backbone (and the tokenizer to write) `args` name."""
    import keras
    import keras_hub

    import keras_encoders  # noqa: F401 (registers the classes for keras-hub's loaders)

    if args.preset.endswith(".keras"):
        if not os.path.isfile(args.preset):
            raise ValueError(f"{args.preset}: no such .keras file.")
        model = keras.models.load_model(args.preset)
        if args.backbone and hasattr(model, "backbone"):
            preprocessor = getattr(model, "preprocessor", None)
            return model.backbone, getattr(preprocessor, "tokenizer", None)
        return model, None
    cls = None if args.backbone else find_task_class(args.preset, args.task)
    if cls is not None:
        return cls.from_preset(args.preset), None
    backbone = keras_hub.models.Backbone.from_preset(args.preset)
    try:
        tokenizer = keras_hub.models.Tokenizer.from_preset(args.preset)
    except FileNotFoundError:
        print(f"{args.preset} has no tokenizer: writing the weights and config only.", flush=True)
        tokenizer = None
    return backbone, tokenizer


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else list(argv))
    import keras_encoders

    try:
        model, tokenizer = load(args)
        keras_encoders.export_to_transformers(model, args.output, tokenizer=tokenizer)
    except (ValueError, FileNotFoundError) as error:
        # Bad presets and what transformers cannot express: the message names
        # the file or setting; a traceback would only hide it.
        raise SystemExit(f"error: {error}") from None
    with open(os.path.join(args.output, "config.json"), encoding="utf-8") as f:
        architecture = json.load(f)["architectures"][0]
    print(
        f"Exported {type(model).__name__} to {os.path.abspath(args.output)}: load it with "
        f"transformers' {architecture}.from_pretrained.",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
