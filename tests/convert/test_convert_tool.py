"""`keras-encoders-convert` / tools/convert_checkpoint.py: verify, then write.

The tool must refuse (exit status 1, nothing written, not even a partial
folder) whenever the converted model disagrees with the reference or with a
reference check, and must refuse unsafe or mismatching checkpoints with
errors that name the problem.
"""

import json
import os
import pickle
import tomllib

import numpy as np
import pytest
import torch
import transformers

import keras_encoders  # noqa: F401
from keras_encoders import models
from keras_encoders.convert import cli
from keras_encoders.convert import sources
from keras_encoders.convert.families.nezha import tf1 as tf1_nezha
from tests.conftest import asset, max_abs_diff
from tests.convert.checkpoint_writers import nezha_config
from tests.convert.checkpoint_writers import nezha_release
from tests.convert.checkpoint_writers import nezha_tf1_names
from tests.convert.checkpoint_writers import randomize
from tests.convert.checkpoint_writers import write_tf1_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    torch.manual_seed(0)
    hf = randomize(transformers.NezhaForPreTraining(nezha_config(num_hidden_layers=1)))
    return hf, nezha_release(str(tmp_path_factory.mktemp("tool") / "release"), hf)


def published_check(hf, shift=0.0):
    """A check in the published integration-test style, computed from `hf`."""
    ids = [[101, 791, 1921, 1921, 3698, 102]]
    mask = [[1, 1, 1, 1, 1, 1]]
    with torch.no_grad():
        out = hf.nezha(torch.tensor(ids), attention_mask=torch.tensor(mask)).last_hidden_state
    return {
        "name": "integration slice",
        "inputs": {"input_ids": ids, "attention_mask": mask},
        "output": "sequence_output",
        "slice": "[:, 1:4, 1:4]",
        "expected": (out[:, 1:4, 1:4].numpy() + shift).tolist(),
        "atol": 1e-4,
    }


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f)
    return str(path)


def test_a_wrong_conversion_is_refused_and_nothing_is_written(release, tmp_path, monkeypatch, capsys):
    # A converter bug that shapes cannot catch: query and key swapped.
    swapped = {"self_attention/query/kernel": "attention/self/key/kernel",
               "self_attention/key/kernel": "attention/self/query/kernel"}
    rules = [
        (path, tf1_nezha.T + swapped[path[len(tf1_nezha.L):]] if path[len(tf1_nezha.L):] in swapped else key, fn)
        for path, key, fn in tf1_nezha.BACKBONE_RULES
    ]
    monkeypatch.setattr(tf1_nezha, "BACKBONE_RULES", rules)
    out = tmp_path / "preset"
    assert cli.main([release[1], str(out)]) == 1
    assert os.listdir(tmp_path) == []  # not even a partial folder
    printed = capsys.readouterr().out
    assert "[FAIL] backbone.sequence_output" in printed
    assert "Refusing to write" in printed and "result:       FAILED" in printed


def catalogue_entry(hf, **changes):
    """A preset catalogue entry describing the test release (`register_preset`)."""
    entry = {
        "description": "A tiny NEZHA for tests.",
        "model": "NEZHA",
        "language": "zh",
        "backbone_class": "NezhaBackbone",
        "task_class": "NezhaPreTrainer",
        # Counted on the reference model (tied decoder counted once).
        "params": sum(p.numel() for p in hf.nezha.parameters()),
        "task_params": sum(p.numel() for p in hf.parameters()),
        "license": "Apache-2.0",
        "sources": [{"format": "huggingface", "handle": "hf://tests/tiny-nezha", "files": ["config.json"]}],
        "config": {
            "backbone": {"vocabulary_size": 21128, "num_layers": 1, "hidden_dim": 32,
                         "num_heads": 4, "intermediate_dim": 37, "max_relative_position": 64},
            "tokenizer": {"lowercase": True},
        },
        "reference_checks": [published_check(hf)],
    }
    return {**entry, **changes}


@pytest.fixture
def registered(release):
    from keras_encoders import presets

    names = []

    def register(name, entry):
        presets.register_preset(name, entry)
        names.append(name)
        return name

    yield register
    for name in names:
        presets.unregister_preset(name)


def test_reference_checks_and_the_catalogue_gate_the_output(release, registered, tmp_path, capsys):
    hf, path = release
    good = write_json(tmp_path / "good.json", {"checks": [published_check(hf)]})
    bad = write_json(tmp_path / "bad.json", [published_check(hf, shift=0.01)])
    wrong = registered("tiny_nezha_wrong_zh", catalogue_entry(hf, params=123))
    right = registered("tiny_nezha_zh", catalogue_entry(hf))
    out = tmp_path / "out"
    out.mkdir()
    # A failing check or a catalogue mismatch refuses, whatever else passes.
    assert cli.main([
        path, str(out / "refused"), "--no-reference", "--reference-check", bad, "--preset", wrong
    ]) == 1
    assert os.listdir(out) == []
    printed = capsys.readouterr().out
    assert "[FAIL] integration slice: max |diff| 0.01" in printed
    assert "[FAIL] parameter counts match the catalogue: params" in printed
    # An existing output (a conversion's: its record says so) is kept unless --overwrite ...
    (out / "preset").mkdir()
    (out / "preset" / "old.txt").write_text("keep me")
    write_json(out / "preset" / "conversion.json", {"tool": "keras-encoders-convert 0.1"})
    assert cli.main([path, str(out / "preset"), "--no-reference", "--quiet"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert sorted(os.listdir(out / "preset")) == ["conversion.json", "old.txt"]
    # ... and replaced by a conversion that passes its checks.
    assert cli.main([
        path, str(out / "preset"), "--no-reference", "--reference-check", good,
        "--preset", right, "--overwrite",
    ]) == 0
    printed = capsys.readouterr().out
    assert printed.count("[ok  ] integration slice") == 2  # the file's and the catalogue's
    assert "[ok  ] configuration matches the catalogue" in printed
    assert "[ok  ] parameter counts match the catalogue" in printed
    assert "[skip] reference comparison disabled" in printed
    assert sorted(os.listdir(out)) == ["preset"]  # no staging or backup folders left
    assert "old.txt" not in os.listdir(out / "preset")
    with open(out / "preset" / "conversion.json") as f:
        assert all(c["passed"] for c in json.load(f)["verification"]["checks"])
    assert isinstance(models.NezhaBackbone.from_preset(str(out / "preset")), models.NezhaBackbone)
    # A catalogue entry's hf:// source selects its checks by itself.
    assert cli.catalogue_preset_for("hf://tests/tiny-nezha") in (right, wrong)


def test_unknown_and_missing_variables_are_listed(release, tmp_path, capsys):
    hf, path = release
    tensors = nezha_tf1_names(hf.state_dict())
    tensors.pop("bert/pooler/dense/bias")
    tensors["bert/encoder/layer_0/attention/self/relative_table"] = np.zeros((3, 4), "float32")
    broken = tmp_path / "broken"
    write_tf1_checkpoint(str(broken), tensors)
    for name in ("bert_config.json", "vocab.txt"):
        os.link(os.path.join(path, name), broken / name)
    out = tmp_path / "preset"
    assert cli.main([str(broken), str(out)]) == 1
    assert not out.exists()
    err = capsys.readouterr().err
    assert "missing keys (1): bert/pooler/dense/bias" in err
    assert "unexpected keys (1): bert/encoder/layer_0/attention/self/relative_table" in err


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pdparams_that_would_run_code_is_refused_without_running_it(tmp_path, capsys):
    marker = tmp_path / "code-ran"
    release = tmp_path / "uie_m"
    release.mkdir()
    state = {"ernie_m.embeddings.word_embeddings.weight": np.zeros((4, 2), "float32"),
             "linear_start.weight": _RunsCode(marker)}
    with open(release / "model_state.pdparams", "wb") as f:
        pickle.dump(state, f, protocol=2)
    out = tmp_path / "preset"
    assert cli.main([str(release), str(out)]) == 1
    assert not marker.exists()
    assert not out.exists() and sorted(os.listdir(tmp_path)) == ["uie_m"]
    err = capsys.readouterr().err
    assert "refused to load" in err and "system" in err and "Nothing from the file was run" in err


def test_hugging_face_folder_to_task_preset(tmp_path):
    labels = {0: "negative", 1: "positive"}
    torch.manual_seed(0)
    hf = transformers.NezhaForSequenceClassification(
        nezha_config(num_hidden_layers=1, num_labels=2, id2label=labels,
                     label2id={v: k for k, v in labels.items()})
    )
    hf = randomize(hf)
    source = tmp_path / "hf"
    hf.save_pretrained(str(source))
    with open(asset("vocab", "bert-base-chinese-vocab.txt"), encoding="utf-8") as f:
        (source / "vocab.txt").write_text(f.read(), encoding="utf-8")
    assert cli.main([str(source), str(tmp_path / "preset"), "--quiet"]) == 0
    task = models.NezhaTextClassifier.from_preset(str(tmp_path / "preset"))
    assert task.label_names == ["negative", "positive"]
    # Raw strings through the converted preprocessor, against the reference.
    x = task.preprocessor(["今天天气很好", "我不喜欢下雨"])
    with torch.no_grad():
        ref = hf(
            input_ids=torch.tensor(np.asarray(x["token_ids"]), dtype=torch.long),
            token_type_ids=torch.tensor(np.asarray(x["segment_ids"]), dtype=torch.long),
            attention_mask=torch.tensor(np.asarray(x["padding_mask"]), dtype=torch.long),
        ).logits
    assert max_abs_diff(task(x, training=False), ref) <= 1e-5


def test_hf_handle_without_network_fails_fast(monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConnectionError) as e:
        sources.open_source("hf://someone/no-such-nezha")
    message = str(e.value)
    assert "hf://someone/no-such-nezha" in message and "local-dir" in message


def test_command_line_entry_points(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    assert "--reference-check" in capsys.readouterr().out
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    assert scripts["keras-encoders-convert"] == "keras_encoders.convert.cli:main"
    with open(os.path.join(ROOT, "tools", "convert_checkpoint.py")) as f:
        assert "from keras_encoders.convert.cli import main" in f.read()
