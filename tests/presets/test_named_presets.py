"""Loading presets by name through a local fake Hugging Face Hub: download,
conversion, cache reuse, refusals, and failing fast without a network."""

import os
import shutil
import socket
import time

import huggingface_hub
import keras_hub
import numpy as np
import pytest
import torch
import transformers
from huggingface_hub.errors import EntryNotFoundError

import keras_encoders  # noqa: F401  (registers the presets)
from keras_encoders import models
from keras_encoders import presets
from keras_encoders.convert import conversion
from keras_encoders.convert.families.nezha import hf as convert_nezha
from keras_encoders.convert import downloads
from tests.conftest import asset, to_numpy

REPO_ID = "fake-org/nezha-tiny"
HANDLE = f"hf://{REPO_ID}"
FILES = ["config.json", "pytorch_model.bin", "vocab.txt", "tokenizer_config.json"]
IDS = np.array([[101, 2769, 4263, 872, 511, 102]], "int32")


# === A tiny NEZHA masked LM, saved as sijunhe/nezha-cn-base is ===
@pytest.fixture(scope="module")
def hub_repo(tmp_path_factory):
    """The repository's files, and the reference model that wrote them."""
    path = tmp_path_factory.mktemp("nezha-tiny")
    config = transformers.NezhaConfig(
        vocab_size=21128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, max_relative_position=3,
    )
    torch.manual_seed(0)
    model = transformers.NezhaForMaskedLM(config).eval()
    model.save_pretrained(path, safe_serialization=False)  # pytorch_model.bin, as the uploads
    shutil.copy(asset("vocab", "bert-base-chinese-vocab.txt"), path / "vocab.txt")
    (path / "tokenizer_config.json").write_text('{"do_lower_case": true, "tokenizer_class": "BertTokenizer"}')
    return path, model


def reference(model, mask):
    with torch.no_grad():
        out = model(
            input_ids=torch.tensor(IDS, dtype=torch.long),
            attention_mask=torch.tensor(mask, dtype=torch.long),
            output_hidden_states=True,
        )
    return out.hidden_states[-1].numpy(), out.logits.numpy()


def published_checks(model):
    """Reference checks in the catalogue's form, from the reference model."""
    mask = np.array([[0, 1, 1, 1, 1, 1]])
    sequence, _ = reference(model, mask)
    _, logits = reference(model, np.ones_like(mask))
    return [
        {"name": "sequence", "inputs": {"input_ids": IDS.tolist(), "attention_mask": mask.tolist()},
         "output": "sequence_output", "slice": "[:, 1:4, 1:4]",
         "expected": sequence[:, 1:4, 1:4].round(4).tolist(), "atol": 1e-4},
        {"name": "mlm", "inputs": {"input_ids": IDS.tolist(), "attention_mask": np.ones_like(mask).tolist()},
         "output": "logits", "slice": "[:, 1:4, 1:4]",
         "expected": logits[:, 1:4, 1:4].round(4).tolist(), "atol": 1e-4},
    ]


def entry(model, checks=None, **backbone_overrides):
    backbone = convert_nezha.convert_backbone_config(model.config.to_dict())
    return {
        "description": "Tiny NEZHA for tests.",
        "model": "NEZHA",
        "language": "zh",
        "backbone_class": "NezhaBackbone",
        "task_class": "NezhaMaskedLM",
        "params": 720_000,
        "license": "Apache-2.0",
        "sources": [{"format": "huggingface", "handle": HANDLE, "files": FILES,
                     "optional_files": ["special_tokens_map.json"]}],
        "config": {"backbone": {**backbone, **backbone_overrides},
                   "tokenizer": {"lowercase": True, "strip_accents": None, "split_on_cjk": True},
                   # The checkpoint's 64 positions.
                   "preprocessor": {"sequence_length": 64}},
        "reference_checks": published_checks(model) if checks is None else checks,
    }


@pytest.fixture
def hub(hub_repo, monkeypatch, tmp_path):
    """`huggingface_hub.hf_hub_download` serving the tiny repository; returns
    the list of files requested."""
    repo, _ = hub_repo
    requested = []
    snapshot = tmp_path / "hf-cache" / "snapshots" / "0123abcd"

    def hf_hub_download(repo_id, filename, **kwargs):
        requested.append(filename)
        if repo_id != REPO_ID or not (repo / filename).exists():
            raise EntryNotFoundError(f"404: {repo_id} has no {filename}")
        snapshot.mkdir(parents=True, exist_ok=True)
        shutil.copy(repo / filename, snapshot / filename)
        return str(snapshot / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    monkeypatch.setattr(downloads, "is_reachable", lambda url, timeout=None: True)
    monkeypatch.setenv("KERAS_ENCODERS_CACHE", str(tmp_path / "cache"))
    return requested


@pytest.fixture
def register():
    names = []

    def add(name, value):
        presets.register_preset(name, value)
        names.append(name)

    yield add
    for name in names:
        presets.unregister_preset(name)


def backbone_inputs(mask):
    return {"token_ids": IDS, "segment_ids": np.zeros_like(IDS), "padding_mask": np.asarray(mask, "int32")}


# === Tests ===
def test_named_preset_is_fetched_converted_cached_and_reused(hub, hub_repo, register, monkeypatch):
    _, hf_model = hub_repo
    register("nezha_tiny_test_zh", entry(hf_model))
    assert "nezha_tiny_test_zh" in keras_hub.models.Backbone.presets

    mlm = models.NezhaMaskedLM.from_preset("nezha_tiny_test_zh")
    assert type(mlm) is models.NezhaMaskedLM
    assert set(hub) == set(FILES) | {"special_tokens_map.json"}  # the optional one is absent
    mask = np.array([[1, 1, 1, 1, 1, 0]])
    sequence, logits = reference(hf_model, mask)
    x = {**backbone_inputs(mask), "mask_positions": np.array([[1, 2, 3]], "int32")}
    # The pre-trained head came along (tied decoder, transform, bias).
    assert np.max(np.abs(to_numpy(mlm(x)) - logits[:, 1:4])) <= 1e-5
    directory = presets.preset_dir("nezha_tiny_test_zh")
    assert directory.startswith(os.environ["KERAS_ENCODERS_CACHE"])
    assert {"config.json", "task.json", "tokenizer.json", "conversion.json"} <= set(os.listdir(directory))

    # Every later load reads the cache: no download, no conversion, no network.
    hub.clear()
    monkeypatch.setattr(conversion, "convert_checkpoint", lambda *a, **k: pytest.fail("converted again"))
    monkeypatch.setattr(downloads, "is_reachable", lambda url, timeout=None: False)
    backbone = keras_hub.models.Backbone.from_preset("nezha_tiny_test_zh")
    assert type(backbone) is models.NezhaBackbone
    out = to_numpy(backbone(backbone_inputs(mask)))["sequence_output"]
    assert np.max(np.abs(out[:, :5] - sequence[:, :5])) <= 1e-5
    classifier = keras_hub.models.TextClassifier.from_preset("nezha_tiny_test_zh", num_classes=3)
    assert type(classifier) is models.NezhaTextClassifier
    packed = classifier.preprocessor(["今天天气很好"])
    assert to_numpy(packed["token_ids"])[0, :3].tolist() == [101, 791, 1921]  # [CLS] 今 天
    assert to_numpy(classifier(backbone_inputs(mask))).shape == (1, 3)
    assert type(keras_hub.tokenizers.Tokenizer.from_preset("nezha_tiny_test_zh")) is models.NezhaTokenizer
    assert hub == []


def test_failed_reference_check_writes_nothing(hub, hub_repo, register):
    _, hf_model = hub_repo
    checks = published_checks(hf_model)
    checks[1]["expected"][0][0][0] += 0.01  # a conversion that does not reproduce it
    register("nezha_tiny_bad_check_zh", entry(hf_model, checks=checks))
    with pytest.raises(conversion.VerificationError, match="mlm"):
        models.NezhaBackbone.from_preset("nezha_tiny_bad_check_zh")
    directory = presets.preset_dir("nezha_tiny_bad_check_zh")
    parent = os.path.dirname(directory)
    assert not os.path.exists(directory)
    assert not os.path.exists(parent) or os.listdir(parent) == []


def test_source_that_no_longer_matches_the_catalogue_is_refused(hub, hub_repo, register):
    _, hf_model = hub_repo
    register("nezha_tiny_changed_zh", entry(hf_model, checks=[], hidden_dim=64))
    with pytest.raises(presets.PresetSourceError, match="hidden_dim 32 != 64"):
        models.NezhaBackbone.from_preset("nezha_tiny_changed_zh")
    assert not os.path.exists(presets.preset_dir("nezha_tiny_changed_zh"))


def test_converted_preset_without_the_catalogues_settings_is_refused(hub, hub_repo, register):
    """The preprocessor's and the task's settings are checked too (UIE-M's
    `convention` and `decoding` live there): here the catalogue says 512
    positions where the checkpoint has 64."""
    _, hf_model = hub_repo
    changed = entry(hf_model, checks=[])
    changed["config"]["preprocessor"]["sequence_length"] = 512
    register("nezha_tiny_512_zh", changed)
    with pytest.raises(presets.PresetSourceError, match="preprocessor.sequence_length 64 != 512"):
        models.NezhaMaskedLM.from_preset("nezha_tiny_512_zh")
    assert not os.path.exists(presets.preset_dir("nezha_tiny_512_zh"))


def test_hf_handles_load_through_keras_hub(hub, hub_repo):
    _, hf_model = hub_repo
    backbone = keras_hub.models.Backbone.from_preset(HANDLE)
    assert type(backbone) is models.NezhaBackbone
    mask = np.array([[1, 1, 1, 1, 0, 0]])
    sequence, logits = reference(hf_model, mask)
    out = to_numpy(backbone(backbone_inputs(mask)))["sequence_output"]
    assert np.max(np.abs(out[:, :4] - sequence[:, :4])) <= 1e-5
    # Weights fall back to pytorch_model.bin; tokenizer files come along.
    assert {"config.json", "vocab.txt", "model.safetensors", "pytorch_model.bin"} <= set(hub)
    mlm = models.NezhaMaskedLM.from_preset(HANDLE)
    x = {**backbone_inputs(mask), "mask_positions": np.array([[0, 1, 2]], "int32")}
    assert np.max(np.abs(to_numpy(mlm(x)) - logits[:, :3])) <= 1e-5


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Name resolution fails, as on a machine without network; the Hugging
    Face download must not even be tried."""

    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    def download(*args, **kwargs):
        pytest.fail("hf_hub_download called without network")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    monkeypatch.setenv("KERAS_ENCODERS_CACHE", str(tmp_path / "cache"))


def test_without_network_a_named_preset_fails_fast_with_instructions(no_network):
    start = time.monotonic()
    with pytest.raises(presets.PresetDownloadError) as error:
        models.NezhaBackbone.from_preset("nezha_base_zh")
    assert time.monotonic() - start < 5
    message = str(error.value)
    assert "'nezha_base_zh'" in message and "hf://sijunhe/nezha-cn-base" in message
    assert "huggingface-cli download sijunhe/nezha-cn-base --local-dir nezha-cn-base" in message
    assert 'NezhaMaskedLM.from_preset("./nezha-cn-base")' in message
    assert "HF_HUB_OFFLINE=1" in message

    # PaddleNLP sources: the files to fetch, and how to convert them.
    with pytest.raises(presets.PresetDownloadError) as error:
        models.ErnieMInformationExtractor.from_preset("uie_m_base_multi")
    message = str(error.value)
    assert "uie_m_base_v1.1/model_state.pdparams" in message
    assert "keras-encoders-convert ./<folder>/model_state.pdparams ./uie_m_base_multi" in message
    assert not os.listdir(os.environ["KERAS_ENCODERS_CACHE"]) or os.listdir(
        os.environ["KERAS_ENCODERS_CACHE"]
    ) == ["downloads"]


def test_offline_mode_without_cached_files_fails_fast(monkeypatch, tmp_path):
    from huggingface_hub import constants
    from huggingface_hub.utils import reset_sessions

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("KERAS_ENCODERS_CACHE", str(tmp_path / "cache"))
    reset_sessions()  # sessions are built for the offline setting they were created under
    try:
        start = time.monotonic()
        with pytest.raises(presets.PresetDownloadError, match="offline mode .HF_HUB_OFFLINE. is on"):
            keras_hub.models.Backbone.from_preset("convbert_base_en")
        assert time.monotonic() - start < 5
    finally:
        monkeypatch.undo()
        reset_sessions()
