"""Command line: export a saved task as an ONNX model of its token-id inputs.

    python -m keras_encoders.onnx_export PRESET OUTPUT.onnx [--task CLASS] [--int8]

PRESET is a Keras preset directory (`task.save_to_preset`), a Hugging Face
layout directory, a preset name, or a `.keras` file. The export runs on the
TensorFlow backend: started with another `KERAS_BACKEND`, the command
re-runs itself under TensorFlow.
"""

import argparse
import os
import subprocess
import sys

from keras_encoders.export.__main__ import add_source_arguments
from keras_encoders.onnx_export.onnx_writer import DEFAULT_OPSET


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m keras_encoders.onnx_export",
        description=(
            "Write a keras_encoders task as an ONNX model whose inputs are the "
            "task's token ids (token_ids, padding_mask, segment_ids ...), with "
            "dynamic batch and length."
        ),
    )
    add_source_arguments(parser, "the .onnx file to write", more_sources=", or a .keras file")
    parser.add_argument(
        "--int8", action="store_true",
        help="quantize matrix-product weights to int8 (ONNX Runtime dynamic quantization)",
    )
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="the ONNX opset")
    return parser.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    import keras

    if keras.backend.backend() != "tensorflow":
        env = dict(os.environ, KERAS_BACKEND="tensorflow")
        command = [sys.executable, "-m", "keras_encoders.onnx_export", *argv]
        return subprocess.run(command, env=env).returncode

    import keras_encoders
    from keras_encoders.export.__main__ import task_class

    if args.preset.endswith(".keras"):
        task = keras.models.load_model(args.preset)
    else:
        task = task_class(args.preset, args.task).from_preset(args.preset)
    keras_encoders.export_onnx(task, args.output, int8=args.int8, opset=args.opset)
    print(f"Exported {type(task).__name__} to {os.path.abspath(args.output)}.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
