# %% [markdown]
# # Chinese named-entity recognition on MSRA with NEZHA
#
# MSRA NER (SIGHAN 2006) labels every character of news sentences with BIOES-style tags
# for people (`NR`), places (`NS`) and organisations (`NT`). This guide fine-tunes a NEZHA
# token classifier on it and gets **entity spans with character offsets** back from raw
# text with `predict_entities`, then highlights them.

# %% [markdown]
# ## Data
#
# One JSON object per line: `{"text": [characters], "label": [tags]}`. The public copy used
# here has the dev and test splits (the train split is larger); we train on dev and
# evaluate on test.

# %%
import json

import keras
import matplotlib.pyplot as plt
import numpy as np

import keras_encoders
from keras_encoders import models

URL = ("https://raw.githubusercontent.com/zejunwang1/bertorch/"
       "2bb239dc44274962411f5d5cd15da3d8a80c3976/data/ner/msra/")
TAGS = ["O"] + [f"{p}-{t}" for t in ("NR", "NS", "NT") for p in "BIES"]
SEQUENCE_LENGTH = 64 if SMALL else 256  # characters + [CLS] and [SEP]


def read_sentences(split, limit):
    path = data_file(f"data/msra_ner/{split}.json", URL + f"{split}.json")
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    rows = [r for r in rows if set(r["label"]) != {"O"}][:limit]  # sentences with entities
    characters = [r["text"][: SEQUENCE_LENGTH - 2] for r in rows]
    labels = [[TAGS.index(t) for t in r["label"][: SEQUENCE_LENGTH - 2]] for r in rows]
    return characters, labels


train_chars, train_tags = read_sentences("dev", 48 if SMALL else 4636)
test_chars, test_tags = read_sentences("test", 16 if SMALL else 4365)
print("".join(train_chars[0]))
print(" ".join(TAGS[t] for t in train_tags[0]))

# %% [markdown]
# ## Model
#
# The preprocessor takes pre-split words (here: characters) with one label each; a word's
# label goes to its first sub-token and the other positions are ignored by the loss.

# %%
if USE_PRESET:
    preprocessor = models.NezhaTokenClassifierPreprocessor.from_preset(
        "nezha_base_zh", sequence_length=SEQUENCE_LENGTH
    )
    tagger = models.NezhaTokenClassifier.from_preset(
        "nezha_base_zh", num_classes=len(TAGS), preprocessor=preprocessor, label_names=TAGS
    )
else:
    characters = sorted({c.lower() for sentence in train_chars + test_chars for c in sentence})
    tokenizer = models.NezhaTokenizer(vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + characters)
    preprocessor = models.NezhaTokenClassifierPreprocessor(tokenizer, sequence_length=SEQUENCE_LENGTH)
    backbone = models.NezhaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2,
        hidden_dim=32, intermediate_dim=64,
    )
    tagger = models.NezhaTokenClassifier(
        backbone, num_classes=len(TAGS), preprocessor=preprocessor, label_names=TAGS
    )
tagger.summary()

# %%
tagger.compile(optimizer=keras.optimizers.Adam(5e-5 if USE_PRESET else 1e-3))
history = tagger.fit(x=train_chars, y=train_tags, batch_size=16, epochs=3 if USE_PRESET else 1)

plt.figure(figsize=(4, 3))
plt.plot(history.history["loss"], "o-")
plt.title("training loss")
plt.xlabel("epoch")
plt.show()

# %% [markdown]
# ## Entity spans from raw text
#
# `predict_entities` tokenizes raw strings, tags every token and decodes the BIOES tags
# into spans with character offsets into the original text: `text[start:end]` is the
# entity.

# %%
sentences = ["".join(chars) for chars in test_chars[:4]]
entities = tagger.predict_entities(sentences)
for sentence, found in zip(sentences, entities):
    print(sentence)
    for entity in found:
        print("   ", entity)

# %% [markdown]
# A picture is easier to read: each entity's characters are coloured by type.

# %%
from matplotlib import font_manager
from matplotlib.patches import Rectangle

COLOURS = {"NR": "tab:red", "NS": "tab:blue", "NT": "tab:green"}
# Chinese characters need a CJK font; without one installed, each character is drawn as a
# coloured cell instead (matplotlib would warn about every missing glyph).
CJK_FONTS = [f.name for f in font_manager.fontManager.ttflist
             if any(k in f.name for k in ("CJK", "WenQuanYi", "SimHei", "Heiti", "YaHei"))]
if CJK_FONTS:
    plt.rcParams["font.sans-serif"] = CJK_FONTS[:1] + plt.rcParams["font.sans-serif"]
fig, ax = plt.subplots(figsize=(10, 0.6 * len(sentences)))
ax.axis("off")
for row, (sentence, found) in enumerate(zip(sentences, entities)):
    colour = ["black"] * len(sentence)
    for entity in found:
        for i in range(entity["start"], entity["end"]):
            colour[i] = COLOURS.get(entity["label"], "tab:orange")
    for i, character in enumerate(sentence[:60]):
        y = 1 - row / len(sentences)
        if CJK_FONTS:
            ax.text(i / 60, y, character, color=colour[i], fontsize=11, transform=ax.transAxes)
        else:
            ax.add_patch(Rectangle((i / 60, y), 0.9 / 60, 0.5 / len(sentences),
                                   color="lightgray" if colour[i] == "black" else colour[i],
                                   transform=ax.transAxes))
ax.set_title(", ".join(f"{name}: {colour}" for name, colour in COLOURS.items())
             + ("" if CJK_FONTS else " (no CJK font installed: one cell per character)"))
plt.show()

# %% [markdown]
# ## Token-level accuracy on the test sentences
#
# Called on packed inputs, the tagger returns logits per token; positions carrying a label
# (the first sub-token of each character) are compared with the gold tags.

# %%
x, y, weights = preprocessor(x=test_chars, y=test_tags)
predicted = keras.ops.convert_to_numpy(tagger(x, training=False)).argmax(-1)
gold, weights = keras.ops.convert_to_numpy(y), keras.ops.convert_to_numpy(weights)
entity_positions = (weights > 0) & (gold != 0)
print(f"token accuracy: {np.mean(predicted[weights > 0] == gold[weights > 0]):.3f}, "
      f"on entity tokens: {np.mean(predicted[entity_positions] == gold[entity_positions]):.3f}")
