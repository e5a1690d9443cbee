"""Every ERNIE-M task against its `ErnieMFor*` reference, loaded from save_pretrained.

Checkpoints are saved in the test with random weights and the tokenizer files
the hub repositories ship (`sentencepiece.bpe.model`, `vocab.txt` in XLM-R /
ERNIE-M order, `tokenizer_config.json`). The preprocessors are compared with
Hugging Face's `ErnieMTokenizer` on the same files.
"""

import csv
import json
import os
import shutil

import keras_hub
import numpy as np
import pytest
import torch
import transformers
from transformers.models.deprecated.ernie_m import tokenization_ernie_m

import keras_encoders  # noqa: F401  (registers the converters)
from keras_encoders import models
from keras_encoders.convert import CheckpointMismatchError
from tests.conftest import asset, max_abs_diff, to_numpy

TOL = 1e-5
PAD = 1
SPM = asset("sentencepiece", "hf_transformers_fixtures", "test_sentencepiece_bpe.model")


def vocab_tokens():
    """ERNIE-M's layout: `[CLS] [PAD] [SEP] [UNK]` first, `[MASK]` last, so
    that SentencePiece ids instead of vocab.txt lines cannot pass."""
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=SPM)
    head = ["[CLS]", "[PAD]", "[SEP]", "[UNK]"]
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    return head + [p for p in pieces if p not in head] + ["[MASK]"]


TOKENS = vocab_tokens()
VOCAB = len(TOKENS)


def write_tokenizer_files(directory):
    shutil.copy(SPM, os.path.join(directory, "sentencepiece.bpe.model"))
    with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(f"{t}\n" for t in TOKENS))
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": False, "tokenizer_class": "ErnieMTokenizer",
                   "model_max_length": 512}, f)
    return str(directory)


def hf_config(**kwargs):
    defaults = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2,
                    num_attention_heads=4, intermediate_size=40,
                    max_position_embeddings=64)
    return transformers.ErnieMConfig(**{**defaults, **kwargs})


def save(model_cls, path, safe=True, **config):
    """A randomly initialized reference head (noise on every tensor, so biases
    and LayerNorms are non-trivial), saved with its tokenizer files."""
    torch.manual_seed(0)
    model = model_cls(hf_config(**config)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(str(path), safe_serialization=safe)
    write_tokenizer_files(path)
    return model


def load(name, path, **kwargs):
    """Through keras-hub's base class where it has one (TextClassifier).

    The preprocessor is detached: parity tests feed backbone inputs.
    """
    base = getattr(keras_hub.models, name, None)
    cls = base if base is not None else getattr(models, "ErnieM" + name)
    task = cls.from_preset(str(path), **kwargs)
    assert isinstance(task, getattr(models, "ErnieM" + name))
    assert isinstance(task.preprocessor, getattr(models, f"ErnieM{name}Preprocessor"))
    task.preprocessor = None
    return task


def padded_ids(rows=3, length=10, seed=0):
    """`[CLS] ... [SEP]` rows of different real lengths, right-padded with 1.
    Row 0 holds id 0 mid-sequence: a real token, not padding."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, VOCAB, size=(rows, length)).astype("int32")
    ids[:, 0] = 0
    ids[0, 4] = 0
    for row, real in zip(range(rows), (length, length - 3, 5)):
        ids[row, real - 1] = 2
        ids[row, real:] = PAD
    return ids


def reference(hf, ids, with_mask, **labels):
    mask = torch.tensor(ids != PAD, dtype=torch.long) if with_mask else None
    with torch.no_grad():
        return hf(torch.tensor(ids, dtype=torch.long), attention_mask=mask, **labels)


def both_ways(task, hf, ids, get_ours, get_ref):
    """max|diff| with an explicit padding_mask (HF: attention_mask), then
    with token ids alone (both sides derive the mask from pad id 1)."""
    diffs = {}
    for with_mask in (True, False):
        x = {"token_ids": ids}
        if with_mask:
            x["padding_mask"] = (ids != PAD).astype("int32")
        ours = get_ours(task.predict(x, verbose=0))
        diffs[with_mask] = max_abs_diff(ours, get_ref(reference(hf, ids, with_mask)))
    assert all(d <= TOL for d in diffs.values()), diffs
    return diffs


def loss_of(task, x, y):
    return float(to_numpy(task.compute_loss(x=x, y=y, y_pred=task(x, training=False))))


# === Heads: parity and losses ===
def test_text_classifier_parity_labels_and_loss(tmp_path):
    labels = {0: "entailment", 1: "neutral", 2: "contradiction"}
    hf = save(transformers.ErnieMForSequenceClassification, tmp_path, num_labels=3,
              id2label=labels, label2id={v: k for k, v in labels.items()})
    task = load("TextClassifier", tmp_path)
    assert task.label_names == ["entailment", "neutral", "contradiction"]
    # Hugging Face's head: pooled output, Dropout(classifier_dropout or
    # hidden_dropout_prob = 0.1), classifier.
    assert task.summary_type == "pooled" and task.dropout == 0.1 and task.hidden_dim is None
    ids = padded_ids()
    both_ways(task, hf, ids, lambda o: o, lambda r: r.logits)
    y = np.array([0, 2, 1])
    x = {"token_ids": ids, "padding_mask": ids != PAD}
    hf_loss = reference(hf, ids, True, labels=torch.tensor(y)).loss.item()
    assert abs(loss_of(task, x, y) - hf_loss) <= TOL
    # The preprocessor the checkpoint came with packs as Hugging Face's
    # tokenizer loaded from the same files, up to the 62 usable positions.
    pre = models.ErnieMTextClassifierPreprocessor.from_preset(str(tmp_path))
    assert pre.sequence_length == 62  # 64 positions - 2
    ref = tokenization_ernie_m.ErnieMTokenizer.from_pretrained(str(tmp_path))
    a, b = ["The cat sat.", "A pair"], ["It sat.", "of sentences, the second longer " * 9]
    want = ref(a, b, truncation="longest_first", max_length=62, padding="max_length")
    np.testing.assert_array_equal(to_numpy(pre(x=(a, b))["token_ids"]), want["input_ids"])


def test_regression_and_multi_label_losses(tmp_path):
    ids = padded_ids()
    x = {"token_ids": ids, "padding_mask": ids != PAD}
    hf = save(transformers.ErnieMForSequenceClassification, tmp_path / "r", num_labels=1)
    task = models.ErnieMTextClassifier.from_preset(str(tmp_path / "r"))
    y = np.array([0.5, -1.0, 2.0], "float32")
    hf_loss = reference(hf, ids, True, labels=torch.tensor(y)).loss.item()
    assert abs(loss_of(task, x, y[:, None]) - hf_loss) <= TOL

    hf = save(transformers.ErnieMForSequenceClassification, tmp_path / "m", safe=False,
              num_labels=3, problem_type="multi_label_classification")
    task = models.ErnieMTextClassifier.from_preset(str(tmp_path / "m"))
    assert task.problem_type == "multi_label_classification"
    y = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1]], "float32")
    hf_loss = reference(hf, ids, True, labels=torch.tensor(y)).loss.item()
    assert abs(loss_of(task, x, y) - hf_loss) <= TOL


def test_token_classifier_parity_and_loss(tmp_path):
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    hf = save(transformers.ErnieMForTokenClassification, tmp_path, safe=False,
              num_labels=5, id2label=dict(enumerate(tags)),
              label2id={t: i for i, t in enumerate(tags)})
    task = load("TokenClassifier", tmp_path)
    assert task.num_classes == 5 and task.label_names == tags and task.dropout == 0.1
    ids = padded_ids()
    both_ways(task, hf, ids, lambda o: o, lambda r: r.logits)
    y = np.random.default_rng(1).integers(0, 5, ids.shape)
    y[ids == PAD] = -100
    y[:, 0] = -100
    hf_loss = reference(hf, ids, True, labels=torch.tensor(y)).loss.item()
    assert abs(loss_of(task, {"token_ids": ids, "padding_mask": ids != PAD}, y) - hf_loss) <= TOL


def test_question_answerer_parity_and_loss(tmp_path):
    hf = save(transformers.ErnieMForQuestionAnswering, tmp_path)
    task = load("QuestionAnswerer", tmp_path)
    ids = padded_ids()
    for key in ("start_logits", "end_logits"):
        both_ways(task, hf, ids, lambda o: o[key], lambda r: getattr(r, key))
    s, e = np.array([1, 3, 2]), np.array([4, 5, 3])
    hf_loss = reference(hf, ids, True, start_positions=torch.tensor(s),
                        end_positions=torch.tensor(e)).loss.item()
    ours = loss_of(task, {"token_ids": ids, "padding_mask": ids != PAD},
                   {"start_logits": s, "end_logits": e})
    assert abs(ours - hf_loss) <= TOL


def test_multiple_choice_parity_and_loss(tmp_path):
    hf = save(transformers.ErnieMForMultipleChoice, tmp_path, safe=False)
    task = load("MultipleChoice", tmp_path)
    assert task.summary_type == "pooled" and task.dropout == 0.1
    ids = np.stack([padded_ids(seed=0), padded_ids(seed=1)[::-1]], axis=1)  # (B, C=2, L)
    both_ways(task, hf, ids, lambda o: o, lambda r: r.logits)
    y = np.array([1, 0, 1])
    hf_loss = reference(hf, ids, True, labels=torch.tensor(y)).loss.item()
    assert abs(loss_of(task, {"token_ids": ids, "padding_mask": ids != PAD}, y) - hf_loss) <= TOL


# === Preprocessing against Hugging Face's ErnieMTokenizer ===
@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    directory = write_tokenizer_files(tmp_path_factory.mktemp("ernie_m_tokenizer"))
    files = dict(proto=os.path.join(directory, "sentencepiece.bpe.model"),
                 vocabulary=os.path.join(directory, "vocab.txt"))
    ours = models.ErnieMTokenizer(**files)
    ref = tokenization_ernie_m.ErnieMTokenizer(files["proto"], vocab_file=files["vocabulary"])
    return ours, ref


def xnli_pairs(per_language=6):
    """Premise/hypothesis pairs from several XNLI languages and scripts."""
    a, b = [], []
    for lang in ("en", "fr", "de", "zh", "ar", "hi", "ru", "th"):
        with open(asset("data", "xnli", f"dev-{lang}.tsv"), encoding="utf-8") as f:
            rows = [r for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)][:per_language]
        a += [r[0] for r in rows]
        b += [r[1] for r in rows]
    return a, b


def test_pair_packing_matches_hf_on_xnli(tokenizers):
    ours, ref = tokenizers
    a, b = xnli_pairs()
    for length in (24, 96):  # truncating (longest_first) and padding
        pre = models.ErnieMTextClassifierPreprocessor(ours, sequence_length=length)
        x = to_numpy(pre(x=(a, b)))
        assert set(x) == {"token_ids", "padding_mask"}  # no segment ids
        want = ref(a, b, truncation="longest_first", max_length=length,
                   padding="max_length")["input_ids"]
        np.testing.assert_array_equal(x["token_ids"], np.array(want))
        np.testing.assert_array_equal(x["padding_mask"], np.array(want) != PAD)
    # `[CLS] A [SEP] [SEP] B [SEP]`, single texts `[CLS] A [SEP]`.
    row = [int(t) for t in x["token_ids"][0] if t != PAD]
    assert row.count(2) == 3 and row[0] == 0 and row[-1] == 2
    single = to_numpy(pre(a[:4]))["token_ids"]
    want = ref(a[:4], truncation=True, max_length=96, padding="max_length")["input_ids"]
    np.testing.assert_array_equal(single, np.array(want))


def test_multiple_choice_packing_matches_hf(tokenizers):
    ours, ref = tokenizers
    a, b = xnli_pairs(per_language=3)
    prompts, choices = a[:4], np.array([[b[i], b[i + 4], b[i + 8]] for i in range(4)])
    pre = models.ErnieMMultipleChoicePreprocessor(ours, sequence_length=40)
    x = to_numpy(pre(x=(prompts, choices)))
    assert set(x) == {"token_ids", "padding_mask"}
    want = ref(list(np.repeat(prompts, 3)), list(choices.reshape(-1)),
               truncation="longest_first", max_length=40, padding="max_length")
    np.testing.assert_array_equal(x["token_ids"], np.array(want["input_ids"]).reshape(4, 3, 40))


def test_question_answering_packing_targets_and_windows(tokenizers):
    ours, ref = tokenizers
    questions = ["Where did he say he was?", "Who called?"]
    contexts = ["And he said, Mama, I'm home. He called his mom as soon as the school "
                "bus dropped him off at 3 p.m.", "他说，妈妈，我回来了。Mama called."]
    answers = ["home", "Mama"]
    starts = [c.index(t) for c, t in zip(contexts, answers)]
    ends = [s + len(t) for s, t in zip(starts, answers)]
    pre = models.ErnieMQuestionAnswererPreprocessor(ours, sequence_length=64)
    x, y = pre(x=(questions, contexts), y={"answer_start": starts, "answer_end": ends})
    x, y = to_numpy(x), to_numpy(y)
    assert set(x) == {"token_ids", "padding_mask"}
    want = ref(questions, contexts, truncation="only_second", max_length=64,
               padding="max_length")["input_ids"]
    np.testing.assert_array_equal(x["token_ids"], np.array(want))
    # The targets point at the answer tokens, past `[CLS] q [SEP] [SEP]`.
    for i, answer in enumerate(answers):
        span = x["token_ids"][i, y["start_logits"][i]: y["end_logits"][i] + 1]
        assert ref.convert_tokens_to_string(ref.convert_ids_to_tokens(span.tolist())) == answer
        q_len = len(ref(questions[i], add_special_tokens=False)["input_ids"])
        assert y["start_logits"][i] >= q_len + 3

    # Windows: the same ids when the context fits; token spans in the context.
    feats = pre.windows(questions, contexts,
                        answers={"answer_start": starts, "answer_end": ends})
    assert "segment_ids" not in feats
    np.testing.assert_array_equal(feats["token_ids"], x["token_ids"])
    np.testing.assert_array_equal(feats["start_positions"], y["start_logits"])
    np.testing.assert_array_equal(feats["end_positions"], y["end_logits"])
    for i in range(2):
        inside = np.nonzero(feats["token_start"][i] >= 0)[0]
        first, last = inside[0], inside[-1]
        assert feats["token_ids"][i, first - 1] == 2 and feats["token_ids"][i, first - 2] == 2
        assert feats["token_ids"][i, last + 1] == 2
        a, b = feats["token_start"][i][y["start_logits"][i]], feats["token_end"][i][y["end_logits"][i]]
        assert contexts[i][a:b] == answers[i]

    # Long contexts: overlapping windows, each `[CLS] q [SEP] [SEP] ctx [SEP]`,
    # the answer found in the windows that hold it and at `[CLS]` elsewhere.
    short = models.ErnieMQuestionAnswererPreprocessor(ours, sequence_length=24)
    feats = short.windows(questions[:1], contexts[:1], doc_stride=6,
                          answers={"answer_start": starts[:1], "answer_end": ends[:1]})
    assert len(feats["example_index"]) > 2
    q_len = len(ref(questions[0], add_special_tokens=False)["input_ids"])
    assert np.all(feats["token_ids"][:, q_len + 1: q_len + 3] == 2)
    found = np.nonzero(feats["start_positions"])[0]
    assert len(found) and len(found) < len(feats["example_index"])
    for w in found:
        a = feats["token_start"][w][feats["start_positions"][w]]
        b = feats["token_end"][w][feats["end_positions"][w]]
        assert contexts[0][a:b] == answers[0]


def test_token_classification_labels_on_first_pieces(tokenizers):
    ours, ref = tokenizers
    # Words that ERNIE-M splits further (CJK characters, digits, punctuation)
    # or that SentencePiece cuts into several pieces.
    words = [["Mama", "said", "北京欢迎你", "in", "2023年", "!"],
             ["unbelievably", "long-winded", "tokenization", "x9y"]]
    labels = [[1, 2, 3, 4, 1, 2], [3, 4, 1, 2]]
    pre = models.ErnieMTokenClassifierPreprocessor(ours, sequence_length=40)
    x, y, w = pre(x=words, y=labels)
    x, y, w = to_numpy(x), to_numpy(y), to_numpy(w)
    assert set(x) == {"token_ids", "padding_mask"}
    want = ref(words, is_split_into_words=True, max_length=40, padding="max_length")
    np.testing.assert_array_equal(x["token_ids"], np.array(want["input_ids"]))
    for row, (ws, ls) in enumerate(zip(words, labels)):
        expected = [-100]
        for word, label in zip(ws, ls):
            pieces = len(ref(word, add_special_tokens=False)["input_ids"])
            assert pieces >= 1
            expected += [label] + [-100] * (pieces - 1)
        expected += [-100] * (40 - len(expected))
        np.testing.assert_array_equal(y[row], expected)
    np.testing.assert_array_equal(w > 0, y != -100)


# === Clear errors for ERNIE-M task checkpoints ===
def test_wrong_model_type_for_task(tmp_path):
    config = transformers.NezhaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                      num_attention_heads=2, intermediate_size=20)
    transformers.NezhaForSequenceClassification(config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="NezhaBackbone"):
        models.ErnieMTextClassifier.from_preset(str(tmp_path))


def edit(path, config=None, drop=(), add=None):
    from safetensors.numpy import load_file, save_file

    if config:
        data = json.loads((path / "config.json").read_text())
        (path / "config.json").write_text(json.dumps({**data, **config}))
    tensors = load_file(path / "model.safetensors")
    for key in drop:
        del tensors[key]
    tensors.update(add or {})
    save_file(tensors, path / "model.safetensors", metadata={"format": "pt"})


def test_head_mismatches_are_named(tmp_path):
    save(transformers.ErnieMForSequenceClassification, tmp_path, num_labels=3)
    edit(tmp_path, drop=["classifier.bias"])
    with pytest.raises(CheckpointMismatchError, match=r"missing keys \(1\): classifier\.bias"):
        models.ErnieMTextClassifier.from_preset(str(tmp_path))
    edit(tmp_path, add={"classifier.bias": np.zeros(3, "float32"),
                        "classifier.extra": np.zeros(3, "float32")})
    with pytest.raises(CheckpointMismatchError, match=r"unexpected keys \(1\): classifier\.extra"):
        models.ErnieMTextClassifier.from_preset(str(tmp_path))
    edit(tmp_path, drop=["classifier.extra"],
         config={"id2label": {str(i): f"LABEL_{i}" for i in range(4)}})
    with pytest.raises(CheckpointMismatchError, match=r"classifier\.weight: checkpoint \(3, 32\)"):
        models.ErnieMTextClassifier.from_preset(str(tmp_path))


def test_question_answering_checkpoint_needs_two_labels(tmp_path):
    save(transformers.ErnieMForQuestionAnswering, tmp_path, num_labels=3)
    with pytest.raises(ValueError, match="2 labels"):
        models.ErnieMQuestionAnswerer.from_preset(str(tmp_path))


def test_vocabulary_and_512_limits_through_a_task(tmp_path):
    hf = save(transformers.ErnieMForTokenClassification, tmp_path, num_labels=2,
              max_position_embeddings=514, num_hidden_layers=1)
    task = models.ErnieMTokenClassifier.from_preset(str(tmp_path))
    pre, task.preprocessor = task.preprocessor, None
    # The preprocessor stops at the 512 usable positions (514 - 2).
    assert pre.sequence_length == 512
    x = pre(x=[" ".join(["mama said she was home"] * 150)])
    assert tuple(x["token_ids"].shape) == (1, 512)
    logits = reference(hf, to_numpy(x["token_ids"]), True).logits
    assert max_abs_diff(task.predict(x, verbose=0), logits) <= TOL
    with pytest.raises(ValueError, match="513 exceeds the maximum of 512"):
        task({"token_ids": np.full((1, 513), 5, "int32")})
    ids = padded_ids()
    ids[1, 2] = VOCAB
    with pytest.raises(ValueError, match=rf"\[0, {VOCAB}\)"):
        task({"token_ids": ids})
