"""The main job on a small bundled example: `python -m keras_encoders.demo`.

Fine-tunes a tiny, randomly initialised NEZHA sentiment classifier from raw
strings for a few epochs and prints its predictions. It reads a few dozen
ChnSentiCorp reviews from the project's shared assets when they are present
(`KERAS_ENCODERS_SHARED`, or `../shared` beside the repository), else uses the
inline sample below. No network, about a minute on a CPU. For real accuracy,
start from a preset (`NezhaTextClassifier.from_preset("nezha_base_zh", ...)`);
see guides/.
"""

import argparse
import csv
import os

import numpy as np

# (text, label): 1 positive, 0 negative.
SAMPLE = [
    ("这家酒店很干净，服务也很好。", 1), ("房间太小，隔音很差。", 0),
    ("早餐丰富，位置方便，下次还来。", 1), ("前台态度恶劣，不会再来了。", 0),
    ("书的内容很精彩，值得一读。", 1), ("印刷质量差，纸张很薄。", 0),
    ("电脑运行很快，屏幕清晰。", 1), ("电池不耐用，用了两天就坏了。", 0),
]


def _shared_reviews(limit):
    here = os.path.dirname(os.path.abspath(__file__))
    for root in (os.environ.get("KERAS_ENCODERS_SHARED"), os.path.join(here, "..", "..", "shared")):
        path = os.path.join(root or "", "assets", "data", "chnsenticorp", "train.tsv")
        if root and os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:limit]
            return [(r["text_a"][:60], int(r["label"])) for r in rows]
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=48, help="reviews to train on")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)

    import keras

    from keras_encoders import models

    shared = _shared_reviews(args.examples)
    data = shared or SAMPLE
    source = "ChnSentiCorp (shared assets)" if shared else "the inline sample"
    texts, labels = [t for t, _ in data], np.array([y for _, y in data])
    print(f"Training a tiny NEZHA classifier on {len(texts)} reviews from {source}.")

    keras.utils.set_random_seed(0)
    characters = sorted({c for text in texts + [t for t, _ in SAMPLE] for c in text.lower() if not c.isspace()})
    tokenizer = models.NezhaTokenizer(vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + characters)
    preprocessor = models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=64)
    backbone = models.NezhaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2,
        hidden_dim=32, intermediate_dim=64,
    )
    classifier = models.NezhaTextClassifier(
        backbone, num_classes=2, preprocessor=preprocessor, label_names=["negative", "positive"]
    )
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = classifier.fit(x=texts, y=labels, batch_size=8, epochs=args.epochs, verbose=0)
    losses = ", ".join(f"{loss:.3f}" for loss in history.history["loss"])
    print(f"training loss per epoch: {losses}")

    sentences = [t for t, _ in SAMPLE[:4]]
    logits = classifier.predict(sentences, verbose=0)
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits, -1))
    for sentence, p in zip(sentences, probabilities):
        print(f"{classifier.label_names[int(p.argmax())]:>8} ({p.max():.2f})  {sentence}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
