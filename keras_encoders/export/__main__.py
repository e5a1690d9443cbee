"""Command line: export a saved task preset as a SavedModel for TF-Serving.

    python -m keras_encoders.export PRESET OUTPUT [--task CLASS] [options]

The export always runs on the TensorFlow backend: started with another
`KERAS_BACKEND` (e.g. torch, which cannot export), the command re-runs itself
under TensorFlow. The weights are the preset's, so a model fine-tuned on any
backend exports after `task.save_to_preset(PRESET)`.
"""

import argparse
import os
import subprocess
import sys

from keras_encoders.utils import files


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m keras_encoders.export",
        description=(
            "Write a keras_encoders task as a TensorFlow SavedModel whose "
            "`serving_default` signature takes raw strings (tokenization runs "
            "in the graph; load `tensorflow_text` before serving it)."
        ),
        epilog=(
            "The export runs on the TensorFlow backend: started with another "
            "KERAS_BACKEND (torch cannot export), the command re-runs itself "
            "with KERAS_BACKEND=tensorflow."
        ),
    )
    add_source_arguments(parser, "the SavedModel directory to write")
    parser.add_argument(
        "--sequence-length", type=int, help="pack inputs to this many tokens"
    )
    parser.add_argument(
        "--text-pair", action="store_true", help="classifiers: take `text_pair` too"
    )
    parser.add_argument("--top-k", type=int, help="masked LM: candidates per mask")
    parser.add_argument(
        "--max-answer-length", type=int, help="question answering: longest answer, in tokens"
    )
    parser.add_argument(
        "--threshold", type=float, help="information extraction: minimum span probability"
    )
    return parser.parse_args(argv)


def add_source_arguments(parser, output_help, more_sources=""):
    """The `preset OUTPUT [--task CLASS]` arguments every export command takes."""
    parser.add_argument(
        "preset",
        help="a Keras preset directory (task.save_to_preset), a Hugging Face "
        f"layout directory, or a preset name{more_sources}",
    )
    parser.add_argument("output", help=output_help)
    parser.add_argument(
        "--task",
        help="the task class, e.g. NezhaTokenClassifier (default: the class "
        "saved in task.json, or the one matching a Hugging Face checkpoint's "
        "architecture)",
    )


def task_class(preset, name=None):
    """The task class to load `preset` with."""
    cls = find_task_class(preset, name)
    if cls is None:
        raise SystemExit(
            f"Cannot tell which task {preset!r} holds; pass --task, e.g. "
            "--task NezhaTextClassifier."
        )
    return cls


def _json_object(path):
    """A preset's JSON file (bounded: it may be a download), or {} if it is
    not an object."""
    data = files.read_json_file(path, "preset JSON file")
    return data if isinstance(data, dict) else {}


def find_task_class(preset, name=None):
    """The task class `--task NAME` names, or the one `preset` saved (its
    `task.json`, or a Hugging Face checkpoint's architecture); None when the
    preset holds no task (a backbone preset, a preset name)."""
    from keras_encoders import models
    from keras_hub.models import Task

    if name:
        cls = getattr(models, name, None)
        if not (isinstance(cls, type) and issubclass(cls, Task)):
            raise SystemExit(f"--task {name}: not a task class of keras_encoders.models.")
        return cls
    task_json = os.path.join(preset, "task.json")
    if os.path.exists(task_json):
        import keras

        registered = _json_object(task_json).get("registered_name")
        cls = keras.saving.get_registered_object(registered) if isinstance(registered, str) else None
        if cls is not None:
            return cls
    config_json = os.path.join(preset, "config.json")
    if os.path.exists(config_json):
        architectures = _json_object(config_json).get("architectures")
        architectures = architectures if isinstance(architectures, list) else []
        for value in vars(models).values():
            if (
                isinstance(value, type)
                and issubclass(value, Task)
                and getattr(value, "checkpoint_head", None) in architectures
            ):
                return value
    return None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    import keras

    if keras.backend.backend() != "tensorflow":
        say(f"Keras runs on {keras.backend.backend()}: exporting in a TensorFlow process ...")
        env = dict(os.environ, KERAS_BACKEND="tensorflow")
        command = [sys.executable, "-m", "keras_encoders.export", *argv]
        return subprocess.run(command, env=env).returncode

    import keras_encoders

    cls = task_class(args.preset, args.task)
    say(f"Loading {cls.__name__} from {args.preset} ...")
    kwargs = {}
    if args.sequence_length:
        kwargs["preprocessor"] = cls.preprocessor_cls.from_preset(
            args.preset, sequence_length=args.sequence_length
        )
    task = cls.from_preset(args.preset, **kwargs)
    options = {
        key: value
        for key, value in (
            ("text_pair", args.text_pair or None),
            ("top_k", args.top_k),
            ("max_answer_length", args.max_answer_length),
            ("threshold", args.threshold),
        )
        if value is not None
    }
    keras_encoders.export_saved_model(task, args.output, progress=say, **options)
    say(f"Exported {cls.__name__} from {args.preset} to {os.path.abspath(args.output)}.")
    return 0


def say(message):
    """Progress on stdout, at once: each stage takes seconds to minutes."""
    print(message, flush=True)


if __name__ == "__main__":
    sys.exit(main())
