"""The main job on a bundled example: `python -m keras_encoders.demo`.

Trains a small, randomly initialised NEZHA sentiment classifier from raw
strings on the ChnSentiCorp reviews in the project's shared assets
(`KERAS_ENCODERS_SHARED`, or `../shared` beside the repository), prints its
accuracy on held-out reviews it never saw, then predicts, saves a preset,
reloads it and exports a SavedModel for TF-Serving. No network, about a
minute on 2 CPU cores. Without the shared assets it runs the same steps on a
small inline sample (which is too small to learn from). For real accuracy,
start from a preset (`NezhaTextClassifier.from_preset("nezha_base_zh", ...)`);
see guides/.
"""

import argparse
import collections
import csv
import os
import subprocess
import sys
import tempfile

import numpy as np

# (text, label): 1 positive, 0 negative.
SAMPLE = [
    ("这家酒店很干净，服务也很好。", 1), ("房间太小，隔音很差。", 0),
    ("早餐丰富，位置方便，下次还来。", 1), ("前台态度恶劣，不会再来了。", 0),
    ("书的内容很精彩，值得一读。", 1), ("印刷质量差，纸张很薄。", 0),
    ("电脑运行很快，屏幕清晰。", 1), ("电池不耐用，用了两天就坏了。", 0),
]
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def shared_split(name, limit=None):
    """(texts, labels) of a ChnSentiCorp split from the shared assets, or None."""
    here = os.path.dirname(os.path.abspath(__file__))
    for root in (os.environ.get("KERAS_ENCODERS_SHARED"), os.path.join(here, "..", "..", "shared")):
        path = os.path.join(root or "", "assets", "data", "chnsenticorp", f"{name}.tsv")
        if root and os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:limit]
            return [r["text_a"] for r in rows], np.array([int(r["label"]) for r in rows])
    return None


def character_vocabulary(texts, min_count):
    """WordPiece vocabulary of the characters seen `min_count` times or more:
    a random-init model learns only what its training data shows, so rarer
    characters are better pooled as [UNK]."""
    counts = collections.Counter(c for text in texts for c in text.lower() if not c.isspace())
    return SPECIAL_TOKENS + sorted(c for c, n in counts.items() if n >= min_count)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=None,
                        help="training reviews (default: all 9,600)")
    parser.add_argument("--held-out", type=int, default=1200,
                        help="held-out reviews to measure accuracy on")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--sequence-length", type=int, default=64,
                        help="tokens per review (longer reviews are cut)")
    parser.add_argument("--output", default=None,
                        help="folder for the preset and the SavedModel (default: a temporary folder)")
    parser.add_argument("--no-export", action="store_true", help="skip the SavedModel export")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1, help="0: no progress bar")
    args = parser.parse_args(argv)

    import keras

    from keras_encoders import models

    train, held_out = shared_split("train", args.examples), shared_split("dev", args.held_out)
    if train is None or held_out is None:
        source = "the inline sample (shared assets not found: too few reviews to learn from)"
        train = held_out = ([t for t, _ in SAMPLE], np.array([y for _, y in SAMPLE]))
    else:
        source = "ChnSentiCorp (shared assets)"
    texts, labels = train
    print(f"Training a small NEZHA classifier on {len(texts)} reviews from {source}, "
          f"{args.epochs} epoch(s), from random weights.", flush=True)

    keras.utils.set_random_seed(args.seed)
    # A small model with a higher learning rate than fine-tuning uses (1e-3
    # against 5e-5), short sequences and every review: what learns from
    # scratch in about a minute on a CPU.
    tokenizer = models.NezhaTokenizer(
        vocabulary=character_vocabulary(texts, min_count=3 if len(texts) > 1000 else 1)
    )
    preprocessor = models.NezhaTextClassifierPreprocessor(
        tokenizer, sequence_length=args.sequence_length
    )
    backbone = models.NezhaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2,
        hidden_dim=64, intermediate_dim=128,
    )
    classifier = models.NezhaTextClassifier(
        backbone, num_classes=2, preprocessor=preprocessor, label_names=["negative", "positive"]
    )
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = classifier.fit(x=texts, y=labels, batch_size=32, epochs=args.epochs,
                             verbose=args.verbose)
    losses = ", ".join(f"{loss:.3f}" for loss in history.history["loss"])
    print(f"training loss per epoch: {losses}")

    held_texts, held_labels = held_out
    logits = classifier.predict(held_texts, batch_size=64, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, -1) == held_labels))
    print(f"held-out accuracy: {accuracy:.2f} ({len(held_texts)} reviews not trained on)")

    sentences = [t for t, _ in SAMPLE[:4]]
    probabilities = keras.ops.convert_to_numpy(
        keras.ops.softmax(classifier.predict(sentences, verbose=0), -1)
    )
    for sentence, p in zip(sentences, probabilities):
        print(f"{classifier.label_names[int(p.argmax())]:>8} ({p.max():.2f})  {sentence}")

    output = args.output or tempfile.mkdtemp(prefix="keras_encoders_demo_")
    preset = os.path.join(output, "preset")
    classifier.save_to_preset(preset)
    reloaded = models.NezhaTextClassifier.from_preset(preset)
    same = np.allclose(reloaded.predict(sentences, verbose=0),
                       keras.ops.convert_to_numpy(classifier.predict(sentences, verbose=0)),
                       atol=1e-5)
    print(f"saved the preset to {preset} and reloaded it: "
          f"{'same predictions' if same else 'DIFFERENT predictions'}")
    if not same:
        return 1
    if not args.no_export:
        exported = os.path.join(output, "exported", "1")
        print(f"exporting a SavedModel for TF-Serving to {exported} ...", flush=True)
        # The export command runs under TensorFlow whatever the backend here
        # (torch cannot export), from the preset just saved.
        command = [sys.executable, "-m", "keras_encoders.export", preset, exported]
        if subprocess.run(command).returncode != 0:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
