"""What a user sees when a preset cannot be found: offline `hf://` handles
fail at once with advice, misspelled names get suggestions, missing folders
say so. No test here touches the network: the hub is simulated."""

import pytest

import keras_encoders  # noqa: F401
from keras_encoders import models
from keras_encoders.convert import downloads


@pytest.fixture
def no_hub_calls(monkeypatch):
    import huggingface_hub

    def download(*args, **kwargs):
        pytest.fail("huggingface_hub was asked to download (and would retry for seconds)")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    monkeypatch.setattr(downloads, "_REACHED", {})


def test_hf_handle_without_network_fails_at_once(monkeypatch, no_hub_calls):
    probes = []
    monkeypatch.setattr(downloads, "is_reachable", lambda url, timeout=None: probes.append(url) or False)
    with pytest.raises(downloads.PresetDownloadError) as e:
        models.NezhaBackbone.from_preset("hf://someone/nezha-tiny")
    message = str(e.value)
    assert len(probes) == 1
    assert "hf://someone/nezha-tiny" in message and "not reachable" in message
    assert "huggingface-cli download someone/nezha-tiny --local-dir nezha-tiny" in message
    assert 'from_preset("./nezha-tiny")' in message


def test_hf_handle_in_offline_mode_and_not_cached(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(downloads.PresetDownloadError) as e:
        models.ErnieMBackbone.from_preset("hf://someone/ernie-m-tiny")
    message = str(e.value)
    assert "HF_HUB_OFFLINE" in message and "config.json" in message
    assert "huggingface-cli download someone/ernie-m-tiny" in message


def test_misspelled_preset_name_gets_suggestions(no_hub_calls):
    with pytest.raises(ValueError) as e:
        models.NezhaBackbone.from_preset("nezha_base_zhh")
    message = str(e.value)
    assert "Unknown preset 'nezha_base_zhh'" in message and "Did you mean 'nezha_base_zh'" in message
    with pytest.raises(ValueError, match="Did you mean 'convbert_base_en'"):
        models.ConvBertTextClassifier.from_preset("convbert-base_en", num_classes=2)


def test_missing_folder_says_so(tmp_path, no_hub_calls):
    missing = str(tmp_path / "nezha-cn-base")
    with pytest.raises(ValueError) as e:
        models.NezhaBackbone.from_preset(missing)
    assert "this folder does not exist" in str(e.value) and missing in str(e.value)
    with pytest.raises(ValueError, match="this folder does not exist"):
        models.NezhaBackbone.from_preset("./nezha-cn-base")


def test_catalogue_lookup_suggests_too():
    from keras_encoders import presets

    with pytest.raises(KeyError, match="Did you mean 'uie_m_base_multi'"):
        presets.get_entry("uie_m_base_mult")
