"""NEZHA from raw strings: fit every task, save/load round trips, tokenizers."""

import csv
import json

import keras
import numpy as np
import pytest

import keras_encoders  # noqa: F401
from keras_encoders import models
from tests.conftest import assert_round_trips, asset, to_numpy

VOCAB_FILE = asset("vocab", "bert-base-chinese-vocab.txt")
SEQ = 32


@pytest.fixture(scope="module")
def tokenizer():
    return models.NezhaTokenizer(VOCAB_FILE)


@pytest.fixture(scope="module")
def texts():
    with open(asset("data", "chnsenticorp", "train.tsv"), encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))[1:17]
    return [r[1] for r in rows], np.array([int(r[0]) for r in rows])


def backbone():
    return models.NezhaBackbone(
        vocabulary_size=21128, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_relative_position=8, dropout=0.0,
        attention_dropout=0.0,
    )


def fit_decreases(task, x, y=None, epochs=6):
    task.compile(optimizer=keras.optimizers.Adam(3e-3), **({} if not hasattr(task, "_kw") else {}))
    # A fixed order: with 2 batches a shuffled epoch's mean loss is too noisy
    # to compare (shuffling itself is tested in tests/models/test_task_workflows.py).
    history = task.fit(x=x, y=y, batch_size=8, epochs=epochs, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0], losses
    return task


def test_fit_text_classifier_and_round_trips(tokenizer, texts, tmp_path):
    x, y = texts
    pre = models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=SEQ)
    task = models.NezhaTextClassifier(backbone(), num_classes=2, preprocessor=pre)
    fit_decreases(task, x, y)
    before = to_numpy(task.predict(x[:4], verbose=0))
    # .keras round trip
    task.save(tmp_path / "m.keras")
    restored = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(to_numpy(restored.predict(x[:4], verbose=0)), before, atol=1e-6)
    # preset round trip, through the keras-hub base class
    import keras_hub

    task.save_to_preset(str(tmp_path / "preset"))
    again = keras_hub.models.TextClassifier.from_preset(str(tmp_path / "preset"))
    assert isinstance(again, models.NezhaTextClassifier)
    np.testing.assert_allclose(to_numpy(again.predict(x[:4], verbose=0)), before, atol=1e-6)
    assert isinstance(keras_hub.models.Backbone.from_preset(str(tmp_path / "preset")), models.NezhaBackbone)


def test_fit_text_classifier_tf_data(tokenizer, texts):
    import tensorflow as tf

    x, y = texts
    pre = models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=SEQ)
    task = models.NezhaTextClassifier(backbone(), num_classes=2, preprocessor=None)
    ds = tf.data.Dataset.from_tensor_slices((x[:8], y[:8])).batch(8).map(pre)
    task.compile(optimizer=keras.optimizers.Adam(1e-2))
    losses = task.fit(ds, epochs=8, verbose=0).history["loss"]
    assert losses[-1] < losses[0], losses


def test_fit_masked_lm_and_pre_trainer(tokenizer, texts, tmp_path):
    x, _ = texts
    pre = models.NezhaMaskedLMPreprocessor(tokenizer, sequence_length=SEQ, mask_selection_length=6)
    task = fit_decreases(models.NezhaMaskedLM(backbone(), preprocessor=pre), x)
    assert_round_trips(task, pre(x[:4])[0], tmp_path / "mlm")
    pre = models.NezhaPreTrainerPreprocessor(tokenizer, sequence_length=SEQ, mask_selection_length=6)
    pairs = (x, x[::-1])
    labels = np.array([0, 1] * 8)
    task = fit_decreases(models.NezhaPreTrainer(backbone(), preprocessor=pre), pairs, labels)
    assert_round_trips(task, pre((x[:4], x[4:8]))[0], tmp_path / "pt")


def test_fit_next_sentence_predictor(tokenizer, tmp_path):
    with open(asset("data", "lcqmc", "dev.txt"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][:16]
    a, b = [r[0] for r in rows], [r[1] for r in rows]
    y = np.array([int(r[2]) for r in rows])
    pre = models.NezhaNextSentencePredictorPreprocessor(tokenizer, sequence_length=SEQ)
    task = fit_decreases(models.NezhaNextSentencePredictor(backbone(), preprocessor=pre), (a, b), y)
    assert_round_trips(task, (a[:4], b[:4]), tmp_path)


def test_fit_token_classifier_on_msra_words(tokenizer, tmp_path):
    with open(asset("data", "msra_ner", "dev.json"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    # Rows with an entity inside the kept prefix, so there is something to learn.
    rows = [r for r in rows if set(r["label"][:SEQ - 2]) != {"O"}][:16]
    tags = ["O"] + [f"{p}-{t}" for t in ("NR", "NS", "NT") for p in "BIS"]
    words = [r["text"][:SEQ - 2] for r in rows]
    labels = [[tags.index(t) for t in r["label"][:SEQ - 2]] for r in rows]
    pre = models.NezhaTokenClassifierPreprocessor(tokenizer, sequence_length=SEQ)
    # Labels land on first sub-tokens; special tokens and padding are -100.
    x, y, w = pre(x=words[:2], y=labels[:2])
    y = to_numpy(y)
    assert y[0, 0] == -100 and y[0, 1] == labels[0][0]
    assert np.array_equal(to_numpy(w) > 0, y != -100)
    task = models.NezhaTokenClassifier(backbone(), num_classes=len(tags), preprocessor=pre, label_names=tags)
    fit_decreases(task, words, labels)
    assert_round_trips(task, pre(words[:4]), tmp_path)
    assert keras.models.load_model(tmp_path / "task.keras").label_names == tags


def test_fit_question_answerer_and_answer_strings(tokenizer, tmp_path):
    with open(asset("data", "cmrc2018", "cmrc2018_dev.json"), encoding="utf-8") as f:
        data = json.load(f)["data"]
    q, c, s, e = [], [], [], []
    for article in data[:8]:
        para = article["paragraphs"][0]
        qa = para["qas"][0]
        ans = qa["answers"][0]
        ctx = para["context"][:200]
        if ans["answer_start"] + len(ans["text"]) > 200:
            continue
        q.append(qa["question"]); c.append(ctx)
        s.append(ans["answer_start"]); e.append(ans["answer_start"] + len(ans["text"]))
    pre = models.NezhaQuestionAnswererPreprocessor(tokenizer, sequence_length=64, max_question_length=24)
    x, y = pre(x=(q, c), y={"answer_start": s, "answer_end": e})
    ids, start = to_numpy(x["token_ids"]), to_numpy(y["start_logits"])
    end = to_numpy(y["end_logits"])
    for i in range(len(q)):  # the targets point at the answer's tokens
        if start[i]:
            text = tokenizer.detokenize(ids[i, start[i]: end[i] + 1])
            assert text.replace(" ", "") == c[i][s[i]:e[i]].lower().replace(" ", "")
    task = models.NezhaQuestionAnswerer(backbone(), preprocessor=pre)
    fit_decreases(task, (q, c), {"answer_start": s, "answer_end": e})
    assert_round_trips(task, (q[:2], c[:2]), tmp_path)
    # Windows cover the whole context; answers are substrings of it.
    feats = pre.windows(q[:2], c[:2], doc_stride=16)
    assert len(feats["example_index"]) > 2
    answers = task.answer(q[:2], c[:2], doc_stride=16)
    for a, ctx in zip(answers, c[:2]):
        assert ctx[a["start"]:a["end"]] == a["text"]


def test_fit_multiple_choice(tokenizer, texts, tmp_path):
    x, _ = texts
    prompts = list(x[:8])
    choices = np.array([[x[i + 8], x[i]] for i in range(8)])
    pre = models.NezhaMultipleChoicePreprocessor(tokenizer, sequence_length=SEQ)
    inputs, _ = pre(x=(prompts, choices), y=np.zeros(8))
    assert tuple(inputs["token_ids"].shape) == (8, 2, SEQ)
    task = models.NezhaMultipleChoice(backbone(), preprocessor=pre)
    fit_decreases(task, (prompts, choices), np.array([1, 0] * 4), epochs=8)
    assert_round_trips(task, (prompts[:2], choices[:2]), tmp_path)
