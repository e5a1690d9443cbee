# %% [markdown]
# # Information extraction with UIE-M: a schema in, spans out
#
# UIE-M is ERNIE-M fine-tuned by PaddleNLP for universal information extraction: a prompt
# names what to find ("人名", "时间", "Person", "谷爱凌的国籍") and the model points at the
# spans of the text that answer it. `ErnieMInformationExtractor.extract(texts, schema)`
# runs a whole schema (entity types, and relations nested under them) over raw texts, the
# way PaddleNLP's `Taskflow("information_extraction")` does.
#
# With `USE_PRESET`, the pre-trained `uie_m_base_multi` extracts zero-shot, then is
# fine-tuned on a few MSRA sentences. The small path trains a tiny random ERNIE-M on the
# same sentences, which only shows the workflow.

# %%
import io
import json

import keras
import matplotlib.pyplot as plt
import numpy as np
import sentencepiece

import keras_encoders
from keras_encoders import models

# %% [markdown]
# ## Model

# %%
SEQUENCE_LENGTH = 64 if SMALL else 256
sample_texts = [
    "2月8日上午北京冬奥会自由式滑雪女子大跳台决赛中中国选手谷爱凌以188.25分获得金牌！",
    "李白出生于碎叶城，是唐朝著名的诗人。",
]

if USE_PRESET:
    extractor = models.ErnieMInformationExtractor.from_preset("uie_m_base_multi")
    print(extractor.extract(sample_texts, schema=["时间", "选手", {"选手": ["国籍"]}]))
else:
    # A SentencePiece model trained on a few sentences, a vocabulary that also holds
    # every Chinese character (ERNIE-M splits them into tokens of their own) and a
    # 2-layer, 32-wide ERNIE-M.
    def small_tokenizer(texts):
        proto = io.BytesIO()
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=proto,
            vocab_size=len({c for t in texts for c in t}) + 200,  # every character, and more
            hard_vocab_limit=False, character_coverage=1.0, pad_id=0, unk_id=1, bos_id=2,
            eos_id=3, pad_piece="[PAD]", unk_piece="[UNK]", bos_piece="[CLS]",
            eos_piece="[SEP]", user_defined_symbols="[MASK]", minloglevel=2,
        )
        spm = sentencepiece.SentencePieceProcessor(model_proto=proto.getvalue())
        vocabulary = [spm.id_to_piece(i) for i in range(spm.get_piece_size())]
        vocabulary += sorted({c for t in texts for c in t} - set(vocabulary))
        return models.ErnieMTokenizer(proto=proto.getvalue(), vocabulary=vocabulary)

    with open(data_file("data/msra_ner/dev.json", "https://raw.githubusercontent.com/zejunwang1/"
                        "bertorch/2bb239dc44274962411f5d5cd15da3d8a80c3976/data/ner/msra/dev.json"),
              encoding="utf-8") as f:
        corpus = ["".join(json.loads(line)["text"]) for _, line in zip(range(400), f)]
    tokenizer = small_tokenizer(corpus + sample_texts + ["人名地名机构名的"])
    preprocessor = models.ErnieMInformationExtractorPreprocessor(
        tokenizer, sequence_length=SEQUENCE_LENGTH, max_prompt_length=8
    )
    backbone = models.ErnieMBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2,
        hidden_dim=32, intermediate_dim=64, max_sequence_length=SEQUENCE_LENGTH,
    )
    extractor = models.ErnieMInformationExtractor(backbone, preprocessor=preprocessor)
extractor.summary()

# %% [markdown]
# ## Fine-tune on your own types
#
# Training examples are `(prompt, text)` pairs with the character spans that answer the
# prompt (`span_start`, `span_end`; end exclusive, padded with -1). A text without an answer
# to a prompt teaches the model to say nothing. Here the MSRA NER tags become three prompts.

# %%
URL = ("https://raw.githubusercontent.com/zejunwang1/bertorch/"
       "2bb239dc44274962411f5d5cd15da3d8a80c3976/data/ner/msra/dev.json")
PROMPTS = {"NR": "人名", "NS": "地名", "NT": "机构名"}


def spans_from_tags(tags):
    """BIES tags -> {type: [(start, end)]} character spans."""
    spans, start = {}, None
    for i, tag in enumerate(tags):
        prefix, _, kind = tag.partition("-")
        if prefix in ("B", "S"):
            start = i
        if prefix in ("E", "S") and start is not None:
            spans.setdefault(kind, []).append((start, i + 1))
            start = None
    return spans


with open(data_file("data/msra_ner/dev.json", URL), encoding="utf-8") as f:
    rows = [json.loads(line) for line in f]
rows = [r for r in rows if len(r["text"]) < SEQUENCE_LENGTH - 12][: 24 if SMALL else 2000]
prompts, texts, starts, ends = [], [], [], []
for row in rows:
    spans = spans_from_tags(row["label"])
    for kind, prompt in PROMPTS.items():
        prompts.append(prompt)
        texts.append("".join(row["text"]))
        starts.append([s for s, _ in spans.get(kind, [])])
        ends.append([e for _, e in spans.get(kind, [])])
width = max(1, max(len(s) for s in starts))
pad = lambda rows: np.array([r + [-1] * (width - len(r)) for r in rows])  # noqa: E731
y = {"span_start": pad(starts), "span_end": pad(ends)}

extractor.compile(optimizer=keras.optimizers.Adam(1e-5 if USE_PRESET else 1e-3))
history = extractor.fit(x=(prompts, texts), y=y, batch_size=16, epochs=2 if USE_PRESET else 1)
plt.figure(figsize=(4, 3))
plt.plot(history.history["loss"], "o-")
plt.title("training loss")
plt.show()

# %% [markdown]
# ## Extract with a schema
#
# `extract` returns, per text, `{type: [{"text", "start", "end", "probability"}]}`;
# `text[start:end]` is the span. A span found inside the prompt instead (a classification
# prompt such as `"情感倾向[正向，负向]"` answers with one of its options) has no `start` or
# `end`: it is `{"text", "probability"}`. `threshold` applies to the start and the end
# position separately (each must pass it), and a span's `probability` is their product,
# P(start) * P(end): with `threshold=0.5` a span can show a probability as low as 0.25.
# Nested types ask relation prompts about each span found ("<span>的<relation>"). A small
# random model finds little or nothing: the point is the shape of the result.

# %%
texts_to_read = ["".join(r["text"]) for r in rows[:3]]
results = extractor.extract(texts_to_read, schema=list(PROMPTS.values()), threshold=0.5)
for text, result in zip(texts_to_read, results):
    print(text)
    print("   ", json.dumps(result, ensure_ascii=False))

# Relations nest under the entity types they belong to.
print(extractor.extract(sample_texts[:1], schema=[{"人名": ["国籍"]}, "时间"]))
