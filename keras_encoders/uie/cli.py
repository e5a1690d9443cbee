"""`keras-encoders-uie`: PaddleNLP's UIE data scripts, with their flags.

    keras-encoders-uie doccano --doccano_file data/doccano.jsonl --save_dir data
    keras-encoders-uie label-studio --label_studio_file data/label_studio.json
    keras-encoders-uie evaluate --model_path PRESET_OR_DIR --test_path data/dev.txt --debug
    keras-encoders-uie export-paddle --model_path PRESET_OR_DIR --output_dir checkpoint/model_best

`doccano` and `label-studio` take the flags of PaddleNLP 2.8.1's
`doccano.py` / `label_studio.py` (same names and defaults) and write the same
`train.txt`, `dev.txt`, `test.txt` and `sample_index.json`. `evaluate` takes
`evaluate.py`'s (`--model_path` names a preset or a saved preset folder of an
`ErnieMInformationExtractor`) and prints precision, recall and F1 overall
and, with `--debug`, per type. `export-paddle` writes the model as the
PaddleNLP UIE-M folder `finetune.py` leaves (`model_state.pdparams`,
`config.json`, tokenizer files), for `Taskflow("information_extraction",
model="uie-m-base", task_path=...)` (see `keras_encoders.export_to_paddlenlp`).
"""

import argparse
import json
import sys

from keras_encoders.uie import annotations


def str2bool(value):
    """PaddleNLP's `strtobool` for `--is_shuffle`."""
    lowered = str(value).lower()
    if lowered in ("y", "yes", "t", "true", "on", "1"):
        return True
    if lowered in ("n", "no", "f", "false", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {value!r}")


def _conversion_flags(parser, file_flag, default_file, help_file):
    parser.add_argument(file_flag, default=default_file, help=help_file)
    parser.add_argument("--save_dir", default="./data", help="Where train.txt, dev.txt and test.txt go.")
    parser.add_argument("--negative_ratio", default=5, type=int,
                        help="Extraction only: at most this many negative examples per positive in training.")
    parser.add_argument("--splits", default=[0.8, 0.1, 0.1], type=float, nargs="*",
                        help="Train, dev and test ratios (summing to 1), or none for training data only.")
    parser.add_argument("--task_type", choices=annotations.TASK_TYPES, default="ext",
                        help="ext: extraction (entities, relations, events, opinions); cls: classification.")
    parser.add_argument("--options", default=list(annotations.DEFAULT_OPTIONS), type=str, nargs="+",
                        help="Classification options.")
    parser.add_argument("--prompt_prefix", default="情感倾向", help="Classification prompt prefix.")
    parser.add_argument("--is_shuffle", default="True", type=str2bool, help="Shuffle the annotated texts.")
    parser.add_argument("--seed", type=int, default=1000, help="Random seed.")
    parser.add_argument("--separator", default="##",
                        help="Separates an entity label from its class (e.g. 评价维度##正向).")
    parser.add_argument("--schema_lang", choices=annotations.SCHEMA_LANGS, default="ch",
                        help="How relation prompts are phrased: X的Y (ch) or Y of X (en).")


def build_parser():
    parser = argparse.ArgumentParser(prog="keras-encoders-uie", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    doccano = commands.add_parser("doccano", help="Convert a doccano JSONL export.")
    _conversion_flags(doccano, "--doccano_file", "./data/doccano.json", "The doccano export.")
    studio = commands.add_parser("label-studio", help="Convert a Label Studio JSON export.")
    _conversion_flags(studio, "--label_studio_file", "./data/label_studio.json", "The Label Studio export.")
    # Accepted for PaddleNLP's command lines; only text projects are read.
    studio.add_argument("--layout_analysis", default=False, type=bool, help=argparse.SUPPRESS)
    studio.add_argument("--ocr_lang", choices=["ch", "en"], default="ch", help=argparse.SUPPRESS)
    evaluate = commands.add_parser("evaluate", help="Span P/R/F1 of a model on an example file.")
    evaluate.add_argument("--model_path", required=True, help="A preset name or saved preset folder.")
    evaluate.add_argument("--test_path", required=True, help="Examples in PaddleNLP's format.")
    evaluate.add_argument("--batch_size", type=int, default=16)
    evaluate.add_argument("--max_seq_len", type=int, default=512)
    evaluate.add_argument("--debug", action="store_true", help="Also score each type.")
    evaluate.add_argument("--schema_lang", choices=annotations.SCHEMA_LANGS, default="ch")
    evaluate.add_argument("--limit", type=float, default=0.5, help="Probability threshold.")
    # Accepted for PaddleNLP's command lines: the device is the backend's,
    # and the model class is read from the preset.
    evaluate.add_argument("--device", default=None, help=argparse.SUPPRESS)
    evaluate.add_argument("--multilingual", action="store_true", help=argparse.SUPPRESS)
    export = commands.add_parser("export-paddle", help="Write a PaddleNLP UIE-M folder for Taskflow.")
    export.add_argument("--model_path", required=True, help="A preset name or saved preset folder.")
    export.add_argument("--output_dir", required=True, help="The folder for Taskflow's task_path.")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("doccano", "label-studio"):
            convert = annotations.convert_doccano if args.command == "doccano" else annotations.convert_label_studio
            path = args.doccano_file if args.command == "doccano" else args.label_studio_file
            result = convert(
                path, negative_ratio=args.negative_ratio, splits=args.splits, task_type=args.task_type,
                options=args.options, prompt_prefix=args.prompt_prefix, is_shuffle=args.is_shuffle,
                seed=args.seed, separator=args.separator, schema_lang=args.schema_lang, save_dir=args.save_dir,
            )
            for name, examples in result.items():
                print(f"Saved {len(examples)} examples to {args.save_dir}/{name}.txt")
            return 0
        if args.command == "export-paddle":
            from keras_encoders.models import ErnieMInformationExtractor
            from keras_encoders.paddle_export import export_to_paddlenlp

            export_to_paddlenlp(ErnieMInformationExtractor.from_preset(args.model_path), args.output_dir)
            print(f"Saved a PaddleNLP UIE-M model to {args.output_dir} (Taskflow's task_path)")
            return 0
        from keras_encoders.uie import evaluation

        report = evaluation.evaluate_preset(
            args.model_path, args.test_path, max_seq_len=args.max_seq_len, batch_size=args.batch_size,
            debug=args.debug, schema_lang=args.schema_lang, limit=args.limit,
        )
        for name, scores in report.items():
            print(f"Class Name: {name}")
            print("Evaluation Precision: %.5f | Recall: %.5f | F1: %.5f"
                  % (scores["precision"], scores["recall"], scores["f1"]))
        print(json.dumps(report, ensure_ascii=False))
        return 0
    except (annotations.AnnotationError, ValueError, FileNotFoundError) as error:
        print(f"keras-encoders-uie {args.command}: {error}", file=sys.stderr)
        return 2
