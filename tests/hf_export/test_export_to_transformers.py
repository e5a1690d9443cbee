"""`export_to_transformers`: Hugging Face -> ours -> Hugging Face, for every
architecture transformers implements and a Keras class loads.

Each case saves a tiny random transformers model (noise on every tensor),
loads it with our `from_preset`, exports it, and loads the export with the
same transformers class: nothing missing or unexpected, the state dict equal
to the original's, the outputs equal to ours on a padded batch, and the
tokenizer written next to it giving our ids.
"""

import json
import os
import shutil

import numpy as np
import pytest
import torch
import transformers

import keras_encoders
from keras_encoders import models
from keras_encoders.convert.families import FAMILIES
from keras_encoders.convert.sources import task_class
from keras_encoders.convert.verification import hf_class
from keras_encoders.hf_export import UnsupportedExportError
from tests.conftest import asset, max_abs_diff, to_numpy
from tests.tiny_models import tiny_backbone, tiny_classifier

TOL = 1e-5
B, L, C = 3, 10, 2
WORDS = ["the", "quick", "brown", "fox", "jump", "##s", "over", "lazy", "dog", "北", "京", "."]
WORDPIECE = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
TEXTS = ["The quick brown fox jumps over the lazy dog.", "北京 fox"]


def ernie_m_tokens():
    """ERNIE-M's vocab.txt layout over a small SentencePiece model."""
    import sentencepiece

    spm = sentencepiece.SentencePieceProcessor(model_file=ernie_m_proto())
    head = ["[CLS]", "[PAD]", "[SEP]", "[UNK]"]
    pieces = [spm.id_to_piece(i) for i in range(spm.get_piece_size())]
    return head + [p for p in pieces if p not in head] + ["[MASK]"]


def ernie_m_proto():
    return asset("sentencepiece", "hf_transformers_fixtures", "test_sentencepiece_bpe.model")


def hf_config(family, **kwargs):
    common = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=4, **kwargs)
    if family == "nezha":
        return transformers.NezhaConfig(
            vocab_size=len(WORDPIECE), intermediate_size=24, max_position_embeddings=32,
            max_relative_position=3, **common)
    if family == "convbert":
        # Projected embeddings and a grouped feed-forward: every transform runs.
        return transformers.ConvBertConfig(
            vocab_size=len(WORDPIECE), intermediate_size=32, embedding_size=8,
            conv_kernel_size=3, num_groups=2, max_position_embeddings=32, **common)
    return transformers.ErnieMConfig(
        vocab_size=len(ernie_m_tokens()), intermediate_size=24, max_position_embeddings=34, **common)


@pytest.fixture(scope="module")
def tokenizer_files(tmp_path_factory):
    """`{family: folder}` with the files each family's hub repos ship."""
    folders = {}
    for family in FAMILIES:
        folder = tmp_path_factory.mktemp(family)
        tokens = ernie_m_tokens() if family == "ernie_m" else WORDPIECE
        (folder / "vocab.txt").write_text("".join(f"{t}\n" for t in tokens), encoding="utf-8")
        if family == "ernie_m":
            shutil.copy(ernie_m_proto(), folder / "sentencepiece.bpe.model")
        (folder / "tokenizer_config.json").write_text(
            json.dumps({"do_lower_case": family != "ernie_m"}))
        folders[family] = folder
    return folders


def save_reference(family, architecture, path, tokenizer_files):
    labels = {"id2label": {0: "O", 1: "B-LOC", 2: "I-LOC"}, "label2id": {"O": 0, "B-LOC": 1, "I-LOC": 2}}
    config = hf_config(family, **(labels if "Classification" in architecture else {}))
    torch.manual_seed(0)
    model = hf_class(architecture)(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(str(path))
    shutil.copytree(tokenizer_files[family], path, dirs_exist_ok=True)
    return model


def keras_class(family, architecture):
    spec = FAMILIES[family]
    backbone_cls = spec.keras_class(spec.backbone)
    return backbone_cls if architecture == spec.base_architecture else task_class(architecture, backbone_cls)


CASES = [
    (family, architecture)
    for family, spec in FAMILIES.items()
    for architecture in spec.hf.HEADS
    if keras_class(family, architecture) is not None
]


def padded_batch(family, choices=False, seed=0):
    rng = np.random.default_rng(seed)
    vocabulary = hf_config(family).vocab_size
    pad = 1 if family == "ernie_m" else 0
    shape = (B, C, L) if choices else (B, L)
    ids = rng.integers(5, vocabulary - 1, shape).astype("int32")
    mask = np.ones(shape, "int32")
    mask[1, ..., L - 3:] = 0
    mask[2, ..., 4:] = 0
    ids[mask == 0] = pad
    x = {"token_ids": ids, "padding_mask": mask}
    if FAMILIES[family].uses_segments:
        segments = np.zeros(shape, "int32")
        segments[..., 5:] = 1
        x["segment_ids"] = segments * mask
    return x


def torch_inputs(x):
    names = {"token_ids": "input_ids", "padding_mask": "attention_mask", "segment_ids": "token_type_ids"}
    return {names[k]: torch.tensor(v, dtype=torch.long) for k, v in x.items() if k in names}


def outputs(architecture, ours, x, reference):
    """`(name, ours, transformers')` pairs of what `architecture` computes."""
    with torch.no_grad():
        ref = reference(**torch_inputs(x))
    positions = x.get("mask_positions")
    if architecture.endswith("Model"):
        pairs = [("sequence_output", ours["sequence_output"], ref.last_hidden_state)]
        if "pooled_output" in ours:
            pairs.append(("pooled_output", ours["pooled_output"], ref.pooler_output))
        return pairs
    if architecture.endswith(("QuestionAnswering", "InformationExtraction")):
        return [(k, ours[k], getattr(ref, k)) for k in ("start_logits", "end_logits")]
    if architecture.endswith("MaskedLM"):
        return [("logits", ours, np.take_along_axis(ref.logits.numpy(), positions[..., None], 1))]
    if architecture.endswith("PreTraining"):
        mlm = np.take_along_axis(ref.prediction_logits.numpy(), positions[..., None], 1)
        return [("mlm_logits", ours["mlm_logits"], mlm),
                ("nsp_logits", ours["nsp_logits"], ref.seq_relationship_logits)]
    return [("logits", ours, ref.logits)]


@pytest.mark.parametrize("family,architecture", CASES, ids=[a for _, a in CASES])
def test_round_trip_and_parity(family, architecture, tmp_path, tokenizer_files):
    original = save_reference(family, architecture, tmp_path / "hf", tokenizer_files)
    cls = keras_class(family, architecture)
    ours = cls.from_preset(str(tmp_path / "hf"))
    tokenizer = FAMILIES[family].keras_class(FAMILIES[family].tokenizer).from_preset(str(tmp_path / "hf"))
    keras_encoders.export_to_transformers(ours, str(tmp_path / "out"), tokenizer=tokenizer)

    exported, info = hf_class(architecture).from_pretrained(str(tmp_path / "out"), output_loading_info=True)
    exported.eval()
    assert not any(info.values()), info
    # Hugging Face -> ours -> Hugging Face: the same tensors.
    before, after = original.state_dict(), exported.state_dict()
    assert sorted(before) == sorted(after)
    for key in before:
        assert torch.equal(before[key], after[key]), key
    assert exported.config.architectures == [architecture]
    assert exported.config.to_dict().get("id2label") == original.config.to_dict().get("id2label")

    x = padded_batch(family, choices=architecture.endswith("MultipleChoice"))
    if architecture.endswith(("MaskedLM", "PreTraining")):
        x["mask_positions"] = np.array([[1, 3], [2, 0], [3, 1]], "int32")
    got = to_numpy(ours(x, training=False))
    for name, mine, theirs in outputs(architecture, got, x, exported):
        assert max_abs_diff(mine, theirs) <= TOL, name

    # The tokenizer written beside the weights gives our ids.
    reference_tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "out"))
    for text in TEXTS:
        expected = [int(i) for i in to_numpy(tokenizer(text))]
        assert reference_tokenizer(text, add_special_tokens=False)["input_ids"] == expected, text


@pytest.mark.parametrize("family", list(FAMILIES))
def test_model_built_here_exports_with_its_labels(family, tmp_path):
    """A classifier that never was a Hugging Face checkpoint (Keras' own
    initialization, label names set here)."""
    classifier = tiny_classifier(family, num_classes=3)
    classifier.label_names = ["neg", "neutral", "pos"]
    keras_encoders.export_to_transformers(classifier, str(tmp_path))
    architecture = classifier.checkpoint_head
    exported = hf_class(architecture).from_pretrained(str(tmp_path)).eval()
    assert exported.config.id2label == {0: "neg", 1: "neutral", 2: "pos"}
    x = padded_batch(family)
    x["token_ids"] = np.minimum(x["token_ids"], classifier.backbone.vocabulary_size - 1)
    [(_, mine, theirs)] = outputs(architecture, to_numpy(classifier(x, training=False)), x, exported)
    assert max_abs_diff(mine, theirs) <= TOL
    assert not os.path.exists(tmp_path / "vocab.txt")  # no tokenizer, no tokenizer files


@pytest.mark.parametrize(
    "build, named",
    [
        (lambda: tiny_backbone("ernie_m", pad_position_id=0), "pad_position_id=0"),
        (lambda: models.ConvBertTextClassifier(tiny_backbone("convbert"), 3, hidden_dim=None), "hidden_dim=None"),
        (lambda: models.NezhaTextClassifier(tiny_backbone("nezha"), 3, summary_type="first"), "summary_type='first'"),
        (lambda: models.NezhaTextClassifier(tiny_backbone("nezha"), 3, activation="softmax"), "activation"),
        (lambda: lora(tiny_classifier("ernie_m")), "lora_kernel_a"),
        (lambda: HeadOfOurOwn(tiny_backbone("nezha"), 3), "no Hugging Face counterpart"),
    ],
    ids=["pad_position_id", "no_hidden_layer", "summary_type", "activation", "lora", "no_head"],
)
def test_refuses_what_transformers_cannot_express(build, named, tmp_path):
    with pytest.raises(UnsupportedExportError, match=named.replace("(", r"\(")):
        keras_encoders.export_to_transformers(build(), str(tmp_path))
    assert not os.listdir(tmp_path)  # checked before anything is written


class HeadOfOurOwn(models.NezhaTextClassifier):
    """A task type transformers has no class for."""

    checkpoint_head = None


def lora(task):
    task.backbone.enable_lora(2)
    return task
