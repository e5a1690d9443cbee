"""`save_to_preset` keeps formats apart: a Hugging Face folder is refused
unless `overwrite=True`, which clears the other format's files first."""

import json

import pytest

from keras_encoders import models
from tests.tiny_models import tiny_backbone


def hf_folder(path):
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"model_type": "nezha", "hidden_size": 16}))
    (path / "model.safetensors").write_bytes(b"\0" * 8)
    (path / "vocab.txt").write_text("[PAD]\n")
    return path


def test_save_to_preset_refuses_a_hugging_face_folder(tmp_path):
    folder = hf_folder(tmp_path / "hf")
    backbone = tiny_backbone("nezha")
    task = models.NezhaTextClassifier(backbone, num_classes=2, preprocessor=None)
    for model in (task, backbone):
        with pytest.raises(ValueError, match=r"another format \(config.json, model.safetensors\).*overwrite=True"):
            model.save_to_preset(str(folder))
    # Nothing was written or removed.
    assert json.loads((folder / "config.json").read_text())["model_type"] == "nezha"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "vocab.txt"]

    task.save_to_preset(str(folder), overwrite=True)
    assert not (folder / "model.safetensors").exists()
    assert "registered_name" in json.loads((folder / "config.json").read_text())
    # A Keras preset folder is saved over as before.
    backbone.save_to_preset(str(folder))
    assert isinstance(models.NezhaBackbone.from_preset(str(folder)), models.NezhaBackbone)
