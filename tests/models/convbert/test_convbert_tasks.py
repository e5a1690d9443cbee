"""Every ConvBERT task against its `ConvBertFor*` reference, loaded from save_pretrained.

All heads are checked on the medium-small shape (embedding_dim != hidden_dim,
grouped feed-forward); the classifier also on the other published shapes and
the head-arithmetic corner cases (the backbone test covers those in depth).
Tasks are called eagerly: under JAX that reuses compiled ops across models of
the same shapes instead of compiling a `predict` function per model.
"""

import json
import shutil

import keras_hub
import numpy as np
import pytest
import torch
import transformers
from safetensors.numpy import load_file
from safetensors.numpy import save_file

import keras_encoders  # noqa: F401  (registers the converters)
from keras_encoders import models
from keras_encoders.convert import CheckpointFormatError
from keras_encoders.convert import CheckpointMismatchError
from tests.conftest import max_abs_diff, to_numpy
from tests.models.convbert.test_convbert_backbone import CONFIGS, VOCAB, batch, hf_config

L = 12  # one length for all heads, as the backbone test's medium-small case (JAX reuses ops)
SHAPE = "medium_small_shaped"
# A WordPiece vocabulary as long as the tiny models' (the loader reads it).
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(VOCAB - 5)]


def save(path, arch, shape=SHAPE, safe=True, model_type=None, **config):
    """A random `ConvBertFor*` with non-zero biases, saved in HF layout."""
    torch.manual_seed(0)
    hf = getattr(transformers, arch)(hf_config(**CONFIGS[shape], **config)).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(0.05 * torch.randn_like(p))
    hf.save_pretrained(path, safe_serialization=safe)
    (path / "vocab.txt").write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    if model_type:
        edit_config(path, model_type=model_type)
    return hf


def edit_config(path, **changes):
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    (path / "config.json").write_text(json.dumps(config))


def torch_inputs(x):
    return {
        "input_ids": torch.tensor(x["token_ids"], dtype=torch.long),
        "token_type_ids": torch.tensor(x["segment_ids"], dtype=torch.long),
        "attention_mask": torch.tensor(x["padding_mask"], dtype=torch.long),
    }


def reference(hf, x, **labels):
    with torch.no_grad():
        return hf(**torch_inputs(x), **{k: torch.tensor(v) for k, v in labels.items()})


def loss(task, x, y):
    return float(to_numpy(task.compute_loss(x=x, y=y, y_pred=task(x, training=False))))


def head_paths(task):
    backbone = {id(w) for w in task.backbone.weights}
    return sorted(w.path for w in task.weights if id(w) not in backbone)


@pytest.fixture(scope="module")
def classifier_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("cls")
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    hf = save(path, "ConvBertForSequenceClassification", num_labels=3, id2label=labels,
              label2id={v: k for k, v in labels.items()})
    return hf, path


# === Parity and losses ===
def test_text_classifier_parity_labels_and_loss(classifier_checkpoint):
    hf, path = classifier_checkpoint
    task = keras_hub.models.TextClassifier.from_preset(str(path))
    assert type(task) is models.ConvBertTextClassifier
    assert task.label_names == ["negative", "neutral", "positive"]
    # The reference head: first token, dense(hidden) + GELU, out_proj.
    assert task.summary_type == "first" and task.hidden_dim == CONFIGS[SHAPE]["hidden_size"]
    assert head_paths(task) == ["classifier_hidden/bias", "classifier_hidden/kernel",
                                "logits/bias", "logits/kernel"]
    assert isinstance(task.preprocessor, models.ConvBertTextClassifierPreprocessor)
    x = batch(L)
    y = np.array([0, 2, 1])
    ref = reference(hf, x, labels=y)
    assert max_abs_diff(task(x, training=False), ref.logits) <= 1e-5
    assert abs(loss(task, x, y) - ref.loss.item()) <= 1e-5


@pytest.mark.parametrize("problem", ["regression", "multi_label_classification"])
def test_text_classifier_regression_and_multi_label_losses(tmp_path, problem):
    if problem == "regression":
        hf = save(tmp_path, "ConvBertForSequenceClassification", num_labels=1)
        y = np.array([[0.5], [-1.0], [2.0]], "float32")
    else:
        hf = save(tmp_path, "ConvBertForSequenceClassification", num_labels=3, problem_type=problem)
        y = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1]], "float32")
    task = models.ConvBertTextClassifier.from_preset(str(tmp_path), preprocessor=None)
    x = batch(L)
    ref = reference(hf, x, labels=y[:, 0] if problem == "regression" else y)
    assert max_abs_diff(task(x, training=False), ref.logits) <= 1e-5
    assert abs(loss(task, x, y) - ref.loss.item()) <= 1e-5


# The backbone test's lengths for these shapes: in one process, JAX reuses
# the eager ops it compiled there.
@pytest.mark.parametrize("shape, length", [("base_shaped", 13), ("small_shaped", 11),
                                           ("head_ratio_3", 13), ("one_head_fallback", 12)])
def test_text_classifier_parity_across_backbone_shapes(tmp_path, shape, length):
    hf = save(tmp_path, "ConvBertForSequenceClassification", shape=shape, num_labels=2)
    task = models.ConvBertTextClassifier.from_preset(str(tmp_path), preprocessor=None)
    x = batch(length)
    assert max_abs_diff(task(x, training=False), reference(hf, x).logits) <= 1e-5


def test_masked_lm_parity_and_loss(tmp_path):
    hf = save(tmp_path, "ConvBertForMaskedLM")
    task = keras_hub.models.MaskedLM.from_preset(str(tmp_path), preprocessor=None)
    assert type(task) is models.ConvBertMaskedLM
    # Generator head: dense to the embedding width, LayerNorm with the
    # backbone's epsilon, decoder tied to the word embeddings + own bias.
    head = task.masked_lm_head
    assert head.token_embedding is task.backbone.token_embedding
    kernel = next(w for w in task.weights if w.path == "mlm_head/intermediate_dense/kernel")
    assert tuple(kernel.shape) == (CONFIGS[SHAPE]["hidden_size"], CONFIGS[SHAPE]["embedding_size"])
    assert head.layer_norm_epsilon == hf.config.layer_norm_eps
    x = batch(L)
    y = np.random.default_rng(1).integers(0, VOCAB, (3, L))
    y[x["padding_mask"] == 0] = -100
    y[:, :3] = -100
    ref = reference(hf, x, labels=y)
    x["mask_positions"] = np.tile(np.arange(L, dtype="int32"), (3, 1))
    assert max_abs_diff(task(x, training=False), ref.logits) <= 1e-5
    assert abs(loss(task, x, y) - ref.loss.item()) <= 1e-5
    # Fewer positions pick the matching rows.
    x["mask_positions"] = np.array([[1, 5], [0, 2], [3, 3]], "int32")
    picked = np.take_along_axis(ref.logits.numpy(), x["mask_positions"][..., None], axis=1)
    assert max_abs_diff(task(x, training=False), picked) <= 1e-5


def test_token_classifier_parity_loss_and_labels_from_bin(tmp_path):
    tags = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
    hf = save(tmp_path, "ConvBertForTokenClassification", safe=False, num_labels=5,
              id2label=tags, label2id={v: k for k, v in tags.items()})
    assert (tmp_path / "pytorch_model.bin").exists()
    task = models.TokenClassifier.from_preset(str(tmp_path), preprocessor=None)
    assert type(task) is models.ConvBertTokenClassifier
    assert task.label_names == list(tags.values())
    x = batch(L)
    y = np.random.default_rng(1).integers(0, 5, (3, L))
    y[x["padding_mask"] == 0] = -100
    y[:, 0] = -100
    ref = reference(hf, x, labels=y)
    assert max_abs_diff(task(x, training=False), ref.logits) <= 1e-5
    assert abs(loss(task, x, y) - ref.loss.item()) <= 1e-5


def test_question_answerer_parity_and_loss_conv_bert_model_type(tmp_path):
    # model_type "conv_bert", as the conv-bert-base upload spells it.
    hf = save(tmp_path, "ConvBertForQuestionAnswering", model_type="conv_bert")
    task = models.QuestionAnswerer.from_preset(str(tmp_path), preprocessor=None)
    assert type(task) is models.ConvBertQuestionAnswerer
    x = batch(L)
    s, e = np.array([1, 3, 2]), np.array([4, 9, 3])
    ref = reference(hf, x, start_positions=s, end_positions=e)
    out = task(x, training=False)
    assert max_abs_diff(out["start_logits"], ref.start_logits) <= 1e-5
    assert max_abs_diff(out["end_logits"], ref.end_logits) <= 1e-5
    # HF averages the start and end cross-entropies.
    assert abs(loss(task, x, {"start_logits": s, "end_logits": e}) - ref.loss.item()) <= 1e-5


def test_multiple_choice_parity_and_loss(tmp_path):
    hf = save(tmp_path, "ConvBertForMultipleChoice")
    task = models.MultipleChoice.from_preset(str(tmp_path), preprocessor=None)
    assert type(task) is models.ConvBertMultipleChoice
    # The reference summary (last token, no summary_* fields) has no weights
    # and no dropout; only the scorer does.
    assert task.summary_type == "last" and task.dropout == 0.0
    assert head_paths(task) == ["logits/bias", "logits/kernel"]
    x1, x2 = batch(L, seed=0), batch(L, seed=1)
    x = {k: np.stack([x1[k], x2[k]], axis=1) for k in x1}  # (B, C=2, L)
    y = np.array([1, 0, 1])
    ref = reference(hf, x, labels=y)
    assert max_abs_diff(task(x, training=False), ref.logits) <= 1e-5
    assert abs(loss(task, x, y) - ref.loss.item()) <= 1e-5
    # The first-token summary is available and is a different model.
    first = models.ConvBertMultipleChoice(task.backbone, summary_type="first")
    first.set_weights(task.get_weights())
    assert max_abs_diff(first(x, training=False), ref.logits) > 1e-3


# === Loading and errors ===
def test_preprocessor_from_checkpoint_caps_length(classifier_checkpoint):
    _, path = classifier_checkpoint
    task = models.ConvBertTextClassifier.from_preset(str(path))
    assert task.preprocessor.sequence_length == 32  # max_position_embeddings
    inputs = task.preprocessor(["w1 w2 " * 40, "w3 [MASK] unknownword"])
    assert to_numpy(inputs["token_ids"]).tolist()[1][:6] == [2, 8, 4, 1, 3, 0]
    assert to_numpy(task(inputs, training=False)).shape == (2, 3)


def test_backbone_only_checkpoint_gets_a_fresh_head(tmp_path):
    """The YituTech uploads are `ConvBertModel` only: the body loads and the
    head is new, sized by the caller."""
    torch.manual_seed(0)
    transformers.ConvBertModel(hf_config(**CONFIGS[SHAPE])).save_pretrained(tmp_path)
    task = models.ConvBertTextClassifier.from_preset(str(tmp_path), num_classes=4,
                                                     preprocessor=None)
    assert to_numpy(task(batch(L), training=False)).shape == (3, 4)


def test_wrong_model_type_is_named(tmp_path):
    transformers.BertForSequenceClassification(transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=20,
    )).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="BertBackbone"):
        models.ConvBertTextClassifier.from_preset(str(tmp_path))


def test_missing_weights_file(classifier_checkpoint, tmp_path):
    shutil.copytree(classifier_checkpoint[1], tmp_path, dirs_exist_ok=True)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="pytorch_model.bin"):
        models.ConvBertTextClassifier.from_preset(str(tmp_path))


def test_head_key_problems_are_named(classifier_checkpoint, tmp_path):
    shutil.copytree(classifier_checkpoint[1], tmp_path, dirs_exist_ok=True)
    weights = tmp_path / "model.safetensors"
    tensors = load_file(weights)

    missing = {k: v for k, v in tensors.items() if not k.startswith("classifier.dense.")}
    save_file(missing, weights)
    with pytest.raises(CheckpointMismatchError, match=r"missing keys.*classifier\.dense\.weight"):
        models.ConvBertTextClassifier.from_preset(str(tmp_path))

    extra = {**tensors, "classifier.extra.weight": np.zeros((2, 2), "float32")}
    save_file(extra, weights)
    with pytest.raises(CheckpointMismatchError, match=r"unexpected keys.*classifier\.extra\.weight"):
        models.ConvBertTextClassifier.from_preset(str(tmp_path))

    save_file(tensors, weights)
    edit_config(tmp_path, id2label={str(i): f"L{i}" for i in range(4)})
    with pytest.raises(CheckpointMismatchError,
                       match=r"classifier\.out_proj\.weight: checkpoint \(3, 32\)"):
        models.ConvBertTextClassifier.from_preset(str(tmp_path))


def test_truncated_pytorch_model_bin(tmp_path):
    save(tmp_path, "ConvBertForTokenClassification", safe=False, num_labels=2)
    path = tmp_path / "pytorch_model.bin"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointFormatError, match="truncated or corrupt"):
        models.ConvBertTokenClassifier.from_preset(str(tmp_path))


def test_bad_inputs_are_refused(classifier_checkpoint):
    task = models.ConvBertTextClassifier.from_preset(str(classifier_checkpoint[1]),
                                                     preprocessor=None)
    x = batch(L)
    x["token_ids"][0, 1] = VOCAB
    with pytest.raises(ValueError, match=rf"\[0, {VOCAB}\)"):
        task(x)
    with pytest.raises(ValueError, match="exceeds the maximum of 32 positions"):
        task(batch(33))


# === Full size ===
@pytest.mark.large
@pytest.mark.parametrize("size", ["medium_small", "base"])
def test_heads_at_published_sizes(tmp_path, size):
    shapes = {
        "medium_small": dict(hidden_size=384, embedding_size=128, num_attention_heads=8,
                             intermediate_size=1536, num_groups=2),
        "base": dict(hidden_size=768, embedding_size=768, num_attention_heads=12,
                     intermediate_size=3072, num_groups=1),
    }[size]
    config = dict(vocab_size=30522, num_hidden_layers=12, max_position_embeddings=512, **shapes)
    x = batch(64, vocab=30522)
    for arch, cls in [("ConvBertForSequenceClassification", models.ConvBertTextClassifier),
                      ("ConvBertForMaskedLM", models.ConvBertMaskedLM)]:
        torch.manual_seed(0)
        hf = getattr(transformers, arch)(hf_config(**config)).eval()
        path = tmp_path / arch
        hf.save_pretrained(path)
        task = cls.from_preset(str(path), preprocessor=None)
        inputs = dict(x)
        if cls is models.ConvBertMaskedLM:
            inputs["mask_positions"] = np.tile(np.arange(64, dtype="int32"), (3, 1))
        assert max_abs_diff(task(inputs, training=False), reference(hf, x).logits) <= 1e-4
