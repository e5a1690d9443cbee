# %% [markdown]
# # UIE-M from annotations to a served model: doccano, fine-tune, evaluate, export
#
# The path PaddleNLP's information-extraction guide walks, with the same files and flags:
# annotate in doccano, convert the export with `doccano.py`, fine-tune with `finetune.py`,
# score with `evaluate.py --debug`, then serve the tuned model. Here the converter is
# `keras-encoders-uie doccano` (PaddleNLP's flags, PaddleNLP's `train.txt` / `dev.txt` /
# `test.txt`), `fit` reads those files as they are, `keras_encoders.uie.evaluate` scores
# spans as PaddleNLP's `SpanEvaluator`, and the tuned model is exported as a TensorFlow
# SavedModel that takes raw strings. Files you converted with PaddleNLP work unchanged.
#
# The annotations are made from the MSRA NER corpus (people, places, organisations), as a
# doccano sequence-labelling project would export them. With `USE_PRESET`, PaddleNLP's
# pre-trained `uie_m_base_multi` is fine-tuned on 2,000 sentences; the small path trains a
# tiny random UIE-M on 125 of them in seconds, which shows the workflow (it learns its
# training sentences, not the language).

# %%
import io
import json
import os

import keras
import matplotlib.pyplot as plt
import numpy as np
import sentencepiece
import tensorflow as tf

import keras_encoders
from keras_encoders import models
from keras_encoders import uie

WORK_DIR = "uie-msra"  # the doccano export, the converted examples and the tuned model
os.makedirs(WORK_DIR, exist_ok=True)

# %% [markdown]
# ## 1. A doccano export
#
# doccano's sequence-labelling projects export one JSON object per line:
# `{"text": ..., "label": [[start, end, label], ...]}` (character offsets, end exclusive).
# MSRA NER tags every character (`B-NR`, `I-NR`, ... `O`); each tagged run becomes one
# labelled span, named as a Chinese annotator would name it.

# %%
MSRA_URL = ("https://raw.githubusercontent.com/zejunwang1/bertorch/"
            "2bb239dc44274962411f5d5cd15da3d8a80c3976/data/ner/msra/dev.json")
LABELS = {"NR": "人名", "NS": "地名", "NT": "机构名"}


def doccano_line(characters, tags):
    """One MSRA row (a tag per character) as a doccano sequence-labelling line."""
    spans, start = [], None
    for i, tag in enumerate(tags + ["O"]):
        if tag[:1] in ("B", "S", "O") and start is not None:
            spans.append([start, i, LABELS[tags[start][2:]]])
            start = None
        if tag[:1] in ("B", "S"):
            start = i
    return {"text": "".join(characters), "label": spans}


lines = []
with open(data_file("data/msra_ner/dev.json", MSRA_URL), encoding="utf-8") as f:
    for row in map(json.loads, f):
        # Short sentences with at least one entity: the small model reads them whole.
        if 8 <= len(row["text"]) <= 40 and any(t != "O" for t in row["label"]):
            lines.append(doccano_line(row["text"], row["label"]))
lines = lines[: 125 if SMALL else 2000]
DOCCANO_FILE = os.path.join(WORK_DIR, "doccano_ext.jsonl")
with open(DOCCANO_FILE, "w", encoding="utf-8") as f:
    f.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
print(len(lines), "annotated sentences, e.g.", json.dumps(lines[0], ensure_ascii=False))

# %% [markdown]
# ## 2. Convert, as PaddleNLP's `doccano.py`
#
# The command line takes `doccano.py`'s flags and writes the same files, with the same
# examples for the same `--seed`:
#
# ```bash
# keras-encoders-uie doccano --doccano_file uie-msra/doccano_ext.jsonl --task_type ext \
#     --save_dir uie-msra --splits 0.8 0.1 0.1 --negative_ratio 5 --seed 1000
# ```
#
# Each line of `train.txt`, `dev.txt` and `test.txt` is one example: `content`,
# `result_list` (the spans) and `prompt`. There is a positive example per sentence and
# entity type, and negatives (types the sentence lacks, at most `negative_ratio` per
# positive in training). A malformed line (overlapping or out-of-range offsets, an empty
# text) stops it with the line and the field named. Below, the same conversion from Python
# (the command would start a second Python process, which takes longer than converting).
# The small path keeps one negative per positive: its tiny model, trained for a few hundred
# steps, learns its spans sooner with fewer examples that answer nothing.

# %%
splits = uie.convert_doccano(DOCCANO_FILE, save_dir=WORK_DIR, splits=[0.8, 0.1, 0.1],
                             negative_ratio=1 if SMALL else 5, task_type="ext", seed=1000)
print({name: len(examples) for name, examples in splits.items()})
TRAIN, DEV, TEST = (os.path.join(WORK_DIR, f"{name}.txt") for name in ("train", "dev", "test"))
with open(TRAIN, encoding="utf-8") as f:
    examples = [json.loads(line) for line in f]
print(json.dumps(next(e for e in examples if e["result_list"]), ensure_ascii=False))  # a positive
print(json.dumps(next(e for e in examples if not e["result_list"]), ensure_ascii=False))  # a negative

# %% [markdown]
# ## 3. Fine-tune on `train.txt`, as it is
#
# `fit` takes the path of an example file for `x` (and for `validation_data`): each example
# is cut into the windows `extract()` will read it in, in the convention the model was
# trained with (for the `uie_m_*` presets, PaddleNLP Taskflow's inputs and windows), with
# the start and end of every gold span as targets. The loss is binary cross-entropy on the
# start and end pointers, as PaddleNLP's `finetune.py`.
#
# The small path builds a tiny UIE-M: a SentencePiece model trained on the sentences, every
# Chinese character in the vocabulary (ERNIE-M gives each one its own token) and a 1-layer,
# 64-wide ERNIE-M, set up in PaddleNLP's convention (`with_convention("paddlenlp")`) as the
# presets are.

# %%
SCHEMA = list(LABELS.values())

if USE_PRESET:
    extractor = models.ErnieMInformationExtractor.from_preset("uie_m_base_multi")
else:
    texts = [line["text"] for line in lines] + SCHEMA
    characters = sorted({c for t in texts for c in t})
    writer = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=writer, vocab_size=len(characters) + 100,
        hard_vocab_limit=False, character_coverage=1.0, pad_id=0, unk_id=1, bos_id=2, eos_id=3,
        pad_piece="[PAD]", unk_piece="[UNK]", bos_piece="[CLS]", eos_piece="[SEP]",
        user_defined_symbols="[MASK]", minloglevel=2,
    )
    proto = writer.getvalue()
    pieces = sentencepiece.SentencePieceProcessor(model_proto=proto)
    vocabulary = [pieces.id_to_piece(i) for i in range(pieces.get_piece_size())]
    vocabulary += [c for c in characters if c not in set(vocabulary)]
    tokenizer = models.ErnieMTokenizer(proto=proto, vocabulary=vocabulary)
    keras.utils.set_random_seed(0)
    backbone = models.ErnieMBackbone(
        vocabulary_size=len(vocabulary), num_layers=1, num_heads=2, hidden_dim=64,
        intermediate_dim=128, max_sequence_length=48, dropout=0.0, attention_dropout=0.0,
    )
    preprocessor = models.ErnieMInformationExtractorPreprocessor(tokenizer, sequence_length=48)
    extractor = models.ErnieMInformationExtractor(backbone, preprocessor).with_convention("paddlenlp")
print("decoding:", extractor.decoding, "| convention:", extractor.preprocessor.convention)
before = uie.evaluate(extractor, TRAIN, max_seq_len=extractor.preprocessor.sequence_length)

extractor.compile(optimizer=keras.optimizers.Adam(1e-5 if USE_PRESET else 3e-3))
history = extractor.fit(TRAIN, validation_data=DEV, batch_size=16, epochs=3 if USE_PRESET else 20,
                        verbose=2 if USE_PRESET else 0)
plt.figure(figsize=(4, 3))
plt.plot(history.history["loss"], label="train")
plt.plot(history.history["val_loss"], label="dev")
plt.xlabel("epoch")
plt.legend()
plt.title("span pointer loss")
plt.show()

# %% [markdown]
# ## 4. Evaluate, as `evaluate.py --debug`
#
# `uie.evaluate` cuts each example as PaddleNLP's reader does and counts spans as
# `SpanEvaluator`: precision, recall and F1 overall and, with `debug=True`, per type. The
# tuned model's folder (`save_to_preset`) is what `keras-encoders-uie evaluate
# --model_path uie-msra/model --test_path uie-msra/test.txt --debug` reads, with
# `evaluate.py`'s flags.

# %%
MODEL_DIR = os.path.join(WORK_DIR, "model")
extractor.save_to_preset(MODEL_DIR)
length = extractor.preprocessor.sequence_length
scores = {
    "train, untrained model": before,
    "train": uie.evaluate(extractor, TRAIN, max_seq_len=length, debug=True),
    "test": uie.evaluate(extractor, TEST, max_seq_len=length, debug=True),
}
print(f"{'':24}{'type':8}{'precision':>10}{'recall':>8}{'F1':>8}")
for name, report in scores.items():
    for kind, s in report.items():
        print(f"{name:24}{kind:8}{s['precision']:10.3f}{s['recall']:8.3f}{s['f1']:8.3f}")
# The small model learns its 100 training sentences, not Chinese: its test F1 stays low.

# %% [markdown]
# ## 5. Extract with a schema
#
# `extract()` answers as PaddleNLP's `Taskflow("information_extraction")` with the tuned
# weights would (`task_path=...`): `{type: [{"text", "start", "end", "probability"}]}` per
# text; long texts are cut into windows as Taskflow cuts them.

# %%
with open(TRAIN, encoding="utf-8") as f:
    seen = list(dict.fromkeys(json.loads(line)["content"] for line in f))
with open(TEST, encoding="utf-8") as f:
    unseen = list(dict.fromkeys(json.loads(line)["content"] for line in f))
# The last text is three test sentences in one: longer than a window.
texts = seen[:2] + unseen[:1] + ["".join(unseen[1:4])]
results = extractor.extract(texts, schema=SCHEMA)
for text, result in zip(texts, results):
    print(text)
    for kind, spans in result.items():
        print("   ", kind, [(s["text"], s["start"], s["end"], round(s["probability"], 2)) for s in spans])

# %% [markdown]
# ## 6. Export a SavedModel
#
# The exported `serving_default` signature takes raw strings, one `(prompt, text)` pair per
# row, tokenizes them inside the graph and returns the spans (`span_text`, `span_start`,
# `span_end`, `span_probability`), decoded as `extract()` decodes one prompt: a client or
# TF-Serving needs TensorFlow and tensorflow-text, not Keras. On the torch backend, export
# the saved folder on the command line instead: `python -m keras_encoders.export
# uie-msra/model exported/uie-msra/1` (it runs under TensorFlow).
#
# Long texts are read whole, in the character windows `extract()` reads them in (for the
# `uie_m_*` presets and this model, Taskflow's): the rows sent together are one request, and
# as in Taskflow the windows of a request are sized from its prompts, so a client sends one
# schema type's rows together, as `extract()` asks them.

# %%
EXPORT_DIR = "exported/uie-msra/1"
keras_encoders.export_saved_model(extractor, EXPORT_DIR, threshold=0.5)

# %% [markdown]
# ## 7. Serve it
#
# Load the folder with `tf.saved_model.load` (after `import tensorflow_text`, which
# registers the tokenizer's ops) and call its signature with strings: one row per text and
# type, one request per type. A relation schema sends its second-level prompts ("<span>的<relation>") once the
# first answers are in. The served spans are `extract()`'s.

# %%
import tensorflow_text  # noqa: F401, E402  (registers the tokenizer's ops)

serve = tf.saved_model.load(EXPORT_DIR).signatures["serving_default"]
served = [{} for _ in texts]
for kind in SCHEMA:  # one request per type
    outputs = serve(prompt=tf.constant([kind] * len(texts)), text=tf.constant(texts))
    columns = {k: v.numpy() for k, v in outputs.items() if k.startswith("span_")}
    for row in range(len(texts)):
        for k in range(columns["span_count"][row]):
            span = {"text": columns["span_text"][row, k].decode(),
                    "probability": float(columns["span_probability"][row, k])}
            if not columns["span_in_prompt"][row, k]:  # a span of the text, not of the prompt
                span.update(start=int(columns["span_start"][row, k]), end=int(columns["span_end"][row, k]))
            served[row].setdefault(kind, []).append(span)
for text, result in zip(texts, served):
    print(text, json.dumps(result, ensure_ascii=False))


def spans_and_probabilities(result):
    spans = [(kind, s["text"], s.get("start"), s.get("end")) for kind in result for s in result[kind]]
    return spans, [s["probability"] for kind in result for s in result[kind]]


for got, want in zip(served, results):
    (got_spans, got_p), (want_spans, want_p) = map(spans_and_probabilities, (got, want))
    assert got_spans == want_spans, (got_spans, want_spans)
    np.testing.assert_allclose(got_p, want_p, atol=1e-4)
print("The served spans are extract()'s.")

# %% [markdown]
# ## Back to PaddleNLP
#
# A model tuned here in PaddleNLP's convention (this one, and the `uie_m_*` presets) can go
# back to Taskflow: `keras_encoders.export_to_paddlenlp(extractor, "uie-msra/paddle")` (or
# `keras-encoders-uie export-paddle --model_path uie-msra/model --output_dir uie-msra/paddle`)
# writes the folder PaddleNLP's `finetune.py` leaves, which `Taskflow("information_extraction",
# model="uie-m-base", task_path="uie-msra/paddle", schema=...)` answers from as `extract()` does.
