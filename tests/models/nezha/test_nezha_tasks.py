"""Every NEZHA task against its `NezhaFor*` reference, loaded from save_pretrained."""

import numpy as np
import pytest
import torch
import transformers

import keras_encoders  # noqa: F401  (registers the converters)
from keras_encoders import models
from tests.conftest import asset, max_abs_diff, to_numpy

VOCAB = 21128  # the real bert-base-chinese vocabulary, so raw text works
B, L = 3, 12   # L > 2K + 1 = 7: the relative distances are clipped


def hf_config(**kwargs):
    return transformers.NezhaConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, max_relative_position=3,
        **kwargs,
    )


def save(model_cls, path, safe=True, **config):
    torch.manual_seed(0)
    model = model_cls(hf_config(**config)).eval()
    model.save_pretrained(path, safe_serialization=safe)
    # Tokenizer files as the hub repos ship them.
    with open(asset("vocab", "bert-base-chinese-vocab.txt"), encoding="utf-8") as f:
        (path / "vocab.txt").write_text(f.read(), encoding="utf-8")
    (path / "tokenizer_config.json").write_text(
        '{"do_lower_case": true, "tokenizer_class": "BertTokenizer"}'
    )
    return model


def batch(seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(104, VOCAB, (B, L)).astype("int32")
    seg = np.zeros((B, L), "int32")
    seg[:, 6:] = 1
    mask = np.ones((B, L), "int32")
    mask[1, 9:] = 0
    mask[2, 4:] = 0
    ids[mask == 0] = 0
    seg[mask == 0] = 0
    return {"token_ids": ids, "segment_ids": seg, "padding_mask": mask}


def torch_inputs(x):
    return {
        "input_ids": torch.tensor(x["token_ids"], dtype=torch.long),
        "token_type_ids": torch.tensor(x["segment_ids"], dtype=torch.long),
        "attention_mask": torch.tensor(x["padding_mask"], dtype=torch.long),
    }


def reference(model, x, **extra):
    with torch.no_grad():
        return model(**torch_inputs(x), **extra)


def test_text_classifier_parity_and_labels(tmp_path):
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    hf = save(transformers.NezhaForSequenceClassification, tmp_path,
              num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()})
    task = keras_hub_task("TextClassifier", tmp_path)
    assert isinstance(task, models.NezhaTextClassifier)
    assert task.label_names == ["negative", "neutral", "positive"]
    x = batch()
    assert max_abs_diff(task.predict(x, verbose=0), reference(hf, x).logits) <= 1e-5
    # Loss: Hugging Face's single-label cross-entropy.
    y = np.array([0, 2, 1])
    hf_loss = hf(**torch_inputs(x), labels=torch.tensor(y)).loss.item()
    ours = task.compute_loss(x=x, y=y, y_pred=task(x, training=False))
    assert abs(float(to_numpy(ours)) - hf_loss) <= 1e-5


def keras_hub_task(name, path, **kwargs):
    import keras_hub

    base = getattr(keras_hub.models, name, None)
    cls = base if base is not None else getattr(models, "Nezha" + name)
    task = cls.from_preset(str(path), **kwargs)
    task.preprocessor = None  # parity tests feed backbone inputs directly
    return task


def test_regression_and_multi_label_losses(tmp_path):
    hf = save(transformers.NezhaForSequenceClassification, tmp_path / "r", num_labels=1)
    task = models.NezhaTextClassifier.from_preset(str(tmp_path / "r"))
    task.preprocessor = None
    x = batch()
    y = np.array([0.5, -1.0, 2.0], "float32")
    hf_loss = hf(**torch_inputs(x), labels=torch.tensor(y)).loss.item()
    ours = task.compute_loss(x=x, y=y[:, None], y_pred=task(x, training=False))
    assert abs(float(to_numpy(ours)) - hf_loss) <= 1e-5

    hf = save(transformers.NezhaForSequenceClassification, tmp_path / "m", num_labels=3,
              problem_type="multi_label_classification")
    task = models.NezhaTextClassifier.from_preset(str(tmp_path / "m"))
    task.preprocessor = None
    y = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1]], "float32")
    hf_loss = hf(**torch_inputs(x), labels=torch.tensor(y)).loss.item()
    ours = task.compute_loss(x=x, y=y, y_pred=task(x, training=False))
    assert abs(float(to_numpy(ours)) - hf_loss) <= 1e-5


def test_token_classifier_parity(tmp_path):
    hf = save(transformers.NezhaForTokenClassification, tmp_path, num_labels=5, safe=False)
    task = keras_hub_task("TokenClassifier", tmp_path)
    assert task.num_classes == 5
    x = batch()
    assert max_abs_diff(task.predict(x, verbose=0), reference(hf, x).logits) <= 1e-5
    y = np.random.default_rng(1).integers(0, 5, (B, L))
    y[x["padding_mask"] == 0] = -100
    y[:, 0] = -100
    hf_loss = hf(**torch_inputs(x), labels=torch.tensor(y)).loss.item()
    ours = task.compute_loss(x=x, y=y, y_pred=task(x, training=False))
    assert abs(float(to_numpy(ours)) - hf_loss) <= 1e-5


def test_question_answerer_parity(tmp_path):
    hf = save(transformers.NezhaForQuestionAnswering, tmp_path)
    task = keras_hub_task("QuestionAnswerer", tmp_path)
    x = batch()
    out, ref = task.predict(x, verbose=0), reference(hf, x)
    assert max_abs_diff(out["start_logits"], ref.start_logits) <= 1e-5
    assert max_abs_diff(out["end_logits"], ref.end_logits) <= 1e-5
    s, e = np.array([1, 3, 2]), np.array([4, 5, 3])
    hf_loss = hf(**torch_inputs(x), start_positions=torch.tensor(s),
                 end_positions=torch.tensor(e)).loss.item()
    ours = task.compute_loss(x=x, y={"start_logits": s, "end_logits": e},
                             y_pred=task(x, training=False))
    assert abs(float(to_numpy(ours)) - hf_loss) <= 1e-5


def test_multiple_choice_parity(tmp_path):
    hf = save(transformers.NezhaForMultipleChoice, tmp_path)
    task = keras_hub_task("MultipleChoice", tmp_path)
    x1, x2 = batch(0), batch(1)
    x = {k: np.stack([x1[k], x2[k]], axis=1) for k in x1}  # (B, C=2, L)
    with torch.no_grad():
        ref = hf(**{k: v for k, v in torch_inputs({kk: vv for kk, vv in x.items()}).items()})
    assert max_abs_diff(task.predict(x, verbose=0), ref.logits) <= 1e-5


def test_masked_lm_parity(tmp_path):
    hf = save(transformers.NezhaForMaskedLM, tmp_path)
    task = keras_hub_task("MaskedLM", tmp_path)
    x = batch()
    x["mask_positions"] = np.tile(np.arange(L, dtype="int32"), (B, 1))
    ref = reference(hf, {k: v for k, v in x.items() if k != "mask_positions"})
    assert max_abs_diff(task.predict(x, verbose=0), ref.logits) <= 1e-5


def test_next_sentence_and_pre_trainer_parity(tmp_path):
    hf = save(transformers.NezhaForNextSentencePrediction, tmp_path / "nsp")
    task = keras_hub_task("NextSentencePredictor", tmp_path / "nsp")
    x = batch()
    assert max_abs_diff(task.predict(x, verbose=0), reference(hf, x).logits) <= 1e-5

    hf = save(transformers.NezhaForPreTraining, tmp_path / "pt")
    task = keras_hub_task("PreTrainer", tmp_path / "pt")
    x["mask_positions"] = np.tile(np.arange(L, dtype="int32"), (B, 1))
    ref = reference(hf, {k: v for k, v in x.items() if k != "mask_positions"})
    out = task.predict(x, verbose=0)
    assert max_abs_diff(out["mlm_logits"], ref.prediction_logits) <= 1e-5
    assert max_abs_diff(out["nsp_logits"], ref.seq_relationship_logits) <= 1e-5


def test_backbone_from_head_checkpoint_and_bin(tmp_path):
    hf = save(transformers.NezhaForSequenceClassification, tmp_path, safe=False, num_labels=2)
    backbone = models.NezhaBackbone.from_preset(str(tmp_path))
    x = batch()
    ref = reference(hf.nezha if hasattr(hf, "nezha") else hf, x)
    out = backbone.predict(x, verbose=0)
    assert max_abs_diff(out["sequence_output"], ref.last_hidden_state) <= 1e-5
    assert max_abs_diff(out["pooled_output"], ref.pooler_output) <= 1e-5


@pytest.mark.large
def test_base_size_parity(tmp_path):
    """`nezha-cn-base`'s config (relative positions clipped at 64), a padded
    batch of 200 tokens: the backbone and the classifier head within 1e-4."""
    torch.manual_seed(0)
    config = transformers.NezhaConfig(
        vocab_size=VOCAB, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=3072, max_position_embeddings=512, max_relative_position=64,
        num_labels=3,
    )
    hf = transformers.NezhaForSequenceClassification(config).eval()
    hf.save_pretrained(tmp_path)
    task = models.NezhaTextClassifier.from_preset(str(tmp_path), preprocessor=None)
    rng = np.random.default_rng(0)
    length = 200
    ids = rng.integers(104, VOCAB, (2, length)).astype("int32")
    seg = np.zeros_like(ids)
    seg[:, 120:] = 1
    mask = np.ones_like(ids)
    mask[1, 150:] = 0
    ids[mask == 0] = 0
    seg[mask == 0] = 0
    x = {"token_ids": ids, "segment_ids": seg, "padding_mask": mask}
    with torch.no_grad():
        ref = hf(**torch_inputs(x), output_hidden_states=True)
    out = task.backbone.predict(x, verbose=0)
    assert max_abs_diff(out["sequence_output"], ref.hidden_states[-1]) <= 1e-4
    assert max_abs_diff(task.predict(x, verbose=0), ref.logits) <= 1e-4
