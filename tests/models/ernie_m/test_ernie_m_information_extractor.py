"""ErnieMInformationExtractor (UIE-M) against `ErnieMForInformationExtraction`,
and the PaddleNLP-style `extract()` decoding.

The checkpoint is a tiny `ErnieMForInformationExtraction` with random weights,
saved with `save_pretrained` next to a small SentencePiece model and a
`vocab.txt` in ERNIE-M's layout (`[CLS] [PAD] [SEP] [UNK]` first), extended
with the CJK characters the tests use so that they get ids of their own.

Decoding is tested with an "oracle" extractor whose `predict` returns logits
chosen per prompt, so that the expected spans are known; everything else
(prompts, windows, sigmoid, threshold, pairing, character offsets, merging,
nesting) is the real `extract()` path.
"""

import json
import os
import shutil

import keras
import keras_hub
import numpy as np
import pytest
import sentencepiece
import tensorflow as tf
import torch
from transformers.models.deprecated.ernie_m import tokenization_ernie_m

import keras_encoders  # noqa: F401  (registers the converters)
from keras_encoders.models import ErnieMInformationExtractor
from keras_encoders.models import ErnieMInformationExtractorPreprocessor
from keras_encoders.models import InformationExtractor
from keras_encoders.decoding.information_extraction import decode_spans
from tests.conftest import asset, max_abs_diff, to_numpy

try:
    from transformers import ErnieMConfig, ErnieMForInformationExtraction
except ImportError:  # later releases keep it only under `deprecated`
    from transformers.models.deprecated.ernie_m import (
        ErnieMConfig,
        ErnieMForInformationExtraction,
    )

SPM = ("sentencepiece", "hf_transformers_fixtures", "test_sentencepiece_bpe.model")
CJK = "中国选手谷爱凌获得金牌的国籍年龄情感倾向正负好"
TOL = 1e-5

ZH = "中国选手谷爱凌获得金牌"
EN = "In 1997, Steve became the CEO of Apple."


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A saved tiny `ErnieMForInformationExtraction` with tokenizer files."""
    directory = str(tmp_path_factory.mktemp("uie_m"))
    spm = asset(*SPM)
    processor = sentencepiece.SentencePieceProcessor(model_file=spm)
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    head = ["[CLS]", "[PAD]", "[SEP]", "[UNK]"]
    tokens = head + [p for p in pieces if p not in head + ["[MASK]"]]
    tokens += [c for c in dict.fromkeys(CJK) if c not in tokens] + ["[MASK]"]
    with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(f"{t}\n" for t in tokens))
    shutil.copy(spm, os.path.join(directory, "sentencepiece.bpe.model"))
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": False, "tokenizer_class": "ErnieMTokenizer"}, f)
    torch.manual_seed(0)
    config = ErnieMConfig(
        vocab_size=len(tokens), hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=37, max_position_embeddings=66,
    )
    model = ErnieMForInformationExtraction(config)
    with torch.no_grad():  # non-zero biases, non-trivial LayerNorms
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.eval().save_pretrained(directory)
    return directory, model


@pytest.fixture(scope="module")
def task(checkpoint):
    return ErnieMInformationExtractor.from_preset(checkpoint[0])


def hf_logits(model, ids, mask, **kwargs):
    kwargs = {k: torch.tensor(np.asarray(v), dtype=torch.float32) for k, v in kwargs.items()}
    with torch.no_grad():
        out = model(
            torch.tensor(np.asarray(ids), dtype=torch.long),
            attention_mask=torch.tensor(np.asarray(mask), dtype=torch.long),
            **kwargs,
        )
    return out


PROMPTS = ["选手", "Company of Steve", "谷爱凌的国籍"]
TEXTS = [ZH, EN, ZH[:4]]
# Character spans answering each prompt (the third one has none: a negative).
SPANS = {"span_start": tf.ragged.constant([[4], [33], []], tf.int64),
         "span_end": tf.ragged.constant([[7], [38], []], tf.int64)}


# === Parity ===
def test_pairs_pack_like_hugging_face(task, checkpoint):
    directory, _ = checkpoint
    ref = tokenization_ernie_m.ErnieMTokenizer(
        os.path.join(directory, "sentencepiece.bpe.model"),
        vocab_file=os.path.join(directory, "vocab.txt"),
    )
    x = task.preprocessor(x=(PROMPTS, TEXTS))
    assert set(x) == {"token_ids", "padding_mask"}  # no segment ids
    ids = to_numpy(x["token_ids"])
    for row, prompt, text in zip(ids, PROMPTS, TEXTS):
        want = ref(prompt, text)["input_ids"]  # [CLS] p [SEP] [SEP] t [SEP]
        assert row[: len(want)].tolist() == want
        assert (row[len(want):] == 1).all()  # [PAD]


def test_logits_and_loss_match_hugging_face(task, checkpoint):
    _, model = checkpoint
    x, y = task.preprocessor(x=(PROMPTS, TEXTS), y=SPANS)
    ours = task.predict(x, verbose=0)
    assert ours["start_logits"].shape == ours["end_logits"].shape == (3, 64)
    ref = hf_logits(model, x["token_ids"], x["padding_mask"],
                    start_positions=y["start_logits"], end_positions=y["end_logits"])
    diffs = (max_abs_diff(ours["start_logits"], ref.start_logits.numpy()),
             max_abs_diff(ours["end_logits"], ref.end_logits.numpy()))
    assert max(diffs) <= TOL, diffs
    # Without a mask, ERNIE-M derives it from the pad id, as the reference.
    derived = task({"token_ids": x["token_ids"]})
    assert max_abs_diff(derived["start_logits"], ours["start_logits"]) <= 1e-6

    # The targets mark the first and last token of each span...
    start, end = to_numpy(y["start_logits"]), to_numpy(y["end_logits"])
    assert start.sum(1).tolist() == end.sum(1).tolist() == [1, 1, 0]
    tokens = task.preprocessor.tokenizer
    for row, text, a, b in ((0, ZH, 4, 7), (1, EN, 33, 38)):
        span_ids = to_numpy(x["token_ids"])[row, np.argmax(start[row]): np.argmax(end[row]) + 1]
        assert tokens.detokenize(span_ids).replace(" ", "") == text[a:b]

    # ...and the loss is HF's: BCE on the sigmoid, mean over (B, L), averaged
    # over start and end; computed here from the reference logits too.
    def bce(logits, target):
        logits = logits.numpy().astype(np.float64)
        return np.mean(np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits))))

    expected = (bce(ref.start_logits, start) + bce(ref.end_logits, end)) / 2
    task.compile()
    loss = float(to_numpy(task.compute_loss(x=x, y=y, y_pred=task(x), training=False)))
    assert abs(loss - expected) <= 1e-5, (loss, expected)
    assert abs(loss - float(ref.loss)) <= 1e-5, (loss, float(ref.loss))


def test_windows_match_hugging_face(task, checkpoint):
    """The windows `extract()` feeds the model give the reference logits."""
    _, model = checkpoint
    long_text = " ".join([EN] * 4)
    features = task.preprocessor.windows(["Person"] * 2, [long_text, ZH], sequence_length=24)
    assert features["token_ids"].shape[1] == 24  # padded to the longest window
    assert features["example_index"].tolist().count(0) > 2
    ours = task.predict({k: features[k] for k in ("token_ids", "padding_mask")}, verbose=0)
    ref = hf_logits(model, features["token_ids"], features["padding_mask"])
    mask = features["padding_mask"].astype(bool)
    assert max_abs_diff(ours["start_logits"][mask], ref.start_logits.numpy()[mask]) <= TOL
    # Every text character offset is a real span of the text.
    for w, i in enumerate(features["example_index"]):
        text = [long_text, ZH][i]
        for a, b in zip(features["token_start"][w][features["in_text"][w]],
                        features["token_end"][w][features["in_text"][w]]):
            assert 0 <= a <= b <= len(text)


# === PaddleNLP's convention: attended [PAD]s computed from one pad column ===
@pytest.fixture(scope="module")
def paddle_task(task):
    return task.with_convention("paddlenlp")


def test_collapsed_padding_gives_the_padded_logits(paddle_task, monkeypatch):
    """`predict_windows` on rows padded to 64 with attended pads: the rows
    run cut to their batch's longest plus one counted pad column, and every
    logit (pads included) equals the full padded path's."""
    assert paddle_task.backbone.identical_padding
    preprocessor = paddle_task.preprocessor
    texts = [ZH * 6, ZH, EN, ZH[:2], "", EN[:12], " ".join([EN] * 3)]
    prompts = ["选手", "Person", "谷爱凌的国籍", "选手", "Person", "Company of Steve", "选手"]
    features = preprocessor.character_windows(prompts, texts, [60] * 7, 64)
    inputs = {k: features[k] for k in ("token_ids", "padding_mask")}
    pads = (inputs["token_ids"] == 1).sum(1)
    assert pads.min() == 0 and pads.max() > 40  # a row without pads, rows mostly pads
    full = paddle_task.predict(inputs, batch_size=len(pads), verbose=0)
    widths = []
    predict = paddle_task.predict

    def recording(x, **kwargs):
        widths.append(np.asarray(x["token_ids"]).shape)
        return predict(x, **kwargs)

    monkeypatch.setattr(paddle_task, "predict", recording)
    for batch_size in (4, 16):
        widths.clear()
        fast = paddle_task.predict_windows(inputs, batch_size=batch_size)
        for name in ("start_logits", "end_logits"):
            assert fast[name].shape == (len(pads), 64)
            assert max_abs_diff(fast[name], full[name]) <= TOL
        # By increasing length, the short first batch padded to a power of
        # two; the batch holding the row without pads is run whole.
        first = len(pads) % batch_size or batch_size
        assert widths[0][0] == min(1 << (first - 1).bit_length(), batch_size)
        assert [b for b, _ in widths[1:]] == [batch_size] * (len(widths) - 1)
        assert widths[-1][1] == 64
        if batch_size < 16:
            assert widths[0][1] < 40  # cut


def test_predict_on_model_inputs_runs_no_eager_forward(paddle_task, monkeypatch):
    """Model inputs (extract()'s windows) never call the preprocessor, which
    then stayed unbuilt, and Keras' JAX `predict_on_batch` ran the whole model
    eagerly on every call while any tracked layer was unbuilt. After a
    one-batch predict, the preprocessor and every layer it holds are built,
    and the next call runs the compiled step only (no eager `call`)."""
    features = paddle_task.preprocessor.character_windows(["选手"], [ZH], [40], 64)
    inputs = {k: features[k] for k in ("token_ids", "padding_mask")}
    want = paddle_task.predict(inputs, verbose=0)
    preprocessor = paddle_task.preprocessor
    assert preprocessor.built and preprocessor.tokenizer.built and preprocessor.packer.built
    eager = []
    call = paddle_task.backbone.call
    monkeypatch.setattr(paddle_task.backbone, "call", lambda *a, **k: eager.append(1) or call(*a, **k))
    got = paddle_task.predict(inputs, verbose=0)
    assert max_abs_diff(got["start_logits"], want["start_logits"]) == 0.0
    if keras.backend.backend() == "jax":  # (TF and torch trace on their own terms)
        assert not eager


def test_extract_is_unchanged_by_the_collapse(paddle_task, monkeypatch):
    schema = [{"选手": ["国籍"]}, "Company"]
    texts = [ZH, EN, ZH * 5]
    fast = paddle_task.extract(texts, schema, threshold=0.45, max_seq_len=48)
    monkeypatch.setattr(type(paddle_task.backbone), "identical_padding", property(lambda self: False))
    slow = paddle_task.extract(texts, schema, threshold=0.45, max_seq_len=48)
    assert _same_spans(fast, slow), (fast, slow)
    assert sum(len(v) for r in slow for v in r.values()) > 3


def _same_spans(a, b):
    """Taskflow-style results equal, probabilities within TOL."""
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(_same_spans(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_spans(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= TOL
    return a == b


# === Decoding, with logits under the test's control ===
def logit(p):
    return float(np.log(p / (1 - p)))


def rows(batch):
    """Ragged ids (a tf.RaggedTensor or, off TensorFlow, nested lists) as lists."""
    if isinstance(batch, tf.RaggedTensor):
        batch = batch.to_list()
    return [[int(i) for i in np.asarray(row).reshape(-1)] for row in batch]


class Oracle(ErnieMInformationExtractor):
    """Logits from `rules`: {prompt: [(target, start prob, end prob, where)]}.

    Each occurrence of `target`'s tokens in the window's text (or prompt,
    with where="prompt") gets the start probability on its first token and
    the end probability on its last (None: that end does not fire).
    """

    rules = {}
    fired = {}

    def predict(self, x, batch_size=None, **kwargs):
        tokenizer = self.preprocessor.tokenizer
        strings = list(self.rules) + [t[0] for ts in self.rules.values() for t in ts]
        ids_of = dict(zip(strings, rows(tokenizer(strings))))
        ids = np.asarray(x["token_ids"])
        start = np.full(ids.shape, logit(0.01))
        end = np.full(ids.shape, logit(0.01))
        sep = tokenizer.end_token_id
        for w, row in enumerate(ids.tolist()):
            for prompt, targets in self.rules.items():
                p = ids_of[prompt]
                if row[1: len(p) + 2] != p + [sep]:
                    continue
                text_begin = len(p) + 3
                text_end = row.index(sep, text_begin)
                for target, ps, pe, where in targets:
                    lo, hi = (1, len(p) + 1) if where == "prompt" else (text_begin, text_end)
                    t = ids_of[target]
                    for k in range(lo, hi - len(t) + 1):
                        if row[k: k + len(t)] == t:
                            self.fired[target] = self.fired.get(target, 0) + 1
                            if ps is not None:
                                start[w, k] = logit(ps)
                            if pe is not None:
                                end[w, k + len(t) - 1] = logit(pe)
        return {"start_logits": start, "end_logits": end}


@pytest.fixture
def oracle(task):
    model = Oracle(backbone=task.backbone, preprocessor=task.preprocessor)
    model.rules, model.fired = {}, {}
    return model


def span(text, target, probability, **extra):
    start = text.index(target)
    return {"text": target, "start": start, "end": start + len(target),
            "probability": pytest.approx(probability), **extra}


def test_entities_and_nested_relations_zh(oracle):
    oracle.rules = {
        "选手": [("谷爱凌", 0.9, 0.8, "text")],
        "谷爱凌的国籍": [("中国", 0.7, 0.9, "text")],
        "金牌": [("金牌", 0.9, 0.9, "text")],  # no relation found for it
    }
    got = oracle.extract(ZH, schema=[{"选手": ["国籍", "年龄"]}, {"金牌": ["国籍"]}])
    assert got == {
        "选手": [span(ZH, "谷爱凌", 0.72, relations={"国籍": [span(ZH, "中国", 0.63)]})],
        "金牌": [span(ZH, "金牌", 0.81)],
    }


def test_relations_en_and_classification_prompts(oracle):
    oracle.rules = {
        "Person": [("Steve", 0.9, 0.9, "text")],
        "Company of Steve": [("Apple", 0.8, 0.8, "text")],
        "Position of Steve": [("CEO", 0.6, 0.9, "text")],
        # Taskflow's sentence-level classification: the answer is in the prompt
        # (whose full-width comma became ASCII).
        "情感倾向[正向,负向]": [("负向", 0.9, 0.6, "prompt")],
    }
    schema = {"Person": ["Company", "Position"]}
    got = oracle.extract([EN, ZH], schema=[schema, "情感倾向[正向，负向]"], schema_lang="en")
    steve = span(EN, "Steve", 0.81, relations={
        "Company": [span(EN, "Apple", 0.64)], "Position": [span(EN, "CEO", 0.54)]})
    assert got[0] == {"Person": [steve],
                      "情感倾向[正向，负向]": [{"text": "负向", "probability": pytest.approx(0.54)}]}
    assert got[1] == {"情感倾向[正向，负向]": [{"text": "负向", "probability": pytest.approx(0.54)}]}


def test_threshold_pairing_and_empty_results(oracle):
    text = "alpha beta gamma delta"
    # (Prompts of real words: the small vocabulary maps "X", "Z"... to [UNK].)
    oracle.rules = {"one": [("alpha", 0.9, None, "text"), ("gamma", 0.8, None, "text"),
                            ("delta", None, 0.7, "text")],
                    "two": [("alpha", 0.9, None, "text"), ("beta", None, 0.8, "text"),
                            ("delta", None, 0.95, "text")]}
    # one: the end takes the closest start before it. two: the start goes to
    # the first end after it; the later end is left without a start.
    got = oracle.extract(text, schema=["one", "two", "none"])
    assert got == {"one": [span(text, "gamma delta", 0.56)],
                   "two": [span(text, "alpha beta", 0.72)]}
    # Both probabilities must exceed the threshold.
    assert oracle.extract(text, schema=["one", "two"], threshold=0.75) == {
        "two": [span(text, "alpha beta", 0.72)]}
    assert oracle.extract(text, schema=["one", "two"], threshold=0.95) == {}
    # Empty texts, texts without results, and an empty list.
    assert oracle.extract(["", "   ", "nothing here", text], schema="one")[:3] == [{}, {}, {}]
    assert oracle.extract([], schema="one") == []


def pairs(starts, ends, length=10):
    """`decode_spans` on probabilities 0.9 at `starts`, 0.8 at `ends` (all
    positions text tokens): the (start, end) positions it pairs."""
    p_start, p_end = np.full((1, length), 0.1), np.full((1, length), 0.1)
    p_start[0, starts], p_end[0, ends] = 0.9, 0.8
    part = np.ones((1, length), "int32")
    offsets = np.arange(length)[None]
    spans = decode_spans(p_start, p_end, part, offsets, offsets + 1, [0])
    return list(zip(spans["start_token"].to_list()[0], spans["end_token"].to_list()[0]))


def test_pairing_is_paddlenlp_get_span():
    # End 3 takes the closest start (3, a one-token span, which uses both
    # up; start 1 is dropped); end 5 has no start left; start 6 goes to 8.
    assert pairs([1, 3, 6], [3, 5, 8]) == [(3, 3), (6, 8)]
    assert pairs([4], [2]) == []
    # Spans across prompt and text are dropped unless Taskflow's offsets are asked for.
    part = np.array([[-1, 0, 0, -1, 1, 1, -1]])
    p_start = np.array([[0.1, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1]])
    p_end = np.array([[0.1, 0.1, 0.1, 0.1, 0.1, 0.8, 0.9]])
    starts = np.array([[-1, 0, 3, -1, 0, 4, -1]])
    ends = np.array([[-1, 2, 5, -1, 3, 6, -1]])
    strict = decode_spans(p_start, p_end, part, starts, ends, [5])
    assert strict["start"].to_list() == [[]]
    # Taskflow drops a prompt start with a text end too; the end on the
    # final [SEP] has no start after the previous end.
    taskflow = decode_spans(p_start, p_end, part, starts, ends, [5], taskflow_offsets=True)
    assert taskflow["start"].to_list() == [[]]
    # A start on [CLS] and an end on a prompt token: Taskflow's prompt span
    # 0 + len(prompt) + 1 .. end - bias + len(prompt) + 1, an empty slice.
    p_start = np.array([[0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]])
    p_end = np.array([[0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.1]])
    taskflow = decode_spans(p_start, p_end, part, starts, ends, [5], taskflow_offsets=True)
    assert taskflow["in_prompt"].to_list() == [[True]]
    assert (taskflow["start"].to_list(), taskflow["end"].to_list()) == ([[6]], [[5]])


def test_long_texts_are_windowed(oracle):
    text = " ".join(["the quick brown fox"] * 11) + " Steve Apple"
    oracle.rules = {"Person": [("Steve", 0.9, 0.9, "text")]}
    features = oracle.preprocessor.windows(["Person"], [text], sequence_length=24)
    assert len(features["example_index"]) > 3  # "Steve" is in a later window
    first = features["in_text"][0]
    assert features["token_end"][0][first].max() < text.index("Steve")
    want = {"Person": [span(text, "Steve", 0.81)]}
    assert oracle.extract(text, schema="Person", max_seq_len=24) == want
    # Overlapping windows find it several times; it is reported once.
    oracle.fired.clear()
    assert oracle.extract(text, schema="Person", max_seq_len=24, stride=4) == want
    assert oracle.fired["Steve"] > 1


def test_extract_errors(task):
    with pytest.raises(ValueError, match="schema_lang"):
        task.extract(ZH, "选手", schema_lang="fr")
    with pytest.raises(ValueError, match="threshold"):
        task.extract(ZH, "选手", threshold=1.5)
    with pytest.raises(ValueError, match="max_seq_len=100 exceeds the 64"):
        task.extract(ZH, "选手", max_seq_len=100)
    with pytest.raises(ValueError, match="stride"):
        task.extract(ZH, "选手", stride=0)
    with pytest.raises(TypeError, match="Schema entries"):
        task.extract(ZH, schema=[3])
    with pytest.raises(TypeError, match="strings"):
        task.extract([ZH, 3], schema="选手")
    with pytest.raises(ValueError, match="span_start"):
        task.preprocessor(x=(PROMPTS, TEXTS), y=[1, 2, 3])
    bare = ErnieMInformationExtractor(task.backbone)
    with pytest.raises(ValueError, match="preprocessor"):
        bare.extract(ZH, "选手")


def test_extract_with_the_real_model(task):
    schema = [{"选手": ["国籍"]}, "Company"]
    assert task.extract([ZH, EN], schema, threshold=1.0) == [{}, {}]
    got = task.extract([ZH, EN], schema, threshold=0.0)

    def check(results, text):
        for spans in results.values():
            for s in spans:
                assert 0.0 < s["probability"] < 1.0
                if "start" in s:
                    assert text[s["start"]: s["end"]] == s["text"]
                check(s.get("relations", {}), text)

    assert got[0] and got[1]
    check(got[0], ZH)
    check(got[1], EN)


# === Training and saving ===
def test_fit_and_round_trips(checkpoint, task, tmp_path):
    tokenizer = task.preprocessor.tokenizer
    texts = [ZH, EN, "Steve works at Apple.", "谷爱凌获得金牌"] * 2
    prompts = ["选手", "Company", "Company", "选手"] * 2
    spans = {"span_start": tf.ragged.constant([[4], [33], [15], [0]] * 2, tf.int64),
             "span_end": tf.ragged.constant([[7], [38], [20], [3]] * 2, tf.int64)}
    preprocessor = ErnieMInformationExtractorPreprocessor(tokenizer, sequence_length=32)
    model = ErnieMInformationExtractor.from_preset(checkpoint[0], preprocessor=preprocessor)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(x=(prompts, texts), y=spans, batch_size=4, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    # -1 padded dense spans give the same targets as ragged ones.
    dense = {k: v.to_tensor(default_value=-1).numpy() for k, v in spans.items()}
    _, y_dense = model.preprocessor(x=(prompts, texts), y=dense)
    _, y_ragged = model.preprocessor(x=(prompts, texts), y=spans)
    for k in y_dense:
        np.testing.assert_array_equal(to_numpy(y_dense[k]), to_numpy(y_ragged[k]))

    x = model.preprocessor(x=(prompts[:4], texts[:4]))
    before = model.predict(x, verbose=0)
    extracted = model.extract(texts[:2], ["选手", "Company"], threshold=0.3)
    model.save(tmp_path / "uie.keras")
    restored = keras.models.load_model(tmp_path / "uie.keras")
    model.save_to_preset(str(tmp_path / "preset"))
    again = InformationExtractor.from_preset(str(tmp_path / "preset"))
    for other in (restored, again):
        assert isinstance(other, ErnieMInformationExtractor)
        assert isinstance(other.preprocessor, ErnieMInformationExtractorPreprocessor)
        after = other(x)
        for k in before:
            np.testing.assert_allclose(to_numpy(after[k]), before[k], atol=1e-6)
    assert again.extract(texts[:2], ["选手", "Company"], threshold=0.3) == extracted
    assert isinstance(keras_hub.models.Backbone.from_preset(str(tmp_path / "preset")),
                      keras_encoders.models.ErnieMBackbone)


def test_extract_bounds_schemas_and_arguments(task, monkeypatch):
    from keras_encoders.decoding import information_extraction as uie

    deep = "leaf"
    for _ in range(3000):  # far past Python's recursion limit
        deep = {"type": deep}
    with pytest.raises(ValueError, match=r"more than 16 levels deep.*MAX_SCHEMA_DEPTH"):
        task.extract(ZH, schema=deep)
    with pytest.raises(ValueError, match=r"more than 512 types.*MAX_SCHEMA_TYPES"):
        task.extract(ZH, schema=[f"t{i}" for i in range(10_000)])
    for name in ("batch_size", "max_seq_len"):
        for value in (0, -1, 2.5):
            with pytest.raises(ValueError, match=f"`{name}` must be a positive integer"):
                task.extract(ZH, "选手", **{name: value})
    # Threshold 0 finds a span at every token, and each asks the child type
    # again: refused once a text would be asked too many prompts.
    monkeypatch.setattr(uie, "MAX_PROMPTS_PER_TEXT", 4)
    with pytest.raises(ValueError, match=r"more than 4 prompts of text 0.*threshold=0"):
        task.extract(ZH, schema={"选手": {"国籍": "年龄"}}, threshold=0.0)
    assert isinstance(task.extract(ZH, schema={"选手": "国籍"}, threshold=0.99), dict)


def test_zero_length_sequences_are_refused(task):
    empty = {"token_ids": np.zeros((2, 0), "int32"), "padding_mask": np.zeros((2, 0), "int32")}
    # (After other tests, compiled steps are traced for any length: the
    # data is checked before them.)
    for call in (lambda: task.predict(empty, verbose=0),
                 lambda: task.predict(tf.data.Dataset.from_tensor_slices(empty).batch(2), verbose=0),
                 lambda: task.backbone.predict(empty, verbose=0),
                 lambda: task(empty)):
        with pytest.raises(ValueError, match=r"sequences of length 0"):
            call()
