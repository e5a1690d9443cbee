# %% [markdown]
# # Fine-tune NEZHA on ChnSentiCorp (Chinese sentiment)
#
# NEZHA is a Chinese BERT with functional relative positions. This guide fine-tunes it on
# ChnSentiCorp (hotel, book and product reviews labelled negative / positive), plots the
# training curves and the confusion matrix, and classifies new sentences.
#
# With the switch below on `USE_PRESET`, it starts from the pre-trained `nezha_base_zh`
# preset (a GPU makes an epoch take minutes); otherwise it trains a small random model on a
# few dozen reviews, which only shows the workflow.

# %% [markdown]
# ## Data
#
# ChnSentiCorp as distributed with Baidu's ERNIE task data: a `label` column (0 negative,
# 1 positive) and a `text_a` column.

# %%
import csv

import keras
import matplotlib.pyplot as plt
import numpy as np

import keras_encoders
from keras_encoders import models

URL = ("https://raw.githubusercontent.com/zhang45258/ERNIE01/"
       "d1c8674913edb8783fab8b515d645d949e0fdf23/data/chnsenticorp/")


def read_reviews(split, limit):
    path = data_file(f"data/chnsenticorp/{split}.tsv", URL + f"{split}.tsv")
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:limit]
    return [r["text_a"] for r in rows], np.array([int(r["label"]) for r in rows])


train_texts, train_labels = read_reviews("train", 64 if SMALL else 9600)
test_texts, test_labels = read_reviews("test", 32 if SMALL else 1200)
LABEL_NAMES = ["negative", "positive"]
print(len(train_texts), "training reviews, e.g.", train_texts[0][:60], "->", LABEL_NAMES[train_labels[0]])

# %% [markdown]
# ## Model
#
# Reviews are short: 128 tokens keep most of them whole. The preprocessor's default
# `sequence_length` is 512, which makes first experiments needlessly slow, so set it
# explicitly.

# %%
SEQUENCE_LENGTH = 32 if SMALL else 128

if USE_PRESET:
    preprocessor = models.NezhaTextClassifierPreprocessor.from_preset(
        "nezha_base_zh", sequence_length=SEQUENCE_LENGTH
    )
    classifier = models.NezhaTextClassifier.from_preset(
        "nezha_base_zh", num_classes=2, preprocessor=preprocessor, label_names=LABEL_NAMES
    )
else:
    # A character vocabulary of the training texts and a 2-layer, 32-wide NEZHA.
    characters = sorted({c for text in train_texts for c in text.lower() if not c.isspace()})
    tokenizer = models.NezhaTokenizer(vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + characters)
    preprocessor = models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=SEQUENCE_LENGTH)
    backbone = models.NezhaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2,
        hidden_dim=32, intermediate_dim=64,
    )
    classifier = models.NezhaTextClassifier(
        backbone, num_classes=2, preprocessor=preprocessor, label_names=LABEL_NAMES
    )
classifier.summary()

# %% [markdown]
# ## Fine-tune
#
# The classifier takes raw strings: tokenization runs inside `fit` (in `tf.data`).
# `compile()` defaults to Adam at 5e-5 and sparse categorical cross-entropy on logits.

# %%
classifier.compile(optimizer=keras.optimizers.Adam(5e-5 if USE_PRESET else 1e-3))
history = classifier.fit(
    x=train_texts, y=train_labels,
    validation_data=(test_texts, test_labels),
    batch_size=32 if USE_PRESET else 16,
    epochs=2 if USE_PRESET else 1,
)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for ax, metric in zip(axes, ("loss", "sparse_categorical_accuracy")):
    ax.plot(history.history[metric], "o-", label="train")
    ax.plot(history.history["val_" + metric], "o-", label="test")
    ax.set_title(metric)
    ax.set_xlabel("epoch")
    ax.legend()
plt.show()

# %% [markdown]
# ## Evaluate: the confusion matrix

# %%
predicted = classifier.predict(test_texts, batch_size=32, verbose=0).argmax(-1)
confusion = np.zeros((2, 2), int)
np.add.at(confusion, (test_labels, predicted), 1)
print(f"accuracy: {np.mean(predicted == test_labels):.3f}")

fig, ax = plt.subplots(figsize=(3.5, 3.5))
ax.imshow(confusion, cmap="Blues")
for (i, j), count in np.ndenumerate(confusion):
    ax.text(j, i, count, ha="center", va="center")
ax.set_xticks([0, 1], LABEL_NAMES)
ax.set_yticks([0, 1], LABEL_NAMES)
ax.set_xlabel("predicted")
ax.set_ylabel("true")
plt.show()

# %% [markdown]
# ## Predict, save, reload

# %%
sentences = ["这家酒店很干净，服务也很好。", "房间太小，隔音很差，不会再来了。"]
logits = classifier.predict(sentences, verbose=0)
probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits, -1))
for sentence, p in zip(sentences, probabilities):
    print(f"{LABEL_NAMES[p.argmax()]:>8} ({p.max():.2f})  {sentence}")

classifier.save_to_preset("./nezha-chnsenticorp")
reloaded = models.NezhaTextClassifier.from_preset("./nezha-chnsenticorp")
np.testing.assert_allclose(reloaded.predict(sentences, verbose=0), logits, atol=1e-5)
print("reloaded from ./nezha-chnsenticorp")
