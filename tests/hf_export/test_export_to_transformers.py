"""`export_to_transformers`: Hugging Face -> ours -> Hugging Face, for every
architecture transformers implements and a Keras class loads.

Each case saves a tiny random transformers model (noise on every tensor),
loads it with our `from_preset`, exports it, and loads the export with the
same transformers class: nothing missing or unexpected, the state dict equal
to the original's, the outputs equal to ours on a padded batch, and the
tokenizer written next to it giving our ids.
"""

import os

import numpy as np
import pytest
import torch
import transformers

import keras_encoders
from keras_encoders import models
from keras_encoders.convert.families import FAMILIES
from keras_encoders.convert.verification import hf_class
from keras_encoders.hf_export import UnsupportedExportError
from tests.conftest import max_abs_diff, to_numpy
from tests.hf_export.hf_references import CASES
from tests.hf_export.hf_references import TEXTS
from tests.hf_export.hf_references import TOL
from tests.hf_export.hf_references import outputs
from tests.hf_export.hf_references import padded_batch
from tests.hf_export.hf_references import reference_outputs
from tests.hf_export.hf_references import round_trip
from tests.hf_export.hf_references import task_batch
from tests.hf_export.hf_references import write_tokenizer_files
from tests.tiny_models import tiny_backbone, tiny_classifier


@pytest.fixture(scope="module")
def tokenizer_files(tmp_path_factory):
    return write_tokenizer_files(tmp_path_factory)


@pytest.mark.parametrize("family,architecture", CASES, ids=[a for _, a in CASES])
def test_round_trip_and_parity(family, architecture, tmp_path, tokenizer_files):
    original, ours, tokenizer = round_trip(family, architecture, tmp_path, tokenizer_files)

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

    x = task_batch(family, architecture)
    got = to_numpy(ours(x, training=False))
    for name, mine, theirs in outputs(architecture, got, x, reference_outputs(exported, x)):
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
    got = to_numpy(classifier(x, training=False))
    [(_, mine, theirs)] = outputs(architecture, got, x, reference_outputs(exported, x))
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
