"""`python -m keras_encoders.hf_export` (`keras-encoders-export-hf`): a saved
task or backbone to a folder transformers (4.57 here; 5.x in
test_transformers5.py) loads, and clear errors for what cannot be exported."""

import json
import os

import numpy as np
import pytest
import transformers

from keras_encoders import models
from keras_encoders.convert.verification import hf_class
from keras_encoders.hf_export.__main__ import main
from tests.conftest import max_abs_diff, to_numpy
from tests.hf_export.hf_references import TEXTS
from tests.hf_export.hf_references import TOL
from tests.hf_export.hf_references import WORDPIECE
from tests.hf_export.hf_references import outputs
from tests.hf_export.hf_references import reference_outputs
from tests.tiny_models import tiny_backbone, tiny_batch


@pytest.fixture(scope="module")
def task_preset(tmp_path_factory):
    """A saved ConvBERT token classifier with its tokenizer and label names."""
    tokenizer = models.ConvBertTokenizer(vocabulary=WORDPIECE)
    preprocessor = models.ConvBertTokenClassifierPreprocessor(tokenizer, sequence_length=12)
    task = models.ConvBertTokenClassifier(
        tiny_backbone("convbert", vocabulary_size=len(WORDPIECE)), num_classes=3,
        preprocessor=preprocessor, label_names=["O", "B-LOC", "I-LOC"],
    )
    path = str(tmp_path_factory.mktemp("cli") / "preset")
    task.save_to_preset(path)
    return task, path


def test_exports_a_task_preset(task_preset, tmp_path, capsys):
    task, preset = task_preset
    out = str(tmp_path / "hf")
    assert main([preset, out]) == 0
    assert "ConvBertForTokenClassification.from_pretrained" in capsys.readouterr().out
    exported = transformers.ConvBertForTokenClassification.from_pretrained(out).eval()
    assert exported.config.id2label == {0: "O", 1: "B-LOC", 2: "I-LOC"}
    x = tiny_batch("convbert", length=8)
    x["token_ids"] = np.minimum(x["token_ids"], len(WORDPIECE) - 1)
    got = to_numpy(task(x, training=False))
    [(_, mine, theirs)] = outputs(exported.config.architectures[0], got, x, reference_outputs(exported, x))
    assert max_abs_diff(mine, theirs) <= TOL
    reference_tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    for text in TEXTS:
        ours = [int(i) for i in to_numpy(task.preprocessor.tokenizer(text))]
        assert reference_tokenizer(text, add_special_tokens=False)["input_ids"] == ours


def test_backbone_of_a_task_preset_and_a_backbone_preset(task_preset, tmp_path, capsys):
    task, preset = task_preset
    # --backbone: the bare encoder, with the preset's tokenizer.
    assert main([preset, str(tmp_path / "encoder"), "--backbone"]) == 0
    assert "ConvBertModel.from_pretrained" in capsys.readouterr().out
    assert os.path.exists(tmp_path / "encoder" / "vocab.txt")
    # A preset holding only a backbone (no task, no tokenizer): the encoder, said so.
    backbone = tiny_backbone("nezha")
    backbone.save_to_preset(str(tmp_path / "backbone"))
    assert main([str(tmp_path / "backbone"), str(tmp_path / "nezha")]) == 0
    printed = capsys.readouterr().out
    assert "has no tokenizer" in printed and "NezhaModel.from_pretrained" in printed
    assert not os.path.exists(tmp_path / "nezha" / "vocab.txt")
    exported = hf_class("NezhaModel").from_pretrained(str(tmp_path / "nezha")).eval()
    x = tiny_batch("nezha")
    got = to_numpy(backbone(x, training=False))
    for name, mine, theirs in outputs("NezhaModel", got, x, reference_outputs(exported, x)):
        assert max_abs_diff(mine, theirs) <= TOL, name


@pytest.mark.parametrize(
    "make, argv, message",
    [
        (lambda p: None, ["{tmp}/missing", "{tmp}/out"], "does not exist"),
        (lambda p: tiny_backbone("ernie_m", pad_position_id=0).save_to_preset(p),
         ["{tmp}/preset", "{tmp}/out"], "pad_position_id=0"),
        (lambda p: None, ["{tmp}/x.keras", "{tmp}/out"], "no such .keras file"),
        (lambda p: None, ["{tmp}/preset", "{tmp}/out", "--task", "NoSuchTask"], "--task NoSuchTask"),
    ],
    ids=["missing_folder", "unsupported_setting", "missing_keras_file", "unknown_task"],
)
def test_errors_name_what_is_wrong(make, argv, message, tmp_path, capsys):
    make(str(tmp_path / "preset"))
    with pytest.raises(SystemExit) as exit_info:
        main([a.format(tmp=tmp_path) for a in argv])
    assert message in str(exit_info.value)
    assert not os.path.exists(tmp_path / "out")  # nothing written


def test_backbone_and_task_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        main(["preset", "out", "--backbone", "--task", "NezhaTextClassifier"])
    assert "--backbone and --task exclude each other" in capsys.readouterr().err


def test_exports_a_keras_file(task_preset, tmp_path):
    """A `.keras` file: its task, or with --backbone its encoder (and tokenizer)."""
    task, _ = task_preset
    task.save(str(tmp_path / "task.keras"))
    assert main([str(tmp_path / "task.keras"), str(tmp_path / "task")]) == 0
    assert main([str(tmp_path / "task.keras"), str(tmp_path / "encoder"), "--backbone"]) == 0
    for folder, architecture in (("task", "ConvBertForTokenClassification"), ("encoder", "ConvBertModel")):
        with open(tmp_path / folder / "config.json", encoding="utf-8") as f:
            assert json.load(f)["architectures"] == [architecture]
        assert os.path.exists(tmp_path / folder / "vocab.txt")
