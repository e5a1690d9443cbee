# %% [markdown]
# # Cross-lingual transfer with ERNIE-M on XNLI
#
# XNLI asks whether a premise entails, contradicts or is neutral to a hypothesis, in 15
# languages. ERNIE-M was pre-trained to align languages, so a classifier fine-tuned on
# **English only** also works in French, Chinese, Swahili... This guide trains on English
# pairs and evaluates on every language, then plots accuracy per language.
#
# With `USE_PRESET` it starts from `ernie_m_base_multi` (use a GPU; the paper's recipe is
# 5 epochs at sequence length 256 on the 393k MNLI pairs). The small path trains a tiny
# random ERNIE-M on a few dozen pairs: expect chance accuracy; it shows the workflow.

# %%
import csv
import io

import keras
import matplotlib.pyplot as plt
import numpy as np
import sentencepiece

import keras_encoders
from keras_encoders import models

URL = ("https://raw.githubusercontent.com/wuhjie/few_shots_that_matters_wu/"
       "6bfe6324e428ec21a777b5543cd8e50ec82dcb3c/data/xnli/")
LANGUAGES = ["en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "th", "zh", "hi", "sw", "ur"]
LABELS = ["entailment", "neutral", "contradiction"]


def read_pairs(language, rows, skip=0):
    """(premises, hypotheses, labels) from XTREME's dev-<language>.tsv."""
    path = data_file(f"data/xnli/dev-{language}.tsv", URL + f"dev-{language}.tsv")
    with open(path, encoding="utf-8") as f:
        table = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[skip: skip + rows]
    return [r[0] for r in table], [r[1] for r in table], np.array([LABELS.index(r[2]) for r in table])


# The public XNLI copy used here has dev sets only: train on the first English rows,
# evaluate every language on rows the model never saw.
N_TRAIN, N_EVAL = (48, 12) if SMALL else (1500, 990)
train_premises, train_hypotheses, train_labels = read_pairs("en", N_TRAIN)
evaluation = {lang: read_pairs(lang, N_EVAL, skip=1500) for lang in (LANGUAGES[:4] + ["zh"] if SMALL else LANGUAGES)}
print(train_premises[0], "|", train_hypotheses[0], "->", LABELS[train_labels[0]])

# %% [markdown]
# ## Model
#
# Sentence pairs go in as a tuple `(premises, hypotheses)`; ERNIE-M packs them as
# `[CLS] a [SEP] [SEP] b [SEP]` and has no segment ids.

# %%
SEQUENCE_LENGTH = 64 if SMALL else 128

if USE_PRESET:
    preprocessor = models.ErnieMTextClassifierPreprocessor.from_preset(
        "ernie_m_base_multi", sequence_length=SEQUENCE_LENGTH
    )
    classifier = models.ErnieMTextClassifier.from_preset(
        "ernie_m_base_multi", num_classes=3, preprocessor=preprocessor, label_names=LABELS
    )
else:
    # A SentencePiece model trained on the English training pairs plus a little of
    # each language (a stand-in for ERNIE-M's 250k-piece multilingual vocabulary).
    texts = train_premises + train_hypotheses + [p for p, _, _ in evaluation.values() for p in p]
    proto = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=proto,
        vocab_size=len({c for t in texts for c in t}) + 1000,  # every character, and pieces
        hard_vocab_limit=False, character_coverage=1.0, pad_id=0, unk_id=1, bos_id=2, eos_id=3,
        pad_piece="[PAD]", unk_piece="[UNK]", bos_piece="[CLS]", eos_piece="[SEP]",
        user_defined_symbols="[MASK]", minloglevel=2,
    )
    spm = sentencepiece.SentencePieceProcessor(model_proto=proto.getvalue())
    vocabulary = [spm.id_to_piece(i) for i in range(spm.get_piece_size())]
    vocabulary += sorted({c for t in texts for c in t if not c.isspace()} - set(vocabulary))
    tokenizer = models.ErnieMTokenizer(proto=proto.getvalue(), vocabulary=vocabulary)
    preprocessor = models.ErnieMTextClassifierPreprocessor(tokenizer, sequence_length=SEQUENCE_LENGTH)
    backbone = models.ErnieMBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2,
        hidden_dim=32, intermediate_dim=64, max_sequence_length=SEQUENCE_LENGTH,
    )
    classifier = models.ErnieMTextClassifier(
        backbone, num_classes=3, preprocessor=preprocessor, label_names=LABELS
    )
classifier.summary()

# %% [markdown]
# ## Train on English only

# %%
classifier.compile(optimizer=keras.optimizers.Adam(2e-5 if USE_PRESET else 1e-3))
history = classifier.fit(
    x=(train_premises, train_hypotheses), y=train_labels,
    batch_size=16, epochs=3 if USE_PRESET else 1,
)

# %% [markdown]
# ## Evaluate every language

# %%
accuracy = {}
for language, (premises, hypotheses, labels) in evaluation.items():
    predicted = classifier.predict((premises, hypotheses), batch_size=32, verbose=0).argmax(-1)
    accuracy[language] = float(np.mean(predicted == labels))
print({k: round(v, 3) for k, v in accuracy.items()})

plt.figure(figsize=(8, 3))
plt.bar(list(accuracy), list(accuracy.values()), color=["tab:blue"] + ["tab:orange"] * (len(accuracy) - 1))
plt.axhline(1 / 3, color="gray", linestyle="--", label="chance")
plt.ylabel("accuracy")
plt.title("trained on English (blue), evaluated zero-shot on the others")
plt.legend()
plt.show()
