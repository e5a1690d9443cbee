# %% [markdown]
# # Extractive question answering on CMRC 2018 with NEZHA
#
# CMRC 2018 is a SQuAD-style Chinese reading-comprehension set: a question, a Wikipedia
# paragraph, and the answer as a span of the paragraph. This guide fine-tunes a NEZHA
# question answerer and gets answer strings back with `answer()`, which slides overlapping
# windows over long paragraphs and returns the best span with its character offsets.

# %% [markdown]
# ## Data
#
# The public copy holds the dev split (3,219 questions); we train on the first articles and
# evaluate on later ones.

# %%
import json

import keras
import matplotlib.pyplot as plt
import numpy as np

import keras_encoders
from keras_encoders import models

URL = ("https://raw.githubusercontent.com/ymcui/cmrc2018/"
       "5c81039ef856de178b5198391b3cd40f4e5e8514/squad-style-data/cmrc2018_dev.json")
with open(data_file("data/cmrc2018/cmrc2018_dev.json", URL), encoding="utf-8") as f:
    articles = json.load(f)["data"]

examples = []  # (question, context, answer text, answer start)
for article in articles:
    for paragraph in article["paragraphs"]:
        for qa in paragraph["qas"]:
            answer = qa["answers"][0]
            examples.append((qa["question"], paragraph["context"], answer["text"], answer["answer_start"]))
split = int(0.8 * len(examples))
train, test = (examples[:48], examples[-8:]) if SMALL else (examples[:split], examples[split:])
question, context, text, start = train[0]
print(question, "->", text, "| context:", context[:80], "...")

# %% [markdown]
# ## Model
#
# Inputs are `[CLS] question [SEP] context [SEP]`; answers are given as character offsets
# (`answer_start`, `answer_end`, end exclusive) and become token targets. An answer cut off
# by `sequence_length` points at `[CLS]`.

# %%
SEQUENCE_LENGTH = 64 if SMALL else 384

if USE_PRESET:
    preprocessor = models.NezhaQuestionAnswererPreprocessor.from_preset(
        "nezha_base_zh", sequence_length=SEQUENCE_LENGTH
    )
    answerer = models.NezhaQuestionAnswerer.from_preset("nezha_base_zh", preprocessor=preprocessor)
else:
    characters = sorted({c.lower() for q, c, _, _ in examples[:200] for c in q + c if not c.isspace()})
    tokenizer = models.NezhaTokenizer(vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + characters)
    preprocessor = models.NezhaQuestionAnswererPreprocessor(
        tokenizer, sequence_length=SEQUENCE_LENGTH, max_question_length=24
    )
    backbone = models.NezhaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2,
        hidden_dim=32, intermediate_dim=64,
    )
    answerer = models.NezhaQuestionAnswerer(backbone, preprocessor=preprocessor)
answerer.summary()

# %%
questions, contexts, texts, starts = map(list, zip(*train))
if SMALL:  # short contexts that keep the answer inside the 64 tokens
    contexts = [c[max(0, s - 20): s + 20] for c, s in zip(contexts, starts)]
    starts = [min(s, 20) for s in starts]
answers = {"answer_start": starts, "answer_end": [s + len(t) for s, t in zip(starts, texts)]}
answerer.compile(optimizer=keras.optimizers.Adam(3e-5 if USE_PRESET else 1e-3))
history = answerer.fit(x=(questions, contexts), y=answers, batch_size=16, epochs=2 if USE_PRESET else 1)

# %% [markdown]
# ## Answers from raw strings
#
# `answer()` handles paragraphs longer than `sequence_length` with overlapping windows
# (`doc_stride`) and returns `{"text", "start", "end", "score"}` per question.

# %%
test_questions, test_contexts, test_texts, _ = map(list, zip(*test))
predictions = answerer.answer(test_questions, test_contexts, doc_stride=32 if SMALL else 128)
for q, prediction, gold in list(zip(test_questions, predictions, test_texts))[:5]:
    print(f"{q}\n    predicted: {prediction['text']!r}   gold: {gold!r}")


def f1(prediction, gold):  # character overlap, as the CMRC 2018 evaluation script
    common = sum(min(prediction.count(c), gold.count(c)) for c in set(gold))
    if not common:
        return 0.0
    precision, recall = common / len(prediction), common / len(gold)
    return 2 * precision * recall / (precision + recall)


exact = np.mean([p["text"] == g for p, g in zip(predictions, test_texts)])
overlap = np.mean([f1(p["text"], g) for p, g in zip(predictions, test_texts)])
print(f"exact match {exact:.3f}, F1 {overlap:.3f} on {len(test_texts)} questions")

# %% [markdown]
# ## Where the model looks
#
# The start and end probabilities over the first window of one example, with the gold
# answer's tokens shaded.

# %%
inputs = preprocessor(x=(test_questions[:1], test_contexts[:1]))
logits = answerer(inputs, training=False)  # packed inputs: call the model itself
probabilities = {
    name: keras.ops.convert_to_numpy(keras.ops.softmax(logits[name][0]))
    for name in ("start_logits", "end_logits")
}
length = int(keras.ops.convert_to_numpy(inputs["padding_mask"][0]).sum())
plt.figure(figsize=(10, 3))
for name, p in probabilities.items():
    plt.plot(p[:length], label=name.replace("_logits", " probability"))
plt.xlabel("token position ([CLS] question [SEP] context [SEP])")
plt.legend()
plt.show()
