"""`keras-encoders-convert`: checkpoint -> verified Keras preset directory.

Examples:

    keras-encoders-convert hf://sijunhe/nezha-cn-base ./nezha_base_zh
    keras-encoders-convert ./NEZHA-Base/model.ckpt-900000 ./nezha_base_zh
    keras-encoders-convert ./convbert_base ./convbert_base_en_uncased --tokenizer-dir ./vocab
    keras-encoders-convert ./uie_m_base/model_state.pdparams ./uie_m_base_multi

The converted model is compared with the reference implementation
(transformers, when installed) on sample texts and with any reference
checks before anything is written; a failed verification writes nothing.
"""

import argparse
import sys

from keras_encoders.convert import verification
from keras_encoders.convert.conversion import VerificationError
from keras_encoders.convert.conversion import catalogue_preset_for
from keras_encoders.convert.conversion import convert_checkpoint


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-encoders-convert",
        description=(
            "Convert a NEZHA, ConvBERT, ERNIE-M or UIE-M checkpoint (Hugging "
            "Face folder or hf:// handle, original TF1 checkpoint, PaddleNLP "
            ".pdparams) into a verified Keras preset directory."
        ),
        epilog=__doc__.split("Examples:")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", help="checkpoint path or hf://owner/name")
    parser.add_argument("output", help="preset directory to create")
    parser.add_argument(
        "--config",
        help="original config file (bert_config.json, model_config.json ...) "
        "when it is not next to the checkpoint",
    )
    parser.add_argument(
        "--tokenizer-dir",
        help="folder with vocab.txt (and sentencepiece.bpe.model for ERNIE-M) "
        "when they are not next to the checkpoint",
    )
    parser.add_argument(
        "--backbone-only", action="store_true",
        help="convert the encoder only; head weights in the checkpoint are skipped",
    )
    parser.add_argument(
        "--atol", type=float, default=verification.DEFAULT_ATOL,
        help="largest accepted max |diff| against the reference (default %(default)g)",
    )
    parser.add_argument(
        "--no-reference", action="store_true",
        help="skip the comparison with transformers (reference checks still run)",
    )
    parser.add_argument(
        "--reference-check", action="append", default=[], metavar="FILE",
        help="JSON file of published output checks that the conversion must "
        "reproduce (may be repeated)",
    )
    parser.add_argument(
        "--preset", metavar="NAME",
        help="catalogue preset this conversion must match (its reference "
        "checks, configuration and parameter counts); chosen automatically "
        "when the source is a catalogue entry's hf:// handle",
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace an existing output directory (only once verification passed, "
        "and only one a conversion wrote: its conversion.json record shows it; an "
        "output that is or contains the source is always refused)",
    )
    parser.add_argument(
        "--upload", metavar="URI",
        help="after writing, upload the preset with keras_hub.upload_preset "
        "(kaggle://owner/model/keras/variant or hf://owner/name)",
    )
    parser.add_argument(
        "--allow-non-finite", action="store_true",
        help="accept NaN / Inf weights (refused by default: they make every output NaN)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only errors")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        checks = []
        for path in args.reference_check:
            checks.extend(verification.load_reference_checks(path))
        preset = args.preset or catalogue_preset_for(args.source)
        if preset and not args.preset and not args.quiet:
            print(f"{args.source} is the source of catalogue preset '{preset}': "
                  "its reference checks apply.")
        result = convert_checkpoint(
            args.source,
            args.output,
            config_path=args.config,
            tokenizer_dir=args.tokenizer_dir,
            backbone_only=args.backbone_only,
            atol=args.atol,
            reference=not args.no_reference,
            reference_checks=checks,
            preset=preset,
            overwrite=args.overwrite,
            quiet=args.quiet,
            allow_non_finite=args.allow_non_finite,
        )
    except VerificationError as e:
        if args.quiet:  # otherwise the report and the reason are printed
            print(f"keras-encoders-convert: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError, ImportError) as e:
        # Format, mismatch and safety errors are ValueErrors with full messages.
        print(f"keras-encoders-convert: error: {e}", file=sys.stderr)
        return 1
    if args.upload:
        import keras_hub

        try:
            keras_hub.upload_preset(args.upload, result.output)
        except Exception as e:  # noqa: BLE001 - auth, network, bad URI: one message
            print(
                f"keras-encoders-convert: the preset is written to {result.output}, "
                f"but uploading it to {args.upload} failed ({type(e).__name__}: {e}). "
                "Retry with keras_hub.upload_preset(uri, preset_dir).",
                file=sys.stderr,
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
